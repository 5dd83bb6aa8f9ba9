package casework

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/bus"
	"govx/internal/avro"
	"govx/internal/outbox"
	"govx/internal/postgres"
	"govx/internal/workday"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationSource is the case workflow's schema migrations.
func MigrationSource() postgres.Source {
	src := postgres.SourceDir("casework", migrations, "migrations")
	src.Built = []postgres.Migration{outbox.Migration("002_outbox.sql", Schema)}
	// 001 created the outbox table itself until 002 took it over.
	src.Replaces = map[string][]string{"001_casework.sql": {"662121bbb31fb56e98977712636f84a4c42b7f7a7e86f8d6220ed02a8ffc2a8c"}}
	return src
}

// Schema is the case workflow's database schema.
const Schema = "casework"

// Resource is the catalogue-style code case events are published under:
// they go to the topic bus.EventTopic(Resource).
const Resource = "casework.case"

// EventSubject is the Avro subject of a case event's record.
const EventSubject = "casework.case-event"

// Actor is who acted on a case.
type Actor struct {
	Subject string // token subject: "clerk:…", "reviewer:…", or System
	Role    string
	Dept    string
}

// System is the case workflow itself: verifications retried, deadlines
// swept, flags raised.
var System = Actor{Subject: "casework", Role: "system"}

