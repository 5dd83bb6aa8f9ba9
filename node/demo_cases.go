package node

import (
	"context"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/casework"
	"govx/internal/auth"
)

// Party is the applicant as the clerk types it in.
func (a IntakeApplicant) Party() casework.Party {
	return casework.Party{USCC: a.Company.USCC, Company: a.Company.Name, RepIDNumber: a.Company.RepresentativeID,
		RepName: a.Company.LegalRepresentative}
}

// The people of the demo's one-stop window.
var (
	demoWindowClerk = &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "clerk:window-1"},
		Role: casework.RoleClerk, Dept: casework.DeptServiceCenter}
)

// seedDemoCases opens, the first time govx up runs, a few cases through
// the real workflow so that each back office has something in its queue
// and the supervision page has figures: a resident certificate and the
// bundled "open a restaurant" item, both accepted. It returns the cases
// opened (none when cases exist already).
func seedDemoCases(ctx context.Context, n *Node, residentID string, applicants []IntakeApplicant) ([]*casework.Case, error) {
	existing, err := n.Casework.List(ctx, demoWindowClerk, casework.Filter{Limit: 1})
	if err != nil || len(existing) > 0 || len(applicants) < 2 {
		return nil, err
	}
	var out []*casework.Case
	open := func(in casework.OpenInput, choices map[string]casework.Choice) error {
		c, err := n.Casework.Open(ctx, demoWindowClerk, in)
		if err != nil {
			return err
		}
		if c, err = n.Casework.Accept(ctx, demoWindowClerk, c.ID, casework.ChangeInput{Version: c.Version}, choices); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	}
	if err := open(casework.OpenInput{Item: "resident-certificate", Applicant: casework.Party{IDNumber: residentID},
		FormID: "demo-seed-resident"}, nil); err != nil {
		return out, err
	}
	err = open(casework.OpenInput{Item: "open-restaurant", Applicant: applicants[1].Party(), FormID: "demo-seed-restaurant"},
		map[string]casework.Choice{"premises_proof": casework.ChoiceReceived, "food_safety_rules": casework.ChoiceReceived,
			"fire_safety": casework.ChoiceCommitment, "signboard": casework.ChoiceMissing})
	return out, err
}

// IntakeApplicant is a demo company that can apply for a renewal: in
// business, with a valid food business licence and a living legal
// representative.
type IntakeApplicant struct {
	Company legalentity.Company
	Licence licence.Licence
}

// IntakeApplicants recomputes, from the demo generators' seed, up to max
// companies of the demo registers (with residents residents) that can
// renew their food business licence today.
func IntakeApplicants(residents, max int, today time.Time) ([]IntakeApplicant, error) {
	gens, err := NewGenerators(DemoRegisters(residents))
	if err != nil {
		return nil, err
	}
	companies := map[string]legalentity.Company{}
	for i := range DemoCompanies {
		c := gens.Companies.Company(i)
		companies[c.USCC] = c
	}
	alive := map[string]bool{}
	for i := range residents {
		p := gens.People.Resident(i)
		alive[p.IDNumber] = p.Status == population.StatusNormal
	}
	var out []IntakeApplicant
	for i := 0; i < DemoLicences && len(out) < max; i++ {
		l := gens.Licences.Licence(i)
		c, ok := companies[l.HolderCode]
		if ok && l.Type == licence.TypeFoodBusiness && l.EffectiveStatus(today) == licence.StatusValid &&
			c.Status == legalentity.StatusInBusiness && alive[c.RepresentativeID] {
			delete(companies, c.USCC) // each company once
			out = append(out, IntakeApplicant{Company: c, Licence: l})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the demo registers hold no company that can renew a food business licence")
	}
	return out, nil
}
