package exchange

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"govx"
	"govx/bus"
	"govx/catalog"
	"govx/consent"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/httpx"
	"govx/internal/workday"
)

// Policy is what the exchange needs from the catalogue to decide an
// access: the active resource with code (its sharing class and fields) and,
// for a resource shared on conditions, the grants dept holds for it that
// can decide (approved, revoked, expired; see catalog.DecideGrant).
// *catalog.PolicyCache satisfies it. Implementations are safe for
// concurrent use; the returned values are not modified by the exchange.
// DepartmentExists (catalog.Departments) tells whether a token's
// department is one the catalogue holds.
type Policy interface {
	Lookup(ctx context.Context, code, dept string) (*catalog.Resource, []catalog.Grant, error)
	catalog.Departments
}

// Codec encodes and decodes Avro wire-format messages. *avro.Codec
// satisfies it.
type Codec interface {
	Marshal(subject string, v any) ([]byte, error)
	UnmarshalAs(ctx context.Context, subject string, data []byte, v any) error
}

// Consents decides the data subject's consent to an access.
// *consent.Cache satisfies it.
type Consents interface {
	Check(ctx context.Context, n consent.Need) (*consent.Consent, error)
	Use(ctx context.Context, c *consent.Consent, requestID string) error
}

// AuditLog records every query. *ledger.Ledger satisfies it.
type AuditLog interface {
	Append(ctx context.Context, e ledger.Entry) error
}

var (
	_ Policy   = (*catalog.PolicyCache)(nil)
	_ AuditLog = (*ledger.Ledger)(nil)
	_ Codec    = (*avro.Codec)(nil)
	_ Consents = (*consent.Cache)(nil)
)

// Config is what the exchange needs and how it brokers.
type Config struct {
	// Policy decides who may have which fields (required).
	Policy Policy
	// Requester carries a query to its provider and brings the reply back
	// (required).
	Requester bus.Requester
	// Codec encodes the requests and decodes the replies (required).
	Codec Codec

	// Timeout is how long a query waits for the provider.
	Timeout time.Duration // default 5s
	// MaxBody is the largest query body accepted.
	MaxBody int64        // default 64 KiB
	Logger  *slog.Logger // default slog.Default()
	// Now is the clock grants and consents are judged by; default time.Now.
	Now func() time.Time
	// Consents decides consent to personal fields. Nil refuses every
	// access to personal fields (consent_required).
	Consents Consents
	// Signer signs every request this instance sends (bus.ExchangeDepartment's
	// key); adapters refuse unsigned requests. Replies checks that each
	// reply is signed by the resource's provider, refusing any other
	// (bus.CodeReplyUnverified). Nil for either only in tests of
	// unsigned buses.
	Signer  *bus.Signer
	Replies *bus.Verifier
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if c.Policy == nil || c.Requester == nil || c.Codec == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "exchange: a service needs a Policy, a Requester and a Codec")
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Timeout < 0 {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "exchange: timeout must be positive")
	}
	if c.MaxBody == 0 {
		c.MaxBody = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Service decides and brokers queries.
type Service struct {
	cfg    Config
	policy Policy
	bus    bus.Requester
	codec  Codec
}

// NewService returns the broker.
func NewService(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, policy: cfg.Policy, bus: cfg.Requester, codec: cfg.Codec}, nil
}

// Query is an authorised request for one record of a resource.
type Query struct {
	Resource string   `json:"-"`
	Key      string   `json:"key"`
	Fields   []string `json:"fields"`
	Purpose  string   `json:"purpose"`
	// Consent names the data subject's consent the caller relies on;
	// without it any active consent that covers the access serves.
	Consent string `json:"consent,omitempty"`
	// Payload is a command's order: a wire-format Avro message of the
	// command's order subject (licence.issue-order for licence.issue),
	// base64 in JSON. Required by a command resource (catalog.MethodCommand),
	// refused by any other.
	Payload []byte `json:"payload,omitempty"`
	// PayloadSignature and PayloadKeyID are the ordering department's
	// signature on Payload (bus.Signer.SignDetached over the order's
	// subject and bytes) and its key id: a provider may honour an order
	// only when its own caller signed it (licence.issue does).
	PayloadSignature []byte `json:"payload_signature,omitempty"`
	PayloadKeyID     string `json:"payload_key_id,omitempty"`
}

// Receipt tells the caller what was answered, by whom and when.
type Receipt struct {
	RequestID  string    `json:"request_id"`
	Resource   string    `json:"resource"`
	Provider   string    `json:"provider"`
	Fields     []string  `json:"fields"`
	AnsweredAt time.Time `json:"answered_at"`
}

// Answer is a successful query's result.
type Answer struct {
	Record  map[string]any `json:"record"`
	Receipt Receipt        `json:"receipt"`
}

// Decision is what the exchange knew about a query when it answered or
// refused it, for the audit record.
type Decision struct {
	Provider string
	Fields   []string
	Rule     string // the policy rule that allowed or refused the access
	Sent     bool   // the request went to the provider
	Subject  string // the data subject, once known
	Consent  string // the consent that allowed the access
	// Reply is the provider's signature on its reply and the reply's
	// digest, once a signed reply was verified.
	Reply bus.Signature
}

