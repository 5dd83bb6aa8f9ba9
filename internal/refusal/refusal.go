// Package refusal keeps the append-only log of refused writes: a
// catalogue change, a grant decision, a schema registry write or a case
// action that was answered with a refusal (forbidden, invalid, conflict,
// not found), with who asked, what, of which target, and the code and
// message they got. Query refusals are in the audit ledger and consent
// refusals in consent.log; this log is the rest, so that every refused
// action can be traced afterwards.
//
// The catalogue, registry and case workflow handlers record through one
// Log (Record, on their error paths); supervisors and operators read it at
// GET /v1/refusals. Like the rest of internal/, it imports no domain
// package.
package refusal

import (
	"context"
	"embed"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationSource is the refusal log's schema (refusals).
func MigrationSource() postgres.Source {
	return postgres.SourceDir("refusals", migrations, "migrations")
}

// Entry is one refused action.
type Entry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Subject    string    `json:"subject"`
	Department string    `json:"department"`
	Role       string    `json:"role"`
	Action     string    `json:"action"`
	Target     string    `json:"target"`
	Code       string    `json:"code"`
	Message    string    `json:"message"`
}

// Refused reports whether err is a refusal the log keeps: forbidden,
// invalid, conflict or not found. Internal errors, unavailability and
// missing credentials are not refusals of an action (the last are not
// anyone's).
func Refused(err error) bool {
	switch govx.ErrorKind(err) {
	case govx.KindForbidden, govx.KindInvalid, govx.KindConflict, govx.KindNotFound:
		return true
	}
	return false
}

// Log is the refusal log in PostgreSQL. A nil *Log records nothing, so a
// handler without one works as before. It is safe for concurrent use.
type Log struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	mask func(string) string
}

// New returns the log on pool (the refusals migrations applied); logger
// may be nil (slog.Default()). mask, which may be nil, is applied to the
// caller's subject, the target and the message before they are stored:
// the node passes the ledger's (ID numbers masked), since supervisors and
// operators read this log and need no one's full ID number.
func New(pool *pgxpool.Pool, logger *slog.Logger, mask func(string) string) *Log {
	if logger == nil {
		logger = slog.Default()
	}
	if mask == nil {
		mask = func(s string) string { return s }
	}
	return &Log{pool: pool, log: logger, mask: mask}
}

// Record keeps err as a refusal of action on target by who, when err is one
// (Refused); other errors and a nil Log are ignored. Recording never changes
// the answer: a failure to write is logged. who may be nil when the caller
// was refused before it was known.
func (l *Log) Record(ctx context.Context, who *auth.Claims, action, target string, err error) {
	if l == nil || err == nil || !Refused(err) {
		return
	}
	var subject, dept, role string
	if who != nil {
		subject, dept, role = who.Subject, who.Dept, who.Role
	}
	// The answer is on its way whatever happens here; a client that hangs
	// up must not cancel the record of its refusal.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, werr := l.pool.Exec(ctx, `INSERT INTO refusals.log (subject, department, role, action, target, code, message)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		l.mask(clip(subject, 200)), clip(dept, 100), clip(role, 50), action, l.mask(clip(target, 200)),
		clip(govx.ErrorCode(err), 100), l.mask(clip(govx.ErrorMessage(err), 1000)))
	if werr != nil {
		l.log.Error("refusal not recorded", "action", action, "target", l.mask(clip(target, 200)), "code", govx.ErrorCode(err), "err", werr)
	}
}

// clip makes s storable (valid UTF-8, no NUL) and at most n bytes.
func clip(s string, n int) string { return httpx.Truncate(postgres.Storable(s), n) }

// Paging of List.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects entries. Zero fields do not filter.
type Filter struct {
	// Action is an action ("grant.approve") or the part before a dot
	// ("grant": every grant action).
	Action string
	Since  time.Time // entries at or after
	Before int64     // entries with a lower id: the paging cursor
	Limit  int       // 0 means DefaultLimit; at most MaxLimit
}

// Validate checks f and fills in the default limit.
func (f *Filter) Validate() error {
	if len(f.Action) > 64 {
		return govx.Errorf(govx.KindInvalid, "invalid_action", "action must be at most 64 characters")
	}
	return httpx.CheckPage(&f.Limit, f.Before, DefaultLimit, MaxLimit)
}

// List returns the newest entries matching f, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) {
	const op = "refusal.List"
	if err := f.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Action != "" {
		if strings.Contains(f.Action, ".") {
			arg("action = ?", f.Action)
		} else {
			arg("starts_with(action, ?)", f.Action+".")
		}
	}
	if !f.Since.IsZero() {
		arg("at >= ?", f.Since)
	}
	if f.Before > 0 {
		arg("id < ?", f.Before)
	}
	q := `SELECT id, at, subject, department, role, action, target, code, message FROM refusals.log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	q += " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(args))
	rows, err := l.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.ID, &e.At, &e.Subject, &e.Department, &e.Role, &e.Action, &e.Target, &e.Code, &e.Message); err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	return out, nil
}
