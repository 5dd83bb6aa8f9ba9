package consent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/postgres"
	"govx/internal/workday"
)

// Roles of the data subjects' own tokens: a person signed in with their ID
// number, a company signed in (by its legal representative) with its code.
const (
	RoleCitizen     = "citizen"
	RoleLegalPerson = "legal_person"
	RoleClerk       = "clerk"
)

// Entitlement is what the store asks the catalogue before it records a
// consent: the resource and the consumer's grants for it.
// *catalog.PolicyCache satisfies it.
type Entitlement interface {
	Lookup(ctx context.Context, code, dept string) (*catalog.Resource, []catalog.Grant, error)
}

// Store keeps consents in PostgreSQL and signs their artefacts.
type Store struct {
	pool        *pgxpool.Pool
	key         *auth.Key
	entitlement Entitlement
	log         *slog.Logger
	// Now is the store's clock; default time.Now.
	Now func() time.Time
	// OnChange is called with the data subject after a change to one of
	// its consents committed (Invalidator.SubjectChanged).
	OnChange func(ctx context.Context, subject string)
}

// StoreConfig is what a Store needs.
type StoreConfig struct {
	Pool *pgxpool.Pool
	// Key signs the consents' artefacts; it must hold its private half.
	Key *auth.Key
	// Entitlement decides whether a consent would widen access
	// (catalog.Entitle over the consumer's grants).
	Entitlement Entitlement
	Logger      *slog.Logger // default slog.Default()
}

// Validate checks c and fills in defaults.
func (c *StoreConfig) Validate() error {
	if c.Pool == nil || c.Key == nil || c.Entitlement == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "consent: a store needs a Pool, a Key and an Entitlement")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// NewStore returns a Store; its clock is time.Now.
func NewStore(cfg StoreConfig) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Store{pool: cfg.Pool, key: cfg.Key, entitlement: cfg.Entitlement, log: cfg.Logger, Now: time.Now}, nil
}

// Key is the key the store signs artefacts with.
func (s *Store) Key() *auth.Key { return s.key }

// IsSubject reports whether caller is the data subject itself: a citizen
// token for an ID number, a legal-person token for a company's code.
func IsSubject(caller *auth.Claims, subject string) bool {
	if caller == nil || caller.Subject != subject {
		return false
	}
	t, err := SubjectType(subject)
	if err != nil {
		return false
	}
	return (t == Person && caller.Role == RoleCitizen) || (t == Company && caller.Role == RoleLegalPerson)
}

// Create records a consent. A clerk records it for their own department,
// as the applicant agreed at the window; the data subject may record one
// for any department. The consumer must be entitled to each resource
// anyway (shareable to it, with a grant covering the fields where the
// resource is shared on conditions): a consent cannot widen access, only
// allow it. Refusals are logged too.
func (s *Store) Create(ctx context.Context, caller *auth.Claims, r Request) (*Consent, error) {
	const op = "consent.Create"
	now := s.Now().UTC().Truncate(time.Second)
	c, err := s.create(ctx, caller, &r, now)
	if err != nil {
		if govx.ErrorKind(err) != govx.KindInternal && govx.ErrorKind(err) != govx.KindUnavailable {
			s.logRefusal(ctx, caller, "", r.Subject, "create", err)
		}
		return nil, govx.E(op, err)
	}
	// A cache holding the subject's consents from before must see it.
	if s.OnChange != nil {
		s.OnChange(ctx, c.Subject)
	}
	return c, nil
}