// Access is an allowed access: the resource and the fields the caller may
// receive of it.
type Access struct {
	Resource *catalog.Resource
	Fields   []string // sorted, no duplicates
	Rule     string
	// Personal: some of Fields are personal, so the data subject's
	// consent decides each record (Service.Consent).
	Personal bool
}

// Authorize decides whether caller may receive fields (all the resource's
// fields when empty) of the resource with the given code, for purpose. It
// is the whole access policy: queries and event subscriptions both pass
// through it. d records how far the decision got.
func (s *Service) Authorize(ctx context.Context, caller *auth.Claims, code string, fields []string, purpose string, d *Decision) (*Access, error) {
	const op = "exchange.Authorize"
	if !catalog.ValidCode(code) {
		return nil, govx.Errorf(govx.KindNotFound, "resource_not_found", "no resource %q in the catalogue", httpx.Truncate(code, 64))
	}
	res, grants, err := s.policy.Lookup(ctx, code, caller.Dept)
	if err != nil {
		return nil, govx.E(op, err)
	}
	d.Provider = res.Provider
	if err := catalog.ActAs(ctx, s.policy, caller); err != nil {
		return nil, govx.E(op, err)
	}
	if !caller.HasScope(res.Code) {
		return nil, govx.Errorf(govx.KindForbidden, "scope_missing", "the token's scope does not include %s", res.Code)
	}
	e, err := catalog.Entitle(res, caller.Dept, grants, workday.Date(s.cfg.Now()), fields)
	d.Rule = e.Rule
	if err != nil {
		return nil, err
	}
	if purpose == "" {
		return nil, govx.Errorf(govx.KindInvalid, "purpose_required", "state the purpose the data is used for, e.g. case:<id>")
	}
	if len(purpose) > 200 {
		return nil, govx.Errorf(govx.KindInvalid, "purpose_invalid", "purpose is longer than 200 bytes")
	}
	if strings.IndexFunc(purpose, unicode.IsControl) >= 0 {
		return nil, govx.Errorf(govx.KindInvalid, "purpose_invalid", "purpose holds control characters")
	}
	fields = e.Fields
	d.Fields = fields
	return &Access{Resource: res, Fields: fields, Rule: d.Rule, Personal: res.Personal(fields)}, nil
}

// Consent decides whether the data subject's consent allows acc for
// caller: the consent that does, or consent_required, consent_revoked, …
// (see consent.Decide). consentID, when not "", names the one to rely on.
func (s *Service) Consent(ctx context.Context, caller *auth.Claims, acc *Access, subject, purpose, consentID string, d *Decision) (*consent.Consent, error) {
	d.Subject = subject
	if s.cfg.Consents == nil {
		d.Rule = "consent_required"
		return nil, govx.Errorf(govx.KindForbidden, "consent_required", "%s holds personal data and this exchange checks no consents", acc.Resource.Code)
	}
	c, err := s.cfg.Consents.Check(ctx, consent.Need{Subject: subject, Consumer: caller.Dept, Resource: acc.Resource.Code,
		Fields: acc.Fields, Purpose: purpose, ConsentID: consentID, At: s.cfg.Now()})
	if err != nil {
		if govx.ErrorKind(err) == govx.KindForbidden {
			d.Rule = govx.ErrorCode(err)
		}
		return nil, err
	}
	d.Consent = c.ID
	return c, nil
}

// Spend uses c for the access requestID, just before its data leaves: a
// once-only consent is spent by it, and if another access spent it first
// this one gets nothing.
func (s *Service) Spend(ctx context.Context, c *consent.Consent, requestID string, d *Decision) error {
	if err := s.cfg.Consents.Use(ctx, c, requestID); err != nil {
		d.Consent = ""
		if govx.ErrorKind(err) == govx.KindForbidden {
			d.Rule = govx.ErrorCode(err)
		}
		return err
	}
	return nil
}

