package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/httpx"
	"govx/internal/postgres"
	"govx/internal/workday"
)

// AnswerWithin is how many working days a provider has to answer an
// application for a conditional resource.
const AnswerWithin = 10

// GrantStatus is where a grant is in its life: pending → approved |
// rejected; approved → revoked | expired. Rejected, revoked and expired are
// terminal.
type GrantStatus string

const (
	GrantPending  GrantStatus = "pending"
	GrantApproved GrantStatus = "approved"
	GrantRejected GrantStatus = "rejected"
	GrantRevoked  GrantStatus = "revoked"
	GrantExpired  GrantStatus = "expired"
)

// Terminal reports whether no transition leaves s.
func (s GrantStatus) Terminal() bool {
	return s == GrantRejected || s == GrantRevoked || s == GrantExpired
}

// Grant is a consumer department's right to some fields of a conditional
// resource for a period, as applied for and as granted. Dates are
// YYYY-MM-DD civil dates in China Standard Time, both ends included.
type Grant struct {
	ID         int64       `json:"id"`
	Resource   string      `json:"resource"`
	Provider   string      `json:"provider"`
	Consumer   string      `json:"consumer"`
	Fields     []string    `json:"fields"` // applied for
	Purpose    string      `json:"purpose"`
	LegalBasis string      `json:"legal_basis"`
	ValidFrom  string      `json:"valid_from"` // applied period
	ValidUntil string      `json:"valid_until"`
	Status     GrantStatus `json:"status"`
	// What the provider granted: a subset of the fields, within the period.
	GrantedFields []string   `json:"granted_fields"`
	GrantedFrom   string     `json:"granted_from,omitempty"`
	GrantedUntil  string     `json:"granted_until,omitempty"`
	Reason        string     `json:"reason,omitempty"` // of a rejection or revocation
	AppliedBy     string     `json:"applied_by"`
	AppliedAt     time.Time  `json:"applied_at"`
	DueBy         string     `json:"due_by"` // the provider answers by this date
	DecidedBy     string     `json:"decided_by,omitempty"`
	DecidedAt     *time.Time `json:"decided_at,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
	Version       int        `json:"version"`

	// Events is the grant's history; filled in only where asked for.
	Events []GrantEvent `json:"events,omitempty"`

	// event is the transition the last domain method made, for the store
	// to record with the change.
	event *GrantEvent
}

// GrantEvent is one recorded transition of a grant.
type GrantEvent struct {
	Seq       int64          `json:"seq"`
	GrantID   int64          `json:"grant_id"`
	At        time.Time      `json:"at"`
	Actor     string         `json:"actor"`
	ActorDept string         `json:"actor_dept"`
	Action    string         `json:"action"` // apply, approve, reject, revoke, expire
	From      GrantStatus    `json:"from_status"`
	To        GrantStatus    `json:"to_status"`
	Reason    string         `json:"reason,omitempty"`
	Detail    map[string]any `json:"detail,omitempty"`
}

// Application is what a consumer department applies for.
type Application struct {
	Resource   string   `json:"resource"`
	Fields     []string `json:"fields"`
	Purpose    string   `json:"purpose"`
	LegalBasis string   `json:"legal_basis"`
	ValidFrom  string   `json:"valid_from"`
	ValidUntil string   `json:"valid_until"`
}

// Terms are what a provider grants. Empty members grant what was applied for.
type Terms struct {
	Fields     []string `json:"fields,omitempty"`
	ValidFrom  string   `json:"valid_from,omitempty"`
	ValidUntil string   `json:"valid_until,omitempty"`
}

// Effective reports whether g lets its consumer read the resource on date
// today (YYYY-MM-DD).
func (g *Grant) Effective(today string) bool {
	return g.Status == GrantApproved && g.GrantedFrom <= today && today <= g.GrantedUntil
}

func (g *Grant) checkProvider(by Actor, verb string) error {
	if by.Dept == "" || by.Dept != g.Provider {
		return govx.Errorf(govx.KindForbidden, "not_provider", "only the provider department %s may %s grant %d", g.Provider, verb, g.ID)
	}
	return nil
}

func (g *Grant) transition(by Actor, action string, to GrantStatus, reason string, detail map[string]any, now time.Time) {
	g.event = &GrantEvent{GrantID: g.ID, At: now, Actor: by.Subject, ActorDept: by.Dept, Action: action,
		From: g.Status, To: to, Reason: reason, Detail: detail}
	g.Status = to
	g.UpdatedAt = now
	g.Version++
}

func conflict(g *Grant, verb string, want GrantStatus) error {
	return govx.Errorf(govx.KindConflict, "invalid_transition", "grant %d is %s; only a %s grant can be %s", g.ID, g.Status, want, verb)
}

// Approve grants t (fewer fields or a shorter period than applied for, or
// exactly what was applied for where t leaves it out).
func (g *Grant) Approve(by Actor, t Terms, now time.Time) error {
	if err := g.checkProvider(by, "approve"); err != nil {
		return err
	}
	if g.Status != GrantPending {
		return conflict(g, "approved", GrantPending)
	}
	fields := g.Fields
	if len(t.Fields) > 0 {
		fields = slices.Compact(slices.Sorted(slices.Values(t.Fields)))
		for _, f := range fields {
			if !slices.Contains(g.Fields, f) {
				return govx.Errorf(govx.KindInvalid, "field_not_applied", "field %q was not applied for (applied: %s)", httpx.Truncate(f, 64), strings.Join(g.Fields, ", "))
			}
		}
	}
	from, until := g.ValidFrom, g.ValidUntil
	if t.ValidFrom != "" {
		from = t.ValidFrom
	}
	if t.ValidUntil != "" {
		until = t.ValidUntil
	}
	if err := checkPeriod(from, until); err != nil {
		return err
	}
	if from < g.ValidFrom || until > g.ValidUntil {
		return govx.Errorf(govx.KindInvalid, "invalid_period", "the granted period %s to %s lies outside the applied one %s to %s", from, until, g.ValidFrom, g.ValidUntil)
	}
	if until < workday.Date(now) {
		return govx.Errorf(govx.KindInvalid, "invalid_period", "the granted period ends %s, in the past", until)
	}
	g.GrantedFields, g.GrantedFrom, g.GrantedUntil = fields, from, until
	g.DecidedBy, g.DecidedAt = by.Subject, &now
	g.transition(by, "approve", GrantApproved, "", map[string]any{"fields": fields, "valid_from": from, "valid_until": until}, now)
	return nil
}

// Reject refuses the application; reason is required.
func (g *Grant) Reject(by Actor, reason string, now time.Time) error {
	if err := g.checkProvider(by, "reject"); err != nil {
		return err
	}
	if g.Status != GrantPending {
		return conflict(g, "rejected", GrantPending)
	}
	if err := checkReason(reason); err != nil {
		return err
	}
	g.Reason, g.DecidedBy, g.DecidedAt = reason, by.Subject, &now
	g.transition(by, "reject", GrantRejected, reason, nil, now)
	return nil
}

// Revoke ends an approved grant before its time; reason is required.
func (g *Grant) Revoke(by Actor, reason string, now time.Time) error {
	if err := g.checkProvider(by, "revoke"); err != nil {
		return err
	}
	if g.Status != GrantApproved {
		return conflict(g, "revoked", GrantApproved)
	}
	if err := checkReason(reason); err != nil {
		return err
	}
	g.Reason = reason
	g.transition(by, "revoke", GrantRevoked, reason, nil, now)
	return nil
}

// Expire ends an approved grant whose period is over.
func (g *Grant) Expire(now time.Time) error {
	if g.Status != GrantApproved {
		return conflict(g, "expired", GrantApproved)
	}
	if today := workday.Date(now); g.GrantedUntil >= today {
		return govx.Errorf(govx.KindConflict, "invalid_transition", "grant %d runs until %s", g.ID, g.GrantedUntil)
	}
	g.transition(SystemActor, "expire", GrantExpired, "", nil, now)
	return nil
}

func checkReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return govx.Errorf(govx.KindInvalid, "reason_required", "give the reason")
	}
	return checkGrantText("reason", reason, 1000)
}

func checkGrantText(name, s string, max int) error {
	if len(s) > max {
		return govx.Errorf(govx.KindInvalid, name+"_invalid", "%s is longer than %d bytes", name, max)
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0 || strings.ContainsRune(s, unicode.ReplacementChar) {
		return govx.Errorf(govx.KindInvalid, name+"_invalid", "%s holds control characters or invalid text", name)
	}
	return nil
}

// checkPeriod checks two YYYY-MM-DD dates in order.
func checkPeriod(from, until string) error {
	for _, d := range []string{from, until} {
		if t, err := workday.ParseDate(d); err != nil || t.Format(time.DateOnly) != d {
			return govx.Errorf(govx.KindInvalid, "invalid_date", "%q is not a date (YYYY-MM-DD)", httpx.Truncate(d, 32))
		}
	}
	if from > until {
		return govx.Errorf(govx.KindInvalid, "invalid_period", "the period starts (%s) after it ends (%s)", from, until)
	}
	return nil
}

// DecideGrant picks, among one department's grants for a resource, the one
// that decides an access on date today, and names the rule that decided:
// "grant:<id>" for an effective grant (returned); otherwise, after the
// latest grant, "grant_revoked", "grant_expired" (expired, or approved with
// its period over), or "grant_required" (none, or not valid yet), with a
// nil grant.
func DecideGrant(grants []Grant, today string) (*Grant, string) {
	var latest *Grant
	for i := range grants {
		g := &grants[i]
		if g.Effective(today) {
			return g, "grant:" + strconv.FormatInt(g.ID, 10)
		}
		if g.Status != GrantPending && g.Status != GrantRejected && (latest == nil || g.ID > latest.ID) {
			latest = g
		}
	}
	switch {
	case latest == nil:
		return nil, "grant_required"
	case latest.Status == GrantRevoked:
		return nil, "grant_revoked"
	case latest.Status == GrantExpired, latest.Status == GrantApproved && latest.GrantedUntil < today:
		return nil, "grant_expired"
	}
	return nil, "grant_required"
}

// Entitlement is what a department may have of a resource: the fields, and
// the rule that decided.
type Entitlement struct {
	Fields []string // sorted, no duplicates
	// Rule names the rule that allowed or refused the access:
	// "unconditional" or "grant:<id>", or the refusal's code.
	Rule string
}

// Entitle is the sharing rule, the one place it is written: which of
// fields (all the department may have when empty) department dept may
// have of res, holding grants for it (see DecideGrant), on date today. An
// unconditional resource gives every field; a conditional one the fields
// of the grant in force; a resource that is not shareable none. Refusals
// are Forbidden with the code grant_required, grant_revoked, grant_expired,
// not_shareable or field_not_granted; a field res does not have is Invalid,
// unknown_field. Entitlement.Rule is filled in as far as the decision got,
// refused or not.
func Entitle(res *Resource, dept string, grants []Grant, today string, fields []string) (Entitlement, error) {
	var e Entitlement
	var granted []string // nil: every field
	switch res.Sharing {
	case Unconditional:
		e.Rule = "unconditional"
	case Conditional:
		var g *Grant
		g, e.Rule = DecideGrant(grants, today)
		switch {
		case g != nil:
			granted = g.GrantedFields
		case e.Rule == "grant_revoked":
			return e, govx.Errorf(govx.KindForbidden, e.Rule, "%s is shared on conditions and the grant of %s was revoked", res.Code, dept)
		case e.Rule == "grant_expired":
			return e, govx.Errorf(govx.KindForbidden, e.Rule, "%s is shared on conditions and the grant of %s has expired; apply again", res.Code, dept)
		default:
			e.Rule = "grant_required"
			return e, govx.Errorf(govx.KindForbidden, e.Rule, "%s is shared on conditions; %s needs an approved grant in force (POST /v1/catalog/grants)", res.Code, dept)
		}
	default:
		e.Rule = "not_shareable"
		return e, govx.Errorf(govx.KindForbidden, e.Rule, "%s is not shareable", res.Code)
	}
	if len(fields) == 0 {
		fields = granted
		if fields == nil {
			fields = res.FieldNames()
		}
	}
	for _, f := range fields {
		if !res.HasField(f) {
			return e, govx.Errorf(govx.KindInvalid, "unknown_field", "%s has no field %q", res.Code, httpx.Truncate(f, 64))
		}
		if granted != nil && !slices.Contains(granted, f) {
			e.Rule = "field_not_granted"
			return e, govx.Errorf(govx.KindForbidden, e.Rule, "the grant of %s for %s does not include field %q (granted: %s)", dept, res.Code, f, strings.Join(granted, ", "))
		}
	}
	e.Fields = slices.Compact(slices.Sorted(slices.Values(fields)))
	return e, nil
}

// GrantStore keeps grants and their history in PostgreSQL. Every change is
// one transaction that also records its event; after it commits the
// OnChange hooks hear of the resource, so caches of the access policy drop
// what they held.
type GrantStore struct {
	pool     *pgxpool.Pool
	cal      *workday.Calendar
	now      func() time.Time
	onChange []func(ctx context.Context, code string)
}

// NewGrantStore keeps grants in pool; deadlines are counted on cal
// (workday.Default() when nil).
func NewGrantStore(pool *pgxpool.Pool, cal *workday.Calendar) *GrantStore {
	if cal == nil {
		cal = workday.Default()
	}
	return &GrantStore{pool: pool, cal: cal, now: time.Now}
}

// SetClock replaces the store's clock (tests of deadlines).
func (s *GrantStore) SetClock(now func() time.Time) { s.now = now }

// Now is the store's clock.
func (s *GrantStore) Now() time.Time { return s.now() }

// OnChange calls f with the resource code after any grant of it changed.
// Register hooks before the store is used.
func (s *GrantStore) OnChange(f func(ctx context.Context, code string)) {
	s.onChange = append(s.onChange, f)
}

func (s *GrantStore) changed(ctx context.Context, code string) {
	for _, f := range s.onChange {
		f(ctx, code)
	}
}

const grantColumns = `id, resource, provider, consumer, fields, purpose, legal_basis,
	to_char(valid_from, 'YYYY-MM-DD'), to_char(valid_until, 'YYYY-MM-DD'), status, granted_fields,
	coalesce(to_char(granted_from, 'YYYY-MM-DD'), ''), coalesce(to_char(granted_until, 'YYYY-MM-DD'), ''),
	reason, applied_by, applied_at, to_char(due_by, 'YYYY-MM-DD'), decided_by, decided_at, updated_at, version`

func scanGrant(row pgx.Row) (*Grant, error) {
	var g Grant
	var status string
	err := row.Scan(&g.ID, &g.Resource, &g.Provider, &g.Consumer, &g.Fields, &g.Purpose, &g.LegalBasis,
		&g.ValidFrom, &g.ValidUntil, &status, &g.GrantedFields, &g.GrantedFrom, &g.GrantedUntil,
		&g.Reason, &g.AppliedBy, &g.AppliedAt, &g.DueBy, &g.DecidedBy, &g.DecidedAt, &g.UpdatedAt, &g.Version)
	g.Status = GrantStatus(status)
	return &g, err
}

func grantNotFound(op string, id int64) error {
	return &govx.Error{Kind: govx.KindNotFound, Code: "grant_not_found", Op: op, Message: fmt.Sprintf("no grant %d", id)}
}

// Apply records a consumer department's application for a conditional
// resource. The consumer is by's department; the answer is due
// AnswerWithin working days later.
func (s *GrantStore) Apply(ctx context.Context, by Actor, a Application) (*Grant, error) {
	const op = "catalog.Apply"
	if by.Dept == "" {
		return nil, govx.Errorf(govx.KindForbidden, "department_missing", "the token names no department (dept claim)")
	}
	if a.Resource == "" {
		return nil, govx.Errorf(govx.KindInvalid, "field_required", "resource is required: the code of the resource applied for")
	}
	if !ValidCode(a.Resource) {
		return nil, govx.Errorf(govx.KindNotFound, "resource_not_found", "no resource %q in the catalogue", httpx.Truncate(a.Resource, 64))
	}
	if strings.TrimSpace(a.Purpose) == "" {
		return nil, govx.Errorf(govx.KindInvalid, "purpose_required", "state the purpose the data is used for")
	}
	if err := checkGrantText("purpose", a.Purpose, 500); err != nil {
		return nil, err
	}
	if strings.TrimSpace(a.LegalBasis) == "" {
		return nil, govx.Errorf(govx.KindInvalid, "legal_basis_required", "state the legal basis of the use")
	}
	if err := checkGrantText("legal_basis", a.LegalBasis, 1000); err != nil {
		return nil, err
	}
	if err := checkPeriod(a.ValidFrom, a.ValidUntil); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	if a.ValidUntil < workday.Date(now) {
		return nil, govx.Errorf(govx.KindInvalid, "invalid_period", "the period ends %s, in the past", a.ValidUntil)
	}
	if len(a.Fields) == 0 {
		return nil, govx.Errorf(govx.KindInvalid, "fields_required", "name the fields applied for")
	}
	if len(a.Fields) > 64 {
		return nil, govx.Errorf(govx.KindInvalid, "too_many_fields", "at most 64 fields may be applied for")
	}

	res, err := (&Store{pool: s.pool}).Resource(ctx, a.Resource)
	if err != nil {
		return nil, err
	}
	if res.Sharing != Conditional {
		return nil, govx.Errorf(govx.KindInvalid, "not_conditional", "%s is %s: grants are only for resources shared on conditions", res.Code, res.Sharing)
	}
	if res.Provider == by.Dept {
		return nil, govx.Errorf(govx.KindInvalid, "own_resource", "%s is your own department's resource", res.Code)
	}
	fields := slices.Compact(slices.Sorted(slices.Values(a.Fields)))
	for _, f := range fields {
		if !res.HasField(f) {
			return nil, govx.Errorf(govx.KindInvalid, "unknown_field", "%s has no field %q", res.Code, httpx.Truncate(f, 64))
		}
	}
	due := workday.Date(s.cal.AddWorkdays(now, AnswerWithin))

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	var known bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM catalog.departments WHERE code = $1)`, by.Dept).Scan(&known); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if !known {
		return nil, govx.Errorf(govx.KindForbidden, "department_not_found", "department %q is not in the catalogue", httpx.Truncate(by.Dept, 64))
	}
	g, err := scanGrant(tx.QueryRow(ctx, `INSERT INTO catalog.grants
		(resource, provider, consumer, fields, purpose, legal_basis, valid_from, valid_until, applied_by, applied_at, due_by, updated_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7::date,$8::date,$9,$10,$11::date,$10)
		RETURNING `+grantColumns,
		res.Code, res.Provider, by.Dept, fields, a.Purpose, a.LegalBasis, a.ValidFrom, a.ValidUntil, by.Subject, now, due))
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	ev := &GrantEvent{GrantID: g.ID, At: now, Actor: by.Subject, ActorDept: by.Dept, Action: "apply",
		From: "", To: GrantPending, Detail: map[string]any{"fields": fields, "valid_from": a.ValidFrom, "valid_until": a.ValidUntil}}
	if err := insertEvent(ctx, tx, ev); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	return g, nil
}

