package casework

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"govx"
	"govx/consent"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/workday"
)

// Roles of the people who work cases.
const (
	RoleClerk      = consent.RoleClerk // at the window: opens, accepts, delivers
	RoleReviewer   = "reviewer"        // in a department's back office: decides
	RoleSupervisor = "supervisor"      // watches deadlines and figures
)

// Exchange asks the exchange for one record. *exchange.Client satisfies it.
type Exchange interface {
	Query(ctx context.Context, token, resource string, q exchange.Query) (*exchange.Answer, error)
}

// Consents records the applicant's consent at the window. *consent.Store
// satisfies it.
type Consents interface {
	Create(ctx context.Context, caller *auth.Claims, r consent.Request) (*consent.Consent, error)
}

// Tokens mints the bearer token a verification is asked with: for the
// actor (the clerk at the window, or System for retries on behalf of the
// intake department), with the resources as scopes.
type Tokens func(actor Actor, scopes []string) (string, error)

// Seals checks a licence record's issuer seal (the record as the exchange
// answered it). It returns nil when the seal is valid.
type Seals interface {
	CheckSeal(ctx context.Context, record map[string]any) error
}

// LicenceOrder is what an approved case asks the licensing department to
// issue. Reference (the case number) makes a retried order idempotent.
type LicenceOrder struct {
	Reference     string
	Consumer      string // the department ordering: the intake window
	Caller        string
	Type          string
	Variant       int
	HolderCode    string
	HolderName    string
	AuthorityCode string
	Items         map[string]string
}

// IssuedLicence is the licence issued on an order.
type IssuedLicence struct {
	Number     string
	Authority  string
	ValidUntil string // YYYY-MM-DD
}

// Issuer issues licences through the licensing department's adapter.
type Issuer interface {
	IssueLicence(ctx context.Context, o LicenceOrder) (IssuedLicence, error)
}

// Config configures the case workflow.
type Config struct {
	Items    *Catalogue // default NewCatalogue(DemoItems())
	Calendar *workday.Calendar
	// WarnDays: a case turns yellow when this many working days or fewer
	// remain (default 1).
	WarnDays int
	// SupplementDays is how many working days an applicant has to hand in
	// what was missing at acceptance (default 5).
	SupplementDays int
	// RetryInterval is how soon a verification the exchange did not
	// answer is tried again (default 30 s; it backs off to 10 min).
	RetryInterval time.Duration
	// RecheckAfter is how soon after acceptance a commitment standing in
	// for a register record is checked through the exchange (default 1 h).
	RecheckAfter time.Duration
	// SweepInterval is how often deadlines are swept (default 1 min).
	SweepInterval time.Duration
	// ConsentDays is how long the consent recorded at intake is valid
	// (default 180 days: the case and re-checks after it).
	ConsentDays int
	// VerifyTimeout bounds one verification (default 5 s).
	VerifyTimeout time.Duration
	// AuthorityCode is the USCC of the authority that issues licences on
	// approved cases.
	AuthorityCode string
	Now           func() time.Time
	Logger        *slog.Logger
}

func (c *Config) Validate() error {
	if c.Items == nil {
		items, err := NewCatalogue(DemoItems())
		if err != nil {
			return err
		}
		c.Items = items
	}
	if c.Calendar == nil {
		c.Calendar = workday.Default()
	}
	if c.WarnDays == 0 {
		c.WarnDays = 1
	}
	if c.SupplementDays == 0 {
		c.SupplementDays = 5
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 30 * time.Second
	}
	if c.RecheckAfter == 0 {
		c.RecheckAfter = time.Hour
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Minute
	}
	if c.ConsentDays == 0 {
		c.ConsentDays = 180
	}
	if c.VerifyTimeout == 0 {
		c.VerifyTimeout = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.WarnDays < 0 || c.SupplementDays < 0 || c.RetryInterval < 0 || c.RecheckAfter < 0 || c.ConsentDays < 0 {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "casework: intervals and day counts must be positive")
	}
	return nil
}

// Service is the case workflow.
type Service struct {
	cfg      Config
	store    *Store
	exchange Exchange
	tokens   Tokens
	consents Consents
	seals    Seals
	issuer   Issuer
	clock    *Clock
}

// Deps are the parts of govx the case workflow works through.
type Deps struct {
	Store    *Store
	Exchange Exchange
	Tokens   Tokens
	Consents Consents
	Seals    Seals  // nil: licence seals are not checked (shown as unchecked)
	Issuer   Issuer // nil: approved licence cases wait for issuing
}

