package exchange

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"govx"
	"govx/catalog"
	"govx/consent"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/httpx"
	"govx/internal/kafka"
	"govx/internal/workday"
	"govx/schemas"
)

// Policy is what the exchange needs from the catalogue to decide an
// access: the active resource with code (its sharing class and fields) and,
// for a resource shared on conditions, the grants dept holds for it that
// can decide (approved, revoked, expired; see catalog.DecideGrant).
// *catalog.PolicyCache satisfies it. Implementations are safe for
// concurrent use; the returned values are not modified by the exchange.
type Policy interface {
	Lookup(ctx context.Context, code, dept string) (*catalog.Resource, []catalog.Grant, error)
}

// Bus sends a request to a provider and waits for its reply.
// *kafka.Requester satisfies it.
type Bus interface {
	Request(ctx context.Context, id string, m kafka.Message) (kafka.Message, error)
	ReplyTopic() string
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

// AuditLog records every query. *Ledger satisfies it.
type AuditLog interface {
	Append(ctx context.Context, e AuditEntry) error
}

var (
	_ Policy   = (*catalog.PolicyCache)(nil)
	_ Bus      = (*kafka.Requester)(nil)
	_ AuditLog = (*Ledger)(nil)
	_ Codec    = (*avro.Codec)(nil)
	_ Consents = (*consent.Cache)(nil)
)

// Config configures the exchange.
type Config struct {
	// Timeout is how long a query waits for the provider.
	Timeout time.Duration // default 5s
	// MaxBody is the largest query body accepted.
	MaxBody int64 // default 64 KiB
	Logger  *slog.Logger
	// Now is the clock grants and consents are judged by; default time.Now.
	Now func() time.Time
	// Consents decides consent to personal fields. Nil refuses every
	// access to personal fields (consent_required).
	Consents Consents
}

func (c *Config) Validate() error {
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
	bus    Bus
	codec  Codec
}

func NewService(cfg Config, policy Policy, bus Bus, codec Codec) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, policy: policy, bus: bus, codec: codec}, nil
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

// NewRequestID returns a random 128-bit request id in hex.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
	if caller.Dept == "" {
		// Every access must be traceable to a department, not just a token.
		return nil, govx.Errorf(govx.KindForbidden, "department_missing", "the token names no department (dept claim)")
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
// returns its record. The Decision is filled in as far as the query got,
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

	// Personal fields leave only with the data subject's consent. When the
	// key names the subject it is checked before the provider is asked;
	// otherwise (a licence by number) the provider is asked for the field
	// that names the subject too, and the record is held back unless the
	// subject consented.
	var cons *consent.Consent
	ask, subjectField := fields, ""
	if catalog.KeyNamesSubject(res.KeyType) {
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
	req := Request{
		RequestID: requestID, Resource: res.Code, Key: q.Key, Fields: ask, Purpose: q.Purpose,
		Consumer: caller.Dept, Caller: caller.Subject, ReplyTo: s.bus.ReplyTopic(),
		RequestedAt: now, Deadline: now.Add(s.cfg.Timeout),
	}
	body, err := s.codec.Marshal(schemas.Request, req)
	if err != nil {
		return nil, govx.E(op, err)
	}
	d.Sent = true
	msg, err := s.bus.Request(ctx, requestID, kafka.Message{
		Topic: catalog.RequestTopic(res.Provider), Key: []byte(q.Key), Value: body,
	})
	if govx.ErrorCode(err) == kafka.CodeTopicUnknown {
		// A department whose adapter has never joined the bus has no
		// request topic yet: the provider is unavailable, not the bus.
		return nil, &govx.Error{Kind: govx.KindUnavailable, Code: "provider_unavailable", Op: op,
			Message: fmt.Sprintf("the provider %s has no adapter on the bus", res.Provider), Err: err}
	}
	if err != nil {
		return nil, govx.E(op, err)
	}
	var reply Reply
	if err := s.codec.UnmarshalAs(ctx, schemas.Reply, msg.Value, &reply); err != nil {
		return nil, govx.E(op, err)
	}
	if reply.RequestID != requestID {
		return nil, govx.E(op, fmt.Errorf("reply for %s matched request %s", reply.RequestID, requestID))
	}
	if reply.Error != nil {
		return nil, reply.Error.Err()
	}
	if reply.Record == nil {
		return nil, govx.E(op, fmt.Errorf("provider %s sent neither record nor error", reply.Provider))
	}
	var rec map[string]any
	if err := s.codec.UnmarshalAs(ctx, res.SchemaSubject, reply.Record, &rec); err != nil {
		return nil, govx.E(op, err)
	}
	if subjectField != "" {
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