func insertEvent(ctx context.Context, tx pgx.Tx, ev *GrantEvent) error {
	detail := ev.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	return tx.QueryRow(ctx, `INSERT INTO catalog.grant_events (grant_id, at, actor, actor_dept, action, from_status, to_status, reason, detail)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) RETURNING seq`,
		ev.GrantID, ev.At, ev.Actor, ev.ActorDept, ev.Action, string(ev.From), string(ev.To), ev.Reason, detail).Scan(&ev.Seq)
}

// Grant returns the grant with id.
func (s *GrantStore) Grant(ctx context.Context, id int64) (*Grant, error) {
	const op = "catalog.Grant"
	g, err := scanGrant(s.pool.QueryRow(ctx, `SELECT `+grantColumns+` FROM catalog.grants WHERE id = $1`, id))
	if err != nil {
		if err = postgres.Translate(op, err, "grant_not_found"); govx.ErrorKind(err) == govx.KindNotFound {
			return nil, grantNotFound(op, id)
		}
		return nil, err
	}
	return g, nil
}

// Events returns a grant's history, oldest first.
func (s *GrantStore) Events(ctx context.Context, id int64) ([]GrantEvent, error) {
	const op = "catalog.GrantEvents"
	rows, err := s.pool.Query(ctx, `SELECT seq, grant_id, at, actor, actor_dept, action, from_status, to_status, reason, detail
		FROM catalog.grant_events WHERE grant_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (GrantEvent, error) {
		var e GrantEvent
		var from, to string
		err := row.Scan(&e.Seq, &e.GrantID, &e.At, &e.Actor, &e.ActorDept, &e.Action, &from, &to, &e.Reason, &e.Detail)
		e.From, e.To = GrantStatus(from), GrantStatus(to)
		if len(e.Detail) == 0 {
			e.Detail = nil
		}
		return e, err
	})
	return out, postgres.Translate(op, err, "")
}

// GrantFilter narrows a listing. Empty members do not filter.
type GrantFilter struct {
	Status   GrantStatus
	Resource string
	Consumer string
	// Visible limits the listing to grants this department applied for or
	// provides; "" lists every grant (supervisors).
	Visible string
	Limit   int // default and at most 500
}

// Grants lists grants, newest first.
func (s *GrantStore) Grants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	const op = "catalog.Grants"
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 500
	}
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM catalog.grants
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR resource = $2) AND ($3 = '' OR consumer = $3)
		  AND ($4 = '' OR consumer = $4 OR provider = $4)
		ORDER BY id DESC LIMIT $5`, string(f.Status), f.Resource, f.Consumer, f.Visible, f.Limit)
	return collectGrants(op, rows, err)
}

