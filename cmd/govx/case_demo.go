package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/golang-jwt/jwt/v5"

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
func seedDemoCases(ctx context.Context, m *Main, residentID string, applicants []IntakeApplicant) ([]*casework.Case, error) {
	existing, err := m.Casework.List(ctx, demoWindowClerk, casework.Filter{Limit: 1})
	if err != nil || len(existing) > 0 || len(applicants) < 2 {
		return nil, err
	}
	var out []*casework.Case
	open := func(in casework.OpenInput, choices map[string]casework.Choice) error {
		c, err := m.Casework.Open(ctx, demoWindowClerk, in)
		if err != nil {
			return err
		}
		if c, err = m.Casework.Accept(ctx, demoWindowClerk, c.ID, casework.ChangeInput{Version: c.Version}, choices); err != nil {
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

// printWindow tells a newcomer where the one-stop window is and what to
// try there.
func printWindow(w io.Writer, m *Main, keys demoKeys, seeded []*casework.Case) {
	fmt.Fprintf(w, `
The one-stop window, in a browser (Chinese; English at the top right):

  %[1]s/ui/            sign in as a demo clerk, reviewer or supervisor
  %[1]s/ui/progress    an applicant's progress lookup: case number + last 4 characters of the ID
  %[1]s/v1/cases/openapi.json   the case workflow's JSON API
`, m.URL())
	if len(keys.applicants) > 0 {
		a := keys.applicants[0]
		fmt.Fprintf(w, `
As the clerk, open 食品经营许可（延续） (food business licence renewal) for
  company          %s  %s
  representative   %s  %s
  current licence  %s
The registration, the representative's identity and the licence with its
issuer's seal are verified through the exchange, in parallel: no paper.
`, a.Company.USCC, a.Company.Name, a.Company.RepresentativeID, a.Company.LegalRepresentative, a.Licence.Number)
	}
	for _, c := range seeded {
		fmt.Fprintf(w, "Case %s (%s) waits in the back office of %s.\n", c.ID, c.Item, strings.Join(c.PendingDepts(), ", "))
	}
}