func NewService(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Exchange == nil || d.Tokens == nil || d.Consents == nil {
		return nil, govx.Errorf(govx.KindInvalid, "config_invalid", "casework: a store, the exchange, tokens and consents are needed")
	}
	return &Service{cfg: cfg, store: d.Store, exchange: d.Exchange, tokens: d.Tokens, consents: d.Consents, seals: d.Seals,
		issuer: d.Issuer, clock: &Clock{cal: cfg.Calendar, warnDays: cfg.WarnDays, supplementDays: cfg.SupplementDays,
			recheck: cfg.RecheckAfter}}, nil
}

// Items is the catalogue of service items.
func (s *Service) Items() *Catalogue { return s.cfg.Items }

// Clock is the deadline clock.
func (s *Service) Clock() *Clock { return s.clock }

// Now is the service's clock reading.
func (s *Service) Now() time.Time { return s.cfg.Now() }

// ActorOf is the actor a token names.
func ActorOf(c *auth.Claims) Actor { return Actor{Subject: c.Subject, Role: c.Role, Dept: c.Dept} }

func forbidden(code, format string, args ...any) error {
	return govx.Errorf(govx.KindForbidden, code, format, args...)
}

func need(c *auth.Claims, roles ...string) error {
	if c == nil {
		return govx.Errorf(govx.KindUnauthenticated, "token_missing", "sign in first")
	}
	if !slices.Contains(roles, c.Role) {
		return forbidden("role_forbidden", "this needs the role %s; you are %q", strings.Join(roles, " or "), c.Role)
	}
	if c.Dept == "" && c.Role != RoleSupervisor {
		return forbidden("department_missing", "your token names no department (dept claim)")
	}
	return nil
}

// OpenInput is what the clerk types in to open a case.
type OpenInput struct {
	Item          string `json:"item"`
	Applicant     Party  `json:"applicant"`
	LicenceNumber string `json:"licence_number,omitempty"`
	Note          string `json:"note,omitempty"`
	// FormID makes a double submission open one case.
	FormID string `json:"form_id,omitempty"`
}

// Open opens a case for the applicant, records the applicant's consent to
// the lookups the item needs, and verifies every material the exchange
// holds, in parallel. The case is a draft until Accept.
func (s *Service) Open(ctx context.Context, clerk *auth.Claims, in OpenInput) (*Case, error) {
	const op = "casework.Open"
	if err := need(clerk, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	it, err := s.cfg.Items.Item(in.Item)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if !slices.Contains(it.IntakeDepts, clerk.Dept) {
		return nil, govx.E(op, forbidden("item_not_handled", "%s is not taken in at a window of %s", it.Name, clerk.Dept))
	}
	in.Applicant.Kind = it.Applicant
	if err := in.Applicant.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	in.LicenceNumber = strings.ToUpper(strings.TrimSpace(in.LicenceNumber))
	if it.NeedsLicenceNumber && !validLicenceNumber(in.LicenceNumber) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "licence_number_invalid", "type in the number printed on the current licence (letters and digits, up to 40)"))
	}
	if !it.NeedsLicenceNumber {
		in.LicenceNumber = ""
	}
	if utf8.RuneCountInString(in.Note) > 1000 || !utf8.ValidString(in.Note) || strings.ContainsRune(in.Note, 0) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "note_invalid", "the note is at most 1000 characters"))
	}
	if in.FormID != "" && !validFormID(in.FormID) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "form_id_invalid", "the form id is 8 to 64 letters, digits, - or _"))
	}
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	c := &Case{Item: it.Code, Status: Draft, Applicant: in.Applicant, LicenceNumber: in.LicenceNumber, IntakeDept: clerk.Dept,
		Clerk: clerk.Subject, Note: in.Note, CreatedAt: now, UpdatedAt: now}
	for _, m := range it.Materials {
		st := Missing
		if m.Source == FromExchange {
			st = Pending
		}
		c.Materials = append(c.Materials, Material{Code: m.Code, State: st})
	}
	actor := ActorOf(clerk)
	created, fresh, err := s.store.Create(ctx, c, in.FormID, actor, it.Name)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if !fresh {
		return created, nil // the same form again: the case it opened, as it is now
	}
	c = created
	ids, err := s.recordConsents(ctx, clerk, c, it, now)
	if err != nil {
		// The case stays, as a draft the clerk can take up again.
		return c, govx.E(op, err)
	}
	c, err = s.store.Update(ctx, c.ID, "", 0, actor, "consent", now, func(c *Case) ([]event, error) {
		c.Consents = ids
		return []event{{action: "consent_recorded", detail: strings.Join(ids, ", ")}}, nil
	})
	if err != nil {
		return nil, govx.E(op, err)
	}
	c, err = s.verify(ctx, actor, c)
	return c, govx.E(op, err)
}

func validLicenceNumber(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}

