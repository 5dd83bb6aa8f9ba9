package node

import (
	"context"
	"fmt"
	"time"

	"govx/adapters/licence"
	"govx/casework"
)

// Demo is what the demo data offers a newcomer to try, recomputed from the
// generators' seed: records that exist in the demo registers, and the
// cases the demo opened at this start.
type Demo struct {
	Person  string // a resident's ID number
	Company string // a company's credit code
	Licence string // a food business licence valid today
	Holder  string // its holder
	// Applicants are companies that can renew a food business licence at
	// the window today.
	Applicants []IntakeApplicant
	// Cases are the demo cases opened at this start (none when cases
	// existed already).
	Cases []*casework.Case
}

// DemoRecords recomputes the demo records of registers seeded with
// residents residents.
func DemoRecords(residents int) Demo {
	var d Demo
	g, err := NewGenerators(DemoRegisters(residents))
	if err != nil {
		return d
	}
	d.Person, d.Company = g.People.IDNumber(0), g.Companies.USCC(0)
	d.Applicants, _ = IntakeApplicants(residents, 2, time.Now())
	for i := 0; i < DemoLicences; i++ {
		if l := g.Licences.Licence(i); l.Type == licence.TypeFoodBusiness && l.EffectiveStatus(time.Now()) == licence.StatusValid {
			d.Licence, d.Holder = l.Number, l.HolderCode
			break
		}
	}
	return d
}

// SeedDemoUse puts the demo registers to use the way the window would, so
// that a newcomer finds something to look at: the consents the demo's
// company and licence lookups rely on, and (the first time) two cases
// waiting in the back offices. It needs a started node with the exchange
// and the case workflow; it is idempotent.
func (n *Node) SeedDemoUse(ctx context.Context) (Demo, error) {
	d := DemoRecords(n.cfg.Residents)
	if n.Consents == nil || n.Casework == nil {
		return d, fmt.Errorf("the demo's consents and cases need the exchange and the case workflow")
	}
	if err := seedDemoConsents(ctx, n.Consents, d.Company, d.Holder); err != nil {
		return d, fmt.Errorf("demo consents: %w", err)
	}
	cases, err := seedDemoCases(ctx, n, d.Person, d.Applicants)
	d.Cases = cases
	if err != nil {
		return d, fmt.Errorf("demo cases: %w", err)
	}
	return d, nil
}
