package population

import (
	"context"
	"time"

	"govx"
	"govx/adapters"
	"govx/catalog"
	"govx/exchange"
	"govx/schemas"
)

// Resource codes the population department serves.
const ResourceIdentity = "population.identity"

// dbTimeout bounds a register lookup, so that a department database that is
// down gives the caller an Unavailable error well before the exchange's own
// timeout.
const dbTimeout = 2 * time.Second

// Register mounts the population department's handlers on rt.
func Register(rt *adapters.Runtime, store *Store) {
	rt.Handle(ResourceIdentity, schemas.PopulationIdentity, func(ctx context.Context, req *exchange.Request) (any, error) {
		if err := govx.ValidateIDNumber(req.Key); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(ctx, dbTimeout)
		defer cancel()
		r, err := store.Resident(ctx, req.Key)
		if err != nil {
			if govx.ErrorKind(err) == govx.KindNotFound {
				return nil, govx.Errorf(govx.KindNotFound, "resident_not_found", "no resident with that ID number")
			}
			if ctx.Err() != nil || govx.ErrorKind(err) == govx.KindInternal {
				return nil, &govx.Error{Kind: govx.KindUnavailable, Code: "provider_unavailable",
					Message: "the population register is unavailable", Err: err}
			}
			return nil, err
		}
		return identityRecord(r, req.Fields), nil
	})
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