// Query checks the caller's right to q, asks the provider over the bus and
// returns its record. A command (catalog.MethodCommand) is decided the
// same way, scope, sharing class and grant; q carries its order as the
// payload, and the record is what the order made. The Decision is filled in as far as the query got,
// whether it succeeded or not.
func (s *Service) Query(ctx context.Context, requestID string, caller *auth.Claims, q Query, d *Decision) (*Answer, error) {
	const op = "exchange.Query"
	acc, err := s.Authorize(ctx, caller, q.Resource, q.Fields, q.Purpose, d)
	if err != nil {
		return nil, err
	}
	res, fields := acc.Resource, acc.Fields
	if err := validateKey(res.KeyType, q.Key); err != nil {
		return nil, err
	}
	if len(q.Consent) > 64 {
		return nil, govx.Errorf(govx.KindInvalid, "invalid_consent", "a consent id is at most 64 bytes")
	}
	command := slices.Contains(res.Methods, catalog.MethodCommand)
	switch {
	case command && len(q.Payload) == 0:
		return nil, govx.Errorf(govx.KindInvalid, "payload_required", "%s is a command: send the order as the payload", res.Code)
	case !command && q.Payload != nil:
		return nil, govx.Errorf(govx.KindInvalid, "payload_not_accepted", "%s is not a command and takes no payload", res.Code)
	}

	// Personal fields leave only with the data subject's consent. When the
	// key names the subject it is checked before the provider is asked;
	// otherwise (a licence by number) the provider is asked for the field
	// that names the subject too, and the record is held back unless the
	// subject consented.
	//
	// A command is not an access to a data subject's data: an order is
	// authorised by the ordering department's scope and grant (above), and
	// the person it concerns asked for it by applying, so no consent is
	// checked or spent. The record it answers names the holder, who is
	// recorded as the data subject so that they see the order among the
	// accesses to their data.
	var cons *consent.Consent
	ask, subjectField := fields, ""
	if command {
		subjectField = res.SubjectField()
	} else if catalog.KeyNamesSubject(res.KeyType) {
		d.Subject = q.Key
		if acc.Personal {
			if cons, err = s.Consent(ctx, caller, acc, q.Key, q.Purpose, q.Consent, d); err != nil {
				return nil, err
			}
		}
	} else if acc.Personal {
		subjectField = res.SubjectField()
		if subjectField == "" {
			d.Rule = "consent_required"
			return nil, govx.Errorf(govx.KindForbidden, "consent_required", "%s holds personal data but names no data subject to ask consent of", res.Code)
		}
		if !slices.Contains(fields, subjectField) {
			ask = slices.Sorted(slices.Values(append(slices.Clone(fields), subjectField)))
		}
	}

	now := time.Now().UTC()
	d.Sent = true
	opt := bus.CallOptions{Signer: s.cfg.Signer, Verifier: s.cfg.Replies, Signature: &d.Reply}
	if command && q.PayloadSignature != nil {
		opt.Headers = bus.PayloadSignatureHeaders(q.PayloadKeyID, q.PayloadSignature)
	}
	reply, err := bus.Call(ctx, s.bus, s.codec, res.Provider, []byte(q.Key), bus.Request{
		RequestID: requestID, Resource: res.Code, Key: q.Key, Fields: ask, Purpose: q.Purpose,
		Consumer: caller.Dept, Caller: caller.Subject, RequestedAt: now, Deadline: now.Add(s.cfg.Timeout),
		Payload: q.Payload,
	}, opt)
	if err != nil {
		return nil, govx.E(op, err)
	}
	var rec map[string]any
	if err := s.codec.UnmarshalAs(ctx, res.SchemaSubject, reply.Record, &rec); err != nil {
		return nil, govx.E(op, err)
	}
	if command {
		d.Subject, _ = rec[subjectField].(string)
	} else if subjectField != "" {
		subject, _ := rec[subjectField].(string)
		if cons, err = s.Consent(ctx, caller, acc, subject, q.Purpose, q.Consent, d); err != nil {
			return nil, err
		}
	}
	if cons != nil {
		if err := s.Spend(ctx, cons, requestID, d); err != nil {
			return nil, err
		}
	}
	// Whatever the provider sent, only the granted fields leave.
	return &Answer{Record: Trim(rec, fields), Receipt: Receipt{
		RequestID: requestID, Resource: res.Code, Provider: reply.Provider, Fields: fields, AnsweredAt: reply.AnsweredAt,
	}}, nil
}

// Trim keeps only fields of rec: whatever a provider sent, only what the
// caller may see leaves the exchange.
func Trim(rec map[string]any, fields []string) map[string]any {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		out[f] = rec[f]
	}
	return out
}

func validateKey(keyType, key string) error {
	switch keyType {
	case catalog.KeyIDNumber:
		return govx.ValidateIDNumber(key)
	case catalog.KeyUSCC:
		return govx.ValidateUSCC(key)
	case catalog.KeyLicenceNumber:
		// Numbers differ by licence type and carry CJK characters; the
		// provider checks the type's own format.
		if key == "" || len(key) > 64 || !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return govx.Errorf(govx.KindInvalid, "invalid_licence_number", "a licence number is 1 to 64 bytes of UTF-8 without spaces")
		}
		return nil
	case catalog.KeyReference:
		if key == "" || len(key) > 64 || !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return govx.Errorf(govx.KindInvalid, "invalid_reference", "a reference is 1 to 64 bytes of UTF-8 without spaces")
		}
		return nil
	case catalog.KeyHolder:
		if govx.ValidateUSCC(key) != nil && govx.ValidateIDNumber(key) != nil {
			return govx.Errorf(govx.KindInvalid, "invalid_holder", "a holder is a unified social credit code or a resident ID number, with a correct check character")
		}
		return nil
	default:
		if key == "" || len(key) > 128 {
			return govx.Errorf(govx.KindInvalid, "invalid_key", "key must be 1 to 128 characters")
		}
		return nil
	}
}