func (s *Store) create(ctx context.Context, caller *auth.Claims, r *Request, now time.Time) (*Consent, error) {
	via := BySubject
	switch {
	case caller.Role == RoleClerk:
		if caller.Dept == "" {
			return nil, govx.Errorf(govx.KindForbidden, "department_missing", "a clerk's token names their department (dept claim)")
		}
		if r.Consumer == "" {
			r.Consumer = caller.Dept
		}
		if r.Consumer != caller.Dept {
			return nil, govx.Errorf(govx.KindForbidden, "consumer_mismatch", "a clerk of %s records consents for %s only", caller.Dept, caller.Dept)
		}
		via = AtWindow
	case IsSubject(caller, r.Subject):
	default:
		return nil, govx.Errorf(govx.KindForbidden, "not_allowed",
			"a consent is recorded by a clerk at the window (role clerk) or by the data subject itself (role citizen or legal_person, subject = the data subject)")
	}
	if err := r.Validate(now); err != nil {
		return nil, err
	}
	subjectType, _ := SubjectType(r.Subject)
	for i := range r.Items {
		if err := s.entitled(ctx, r.Consumer, subjectType, &r.Items[i], now); err != nil {
			return nil, err
		}
	}
	status := Active
	if r.ValidFrom.After(now) {
		status = Pending
	}
	c := &Consent{ID: newID(), Request: *r, SubjectType: subjectType, Status: status, GivenVia: via, GivenBy: caller.Subject,
		CreatedAt: now, ChangedAt: now, Version: 1}
	var err error
	if c.Artefact, err = Sign(s.key, c); err != nil {
		return nil, err
	}
	items, err := json.Marshal(c.Items)
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO consent.consents (id, subject, subject_type, consumer, case_id, items,
			purpose_code, purpose, valid_from, valid_until, fetch_type, status, given_via, given_by, created_at, changed_at, artefact)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$15,$16)`,
			c.ID, c.Subject, c.SubjectType, c.Consumer, c.CaseID, items, c.PurposeCode, c.Purpose, c.ValidFrom, c.ValidUntil,
			c.Fetch, string(c.Status), c.GivenVia, c.GivenBy, c.CreatedAt, c.Artefact); err != nil {
			return err
		}
		return logTx(ctx, tx, caller, c.ID, c.Subject, "create", "ok", "ok", fmt.Sprintf("%s for %s, %s", c.Fetch, c.Consumer, c.itemList()))
	})
	if err != nil {
		return nil, postgres.Translate("consent.Create", err, "")
	}
	return c, nil
}

// entitled checks that consumer may have it's resource and fields at all,
// by the catalogue's sharing rule (catalog.Entitle). A refusal of the rule
// is answered as consumer_not_entitled: a consent cannot widen access.
func (s *Store) entitled(ctx context.Context, consumer, subjectType string, it *Item, now time.Time) error {
	res, grants, err := s.entitlement.Lookup(ctx, it.Resource, consumer)
	if err != nil {
		return err
	}
	_, err = catalog.Entitle(res, consumer, grants, workday.Date(now), it.Fields)
	if govx.ErrorCode(err) == "unknown_field" {
		return err
	}
	if !res.ConsentRequired {
		return govx.Errorf(govx.KindInvalid, "consent_not_needed", "%s holds no personal data: it needs no consent", res.Code)
	}
	switch {
	case res.KeyType == catalog.KeyIDNumber && subjectType != Person, res.KeyType == catalog.KeyUSCC && subjectType != Company:
		return govx.Errorf(govx.KindInvalid, "subject_mismatch", "%s is about %s records; the data subject is a %s", res.Code, res.KeyType, subjectType)
	}
	if govx.ErrorKind(err) == govx.KindForbidden {
		return govx.Errorf(govx.KindForbidden, "consumer_not_entitled", "%s: a consent cannot widen what the catalogue shares", govx.ErrorMessage(err))
	}
	return err
}

const consentColumns = `id, subject, subject_type, consumer, case_id, items, purpose_code, purpose, valid_from, valid_until,
	fetch_type, status, given_via, given_by, created_at, changed_at, used_at, used_by, reason, version, artefact`

func scanConsent(row pgx.Row, now time.Time) (*Consent, error) {
	var c Consent
	var items []byte
	var status string
	if err := row.Scan(&c.ID, &c.Subject, &c.SubjectType, &c.Consumer, &c.CaseID, &items, &c.PurposeCode, &c.Purpose,
		&c.ValidFrom, &c.ValidUntil, &c.Fetch, &status, &c.GivenVia, &c.GivenBy, &c.CreatedAt, &c.ChangedAt,
		&c.UsedAt, &c.UsedBy, &c.Reason, &c.Version, &c.Artefact); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(items, &c.Items); err != nil {
		return nil, err
	}
	c.ValidFrom, c.ValidUntil, c.CreatedAt, c.ChangedAt = c.ValidFrom.UTC(), c.ValidUntil.UTC(), c.CreatedAt.UTC(), c.ChangedAt.UTC()
	c.Status = Status(status)
	if !now.IsZero() {
		c.Status = c.StatusAt(now)
	}
	return &c, nil
}

// Get returns the consent with id, its status judged now.
func (s *Store) Get(ctx context.Context, id string) (*Consent, error) {
	if !validID(id) {
		return nil, govx.Errorf(govx.KindNotFound, "consent_not_found", "no consent %q", httpx.Truncate(id, 40))
	}
	c, err := scanConsent(s.pool.QueryRow(ctx, `SELECT `+consentColumns+` FROM consent.consents WHERE id = $1`, id), s.Now())
	if err != nil {
		return nil, postgres.Translate("consent.Get", err, "consent_not_found")
	}
	return c, nil
}

// OfSubject lists a data subject's consents, most recently changed first,
// their statuses judged now.
func (s *Store) OfSubject(ctx context.Context, subject string, limit int) ([]Consent, error) {
	return s.list(ctx, "consent.OfSubject", subject, limit, s.Now())
}

// ForDecisions lists what decides accesses to subject's data: its most
// recent consents with their stored status (Decide judges time itself),
// holding only what Decide reads — no artefact, no purpose text.
func (s *Store) ForDecisions(ctx context.Context, subject string) ([]Consent, error) {
	const op = "consent.ForDecisions"
	rows, err := s.pool.Query(ctx, `SELECT id, consumer, case_id, items, purpose_code, valid_from, valid_until, fetch_type, status, changed_at
		FROM consent.consents WHERE subject = $1 ORDER BY changed_at DESC, id LIMIT 200`, subject)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Consent, error) {
		var c Consent
		c.Subject = subject
		var items []byte
		var status string
		if err := row.Scan(&c.ID, &c.Consumer, &c.CaseID, &items, &c.PurposeCode, &c.ValidFrom, &c.ValidUntil,
			&c.Fetch, &status, &c.ChangedAt); err != nil {
			return c, err
		}
		c.Status = Status(status)
		return c, json.Unmarshal(items, &c.Items)
	})
	return out, postgres.Translate(op, err, "")
}

func (s *Store) list(ctx context.Context, op, subject string, limit int, now time.Time) ([]Consent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+consentColumns+` FROM consent.consents WHERE subject = $1
		ORDER BY changed_at DESC, id LIMIT $2`, subject, limit)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Consent, error) {
		c, err := scanConsent(row, now)
		if err != nil {
			return Consent{}, err
		}
		return *c, nil
	})
	return out, postgres.Translate(op, err, "")
}

// Transitions the data subject may make.
const (
	ActionRevoke = "revoke"
	ActionPause  = "pause"
	ActionResume = "resume"
)

// Change makes the data subject's transition action on consent id:
// revoke (from pending, active or paused), pause (from pending or active)
// or resume (from paused). ifVersion, when not 0, must be the consent's
// version (else version_conflict). Only the data subject may.
func (s *Store) Change(ctx context.Context, caller *auth.Claims, id, action, reason string, ifVersion int) (*Consent, error) {
	const op = "consent.Change"
	c, err := s.change(ctx, caller, id, action, reason, ifVersion)
	if err != nil {
		if k := govx.ErrorKind(err); k != govx.KindInternal && k != govx.KindUnavailable {
			subject := ""
			if c != nil {
				subject = c.Subject
			}
			s.logRefusal(ctx, caller, httpx.Truncate(id, 40), subject, action, err)
		}
		return nil, govx.E(op, err)
	}
	if s.OnChange != nil {
		s.OnChange(ctx, c.Subject)
	}
	return c, nil
}

func (s *Store) change(ctx context.Context, caller *auth.Claims, id, action, reason string, ifVersion int) (*Consent, error) {
	if err := checkText("reason", reason, 500, false); err != nil {
		return nil, err
	}
	var c *Consent
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if !validID(id) {
			return govx.Errorf(govx.KindNotFound, "consent_not_found", "no consent %q", httpx.Truncate(id, 40))
		}
		now := s.Now().UTC()
		var err error
		c, err = scanConsent(tx.QueryRow(ctx, `SELECT `+consentColumns+` FROM consent.consents WHERE id = $1 FOR UPDATE`, id), now)
		if err != nil {
			return postgres.Translate("", err, "consent_not_found")
		}
		if !IsSubject(caller, c.Subject) {
			return govx.Errorf(govx.KindForbidden, "not_data_subject", "only the data subject may %s a consent", action)
		}
		if ifVersion != 0 && ifVersion != c.Version {
			return govx.Errorf(govx.KindConflict, "version_conflict", "consent %s is at version %d, not %d: read it again", c.ID, c.Version, ifVersion)
		}
		from := c.Status
		if from.Terminal() {
			return govx.Errorf(govx.KindConflict, "consent_terminal", "consent %s is %s; it can no longer change", c.ID, from)
		}
		var to Status
		switch action {
		case ActionRevoke:
			to = Revoked
		case ActionPause:
			if from == Paused {
				return govx.Errorf(govx.KindConflict, "consent_paused", "consent %s is already paused", c.ID)
			}
			to = Paused
		case ActionResume:
			if from != Paused {
				return govx.Errorf(govx.KindConflict, "consent_not_paused", "consent %s is %s, not paused", c.ID, from)
			}
			to = Active
		default:
			return govx.Errorf(govx.KindInvalid, "invalid_action", "%q is not revoke, pause or resume", httpx.Truncate(action, 20))
		}
		c.Status, c.ChangedAt, c.Version = to, now.Truncate(time.Microsecond), c.Version+1
		if to == Revoked {
			c.Reason = reason
		}
		if _, err := tx.Exec(ctx, `UPDATE consent.consents SET status = $2, changed_at = $3, version = $4, reason = $5 WHERE id = $1`,
			c.ID, string(to), c.ChangedAt, c.Version, c.Reason); err != nil {
			return err
		}
		c.Status = c.StatusAt(now)
		return logTx(ctx, tx, caller, c.ID, c.Subject, action, "ok", "ok", reason)
	})
	return c, postgres.Translate("", err, "")
}

// Use spends a once-only consent on the access requestID: exactly one
// access gets it; any other is consent_used (or whatever else ended it).
// A repeated consent is not spent.
func (s *Store) Use(ctx context.Context, c *Consent, requestID string) error {
	const op = "consent.Use"
	if c.Fetch != Once {
		return nil
	}
	now := s.Now().UTC()
	tag, err := s.pool.Exec(ctx, `WITH used AS (
			UPDATE consent.consents SET status = 'used', used_at = $3, used_by = $2, changed_at = $3, version = version + 1
			WHERE id = $1 AND fetch_type = 'once' AND status IN ('active', 'pending') AND valid_from <= $3 AND valid_until > $3
			RETURNING id, subject)
		INSERT INTO consent.log (at, consent_id, subject, actor, action, outcome, code, detail)
		SELECT $3, id, subject, 'exchange', 'use', 'ok', 'ok', $2 FROM used`, c.ID, requestID, now)
	if err != nil {
		return postgres.Translate(op, err, "")
	}
	if tag.RowsAffected() == 1 {
		if s.OnChange != nil {
			s.OnChange(ctx, c.Subject)
		}
		return nil
	}
	// Someone else spent it, or it ended meanwhile: say which.
	cur, err := s.Get(ctx, c.ID)
	if err != nil {
		return govx.E(op, err)
	}
	return govx.E(op, cur.endedError(now))
}

// LogRefusal records a refused action that concerns no stored consent,
// e.g. a forged artefact presented for verification.
func (s *Store) LogRefusal(ctx context.Context, caller *auth.Claims, consentID, action string, err error) {
	s.logRefusal(ctx, caller, httpx.Truncate(consentID, 40), "", action, err)
}

func (s *Store) logRefusal(ctx context.Context, caller *auth.Claims, id, subject, action string, cause error) {
	if _, err := SubjectType(subject); err != nil {
		subject = "" // never store what a hostile caller typed as a subject
	}
	ctx = context.WithoutCancel(ctx)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return logTx(ctx, tx, caller, id, subject, action, "refused", govx.ErrorCode(cause), httpx.Truncate(govx.ErrorMessage(cause), 300))
	})
	if err != nil {
		s.log.Error("consent log write failed", "action", action, "err", err)
	}
}

func logTx(ctx context.Context, tx pgx.Tx, caller *auth.Claims, id, subject, action, outcome, code, detail string) error {
	actor, dept := "anonymous", ""
	if caller != nil {
		actor, dept = httpx.Truncate(caller.Subject, 100), httpx.Truncate(caller.Dept, 64)
	}
	_, err := tx.Exec(ctx, `INSERT INTO consent.log (consent_id, subject, actor, actor_dept, action, outcome, code, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, postgres.Storable(id), subject, postgres.Storable(actor), postgres.Storable(dept), action, outcome, code, postgres.Storable(detail))
	return err
}

// LogEntry is one row of the consent log.
type LogEntry struct {
	At        time.Time `json:"at"`
	ConsentID string    `json:"consent_id,omitempty"`
	Actor     string    `json:"actor"`
	ActorDept string    `json:"actor_dept,omitempty"`
	Action    string    `json:"action"`
	Outcome   string    `json:"outcome"`
	Code      string    `json:"code"`
	Detail    string    `json:"detail,omitempty"`
}

// History returns the log of one consent, oldest first.
func (s *Store) History(ctx context.Context, id string) ([]LogEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, consent_id, actor, actor_dept, action, outcome, code, detail
		FROM consent.log WHERE consent_id = $1 ORDER BY seq LIMIT 1000`, id)
	if err != nil {
		return nil, postgres.Translate("consent.History", err, "")
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[LogEntry])
	for i := range out {
		out[i].At = out[i].At.UTC()
	}
	return out, postgres.Translate("consent.History", err, "")
}

func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return "cs" + hex.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) != 22 || !strings.HasPrefix(id, "cs") {
		return false
	}
	_, err := hex.DecodeString(id[2:])
	return err == nil && strings.ToLower(id) == id
}