func collectGrants(op string, rows pgx.Rows, err error) ([]Grant, error) {
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Grant, error) {
		g, err := scanGrant(row)
		return *g, err
	})
	if out == nil {
		out = []Grant{}
	}
	return out, postgres.Translate(op, err, "")
}

// Decisive returns the grants that can decide dept's access to resource
// code: approved, revoked and expired ones (pending and rejected ones never
// allow anything).
func (s *GrantStore) Decisive(ctx context.Context, code, dept string) ([]Grant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM catalog.grants
		WHERE resource = $1 AND consumer = $2 AND status IN ('approved', 'revoked', 'expired') ORDER BY id`, code, dept)
	return collectGrants("catalog.Decisive", rows, err)
}

// Overdue lists pending applications whose answer is past due at now,
// longest overdue first: the list supervision works from.
func (s *GrantStore) Overdue(ctx context.Context, now time.Time) ([]Grant, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM catalog.grants
		WHERE status = 'pending' AND due_by < $1::date ORDER BY due_by, id LIMIT 1000`, workday.Date(now))
	return collectGrants("catalog.Overdue", rows, err)
}

// UpdateGrant changes grant id through fn, a domain method (Approve,
// Reject, Revoke, Expire) that checks the rule and records the transition.
// The row is locked for the whole change; the grant and its event are
// written in one transaction, and nothing is written if fn fails.
func (s *GrantStore) UpdateGrant(ctx context.Context, id int64, fn func(*Grant) error) (*Grant, error) {
	const op = "catalog.UpdateGrant"
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	g, err := scanGrant(tx.QueryRow(ctx, `SELECT `+grantColumns+` FROM catalog.grants WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		if err = postgres.Translate(op, err, "grant_not_found"); govx.ErrorKind(err) == govx.KindNotFound {
			return nil, grantNotFound(op, id)
		}
		return nil, err
	}
	if err := fn(g); err != nil {
		return nil, err
	}
	if g.event == nil {
		return g, nil // no transition, nothing to write
	}
	ev := g.event
	g.event = nil
	ev.At = ev.At.UTC().Truncate(time.Microsecond)
	_, err = tx.Exec(ctx, `UPDATE catalog.grants SET status = $2, granted_fields = $3,
		granted_from = nullif($4, '')::date, granted_until = nullif($5, '')::date, reason = $6,
		decided_by = $7, decided_at = $8, updated_at = $9, version = $10 WHERE id = $1`,
		g.ID, string(g.Status), nonNil(g.GrantedFields), g.GrantedFrom, g.GrantedUntil, g.Reason,
		g.DecidedBy, g.DecidedAt, ev.At, g.Version)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if err := insertEvent(ctx, tx, ev); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	s.changed(ctx, g.Resource)
	return g, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ExpireEvery runs ExpireDue now and then every interval until the
// returned stop is called; stop waits for a round in progress. The exchange
// refuses expired grants by their dates anyway; this keeps their status
// honest for listings. Every instance may run one: a grant expired by
// another is skipped.
func (s *GrantStore) ExpireEvery(interval time.Duration, log *slog.Logger) (stop func()) {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if n, err := s.ExpireDue(ctx); err != nil && ctx.Err() == nil {
				log.Error("expiring grants", "err", err)
			} else if n > 0 {
				log.Info("grants expired", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// ExpireDue moves every approved grant whose period ended before now to
// expired and returns how many. The exchange already refuses such grants by
// their dates; this makes the status say so too.
func (s *GrantStore) ExpireDue(ctx context.Context) (int, error) {
	now := s.now()
	rows, err := s.pool.Query(ctx, `SELECT id FROM catalog.grants WHERE status = 'approved' AND granted_until < $1::date`, workday.Date(now))
	if err != nil {
		return 0, postgres.Translate("catalog.ExpireDue", err, "")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, postgres.Translate("catalog.ExpireDue", err, "")
	}
	n := 0
	for _, id := range ids {
		_, err := s.UpdateGrant(ctx, id, func(g *Grant) error { return g.Expire(now) })
		switch {
		case err == nil:
			n++
		case govx.ErrorKind(err) == govx.KindConflict:
			// Changed meanwhile (revoked); nothing to expire.
		default:
			return n, err
		}
	}
	return n, nil
}