func validFormID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// subjectOf is the data subject and lookup key of an exchange material.
func subjectOf(c *Case, about string) (subject, key string) {
	switch about {
	case AboutApplicant:
		return c.Applicant.IDNumber, c.Applicant.IDNumber
	case AboutCompany:
		return c.Applicant.USCC, c.Applicant.USCC
	case AboutRepresentative:
		return c.Applicant.RepIDNumber, c.Applicant.RepIDNumber
	case AboutLicence:
		// A licence names its holder: the company applying.
		return c.Applicant.Key(), c.LicenceNumber
	}
	return "", ""
}

// recordConsents records, as the applicant agreed at the window, one
// consent per data subject covering exactly the lookups the item makes.
func (s *Service) recordConsents(ctx context.Context, clerk *auth.Claims, c *Case, it *Item, now time.Time) ([]string, error) {
	bySubject := map[string][]consent.Item{}
	var order []string
	for _, m := range it.Materials {
		if m.Source != FromExchange {
			continue
		}
		subj, _ := subjectOf(c, m.About)
		if _, ok := bySubject[subj]; !ok {
			order = append(order, subj)
		}
		bySubject[subj] = append(bySubject[subj], consent.Item{Resource: m.Resource, Fields: m.Fields})
	}
	var ids []string
	for _, subj := range order {
		cs, err := s.consents.Create(ctx, clerk, consent.Request{Subject: subj, Consumer: clerk.Dept, CaseID: c.ID,
			Items: bySubject[subj], PurposeCode: "case", Purpose: fmt.Sprintf("%s (case %s): verify the applicant's materials", it.Name, c.ID),
			ValidFrom: now, ValidUntil: now.AddDate(0, 0, s.cfg.ConsentDays), Fetch: consent.Repeated})
		if err != nil {
			return ids, err
		}
		ids = append(ids, cs.ID)
	}
	return ids, nil
}