// Entry is one action in a case's history.
type Entry struct {
	Seq    int       `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Role   string    `json:"role"`
	Dept   string    `json:"dept"`
	Action string    `json:"action"`
	Status Status    `json:"status"`
	Detail string    `json:"detail,omitempty"`
}

// Store keeps cases in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	outbox *Outbox
	// notices renders the notice of a status change for the applicant
	// (notify.go); NewService sets it, so that texts name the item.
	notices func(c *Case, from Status) *Notice
}

// NewStore returns a store on pool, whose database has the casework
// migrations applied. Case events go into outbox (in the casework schema),
// in the transaction of the change; nil publishes none.
func NewStore(pool *pgxpool.Pool, outbox *Outbox) *Store {
	return &Store{pool: pool, outbox: outbox}
}

// Outbox is the case workflow's outbox: the store writes case events into
// it in the transaction of the change, and its Relay publishes them.
type Outbox struct {
	*outbox.Outbox
	codec *avro.Codec
}

// NewOutbox returns the case workflow's outbox, for NewStore and its relay.
func NewOutbox(pool *pgxpool.Pool, codec *avro.Codec, log *slog.Logger) *Outbox {
	return &Outbox{Outbox: outbox.New(pool, Schema, log), codec: codec}
}

// add writes the event of a change to a case inside tx.
func (o *Outbox) add(ctx context.Context, tx pgx.Tx, c bus.Change) error {
	m, err := bus.ChangeMessage(o.codec, DeptServiceCenter, c)
	if err != nil {
		return err
	}
	return o.Outbox.Add(ctx, tx, m)
}

// ref is what a case keeps of a record it relies on: a hash, so that ID
// numbers are not copied into an index. Records are told apart by their
// register (the resource code up to its first dot) and key, so that an
// event on legal-entity.status finds a case that read legal-entity.basic.
func ref(resource, key string) string {
	h := sha256.Sum256([]byte(register(resource) + "\x00" + key))
	return hex.EncodeToString(h[:16])
}

func register(resource string) string {
	if i := strings.IndexByte(resource, '.'); i > 0 {
		return resource[:i]
	}
	return resource
}

// applicantRef is what the cases table keeps of an applicant's
// identifier (ID number or USCC) to find their cases: a hash, as for refs.
// Migration 004 computes the same for the cases stored before it.
func applicantRef(key string) string {
	h := sha256.Sum256([]byte("applicant:" + key))
	return hex.EncodeToString(h[:16])
}

func columns(c *Case) (last4 string, pending, depts, refs []string) {
	k := c.Applicant.Key()
	if len(k) >= 4 {
		last4 = k[len(k)-4:]
	}
	pending = c.PendingDepts()
	for _, r := range c.Reviews {
		depts = append(depts, r.Dept)
	}
	if c.Online != nil && c.Online.Dept != "" && !slices.Contains(depts, c.Online.Dept) {
		depts = append(depts, c.Online.Dept) // the department that pre-reviews it
	}
	for _, m := range c.Materials {
		// The records of a case taken in at another node are that node's
		// registers': a change in this node's does not concern them.
		if m.Resource != "" && m.Key != "" && c.Origin == nil {
			refs = append(refs, ref(m.Resource, m.Key))
		}
	}
	if pending == nil {
		pending = []string{}
	}
	if depts == nil {
		depts = []string{}
	}
	if refs == nil {
		refs = []string{}
	}
	return
}

// nextTry is the earliest time something of the case is tried again.
func nextTry(c *Case) *time.Time {
	var t *time.Time
	if c.Status.Pre() || c.Status == Rejected || c.Status == Delivered {
		// A draft is verified while the clerk is there; a closed case has
		// nothing left to try.
		return nil
	}
	for _, m := range c.Materials {
		if m.NextTry != nil && (m.State == Pending || m.State == Committed) && (t == nil || m.NextTry.Before(*t)) {
			t = m.NextTry
		}
	}
	if r := c.Remote; r != nil && r.NextTry != nil && (t == nil || r.NextTry.Before(*t)) {
		// Submitted again, or its status read again, at the deciding node.
		t = r.NextTry
	}
	if c.Status == Approved && c.Result != nil && c.Result.IssuedAt == nil && c.Remote == nil {
		// Not issued yet: due again from this change on, by the clock
		// that made it.
		if t == nil || c.UpdatedAt.Before(*t) {
			t = &c.UpdatedAt
		}
	}
	return t
}

type event struct {
	action, detail string
	actor          Actor
}

// newCaseID allocates a case number: GX, the date in China Standard Time
// and a serial.
func (s *Store) newCaseID(ctx context.Context, tx pgx.Tx, now time.Time) (string, error) {
	var n int64
	if err := tx.QueryRow(ctx, `SELECT nextval('casework.case_seq')`).Scan(&n); err != nil {
		return "", err
	}
	return fmt.Sprintf("GX%s%06d", now.In(workday.Zone).Format("20060102"), n), nil
}

// Create stores a new case with its first history entry. A form already
// handled (formID seen before) returns the case it created instead, with
// fresh false.
func (s *Store) Create(ctx context.Context, c *Case, formID string, actor Actor, detail string) (out *Case, fresh bool, err error) {
	return s.create(ctx, c, formID, "open", []event{{action: "opened", detail: detail, actor: actor}})
}

// create is Create with the first history entries evs, and the form
// remembered as action.
func (s *Store) create(ctx context.Context, c *Case, formID, action string, evs []event) (out *Case, fresh bool, err error) {
	const op = "casework.Store.Create"
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if formID != "" {
			// Two submissions of one form at once: the second waits here
			// for the first's transaction, then finds its case.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, formID); err != nil {
				return err
			}
			caseID, seen, err := s.seenForm(ctx, tx, formID)
			if err != nil || seen {
				if err == nil {
					out, err = scanCase(tx.QueryRow(ctx, `SELECT doc FROM casework.cases WHERE id = $1`, caseID))
				}
				return err
			}
		}
		fresh = true
		id, err := s.newCaseID(ctx, tx, c.CreatedAt)
		if err != nil {
			return err
		}
		c.ID, c.Version = id, 1
		if err := s.write(ctx, tx, c, true); err != nil {
			return err
		}
		if err := s.record(ctx, tx, c, evs, c.CreatedAt); err != nil {
			return err
		}
		if !c.IsOnline() {
			// A case opened in the applicant's name at a window is news to
			// them; an online draft is their own doing.
			if err := s.notify(ctx, tx, c, ""); err != nil {
				return err
			}
		}
		if err := s.rememberForm(ctx, tx, formID, c.ID, action, evs[0].actor, c.CreatedAt); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, false, postgres.Translate(op, err, "case_not_found")
	}
	return out, fresh, nil
}

// seenForm returns the case a form already handled was for.
func (s *Store) seenForm(ctx context.Context, tx pgx.Tx, formID string) (caseID string, seen bool, err error) {
	err = tx.QueryRow(ctx, `SELECT case_id FROM casework.forms WHERE form_id = $1`, formID).Scan(&caseID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return caseID, err == nil, err
}

func (s *Store) rememberForm(ctx context.Context, tx pgx.Tx, formID, caseID, action string, actor Actor, at time.Time) error {
	if formID == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO casework.forms (form_id, case_id, action, actor, at) VALUES ($1,$2,$3,$4,$5)`,
		formID, caseID, action, actor.Subject, at)
	return err
}

