package catalog

import (
	"context"
	"time"

	"govx"
	"govx/internal/workday"
	"govx/schemas"
)

// DemoHousehold is the demo's resource shared on conditions: the household
// register entry of a resident. The service center holds an approved grant
// for some of its fields.
const DemoHousehold = "population.household"

// DemoHouseholdGranted are the fields the demo grant gives the service center.
var DemoHouseholdGranted = []string{"address", "division_code", "name"}

// seedGrants adds the conditional demo resource and, unless the service
// center already has a grant for it, an approved one for a year from today.
func seedGrants(ctx context.Context, s *Store) error {
	const op = "catalog.seedGrants"
	err := s.PutResource(ctx, Resource{
		Code:     DemoHousehold,
		Name:     "户籍登记信息 (Household registration)",
		Provider: DeptPopulation,
		Summary:  "A resident's entry in the household register (户籍): registered address, its division and the registration status, looked up by resident ID number. Shared on conditions: the population department grants it field by field.",
		KeyType:  KeyIDNumber,
		Fields: []Field{
			{Name: "id_number", Type: "string", Description: "Resident ID number (GB 11643)", Personal: true},
			{Name: "name", Type: "string", Description: "Name", Personal: true},
			{Name: "address", Type: "string", Description: "Household-register address", Personal: true},
			{Name: "division_code", Type: "string", Description: "GB/T 2260 division code of the address", Personal: false},
			{Name: "status", Type: "string", Description: "normal, moved_out or deceased", Personal: false},
		},
		Sharing: Conditional,
		// The register answers it with the identity record's shape, holding
		// only the fields asked for.
		SchemaSubject: schemas.PopulationIdentity,
	})
	if err != nil {
		return govx.E(op, err)
	}
	grants := NewGrantStore(s.pool, nil)
	have, err := grants.Grants(ctx, GrantFilter{Resource: DemoHousehold, Consumer: DeptServiceCenter, Limit: 1})
	if err != nil || len(have) > 0 {
		return govx.E(op, err)
	}
	now := time.Now()
	g, err := grants.Apply(ctx, Actor{Subject: "seed:service-center", Dept: DeptServiceCenter}, Application{
		Resource: DemoHousehold, Fields: DemoHouseholdGranted,
		Purpose:    "Verify applicants' registered address at the one-stop window instead of asking for a household register booklet",
		LegalBasis: "《优化营商环境条例》; 国务院关于加快推进政务服务“一网通办”的指导意见",
		ValidFrom:  workday.Date(now), ValidUntil: workday.Date(now.AddDate(1, 0, 0)),
	})
	if err != nil {
		return govx.E(op, err)
	}
	_, err = grants.UpdateGrant(ctx, g.ID, func(g *Grant) error {
		return g.Approve(Actor{Subject: "seed:population", Dept: DeptPopulation}, Terms{}, now)
	})
	return govx.E(op, err)
}
