package catalog

import (
	"context"
	"time"

	"govx"
	"govx/internal/workday"
)

// DemoHousehold is the demo's resource shared on conditions: a household
// of the population register (adapters/population serves it). The service
// center holds an approved grant for some of its fields; "members" (who
// lives with whom) is not granted.
const DemoHousehold = "population.household"

// DemoHouseholdGranted are the fields the demo grant gives the service center.
var DemoHouseholdGranted = []string{"address", "division_code", "head_name", "household_no"}

// DemoGrant is an approved grant the demo gives the service center for a
// resource shared on conditions.
type DemoGrant struct {
	Resource   string
	Fields     []string // applied for and granted
	Purpose    string
	LegalBasis string
	Provider   string // the department that approves: the resource's provider
}

// seedGrants gives the service center its demo grant for the conditional
// demo resource of this package.
func seedGrants(ctx context.Context, s *Store) error {
	return SeedGrant(ctx, s, DemoGrant{Resource: DemoHousehold, Fields: DemoHouseholdGranted, Provider: DeptPopulation,
		Purpose:    "Verify applicants' registered address at the one-stop window instead of asking for a household register booklet",
		LegalBasis: "《优化营商环境条例》; 国务院关于加快推进政务服务“一网通办”的指导意见"})
}

// SeedGrant gives the service center, unless it already has a grant for
// g.Resource, one approved by g.Provider for a year from today. The
// resource must be in the catalogue.
func SeedGrant(ctx context.Context, s *Store, g DemoGrant) error {
	const op = "catalog.SeedGrant"
	grants := NewGrantStore(s.pool, nil)
	have, err := grants.Grants(ctx, GrantFilter{Resource: g.Resource, Consumer: DeptServiceCenter, Limit: 1})
	if err != nil || len(have) > 0 {
		return govx.E(op, err)
	}
	now := time.Now()
	applied, err := grants.Apply(ctx, Actor{Subject: "seed:service-center", Dept: DeptServiceCenter}, Application{
		Resource: g.Resource, Fields: g.Fields, Purpose: g.Purpose, LegalBasis: g.LegalBasis,
		ValidFrom: workday.Date(now), ValidUntil: workday.Date(now.AddDate(1, 0, 0)),
	})
	if err != nil {
		return govx.E(op, err)
	}
	_, err = grants.UpdateGrant(ctx, applied.ID, func(gr *Grant) error {
		return gr.Approve(Actor{Subject: "seed:" + g.Provider, Dept: g.Provider}, Terms{}, now)
	})
	return govx.E(op, err)
}

// DemoHouseholdResource is the catalogue entry of population.household,
// which adapters/population serves: who lives with whom is shared on
// conditions.
func DemoHouseholdResource() Resource {
	return Resource{
		Code:           DemoHousehold,
		Name:           "居民户信息 (Household)",
		Classification: "base/population",
		Provider:       DeptPopulation,
		Summary: "A household of the household register (户): its number, head, address and members with their " +
			"relation to the head, looked up by the 18-character ID number of any member.",
		Format:  "avro",
		KeyType: KeyIDNumber,
		Fields: []Field{
			{Name: "household_no", Type: "string", Description: "Household number: GB/T 2260 division code and nine digits", Personal: false},
			{Name: "head_id_number", Type: "string", Description: "ID number of the head of the household (户主)", Personal: true},
			{Name: "head_name", Type: "string", Description: "Name of the head of the household", Personal: true},
			{Name: "address", Type: "string", Description: "Household-register address", Personal: true},
			{Name: "division_code", Type: "string", Description: "GB/T 2260 division code of the address", Personal: false},
			{Name: "members", Type: "array", Description: "Members: ID number, name, relation to the head (head, spouse, child, parent, grandchild, sibling, other)", Personal: true},
		},
		Sharing: Conditional,
		Conditions: "For the verification of family relations in a case the consumer handles by law " +
			"(social assistance, household registration, education enrolment); an approved grant names the purpose.",
		Methods:       []string{MethodQuery},
		OpenClass:     NotOpen,
		UpdateCycle:   "real-time",
		LegalBasis:    "《中华人民共和国户口登记条例》; 《政务信息资源共享管理暂行办法》",
		PublishedOn:   "2026-11-21",
		Related:       []string{"population.identity"},
		SchemaSubject: DemoHousehold,
		Status:        "active",
	}
}