// Verify asks the exchange, in parallel, for every material of the case
// that is not verified yet, and records what each answer shows. in.Version,
// when set, must be the case's current version: a clerk looking at a
// stale page is told so. The write itself takes no version, since it only
// adds what the registers answered.
func (s *Service) Verify(ctx context.Context, caller *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.Verify"
	if err := need(caller, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.Get(ctx, caller, id)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if in.Version != 0 && c.Version != in.Version {
		return nil, govx.E(op, govx.Errorf(govx.KindConflict, "case_changed",
			"case %s is at version %d, not %d: it changed while you were looking at it; reload it", c.ID, c.Version, in.Version))
	}
	c, err = s.verify(ctx, ActorOf(caller), c)
	return c, govx.E(op, err)
}

// verify verifies c's materials as Verify does, for an actor already
// allowed to.
func (s *Service) verify(ctx context.Context, actor Actor, c *Case) (*Case, error) {
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return nil, err
	}
	results := s.verifyAll(ctx, c, it, actor, func(m *Material) bool { return c.Status == Draft || m.State == Pending })
	return s.store.Update(ctx, c.ID, "", 0, actor, "verify", s.now(), func(c *Case) ([]event, error) {
		return s.apply(c, it, results, s.now()), nil
	})
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// verifyAll verifies the exchange materials of c that want says to, in
// parallel, and returns their new states by code.
func (s *Service) verifyAll(ctx context.Context, c *Case, it *Item, actor Actor, want func(*Material) bool) map[string]Material {
	var scopes []string
	for _, spec := range it.Materials {
		if spec.Source == FromExchange && !slices.Contains(scopes, spec.Resource) {
			scopes = append(scopes, spec.Resource)
		}
	}
	results := map[string]Material{}
	token, err := s.tokens(actor, scopes)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range c.Materials {
		m := &c.Materials[i]
		spec := it.Material(m.Code)
		if spec == nil || spec.Source != FromExchange || !want(m) {
			continue
		}
		if err != nil {
			results[m.Code] = s.pending(*m, err)
			continue
		}
		wg.Add(1)
		go func(m Material, spec *MaterialSpec) {
			defer wg.Done()
			vctx, cancel := context.WithTimeout(ctx, s.cfg.VerifyTimeout)
			defer cancel()
			r := s.verifyOne(vctx, token, c, m, spec)
			mu.Lock()
			results[m.Code] = r
			mu.Unlock()
		}(*m, spec)
	}
	wg.Wait()
	return results
}

func (s *Service) pending(m Material, err error) Material {
	m.State = Pending
	m.Reason = "the exchange did not answer (" + govx.ErrorMessage(err) + "); retried automatically"
	m.ErrCode = govx.ErrorCode(err)
	m.Attempts++
	back := s.cfg.RetryInterval << min(m.Attempts-1, 5)
	next := s.cfg.Now().Add(min(back, 10*time.Minute))
	m.NextTry = &next
	return m
}

// verifyOne asks the exchange for one material and judges the answer.
func (s *Service) verifyOne(ctx context.Context, token string, c *Case, m Material, spec *MaterialSpec) Material {
	_, key := subjectOf(c, spec.About)
	m.Resource, m.Key = spec.Resource, key
	ans, err := s.exchange.Query(ctx, token, spec.Resource, exchange.Query{Key: key, Fields: spec.Fields, Purpose: "case:" + c.ID})
	if err != nil {
		switch govx.ErrorKind(err) {
		case govx.KindUnavailable, govx.KindTimeout, govx.KindInternal:
			return s.pending(m, err)
		}
		m.State, m.ErrCode, m.NextTry = Blocked, govx.ErrorCode(err), nil
		m.Attempts++
		switch govx.ErrorKind(err) {
		case govx.KindNotFound:
			m.Reason = "not found in the register: " + govx.ErrorMessage(err)
		default:
			m.Reason = govx.ErrorMessage(err)
		}
		return m
	}
	at := ans.Receipt.AnsweredAt
	m.State, m.Reason, m.ErrCode, m.NextTry = Verified, "", "", nil
	m.Provider, m.RequestID, m.VerifiedAt = ans.Receipt.Provider, ans.Receipt.RequestID, &at
	m.Attempts++
	m.Facts = facts(ans.Record)
	if reason := s.judge(ctx, c, spec, ans.Record, &m); reason != "" {
		m.State, m.Reason = Blocked, reason
	}
	return m
}

// facts are a record's plain values, for the page.
func facts(rec map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range rec {
		if k == "seal" {
			continue // bytes, checked, not shown
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case int, int32, int64, float64, bool:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// judge says, in a plain sentence, why a verified record stands in the
// way of the case ("" when it does not).
func (s *Service) judge(ctx context.Context, c *Case, spec *MaterialSpec, rec map[string]any, m *Material) string {
	str := func(k string) string { v, _ := rec[k].(string); return v }
	switch {
	case spec.Resource == "population.identity":
		if st := str("status"); st != "" && st != "normal" {
			return fmt.Sprintf("the population register records this person as %s", strings.ReplaceAll(st, "_", " "))
		}
	case strings.HasPrefix(spec.Resource, "legal-entity."):
		if st := str("status"); st != "" && st != "in_business" {
			r := fmt.Sprintf("the company is %s", st)
			if d := str("status_date"); d != "" {
				r += " since " + d
			}
			if why := str("status_reason"); why != "" {
				r += " (" + why + ")"
			}
			return r
		}
	case strings.HasPrefix(spec.Resource, "licence."):
		if h := str("holder_code"); h != "" && h != c.Applicant.Key() {
			return "the licence is held by another holder, not the applicant"
		}
		switch st := str("status"); {
		case st == "revoked":
			r := "the licence was revoked"
			if at := str("revoked_at"); at != "" {
				r += " on " + at[:min(10, len(at))]
			}
			if why := str("revocation_reason"); why != "" {
				r += " (" + why + ")"
			}
			return r
		case st == "expired":
			return "the licence expired on " + str("valid_until")
		}
		if vu := str("valid_until"); vu != "" && vu < workday.Date(s.cfg.Now()) {
			return "the licence expired on " + vu
		}
		if s.seals != nil {
			if err := s.seals.CheckSeal(ctx, rec); err != nil {
				m.Seal = "invalid"
				return "the issuer's seal does not verify: " + govx.ErrorMessage(err)
			}
			m.Seal = "valid"
		}
	}
	return ""
}

// apply writes verification results into the case. After acceptance a
// result that blocks raises a flag instead of blocking: the case is the
// reviewer's to decide.
func (s *Service) apply(c *Case, it *Item, results map[string]Material, now time.Time) []event {
	var evs []event
	for code, r := range results {
		m := c.Material(code)
		if m == nil {
			continue
		}
		was := m.State
		if c.Status != Draft && was == Committed {
			// A commitment re-checked.
			switch r.State {
			case Verified:
				r.Reason = "commitment confirmed through the exchange"
			case Blocked:
				if c.flag(Flag{At: now, Code: "commitment_not_met", Material: code, Message: r.Reason}) {
					evs = append(evs, event{action: "flagged", detail: code + ": " + r.Reason, actor: System})
				}
				r.State = Committed
				r.NextTry = nil
			case Pending:
				r.State = Committed
			}
		} else if c.Status != Draft && r.State == Blocked {
			if c.flag(Flag{At: now, Code: "verification_failed", Material: code, Message: r.Reason}) {
				evs = append(evs, event{action: "flagged", detail: code + ": " + r.Reason, actor: System})
			}
		}
		*m = r
		if was != r.State {
			evs = append(evs, event{action: "material_" + r.State, detail: code})
		}
	}
	if len(evs) == 0 {
		// Record the attempt all the same: the clerk asked.
		evs = append(evs, event{action: "verified", detail: "no change"})
	}
	return evs
}

// ChangeInput is a form that changes a case: the version the user saw
// (0: whichever is current) and the form's id (double submission).
type ChangeInput struct {
	Version int    `json:"version"`
	FormID  string `json:"form_id,omitempty"`
}

func (s *Service) change(ctx context.Context, caller *auth.Claims, id string, in ChangeInput, action string,
	fn func(c *Case, it *Item, now time.Time) ([]event, error)) (*Case, error) {
	if in.FormID != "" && !validFormID(in.FormID) {
		return nil, govx.Errorf(govx.KindInvalid, "form_id_invalid", "the form id is 8 to 64 letters, digits, - or _")
	}
	now := s.now()
	c, err := s.store.Update(ctx, id, in.FormID, in.Version, ActorOf(caller), action, now, func(c *Case) ([]event, error) {
		it, err := s.cfg.Items.Item(c.Item)
		if err != nil {
			return nil, err
		}
		evs, err := fn(c, it, now)
		if err != nil || len(evs) == 0 {
			return evs, err
		}
		return append(evs, s.tick(c, now)...), nil
	})
	if err != nil {
		return nil, err
	}
	if c.Status == Approved && (c.Result == nil || c.Result.IssuedAt == nil) {
		return s.issue(ctx, c.ID)
	}
	return c, nil
}

// tick brings the case's colour up to date; turning yellow or red is an
// event of its own.
func (s *Service) tick(c *Case, now time.Time) []event {
	col := s.clock.Colour(c, now)
	if c.Status.Closed() && c.ClosedAt != nil {
		c.Took = s.clock.WorkingDays(c, *c.ClosedAt)
	}
	if col == c.Colour {
		return nil
	}
	c.Colour = col
	if col == Yellow || col == Red {
		return []event{{action: "deadline." + col, detail: "due " + workday.Date(*c.Due), actor: System}}
	}
	return nil
}

// Accept accepts a draft: uploaded materials are received, missing
// (accepted "with gaps" under a supplement deadline) or replaced by a
// written commitment. The case goes to every reviewing department.
func (s *Service) Accept(ctx context.Context, clerk *auth.Claims, id string, in ChangeInput, choices map[string]Choice) (*Case, error) {
	const op = "casework.Accept"
	if err := need(clerk, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.change(ctx, clerk, id, in, "accept", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if c.IntakeDept != clerk.Dept {
			return nil, forbidden("not_your_window", "case %s was taken in at %s", c.ID, c.IntakeDept)
		}
		if err := c.accept(it, choices, s.clock, now); err != nil {
			return nil, err
		}
		var gaps, pending, commits []string
		for _, m := range c.Materials {
			switch m.State {
			case Missing:
				gaps = append(gaps, m.Code)
			case Pending:
				pending = append(pending, m.Code)
			case Committed:
				commits = append(commits, m.Code)
			}
		}
		detail := "to " + strings.Join(it.Departments, ", ")
		if len(gaps) > 0 {
			detail += "; with gaps: " + strings.Join(gaps, ", ") + " due " + workday.Date(*c.SupplementDue)
		}
		if len(pending) > 0 {
			detail += "; verification pending: " + strings.Join(pending, ", ")
		}
		if len(commits) > 0 {
			detail += "; commitments: " + strings.Join(commits, ", ")
		}
		return []event{{action: "accepted", detail: detail}}, nil
	})
	return c, govx.E(op, err)
}

// Review records a reviewer's decision for their department.
func (s *Service) Review(ctx context.Context, reviewer *auth.Claims, id string, in ChangeInput, d Decision, reason string) (*Case, error) {
	const op = "casework.Review"
	if err := need(reviewer, RoleReviewer); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.change(ctx, reviewer, id, in, "review", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if err := c.review(reviewer.Dept, reviewer.Subject, d, reason, s.clock, it, now); err != nil {
			return nil, err
		}
		evs := []event{{action: "reviewed", detail: string(d) + detailReason(reason)}}
		switch c.Status {
		case Approved:
			evs = append(evs, event{action: "approved"})
			c.Result = &Result{Kind: "licence"}
			if it.Issues == "" {
				c.Result.Kind = "certificate"
			}
		case Rejected:
			evs = append(evs, event{action: "rejected", detail: reason})
		case Supplement:
			evs = append(evs, event{action: "supplement_requested", detail: reason})
		}
		return evs, nil
	})
	return c, govx.E(op, err)
}

func detailReason(r string) string {
	if r = strings.TrimSpace(r); r != "" {
		return ": " + r
	}
	return ""
}

// Supplied records at the window that the applicant handed in what was
// asked for (or what was missing at acceptance).
func (s *Service) Supplied(ctx context.Context, clerk *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.Supplied"
	if err := need(clerk, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.change(ctx, clerk, id, in, "supplied", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if c.IntakeDept != clerk.Dept {
			return nil, forbidden("not_your_window", "case %s was taken in at %s", c.ID, c.IntakeDept)
		}
		if c.Status == InReview && c.SupplementDue != nil {
			// Gaps from acceptance closed while the review goes on.
			for i := range c.Materials {
				if c.Materials[i].State == Missing {
					c.Materials[i].State, c.Materials[i].Reason = Received, "supplied"
				}
			}
			c.SupplementDue = nil
			return []event{{action: "supplied", detail: "materials missing at acceptance"}}, nil
		}
		if err := c.supplied(s.clock, it, now); err != nil {
			return nil, err
		}
		return []event{{action: "supplied", detail: fmt.Sprintf("clock runs again; due %s", workday.Date(*c.Due))}}, nil
	})
	return c, govx.E(op, err)
}

// Deliver records that the result was handed to the applicant at the
// window.
func (s *Service) Deliver(ctx context.Context, clerk *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.Deliver"
	if err := need(clerk, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.change(ctx, clerk, id, in, "deliver", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if c.IntakeDept != clerk.Dept {
			return nil, forbidden("not_your_window", "case %s was taken in at %s", c.ID, c.IntakeDept)
		}
		if c.Status != Ready && c.Status != Rejected {
			return nil, govx.Errorf(govx.KindConflict, "result_not_ready", "case %s is %s: there is no result to hand out yet", c.ID, c.Status)
		}
		c.Status = Delivered
		return []event{{action: "delivered", detail: c.Result.Kind + " " + c.Result.Number}}, nil
	})
	return c, govx.E(op, err)
}

// issue issues the result of an approved case: a licence through the
// licensing department, or the window's own certificate. A licensing
// department that does not answer leaves the case approved, retried.
func (s *Service) issue(ctx context.Context, id string) (*Case, error) {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return nil, err
	}
	var issued *IssuedLicence
	var issueErr error
	if it.Issues != "" {
		if s.issuer == nil {
			issueErr = govx.Errorf(govx.KindUnavailable, "issuer_unavailable", "no licensing department to issue through")
		} else {
			name := c.Applicant.Company
			if m := c.Material("company_registration"); m != nil && m.Facts["name"] != "" {
				name = m.Facts["name"]
			}
			items := map[string]string{"case": c.ID}
			if m := c.Material("company_registration"); m != nil && m.Facts["address"] != "" {
				items["premises"] = m.Facts["address"]
			}
			items["business_items"] = "热食类食品制售"
			ictx, cancel := context.WithTimeout(ctx, s.cfg.VerifyTimeout)
			l, err := s.issuer.IssueLicence(ictx, LicenceOrder{Reference: c.ID, Consumer: c.IntakeDept, Caller: System.Subject,
				Type: it.Issues, Variant: it.IssueVariant, HolderCode: c.Applicant.USCC, HolderName: name,
				AuthorityCode: s.cfg.AuthorityCode, Items: items})
			cancel()
			if err != nil {
				issueErr = err
			} else {
				issued = &l
			}
		}
	}
	now := s.now()
	return s.store.Update(ctx, id, "", 0, System, "issue", now, func(c *Case) ([]event, error) {
		if c.Status != Approved {
			return nil, nil
		}
		if c.Result == nil {
			c.Result = &Result{Kind: "licence"}
		}
		if issueErr != nil {
			msg := govx.ErrorMessage(issueErr)
			if c.Result.IssueError == msg {
				return nil, nil
			}
			c.Result.IssueError = msg
			return []event{{action: "issue_pending", detail: msg, actor: System}}, nil
		}
		if issued != nil {
			c.Result.Number, c.Result.ValidUntil, c.Result.Authority = issued.Number, issued.ValidUntil, issued.Authority
		} else {
			c.Result.Kind, c.Result.Number = "certificate", "ZM"+c.ID[2:]
		}
		c.Result.IssuedAt, c.Result.IssueError = &now, ""
		c.Status, c.ClosedAt = Ready, &now
		evs := []event{{action: "issued", detail: c.Result.Kind + " " + c.Result.Number, actor: System}}
		return append(evs, s.tick(c, now)...), nil
	})
}

// Get returns a case to those who work it: the window that took it in,
// the departments that review it, and supervisors.
func (s *Service) Get(ctx context.Context, caller *auth.Claims, id string) (*Case, error) {
	if err := need(caller, RoleClerk, RoleReviewer, RoleSupervisor); err != nil {
		return nil, err
	}
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch caller.Role {
	case RoleClerk:
		if c.IntakeDept != caller.Dept {
			return nil, forbidden("not_your_window", "case %s was taken in at %s", c.ID, c.IntakeDept)
		}
	case RoleReviewer:
		if c.Review(caller.Dept) == nil {
			return nil, forbidden("not_your_department", "case %s is not reviewed by %s", c.ID, caller.Dept)
		}
	}
	return c, nil
}

// History returns a case's history to those who may see the case.
func (s *Service) History(ctx context.Context, caller *auth.Claims, id string) ([]Entry, error) {
	if _, err := s.Get(ctx, caller, id); err != nil {
		return nil, err
	}
	return s.store.History(ctx, id)
}

// Queue is a reviewer's department's cases waiting for its decision.
func (s *Service) Queue(ctx context.Context, reviewer *auth.Claims) ([]Case, error) {
	if err := need(reviewer, RoleReviewer); err != nil {
		return nil, err
	}
	return s.store.List(ctx, Filter{Dept: reviewer.Dept, Pending: true, Limit: 200})
}

// List lists cases: a clerk's window's, a reviewer's department's, or,
// for supervisors, all.
func (s *Service) List(ctx context.Context, caller *auth.Claims, f Filter) ([]Case, error) {
	if err := need(caller, RoleClerk, RoleReviewer, RoleSupervisor); err != nil {
		return nil, err
	}
	switch caller.Role {
	case RoleClerk:
		f.Intake = caller.Dept
	case RoleReviewer:
		f.Dept = caller.Dept
	}
	return s.store.List(ctx, f)
}

// Supervision is the supervisor's view.
type Supervision struct {
	Counts []StatusCount `json:"counts"`
	Depts  []DeptStats   `json:"departments"`
	Yellow []Case        `json:"yellow"`
	Red    []Case        `json:"red"`
}

// Supervise returns the figures and the cases that need attention.
func (s *Service) Supervise(ctx context.Context, caller *auth.Claims) (*Supervision, error) {
	if err := need(caller, RoleSupervisor); err != nil {
		return nil, err
	}
	counts, depts, err := s.store.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := &Supervision{Counts: counts, Depts: depts}
	if out.Yellow, err = s.store.List(ctx, Filter{Colour: Yellow, Limit: 100}); err != nil {
		return nil, err
	}
	if out.Red, err = s.store.List(ctx, Filter{Colour: Red, Limit: 100}); err != nil {
		return nil, err
	}
	return out, nil
}

// Progress is the public lookup: the case number and the last four
// characters of the applicant's ID number or USCC.
func (s *Service) Progress(ctx context.Context, id, last4 string) (*Progress, error) {
	const op = "casework.Progress"
	c, err := s.applicantCase(ctx, id, last4)
	if err != nil {
		return nil, govx.E(op, err)
	}
	tl, err := s.store.timeline(ctx, c.ID)
	if err != nil {
		return nil, govx.E(op, err)
	}
	p := &Progress{ID: c.ID, Item: c.Item, Status: c.Status, Colour: s.clock.Colour(c, s.cfg.Now()), Timeline: tl,
		Rated: c.Rating != nil, CanRate: c.Rating == nil && c.Status.Closed()}
	if c.Due != nil {
		p.Due = workday.Date(*c.Due)
	}
	return p, nil
}

// applicantCase is the case with number id whose applicant's identifier
// ends in last4: what the applicant proves they know.
func (s *Service) applicantCase(ctx context.Context, id, last4 string) (*Case, error) {
	last4 = strings.ToUpper(strings.TrimSpace(last4))
	id = strings.ToUpper(strings.TrimSpace(id))
	if !ValidCaseID(id) {
		return nil, govx.Errorf(govx.KindInvalid, "case_id_invalid", "a case number is GX followed by 14 or more digits")
	}
	if len(last4) != 4 {
		return nil, govx.Errorf(govx.KindInvalid, "last4_invalid", "type the last four characters of the applicant's ID number or credit code")
	}
	return s.store.byLast4(ctx, id, last4)
}

// Rate records the applicant's rating (1 to 5, with a comment) of a case
// whose result is out; the case number and the last four characters of
// the applicant's identifier are the proof of being the applicant.
func (s *Service) Rate(ctx context.Context, id, last4 string, score int, comment string) (*Progress, error) {
	const op = "casework.Rate"
	c, err := s.applicantCase(ctx, id, last4)
	if err != nil {
		return nil, govx.E(op, err)
	}
	comment = strings.TrimSpace(comment)
	if score < 1 || score > 5 {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "rating_invalid", "a rating is 1 to 5"))
	}
	if utf8.RuneCountInString(comment) > 500 || !utf8.ValidString(comment) || strings.ContainsRune(comment, 0) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "comment_invalid", "the comment is at most 500 characters"))
	}
	now := s.now()
	_, err = s.store.Update(ctx, c.ID, "", 0, Actor{Subject: "applicant", Role: "applicant"}, "rate", now, func(c *Case) ([]event, error) {
		if !c.Status.Closed() {
			return nil, govx.Errorf(govx.KindConflict, "not_rateable_yet", "a case is rated once its result is out")
		}
		if c.Rating != nil {
			return nil, govx.Errorf(govx.KindConflict, "already_rated", "this case was already rated")
		}
		c.Rating = &Rating{Score: score, Comment: comment, At: now}
		return []event{{action: "rated", detail: fmt.Sprintf("%d/5", score)}}, nil
	})
	if err != nil {
		return nil, govx.E(op, err)
	}
	return s.Progress(ctx, c.ID, last4)
}