func (s *Store) write(ctx context.Context, tx pgx.Tx, c *Case, insert bool) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return err
	}
	last4, pending, depts, refs := columns(c)
	var rating *int
	if c.Rating != nil {
		rating = &c.Rating.Score
	}
	var wd *int
	overdue := false
	if c.ClosedAt != nil && c.AcceptedAt != nil && c.Due != nil {
		overdue = c.ClosedAt.After(*c.Due)
	}
	if c.Colour == Red {
		overdue = true
	}
	if v, ok := c.workingDays(); ok {
		wd = &v
	}
	if insert {
		_, err = tx.Exec(ctx, `INSERT INTO casework.cases (id, item, status, intake_dept, applicant_last4, pending_depts, review_depts,
			refs, colour, next_try, due, accepted_at, closed_at, overdue, working_days, rating, doc, version, created_at, updated_at,
			channel, applicant_ref)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)`,
			c.ID, c.Item, string(c.Status), c.IntakeDept, last4, pending, depts, refs, c.Colour, nextTry(c), c.Due, c.AcceptedAt,
			c.ClosedAt, overdue, wd, rating, doc, c.Version, c.CreatedAt, c.UpdatedAt, c.channel(), applicantRef(c.Applicant.Key()))
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE casework.cases SET status = $2, pending_depts = $3, review_depts = $4, refs = $5, colour = $6,
		next_try = $7, due = $8, accepted_at = $9, closed_at = $10, overdue = $11, working_days = $12, rating = $13, doc = $14,
		version = $15, updated_at = $16 WHERE id = $1`,
		c.ID, string(c.Status), pending, depts, refs, c.Colour, nextTry(c), c.Due, c.AcceptedAt, c.ClosedAt, overdue, wd, rating,
		doc, c.Version, c.UpdatedAt)
	return err
}

// workingDays is set by the service before a closed case is written: the
// working days it took, for supervision.
func (c *Case) workingDays() (int, bool) {
	if c.ClosedAt == nil || c.AcceptedAt == nil {
		return 0, false
	}
	return c.Took, true
}

// record appends the history entries of one change and their events.
func (s *Store) record(ctx context.Context, tx pgx.Tx, c *Case, evs []event, at time.Time) error {
	for _, e := range evs {
		if _, err := tx.Exec(ctx, `INSERT INTO casework.history (case_id, seq, at, actor, role, dept, action, status, detail)
			VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM casework.history WHERE case_id = $1), $2, $3, $4, $5, $6, $7, $8)`,
			c.ID, at, e.actor.Subject, e.actor.Role, e.actor.Dept, e.action, string(c.Status), postgres.Storable(e.detail)); err != nil {
			return err
		}
		if s.outbox == nil {
			continue
		}
		rec := map[string]any{"case_id": c.ID, "item": c.Item, "action": e.action, "status": string(c.Status), "at": at}
		if e.actor.Dept != "" {
			rec["dept"] = e.actor.Dept
		}
		if c.Colour != "" {
			rec["colour"] = c.Colour
		}
		if c.Due != nil {
			rec["due"] = workday.Date(*c.Due)
		}
		if err := s.outbox.add(ctx, tx, bus.Change{Resource: Resource, Subject: EventSubject, Key: c.ID,
			Type: "case." + e.action, Reason: e.detail, Record: rec}); err != nil {
			return err
		}
	}
	return nil
}

func scanCase(row pgx.Row) (*Case, error) {
	var doc []byte
	if err := row.Scan(&doc); err != nil {
		return nil, err
	}
	var c Case
	if err := json.Unmarshal(doc, &c); err != nil {
		return nil, err
	}
	c.Channel = c.channel()
	return &c, nil
}

// Get returns the case with id.
func (s *Store) Get(ctx context.Context, id string) (*Case, error) {
	if !ValidCaseID(id) {
		return nil, govx.Errorf(govx.KindInvalid, "case_id_invalid", "a case number is GX followed by 14 or more digits")
	}
	c, err := scanCase(s.pool.QueryRow(ctx, `SELECT doc FROM casework.cases WHERE id = $1`, id))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, govx.Errorf(govx.KindNotFound, "case_not_found", "no case %s", id)
		}
		return nil, postgres.Translate("casework.Store.Get", err, "case_not_found")
	}
	return c, nil
}

// ValidCaseID reports whether id has the shape of a case number.
func ValidCaseID(id string) bool {
	if len(id) < 16 || len(id) > 24 || id[:2] != "GX" {
		return false
	}
	for _, r := range id[2:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Change is one change to a case: fn applies it under the row lock and
// says which history entries it makes (none: nothing changed, nothing is
// written).
type Change func(c *Case) ([]event, error)

// Update changes the case with id under its row lock. version, when not 0,
// must be the version the actor saw: a case changed by someone else in
// between is KindConflict ("case_changed"), naming who. A form already
// handled (formID) returns the case as it is now, unchanged.
func (s *Store) Update(ctx context.Context, id string, formID string, version int, actor Actor, action string, now time.Time, fn Change) (*Case, error) {
	return s.update(ctx, id, formID, version, actor, action, now, func(_ pgx.Tx, c *Case) ([]event, error) { return fn(c) })
}

// update is Update with fn given the transaction, to write what belongs
// to the change beside the case (an uploaded file).
func (s *Store) update(ctx context.Context, id string, formID string, version int, actor Actor, action string, now time.Time,
	fn func(tx pgx.Tx, c *Case) ([]event, error)) (*Case, error) {
	const op = "casework.Store.Update"
	if !ValidCaseID(id) {
		return nil, govx.Errorf(govx.KindInvalid, "case_id_invalid", "a case number is GX followed by 14 or more digits")
	}
	var out *Case
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if formID != "" {
			caseID, seen, err := s.seenForm(ctx, tx, formID)
			if err != nil {
				return err
			}
			if seen {
				if caseID != id {
					return govx.Errorf(govx.KindConflict, "form_reused", "this form was already used for case %s", caseID)
				}
				out, err = scanCase(tx.QueryRow(ctx, `SELECT doc FROM casework.cases WHERE id = $1`, id))
				return err
			}
		}
		c, err := scanCase(tx.QueryRow(ctx, `SELECT doc FROM casework.cases WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return govx.Errorf(govx.KindNotFound, "case_not_found", "no case %s", id)
		}
		if err != nil {
			return err
		}
		if version != 0 && c.Version != version {
			var who string
			var at time.Time
			tx.QueryRow(ctx, `SELECT actor, at FROM casework.history WHERE case_id = $1 ORDER BY seq DESC LIMIT 1`, id).Scan(&who, &at)
			return govx.Errorf(govx.KindConflict, "case_changed",
				"case %s was changed by %s at %s while you were looking at it; reload it and decide again", id, who,
				at.In(workday.Zone).Format("15:04:05"))
		}
		from := c.Status
		evs, err := fn(tx, c)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			out = c
			return nil
		}
		for i := range evs {
			if evs[i].actor.Subject == "" {
				evs[i].actor = actor
			}
		}
		c.Version++
		c.UpdatedAt = now
		if err := s.write(ctx, tx, c, false); err != nil {
			return err
		}
		if err := s.record(ctx, tx, c, evs, now); err != nil {
			return err
		}
		if c.Status != from {
			if err := s.notify(ctx, tx, c, from); err != nil {
				return err
			}
		}
		if err := s.rememberForm(ctx, tx, formID, id, action, actor, now); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		var ge *govx.Error
		if errors.As(err, &ge) {
			return nil, govx.E(op, err)
		}
		return nil, postgres.Translate(op, err, "case_not_found")
	}
	return out, nil
}

