package consent

import (
	"embed"
	"slices"
	"strings"
	"time"
	"unicode"

	"govx"
	"govx/catalog"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationSource is the consent store's schema migrations.
func MigrationSource() postgres.Source {
	return postgres.SourceDir("consent", migrations, "migrations")
}

// Status is where a consent is in its lifecycle:
//
//	pending → active ⇄ paused
//	pending, active, paused → revoked | expired
//	active (once-only) → used
//
// Revoked, expired and used are terminal.
type Status string

const (
	Pending Status = "pending" // given, valid from a later date
	Active  Status = "active"
	Paused  Status = "paused"  // by the data subject; resumable
	Revoked Status = "revoked" // by the data subject
	Expired Status = "expired" // past its validity
	Used    Status = "used"    // a once-only consent after its one access
)

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool { return s == Revoked || s == Expired || s == Used }

// Fetch types: how often a consent may be used.
const (
	Once     = "once"     // one access, then used up
	Repeated = "repeated" // any number of accesses within the validity
)

// Subject types.
const (
	Person  = "person"  // ID number, GB 11643
	Company = "company" // unified social credit code, GB 32100
)

// Given by: who recorded the consent.
const (
	AtWindow  = "window"  // a clerk, as the applicant agreed at the window
	BySubject = "subject" // the data subject directly
)

// Item is one resource a consent covers, and which of its fields; no
// fields means every field.
type Item struct {
	Resource string   `json:"resource"`
	Fields   []string `json:"fields,omitempty"`
}

// Consent is one consent of a data subject.
type Consent struct {
	ID string `json:"id"`
	// Request is what was agreed: subject, consumer, case, resources,
	// purpose, validity and fetch type, as recorded.
	Request
	SubjectType string `json:"subject_type"`
	// Status is the stored status judged at the time it was read (see
	// StatusAt): an active consent past its validity reads as expired.
	Status    Status     `json:"status"`
	GivenVia  string     `json:"given_via"`
	GivenBy   string     `json:"given_by"` // the token subject that recorded it
	CreatedAt time.Time  `json:"created_at"`
	ChangedAt time.Time  `json:"changed_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	UsedBy    string     `json:"used_by_request,omitempty"`
	Reason    string     `json:"reason,omitempty"` // of a revocation
	Version   int        `json:"version"`
	// Artefact is the signed JWS of the consent as given.
	Artefact string `json:"artefact"`
}

// StatusAt is the consent's status at t: the stored one, except that a
// consent not ended is expired after its validity, and, unless paused,
// pending before it and active within it.
func (c *Consent) StatusAt(t time.Time) Status {
	switch c.Status {
	case Pending, Active, Paused:
		switch {
		case !t.Before(c.ValidUntil):
			return Expired
		case c.Status == Paused:
			return Paused
		case t.Before(c.ValidFrom):
			return Pending
		}
		return Active
	}
	return c.Status
}

// Covers reports whether the consent names resource and every one of
// fields.
func (c *Consent) Covers(resource string, fields []string) bool {
	for _, it := range c.Items {
		if it.Resource != resource {
			continue
		}
		if len(it.Fields) == 0 {
			return true
		}
		for _, f := range fields {
			if !slices.Contains(it.Fields, f) {
				return false
			}
		}
		return true
	}
	return false
}

// ServesPurpose reports whether a query's stated purpose is the one the
// consent was given for: its case ("case:<case id>") when it names one,
// else its purpose code.
func (c *Consent) ServesPurpose(purpose string) bool {
	if c.CaseID != "" {
		return purpose == "case:"+c.CaseID
	}
	return purpose == c.PurposeCode
}

// Need is what one access asks of a consent.
type Need struct {
	Subject   string
	Consumer  string
	Resource  string
	Fields    []string // the personal ones are what matter; all may be given
	Purpose   string
	ConsentID string // the consent the caller names; "" lets any covering one serve
	At        time.Time
}

// Decide picks the consent among cs (all of one subject) that allows n, or
// says why none does: consent_revoked, consent_used or consent_expired when
// the only consents that would have covered it ended so (the most recent
// decides), consent_required otherwise. A consent named by n.ConsentID
// that does not cover n is consent_mismatch.
func Decide(cs []Consent, n Need) (*Consent, error) {
	var ended *Consent
	for i := range cs {
		c := &cs[i]
		if c.Subject != n.Subject || (n.ConsentID != "" && c.ID != n.ConsentID) {
			continue
		}
		if c.Consumer != n.Consumer || !c.Covers(n.Resource, n.Fields) || !c.ServesPurpose(n.Purpose) {
			if n.ConsentID != "" {
				return nil, govx.Errorf(govx.KindForbidden, "consent_mismatch",
					"consent %s does not cover this access: it is for %s, %s, purpose %q", c.ID, c.Consumer, c.itemList(), c.purposeText())
			}
			continue
		}
		switch c.StatusAt(n.At) {
		case Active:
			return c, nil
		case Revoked, Used, Expired:
			if ended == nil || c.ChangedAt.After(ended.ChangedAt) {
				ended = c
			}
		}
	}
	if ended != nil {
		return nil, ended.endedError(n.At)
	}
	if n.ConsentID != "" {
		return nil, govx.Errorf(govx.KindForbidden, "consent_required", "consent %s is not an active consent of this data subject", httpx.Truncate(n.ConsentID, 40))
	}
	return nil, govx.Errorf(govx.KindForbidden, "consent_required",
		"%s holds personal data: the data subject's active consent for %s, these fields and purpose %q is required", n.Resource, n.Consumer, httpx.Truncate(n.Purpose, 64))
}

// endedError says why c, which has ended by t (revoked, used or expired)
// or is not in force (paused, pending), allows no access.
func (c *Consent) endedError(t time.Time) error {
	switch st := c.StatusAt(t); st {
	case Paused, Pending:
		return govx.Errorf(govx.KindForbidden, "consent_required", "consent %s is %s", c.ID, st)
	case Revoked:
		return govx.Errorf(govx.KindForbidden, "consent_revoked", "the data subject revoked consent %s for %s", c.ID, c.itemList())
	case Expired:
		return govx.Errorf(govx.KindForbidden, "consent_expired", "consent %s for %s expired on %s", c.ID, c.itemList(), c.ValidUntil.Format(time.RFC3339))
	default:
		return govx.Errorf(govx.KindForbidden, "consent_used", "consent %s was for one access only and has been used", c.ID)
	}
}

func (c *Consent) itemList() string {
	out := make([]string, len(c.Items))
	for i, it := range c.Items {
		out[i] = it.Resource
	}
	return strings.Join(out, ", ")
}

func (c *Consent) purposeText() string {
	if c.CaseID != "" {
		return "case:" + c.CaseID
	}
	return c.PurposeCode
}

// SubjectType returns Person for a valid ID number, Company for a valid
// USCC, or an invalid_subject error.
func SubjectType(s string) (string, error) {
	if govx.ValidateIDNumber(s) == nil {
		return Person, nil
	}
	if govx.ValidateUSCC(s) == nil {
		return Company, nil
	}
	return "", govx.Errorf(govx.KindInvalid, "invalid_subject",
		"the data subject %q is neither a resident ID number (GB 11643) nor a unified social credit code (GB 32100) with a correct check character", httpx.Truncate(s, 40))
}

// Request is what is asked to record a consent.
type Request struct {
	Subject     string    `json:"subject"`
	Consumer    string    `json:"consumer"`
	CaseID      string    `json:"case_id,omitempty"`
	Items       []Item    `json:"resources"`
	PurposeCode string    `json:"purpose_code"`
	Purpose     string    `json:"purpose"`
	ValidFrom   time.Time `json:"valid_from"`
	ValidUntil  time.Time `json:"valid_until"`
	Fetch       string    `json:"fetch"`
}

// MaxValidity is the longest a consent may run.
const MaxValidity = 5 * 366 * 24 * time.Hour

// Validate checks a request's shape, filling in what may be left out
// (valid from now, fetch repeated); now is the time it is made.
func (r *Request) Validate(now time.Time) error {
	if _, err := SubjectType(r.Subject); err != nil {
		return err
	}
	if !catalog.ValidDepartmentCode(r.Consumer) {
		return invalid("invalid_consumer", "the consumer %q is not a department code", httpx.Truncate(r.Consumer, 64))
	}
	if err := checkText("case_id", r.CaseID, 64, false); err != nil {
		return err
	}
	if r.CaseID != "" && strings.ContainsFunc(r.CaseID, unicode.IsSpace) {
		return invalid("invalid_case_id", "a case id holds no spaces")
	}
	if err := checkText("purpose_code", r.PurposeCode, 64, true); err != nil {
		return err
	}
	if strings.ContainsFunc(r.PurposeCode, unicode.IsSpace) {
		return invalid("invalid_purpose_code", "a purpose code holds no spaces, e.g. food-business-licence")
	}
	if err := checkText("purpose", r.Purpose, 500, true); err != nil {
		return err
	}
	if len(r.Items) == 0 {
		return invalid("no_resources", "a consent names at least one resource")
	}
	if len(r.Items) > 32 {
		return invalid("too_many_resources", "a consent names at most 32 resources")
	}
	seen := map[string]bool{}
	for i := range r.Items {
		it := &r.Items[i]
		if !catalog.ValidCode(it.Resource) {
			return govx.Errorf(govx.KindNotFound, "resource_not_found", "no resource %q in the catalogue", httpx.Truncate(it.Resource, 64))
		}
		if seen[it.Resource] {
			return invalid("duplicate_resource", "%s is named twice", it.Resource)
		}
		seen[it.Resource] = true
		if len(it.Fields) > 64 {
			return invalid("too_many_fields", "at most 64 fields per resource")
		}
		it.Fields = slices.Compact(slices.Sorted(slices.Values(it.Fields)))
	}
	switch r.Fetch {
	case "":
		r.Fetch = Repeated
	case Once, Repeated:
	default:
		return invalid("invalid_fetch", "fetch %q is neither once nor repeated", httpx.Truncate(r.Fetch, 20))
	}
	if r.ValidFrom.IsZero() {
		r.ValidFrom = now
	}
	r.ValidFrom, r.ValidUntil = r.ValidFrom.UTC().Truncate(time.Second), r.ValidUntil.UTC().Truncate(time.Second)
	switch {
	case r.ValidUntil.IsZero():
		return invalid("validity_invalid", "valid_until is required")
	case !r.ValidUntil.After(r.ValidFrom):
		return invalid("validity_invalid", "valid_until (%s) is not after valid_from (%s)", r.ValidUntil.Format(time.RFC3339), r.ValidFrom.Format(time.RFC3339))
	case !r.ValidUntil.After(now):
		return invalid("validity_invalid", "valid_until (%s) is already past", r.ValidUntil.Format(time.RFC3339))
	case r.ValidUntil.Sub(r.ValidFrom) > MaxValidity:
		return invalid("validity_invalid", "a consent runs at most five years")
	}
	return nil
}

func invalid(code, format string, args ...any) error {
	return govx.Errorf(govx.KindInvalid, code, format, args...)
}

func checkText(attr, s string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return invalid("invalid_"+attr, "%s is required", attr)
	case len(s) > max:
		return invalid("invalid_"+attr, "%s is longer than %d bytes", attr, max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return invalid("invalid_"+attr, "%s holds control characters", attr)
	}
	return nil
}
