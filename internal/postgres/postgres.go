// Package postgres is govx's PostgreSQL plumbing: a pgx pool, embedded SQL
// migrations applied in order under an advisory lock, and the translation of
// PostgreSQL errors into govx errors by SQLSTATE code.
//
// Domain packages own their tables and their migrations (each embeds its own
// migrations/*.sql); this package only runs them.
package postgres

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
)

// Config says where PostgreSQL is and how large the pool may grow.
type Config struct {
	URL            string
	MaxConns       int32         // default 16
	ConnectTimeout time.Duration // default 5s
}

func (c *Config) Validate() error {
	if c.URL == "" {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "postgres: URL is required")
	}
	if c.MaxConns == 0 {
		c.MaxConns = 16
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	return nil
}

// Open connects a pool and checks that the server answers.
func Open(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, govx.E("postgres.Open", govx.Errorf(govx.KindInvalid, "config_invalid", "postgres: bad URL: %v", err))
	}
	pc.MaxConns = cfg.MaxConns
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, govx.E("postgres.Open", err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, &govx.Error{Kind: govx.KindUnavailable, Code: "database_unavailable",
			Op: "postgres.Open", Message: "database is unavailable", Err: err}
	}
	return pool, nil
}

// SQLSTATE codes govx reacts to.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeSerialization       = "40001"
	codeDeadlock            = "40P01"
	codeCharNotInRepertoire = "22021" // invalid UTF-8 or NUL in text
	codeUntranslatableChar  = "22P05" // \u0000 in jsonb
)

// CodeAlreadyExists is the code Translate gives a unique violation: a row
// with the key is there already.
const CodeAlreadyExists = "already_exists"

// Translate turns a pgx error into a govx error by SQLSTATE code. op names
// the operation; notFound is the code to use for pgx.ErrNoRows.
func Translate(op string, err error, notFound string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return &govx.Error{Kind: govx.KindNotFound, Code: notFound, Op: op, Message: "not found", Err: err}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return &govx.Error{Kind: govx.KindConflict, Code: CodeAlreadyExists, Op: op, Message: "already exists", Err: err}
		case codeForeignKeyViolation, codeCheckViolation:
			return &govx.Error{Kind: govx.KindInvalid, Code: "constraint_violation", Op: op, Message: "violates a constraint", Err: err}
		case codeCharNotInRepertoire, codeUntranslatableChar:
			// Text should have been refused at the edge (httpx.CheckText);
			// what slips through is still the caller's input, not our fault.
			return &govx.Error{Kind: govx.KindInvalid, Code: "invalid_text", Op: op, Message: "the text holds a NUL character or invalid UTF-8", Err: err}
		case codeSerialization, codeDeadlock:
			return &govx.Error{Kind: govx.KindConflict, Code: "retry", Op: op, Message: "concurrent update, retry", Err: err}
		}
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) {
		return &govx.Error{Kind: govx.KindUnavailable, Code: "database_unavailable", Op: op, Message: "database is unavailable", Err: err}
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return &govx.Error{Kind: govx.KindUnavailable, Code: "database_unavailable", Op: op, Message: "database is unavailable", Err: err}
	}
	return govx.E(op, fmt.Errorf("postgres: %w", err))
}

// Storable makes s storable as PostgreSQL text, which holds neither NUL
// bytes nor invalid UTF-8: invalid bytes become U+FFFD and NUL the two
// characters \0. What a hostile caller sends can then be recorded, not
// fail the statement (and a batch with it).
func Storable(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\\0")
}

// EnsureDatabase makes sure database name exists on the server of url,
// creating it when it does not, and returns url with that database. It is
// for running several nodes on one machine's PostgreSQL, each with a
// database of its own.
func EnsureDatabase(ctx context.Context, url, name string) (string, error) {
	const op = "postgres.EnsureDatabase"
	if !dbName.MatchString(name) {
		return "", govx.Errorf(govx.KindInvalid, "config_invalid", "postgres: %q is not a database name of lower-case letters, digits and _", name)
	}
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return "", govx.Errorf(govx.KindInvalid, "config_invalid", "postgres: bad URL: %v", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return "", &govx.Error{Kind: govx.KindUnavailable, Code: "database_unavailable", Op: op, Message: "database is unavailable", Err: err}
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", Translate(op, err, "")
	}
	if !exists {
		// A name checked above: CREATE DATABASE takes no parameters.
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "42P04" { // created meanwhile
				return "", Translate(op, err, "")
			}
		}
	}
	u, err := neturl.Parse(url)
	if err != nil {
		return "", govx.Errorf(govx.KindInvalid, "config_invalid", "postgres: bad URL: %v", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