// postpone sets when case id is next tried to at, leaving the case as it
// is: a deciding node that did not answer, or said nothing new.
func (s *Store) postpone(ctx context.Context, id string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE casework.cases SET next_try = $2 WHERE id = $1`, id, at); err != nil {
		return postgres.Translate("casework.Store.postpone", err, "case_not_found")
	}
	return nil
}

// History returns the case's history, oldest first.
func (s *Store) History(ctx context.Context, id string) ([]Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, at, actor, role, dept, action, status, detail FROM casework.history
		WHERE case_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, postgres.Translate("casework.Store.History", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		var st string
		err := r.Scan(&e.Seq, &e.At, &e.Actor, &e.Role, &e.Dept, &e.Action, &st, &e.Detail)
		e.Status = Status(st)
		return e, err
	})
	return out, postgres.Translate("casework.Store.History", err, "")
}

// Filter selects cases for a list.
type Filter struct {
	Status  Status // "" any
	Colour  string // "" any
	Dept    string // reviewed by this department; "" any
	Pending bool   // with Dept: only those waiting on Dept's review
	Intake  string // taken in by this window; "" any
	Channel string // ChannelWindow or ChannelOnline; "" any
	// Applicant is the identifier (ID number or USCC) of the applicant
	// whose cases are listed; "" any. Online drafts are listed only to
	// their applicant: they are not submitted to anyone yet.
	Applicant string
	Limit     int // default 100, at most 500
}

// List returns cases matching f, newest first.
func (s *Store) List(ctx context.Context, f Filter) ([]Case, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	ref := ""
	if f.Applicant != "" {
		ref = applicantRef(f.Applicant)
	}
	q := `SELECT doc FROM casework.cases WHERE ($1 = '' OR status = $1) AND ($2 = '' OR colour = $2)
		AND ($3 = '' OR (CASE WHEN $4 THEN pending_depts @> ARRAY[$3] ELSE review_depts @> ARRAY[$3] END))
		AND ($5 = '' OR intake_dept = $5) AND ($7 = '' OR channel = $7)
		AND (CASE WHEN $8 = '' THEN NOT (channel = 'online' AND status = 'draft') ELSE applicant_ref = $8 END)
		ORDER BY created_at DESC LIMIT $6`
	rows, err := s.pool.Query(ctx, q, string(f.Status), f.Colour, f.Dept, f.Pending, f.Intake, f.Limit, f.Channel, ref)
	if err != nil {
		return nil, postgres.Translate("casework.Store.List", err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Case, error) {
		c, err := scanCase(r)
		if err != nil {
			return Case{}, err
		}
		return *c, nil
	})
	return out, postgres.Translate("casework.Store.List", err, "")
}

// due returns the ids of cases with something to try again by now.
func (s *Store) due(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM casework.cases WHERE next_try <= $1 ORDER BY next_try LIMIT $2`, now, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// relyingOn returns the ids of open cases that rely on the record with ref.
func (s *Store) relyingOn(ctx context.Context, ref string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM casework.cases WHERE refs @> ARRAY[$1]
		AND status IN ('draft', 'in_review', 'supplement', 'approved')`, ref)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// running returns the ids of cases whose clock runs, for the deadline sweep.
func (s *Store) running(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM casework.cases WHERE status IN ('in_review', 'supplement', 'approved')`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Progress is the public view of a case: its item and a timeline, with
// no personal data and nobody's name.
type Progress struct {
	ID       string          `json:"id"`
	Item     string          `json:"item"`
	Status   Status          `json:"status"`
	Due      string          `json:"due,omitempty"`
	Colour   string          `json:"colour,omitempty"`
	Timeline []ProgressEntry `json:"timeline"`
	Rated    bool            `json:"rated"`
	CanRate  bool            `json:"can_rate"`
	// DecidedAt is the node whose departments decide a cross-region case.
	DecidedAt string `json:"decided_at,omitempty"`
	// Result is the licence or certificate issued, once it is out.
	Result *ProgressResult `json:"result,omitempty"`
}

// ProgressResult is what the applicant collects at the window: the kind
// of result and its number.
type ProgressResult struct {
	Kind   string `json:"kind"`
	Number string `json:"number"`
}

// ProgressEntry is one step of the public timeline.
type ProgressEntry struct {
	At     time.Time `json:"at"`
	Action string    `json:"action"`
	Dept   string    `json:"dept,omitempty"`
	Status Status    `json:"status"`
}

// publicActions are the history actions the public timeline shows.
var publicActions = []string{"opened", "applied_online", "accepted", "submitted", "returned", "resubmitted", "reviewed", "supplement_requested", "supplied", "approved", "rejected",
	"issued", "delivered", "rated"}

// byLast4 returns the case with id if its applicant's identifier ends in
// last4. A wrong pair is not found, whichever half is wrong.
func (s *Store) byLast4(ctx context.Context, id, last4 string) (*Case, error) {
	c, err := scanCase(s.pool.QueryRow(ctx, `SELECT doc FROM casework.cases WHERE id = $1 AND applicant_last4 = $2`, id, last4))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, govx.Errorf(govx.KindNotFound, "case_not_found", "no case with that number and those last four characters")
	}
	if err != nil {
		return nil, postgres.Translate("casework.Store.Progress", err, "")
	}
	return c, nil
}

func (s *Store) timeline(ctx context.Context, id string) ([]ProgressEntry, error) {
	hist, err := s.History(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []ProgressEntry{}
	for _, e := range hist {
		if slices.Contains(publicActions, e.Action) {
			out = append(out, ProgressEntry{At: e.At, Action: e.Action, Dept: e.Dept, Status: e.Status})
		}
	}
	return out, nil
}

// DeptStats is a department's supervision figures.
type DeptStats struct {
	Dept          string  `json:"dept"`
	Cases         int     `json:"cases"`
	Open          int     `json:"open"`
	Closed        int     `json:"closed"`
	AvgDays       float64 `json:"avg_working_days"` // of closed cases
	Overdue       int     `json:"overdue"`
	OverdueRate   float64 `json:"overdue_rate"` // overdue among all cases
	Ratings       int     `json:"ratings"`
	AvgRating     float64 `json:"avg_rating"`
	Yellow        int     `json:"yellow"`
	Red           int     `json:"red"`
	PendingReview int     `json:"pending_review"`
}

// StatusCount counts cases by status and colour.
type StatusCount struct {
	Status Status `json:"status"`
	Colour string `json:"colour"`
	Count  int    `json:"count"`
}

// Stats returns the supervision figures: cases by status and colour, and
// per reviewing department.
func (s *Store) Stats(ctx context.Context) ([]StatusCount, []DeptStats, error) {
	const op = "casework.Store.Stats"
	rows, err := s.pool.Query(ctx, `SELECT status, colour, count(*) FROM casework.cases GROUP BY status, colour`)
	if err != nil {
		return nil, nil, postgres.Translate(op, err, "")
	}
	counts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatusCount, error) {
		var sc StatusCount
		var st string
		err := r.Scan(&st, &sc.Colour, &sc.Count)
		sc.Status = Status(st)
		return sc, err
	})
	if err != nil {
		return nil, nil, postgres.Translate(op, err, "")
	}
	slices.SortFunc(counts, func(a, b StatusCount) int {
		return slices.Index(Statuses, a.Status) - slices.Index(Statuses, b.Status)
	})
	rows, err = s.pool.Query(ctx, `SELECT d, count(*),
			count(*) FILTER (WHERE status IN ('in_review', 'supplement', 'approved')),
			count(*) FILTER (WHERE closed_at IS NOT NULL),
			coalesce(avg(working_days) FILTER (WHERE closed_at IS NOT NULL), 0),
			count(*) FILTER (WHERE overdue),
			count(rating), coalesce(avg(rating), 0),
			count(*) FILTER (WHERE colour = 'yellow'), count(*) FILTER (WHERE colour = 'red'),
			count(*) FILTER (WHERE pending_depts @> ARRAY[d])
		FROM casework.cases, unnest(review_depts) AS d
		WHERE status <> 'draft'
		GROUP BY d ORDER BY d`)
	if err != nil {
		return nil, nil, postgres.Translate(op, err, "")
	}
	depts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeptStats, error) {
		var d DeptStats
		err := r.Scan(&d.Dept, &d.Cases, &d.Open, &d.Closed, &d.AvgDays, &d.Overdue, &d.Ratings, &d.AvgRating, &d.Yellow, &d.Red, &d.PendingReview)
		if d.Cases > 0 {
			d.OverdueRate = float64(d.Overdue) / float64(d.Cases)
		}
		return d, err
	})
	return counts, depts, postgres.Translate(op, err, "")
}

