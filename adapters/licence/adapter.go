package licence

import (
	"context"
	"time"

	"govx/adapters"
	"govx/bus"
)

// Department is the licensing department's catalogue code.
//
// One department serves every licence type: the electronic licence
// register (电子证照库) is run by one body for the whole government, which
// gathers the licences many authorities issue (market regulation, drug
// administration, housing, transport). Who issued a licence is part of the
// licence (Authority, AuthorityCode) and of its seal: each authority seals
// with its own key, registered in the catalogue under this department with
// a key id that starts with the authority's code. Consumers thus have one
// provider to ask and one key set to fetch, yet can tell the authorities'
// seals apart.
const Department = "licensing"

// Resource codes the licensing department serves.
const (
	ResourceFoodBusiness  = "licence.food-business"
	ResourcePharmacy      = "licence.pharmacy"
	ResourceConstruction  = "licence.construction"
	ResourceRoadTransport = "licence.road-transport"
	ResourceByHolder      = "licence.by-holder"
)

// Resource is the resource code of licences of type typ.
func Resource(typ string) string { return "licence." + typ }

// Register mounts the licensing department's handlers on rt. Each licence
// resource answers only licences of its own type: a pharmacy licence number
// asked for as licence.food-business is refused as malformed, before the
// database.
func Register(rt *adapters.Runtime, store *Store) {
	for _, typ := range Types {
		res := Resource(typ)
		rt.Handle(res, res, func(ctx context.Context, req *bus.Request) (any, error) {
			if err := ValidateNumber(typ, req.Key); err != nil {
				return nil, err
			}
			l, err := adapters.Lookup(ctx, register, nil, func(ctx context.Context) (Licence, error) { return store.Licence(ctx, req.Key) })
			if err != nil {
				return nil, err
			}
			return record(&l, req.Fields), nil
		})
	}
	rt.Handle(ResourceByHolder, ResourceByHolder, func(ctx context.Context, req *bus.Request) (any, error) {
		if err := ValidateHolder(req.Key); err != nil {
			return nil, err
		}
		h, err := adapters.Lookup(ctx, register, nil, func(ctx context.Context) (Holding, error) {
			return store.ByHolder(ctx, req.Key, MaxByHolder)
		})
		if err != nil {
			return nil, err
		}
		return holdingRecord(&h, req.Fields), nil
	})
}

// register names the register in a provider_unavailable answer.
const register = "electronic licence register"

// record is a licence as its resource's Avro schema encodes it, holding
// only the fields asked for (all of them when fields is nil): what was not
// asked for never leaves the department.
func record(l *Licence, fields []string) map[string]any {
	// A map in a union is written as its branch: {"map": the map}.
	items := map[string]any{"map": l.Items}
	all := map[string]any{
		"id":             l.ID,
		"type":           l.Type,
		"number":         l.Number,
		"holder_name":    l.HolderName,
		"holder_code":    l.HolderCode,
		"authority":      l.Authority,
		"authority_code": l.AuthorityCode,
		"issue_date":     l.IssueDate.Format(time.DateOnly),
		"valid_from":     l.ValidFrom.Format(time.DateOnly),
		"valid_until":    l.ValidUntil.Format(time.DateOnly),
		"status":         l.Status,
		"items":          items,
		"seal_key_id":    l.SealKeyID,
		"seal":           l.Seal,
	}
	if l.RevokedAt != nil {
		all["revoked_at"] = l.RevokedAt.UTC().Format(time.RFC3339)
		all["revocation_reason"] = l.RevocationReason
	}
	if fields == nil {
		return all
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	return out
}

// holdingRecord is a holder's listing as licence.by-holder encodes it.
func holdingRecord(h *Holding, fields []string) map[string]any {
	list := make([]any, len(h.Licences))
	for i := range h.Licences {
		l := &h.Licences[i]
		list[i] = map[string]any{
			"id": l.ID, "type": l.Type, "number": l.Number, "holder_name": l.HolderName,
			"authority": l.Authority, "authority_code": l.AuthorityCode,
			"issue_date": l.IssueDate.Format(time.DateOnly), "valid_from": l.ValidFrom.Format(time.DateOnly),
			"valid_until": l.ValidUntil.Format(time.DateOnly), "status": l.Status,
		}
	}
	all := map[string]any{"holder_code": h.HolderCode, "total": h.Total, "licences": list}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	return out
}
