package licence

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"govx"
	"govx/adapters"
	"govx/bus"
	"govx/catalog"
)

// Codec encodes and decodes wire-format Avro messages. *avro.Codec
// satisfies it.
type Codec interface {
	Marshal(subject string, v any) ([]byte, error)
	UnmarshalAs(ctx context.Context, subject string, data []byte, v any) error
}

// orderRecord is an order as schemas/licence.issue-order.avsc encodes it.
type orderRecord struct {
	Reference     string            `avro:"reference"`
	Type          string            `avro:"type"`
	HolderCode    string            `avro:"holder_code"`
	HolderName    string            `avro:"holder_name"`
	AuthorityCode string            `avro:"authority_code"`
	Variant       int               `avro:"variant"`
	Items         map[string]string `avro:"items"`
	ValidFrom     *string           `avro:"valid_from"`
	ValidUntil    *string           `avro:"valid_until"`
}

func newOrderRecord(o *Order) orderRecord {
	opt := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		s := date(t).Format(time.DateOnly)
		return &s
	}
	items := o.Items
	if items == nil {
		items = map[string]string{}
	}
	return orderRecord{Reference: o.Reference, Type: o.Type, HolderCode: o.HolderCode, HolderName: o.HolderName,
		AuthorityCode: o.AuthorityCode, Variant: o.Variant, Items: items, ValidFrom: opt(o.ValidFrom), ValidUntil: opt(o.ValidUntil)}
}

func (r *orderRecord) order() (Order, error) {
	o := Order{Reference: r.Reference, Type: r.Type, HolderCode: r.HolderCode, HolderName: r.HolderName,
		AuthorityCode: r.AuthorityCode, Variant: r.Variant, Items: r.Items}
	for _, f := range []struct {
		name string
		s    *string
		t    *time.Time
	}{{"valid_from", r.ValidFrom, &o.ValidFrom}, {"valid_until", r.ValidUntil, &o.ValidUntil}} {
		if f.s == nil {
			continue
		}
		t, err := time.Parse(time.DateOnly, *f.s)
		if err != nil {
			return Order{}, govx.Errorf(govx.KindInvalid, "invalid_validity", "%s is not a YYYY-MM-DD date", f.name)
		}
		*f.t = t
	}
	return o, nil
}

// issuedRecord is the answer to an order as schemas/licence.issued.avsc
// encodes it, and as the exchange answers it in JSON.
type issuedRecord struct {
	Reference     string            `avro:"reference" json:"reference"`
	ID            string            `avro:"id" json:"id"`
	Number        string            `avro:"number" json:"number"`
	Type          string            `avro:"type" json:"type"`
	HolderCode    string            `avro:"holder_code" json:"holder_code"`
	HolderName    string            `avro:"holder_name" json:"holder_name"`
	Authority     string            `avro:"authority" json:"authority"`
	AuthorityCode string            `avro:"authority_code" json:"authority_code"`
	IssueDate     string            `avro:"issue_date" json:"issue_date"`
	ValidFrom     string            `avro:"valid_from" json:"valid_from"`
	ValidUntil    string            `avro:"valid_until" json:"valid_until"`
	Items         map[string]string `avro:"items" json:"items"`
	SealKeyID     string            `avro:"seal_key_id" json:"seal_key_id"`
	Seal          []byte            `avro:"seal" json:"seal"`
}

func newIssuedRecord(reference string, l *Licence) issuedRecord {
	return issuedRecord{Reference: reference, ID: l.ID, Number: l.Number, Type: l.Type, HolderCode: l.HolderCode,
		HolderName: l.HolderName, Authority: l.Authority, AuthorityCode: l.AuthorityCode,
		IssueDate: l.IssueDate.Format(time.DateOnly), ValidFrom: l.ValidFrom.Format(time.DateOnly),
		ValidUntil: l.ValidUntil.Format(time.DateOnly), Items: l.Items, SealKeyID: l.SealKeyID, Seal: l.Seal}
}

func (r *issuedRecord) issued() (Issued, error) {
	i := Issued{Reference: r.Reference, Number: r.Number, ID: r.ID, Type: r.Type, HolderCode: r.HolderCode,
		HolderName: r.HolderName, Authority: r.Authority, AuthorityCode: r.AuthorityCode, Items: r.Items,
		SealKeyID: r.SealKeyID, Seal: r.Seal}
	if i.Items == nil {
		i.Items = map[string]string{}
	}
	for _, f := range []struct {
		s string
		t *time.Time
	}{{r.IssueDate, &i.IssuedAt}, {r.ValidFrom, &i.ValidFrom}, {r.ValidUntil, &i.ValidUntil}} {
		t, err := time.Parse(time.DateOnly, f.s)
		if err != nil {
			return Issued{}, fmt.Errorf("the licence issued has a malformed date %q", f.s)
		}
		*f.t = t
	}
	return i, nil
}

// IssuingConfig configures the licence.issue route.
type IssuingConfig struct {
	// Consumers are the departments that may order licences; default the
	// one-stop window (catalog.DeptServiceCenter), whose case workflow
	// grants them.
	Consumers []string
}