// dateCount is how many cases were opened and closed on one date (China
// Standard Time, YYYY-MM-DD).
type dateCount struct {
	Date           string
	Opened, Closed int
}

// Activity counts the cases opened and closed per date since since.
func (s *Store) Activity(ctx context.Context, since time.Time) ([]dateCount, error) {
	const op = "casework.Store.Activity"
	rows, err := s.pool.Query(ctx, `SELECT to_char(d, 'YYYY-MM-DD'), sum(opened)::int, sum(closed)::int FROM (
			SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date AS d, 1 AS opened, 0 AS closed
			FROM casework.cases WHERE created_at >= $1
			UNION ALL
			SELECT (closed_at AT TIME ZONE 'Asia/Shanghai')::date, 0, 1
			FROM casework.cases WHERE closed_at >= $1) AS a
		GROUP BY d ORDER BY d`, since)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (dateCount, error) {
		var d dateCount
		err := r.Scan(&d.Date, &d.Opened, &d.Closed)
		return d, err
	})
	return out, postgres.Translate(op, err, "")
}

// RatingCounts counts the rated cases by score: out[i] cases were rated
// i+1 (1 to 5).
func (s *Store) RatingCounts(ctx context.Context) ([]int, error) {
	const op = "casework.Store.RatingCounts"
	out := make([]int, 5)
	rows, err := s.pool.Query(ctx, `SELECT rating, count(*) FROM casework.cases WHERE rating BETWEEN 1 AND 5 GROUP BY rating`)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	for rows.Next() {
		var score, n int
		if err := rows.Scan(&score, &n); err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		out[score-1] = n
	}
	return out, postgres.Translate(op, rows.Err(), "")
}

// changeCursor is where following resource's change events got to: the
// cursor after the last event recorded, "" before the first.
func (s *Store) changeCursor(ctx context.Context, resource string) (string, error) {
	var cursor string
	err := s.pool.QueryRow(ctx, `SELECT cursor FROM casework.change_cursors WHERE resource = $1`, resource).Scan(&cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return cursor, err
}

// saveChangeCursor keeps cursor as where following resource's change
// events got to.
func (s *Store) saveChangeCursor(ctx context.Context, resource, cursor string, now time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO casework.change_cursors (resource, cursor, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (resource) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = EXCLUDED.updated_at`, resource, cursor, now)
	if err != nil {
		return govx.E("casework.Store.saveChangeCursor", err)
	}
	return nil
}