// RecordChanged tells the case workflow that a provider changed a record
// (a change event on the bus). Open cases that relied on a licence now
// revoked are flagged for their reviewers; drafts see the material
// blocked.
func (s *Service) RecordChanged(ctx context.Context, resource, key, eventType, reason string) error {
	if !strings.HasSuffix(eventType, ".revoked") && !strings.HasSuffix(eventType, ".deregistered") {
		return nil
	}
	ids, err := s.store.relyingOn(ctx, ref(resource, key))
	if err != nil {
		return govx.E("casework.RecordChanged", err)
	}
	for _, id := range ids {
		now := s.now()
		_, err := s.store.Update(ctx, id, "", 0, System, "flag", now, func(c *Case) ([]event, error) {
			var evs []event
			for i := range c.Materials {
				m := &c.Materials[i]
				if register(m.Resource) != register(resource) || m.Key != key {
					continue
				}
				msg := fmt.Sprintf("%s %s was %s after it was checked", resource, key, eventType[strings.LastIndex(eventType, ".")+1:])
				if reason != "" {
					msg += ": " + reason
				}
				if c.Status == Draft {
					m.State, m.Reason = Blocked, msg
					evs = append(evs, event{action: "material_blocked", detail: m.Code})
					continue
				}
				if c.flag(Flag{At: now, Code: "record_changed", Material: m.Code, Message: msg}) {
					evs = append(evs, event{action: "flagged", detail: m.Code + ": " + msg})
				}
			}
			return evs, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// RetryDue tries again what is due: verifications the exchange did not
// answer, commitments to re-check, and licences not issued yet. It
// returns how many cases it looked at.
func (s *Service) RetryDue(ctx context.Context) (int, error) {
	ids, err := s.store.due(ctx, s.cfg.Now(), 50)
	if err != nil {
		return 0, govx.E("casework.RetryDue", err)
	}
	for _, id := range ids {
		if err := s.retry(ctx, id); err != nil {
			s.cfg.Logger.Warn("case retry failed", "case", id, "err", err)
		}
	}
	return len(ids), nil
}

func (s *Service) retry(ctx context.Context, id string) error {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	due := func(m *Material) bool {
		return (m.State == Pending || m.State == Committed) && m.NextTry != nil && !m.NextTry.After(now)
	}
	actor := Actor{Subject: System.Subject, Role: "service", Dept: c.IntakeDept}
	if results := s.verifyAll(ctx, c, it, actor, due); len(results) > 0 {
		if _, err := s.store.Update(ctx, id, "", 0, System, "retry", s.now(), func(c *Case) ([]event, error) {
			return s.apply(c, it, results, s.now()), nil
		}); err != nil {
			return err
		}
	}
	if c.Status == Approved && (c.Result == nil || c.Result.IssuedAt == nil) {
		_, err := s.issue(ctx, id)
		return err
	}
	return nil
}

// Sweep brings every running case's deadline colour up to date; a case
// turning yellow or red is an event on the bus. It returns how many
// changed colour.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	ids, err := s.store.running(ctx)
	if err != nil {
		return 0, govx.E("casework.Sweep", err)
	}
	n := 0
	for _, id := range ids {
		changed := false
		_, err := s.store.Update(ctx, id, "", 0, System, "sweep", s.now(), func(c *Case) ([]event, error) {
			before := c.Colour
			evs := s.tick(c, s.now())
			if c.Colour != before {
				changed = true
				if len(evs) == 0 {
					evs = []event{{action: "deadline." + orNone(c.Colour), actor: System}}
				}
			}
			return evs, nil
		})
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Run retries and sweeps until ctx ends.
func (s *Service) Run(ctx context.Context) {
	retry := time.NewTicker(min(s.cfg.RetryInterval, 5*time.Second))
	defer retry.Stop()
	sweep := time.NewTicker(s.cfg.SweepInterval)
	defer sweep.Stop()
	s.Sweep(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			if _, err := s.RetryDue(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("case retries", "err", err)
			}
		case <-sweep.C:
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("deadline sweep", "err", err)
			}
		}
	}
}
