package legalentity

import (
	"context"
	"strconv"
	"time"

	"govx"
	"govx/adapters"
	"govx/bus"
)

// Resource codes the market regulation department serves; each is also the
// subject of its record's Avro schema.
const (
	ResourceBasic  = "legal-entity.basic"
	ResourceStatus = "legal-entity.status"
)

// Register mounts the market regulation department's handlers on rt.
func Register(rt *adapters.Runtime, store *Store) {
	rt.Handle(ResourceBasic, ResourceBasic, func(ctx context.Context, req *bus.Request) (any, error) {
		c, err := lookup(ctx, store, req.Key)
		if err != nil {
			return nil, err
		}
		return basicRecord(c, req.Fields), nil
	})
	rt.Handle(ResourceStatus, ResourceStatus, func(ctx context.Context, req *bus.Request) (any, error) {
		c, err := lookup(ctx, store, req.Key)
		if err != nil {
			return nil, err
		}
		return statusRecord(c, req.Fields), nil
	})
}

// lookup finds the entity a request names, with the errors callers see.
func lookup(ctx context.Context, store *Store, uscc string) (Company, error) {
	if err := govx.ValidateUSCC(uscc); err != nil {
		return Company{}, err
	}
	return adapters.Lookup(ctx, "market entity register",
		govx.Errorf(govx.KindNotFound, "entity_not_found", "no market entity with that unified social credit code"),
		func(ctx context.Context) (Company, error) { return store.Company(ctx, uscc) })
}

// Fields of the two records, in catalogue order.
var (
	basicFields = []string{"uscc", "name", "entity_type", "legal_representative", "legal_representative_id_number",
		"registered_capital", "established_on", "registration_authority", "registration_authority_code",
		"address", "division_code", "business_scope", "status", "status_date", "status_reason"}
	statusFields = []string{"uscc", "name", "status", "status_date", "status_reason"}
)

// basicRecord holds only the fields asked for: what was not asked for
// never leaves the department. A field the entity has no value for
// (registered capital of a branch, reason of an entity in business) is left
// out, which its Avro schema sends as null.
func basicRecord(c Company, fields []string) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		var v string
		switch f {
		case "uscc":
			v = c.USCC
		case "name":
			v = c.Name
		case "entity_type":
			v = c.Type
		case "legal_representative":
			v = c.LegalRepresentative
		case "legal_representative_id_number":
			v = c.RepresentativeID
		case "registered_capital":
			if c.RegisteredCapital > 0 {
				v = strconv.FormatInt(c.RegisteredCapital, 10) + ".00"
			}
		case "established_on":
			v = c.EstablishedOn.Format(time.DateOnly)
		case "registration_authority":
			v = c.AuthorityName
		case "registration_authority_code":
			v = c.AuthorityCode
		case "address":
			v = c.Address
		case "division_code":
			v = c.DivisionCode
		case "business_scope":
			v = c.BusinessScope
		case "status", "status_date", "status_reason":
			v = statusValue(c, f)
		}
		if v != "" {
			out[f] = v
		}
	}
	return out
}

// statusRecord is legal-entity.status, holding only fields.
func statusRecord(c Company, fields []string) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		var v string
		switch f {
		case "uscc":
			v = c.USCC
		case "name":
			v = c.Name
		default:
			v = statusValue(c, f)
		}
		if v != "" {
			out[f] = v
		}
	}
	return out
}

func statusValue(c Company, field string) string {
	switch field {
	case "status":
		return c.Status
	case "status_date":
		return c.StatusDate.Format(time.DateOnly)
	case "status_reason":
		return c.StatusReason
	}
	return ""
}
