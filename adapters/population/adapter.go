package population

import (
	"context"
	"time"

	"govx"
	"govx/adapters"
	"govx/bus"
	"govx/catalog"
	"govx/schemas"
)

// Resource codes the population department serves.
const ResourceIdentity = "population.identity"

// register names the register in a provider_unavailable answer.
const register = "population register"

// Register mounts the population department's handlers on rt.
func Register(rt *adapters.Runtime, store *Store) {
	rt.Handle(ResourceIdentity, schemas.PopulationIdentity, func(ctx context.Context, req *bus.Request) (any, error) {
		if err := govx.ValidateIDNumber(req.Key); err != nil {
			return nil, err
		}
		r, err := adapters.Lookup(ctx, register, govx.Errorf(govx.KindNotFound, "resident_not_found", "no resident with that ID number"),
			func(ctx context.Context) (Resident, error) { return store.Resident(ctx, req.Key) })
		if err != nil {
			return nil, err
		}
		return identityRecord(r, req.Fields), nil
	})
	registerHousehold(rt, store)
}

// identityRecord holds only the fields asked for: what was not asked for
// never leaves the department.
func identityRecord(r Resident, fields []string) map[string]any {
	all := map[string]string{
		"id_number":     r.IDNumber,
		"name":          r.Name,
		"sex":           r.Sex,
		"birth_date":    r.BirthDate.Format(time.DateOnly),
		"ethnicity":     r.Ethnicity,
		"address":       r.Address,
		"division_code": r.DivisionCode,
		"status":        r.Status,
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	return out
}

// Department is the population department's catalogue code.
const Department = catalog.DeptPopulation