// RegisterIssuing mounts the licence.issue command on rt: it takes an
// order (the request's payload, a licence.issue-order message encoded by
// codec) from a department in cfg.Consumers, issues it with
// store.IssueOrder and answers with the licence.issued record. Refusals: a
// department not allowed to order is KindForbidden ("issue_forbidden"); a
// request without payload is KindInvalid ("issue_order_missing"); one that
// does not decode as an order is KindInvalid ("invalid_order"); a request
// key other than the order's reference is KindInvalid
// ("invalid_reference"); bad orders as IssueOrder says.
func RegisterIssuing(rt *adapters.Runtime, store *Store, codec Codec, cfg IssuingConfig) {
	consumers := slices.Clone(cfg.Consumers)
	if len(consumers) == 0 {
		consumers = []string{catalog.DeptServiceCenter}
	}
	rt.Handle(ResourceIssue, SubjectIssued, func(ctx context.Context, req *bus.Request) (any, error) {
		if !slices.Contains(consumers, req.Consumer) {
			return nil, govx.Errorf(govx.KindForbidden, "issue_forbidden", "department %q may not order licences", req.Consumer)
		}
		if len(req.Payload) == 0 {
			return nil, govx.Errorf(govx.KindInvalid, "issue_order_missing", "a %s request carries the order as its payload", ResourceIssue)
		}
		var rec orderRecord
		if err := codec.UnmarshalAs(ctx, SubjectOrder, req.Payload, &rec); err != nil {
			if govx.ErrorKind(err) != govx.KindInvalid && govx.ErrorKind(err) != govx.KindNotFound {
				return nil, err
			}
			return nil, &govx.Error{Kind: govx.KindInvalid, Code: "invalid_order",
				Message: "the payload is not a " + SubjectOrder + " message", Err: err}
		}
		o, err := rec.order()
		if err != nil {
			return nil, err
		}
		if req.Key != "" && req.Key != o.Reference {
			return nil, govx.Errorf(govx.KindInvalid, "invalid_reference", "the request's key is not the order's reference")
		}
		l, err := store.IssueOrder(ctx, o)
		if err != nil {
			return nil, err
		}
		return newIssuedRecord(o.Reference, &l), nil
	})
	// The order must be the ordering department's own: signed by it over
	// the order's subject and bytes (Issuer signs what it sends).
	rt.RequireSignedOrders(ResourceIssue, SubjectOrder)
}

// Exchange sends a command through the exchange's API, as any consumer
// department does. *exchange.Client satisfies it.
type Exchange interface {
	// Command sends payload, the order, to the command resource keyed by
	// key, for purpose, with the bearer token; it returns the record the
	// provider answered, in the exchange's JSON. Refusals come back as the
	// *govx.Error the exchange or the provider stated. keyID and sig are
	// the ordering department's bus signature on the payload, carried to
	// the provider ("" and nil for none).
	Command(ctx context.Context, token, resource, key, purpose string, payload []byte, keyID string, sig []byte) (json.RawMessage, error)
}

// Issuer orders licences from the licensing department through the
// exchange: an order is a licence.issue request that the exchange
// authorises (scope, grant) and records in its audit ledger like any
// query. It is safe for concurrent use.
type Issuer struct {
	ex     Exchange
	codec  Codec
	signer *bus.Signer
}

// NewIssuer returns an Issuer sending through ex, with codec holding the
// order schema (schemas.RegisterAll), signing each order with signer, a
// bus key of the ordering department (the licensing adapter honours no
// unsigned order; nil sends them unsigned, for tests of unsigned buses).
func NewIssuer(ex Exchange, codec Codec, signer *bus.Signer) *Issuer {
	return &Issuer{ex: ex, codec: codec, signer: signer}
}

// Issue orders the licence o describes with token, a token of the
// ordering department whose scope names licence.issue, and returns the
// licence issued: the one issued before if an order with o.Reference was
// already taken. The exchange's refusals (scope_missing, grant_required,
// …) and the department's (kind and code as RegisterIssuing and
// Store.IssueOrder say) come back as their *govx.Error; a department that
// does not answer in time is KindTimeout ("provider_timeout"), one whose
// adapter never joined the bus KindUnavailable ("provider_unavailable").
// An order that timed out may still have been issued: retry it with the
// same reference.
func (is *Issuer) Issue(ctx context.Context, token string, o Order) (Issued, error) {
	const op = "licence.Issuer.Issue"
	if err := validateReference(o.Reference); err != nil {
		return Issued{}, govx.E(op, err)
	}
	payload, err := is.codec.Marshal(SubjectOrder, newOrderRecord(&o))
	if err != nil {
		return Issued{}, govx.E(op, err)
	}
	var kid string
	var sig []byte
	if is.signer != nil {
		kid, sig = is.signer.KeyID(), is.signer.SignDetached(SubjectOrder, payload)
	}
	raw, err := is.ex.Command(ctx, token, ResourceIssue, o.Reference, "licence.issue:"+o.Reference, payload, kid, sig)
	if err != nil {
		return Issued{}, govx.E(op, err)
	}
	var rec issuedRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Issued{}, govx.E(op, fmt.Errorf("the licence issued does not decode: %w", err))
	}
	iss, err := rec.issued()
	if err != nil {
		return Issued{}, govx.E(op, err)
	}
	if iss.Reference != o.Reference {
		return Issued{}, govx.E(op, fmt.Errorf("licence issued for reference %q, ordered as %q", iss.Reference, o.Reference))
	}
	return iss, nil
}
