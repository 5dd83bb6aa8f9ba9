package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/postgres"
	"govx/internal/ratelimit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationSource is the API-key registry's schema (openapi_keys).
func MigrationSource() postgres.Source {
	return postgres.SourceDir("openapi-keys", migrations, "migrations")
}

// Status of a key.
type Status string

const (
	StatusActive  Status = "active"
	StatusRevoked Status = "revoked"
)

// Tiers every deployment has. Operators may configure more (Config.Tiers).
const (
	TierAnonymous  = "anonymous"  // no key, or a new key: the anonymous limit
	TierRegistered = "registered" // a key an operator raised
)

// Key is a registered API key. The secret is not part of it: only its hash
// is stored, and it is shown once, when the key is created.
type Key struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	Purpose string `json:"purpose"`
	Tier    string `json:"tier"`
	// Limit is an operator's override of the tier's limit; nil when none.
	Limit     *ratelimit.Limit `json:"-"`
	Status    Status           `json:"status"`
	CreatedAt time.Time        `json:"created_at"`
	RevokedAt *time.Time       `json:"revoked_at,omitempty"`
	RevokedBy string           `json:"revoked_by,omitempty"`

	secretHash []byte
}

// Registration is what a third party tells us to get a key.
type Registration struct {
	Name    string `json:"name"`
	Email   string `json:"email"`
	Purpose string `json:"purpose"`
}

var tierPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

func (reg *Registration) validate() error {
	reg.Name = strings.TrimSpace(reg.Name)
	reg.Email = strings.TrimSpace(reg.Email)
	reg.Purpose = strings.TrimSpace(reg.Purpose)
	invalid := func(code, msg string) error { return govx.Errorf(govx.KindInvalid, code, "%s", msg) }
	switch n := utf8.RuneCountInString(reg.Name); {
	case n == 0:
		return invalid("name_required", "name is required")
	case n > 200 || len(reg.Name) > 800:
		return invalid("name_invalid", "name is longer than 200 characters")
	}
	if reg.Email == "" {
		return invalid("email_required", "email is required")
	}
	if a, err := mail.ParseAddress(reg.Email); err != nil || a.Address != reg.Email || len(reg.Email) > 254 {
		return invalid("email_invalid", "email must be a plain address like dev@example.org")
	}
	switch n := utf8.RuneCountInString(reg.Purpose); {
	case n == 0:
		return invalid("purpose_required", "purpose is required: say what the data will be used for")
	case n > 2000 || len(reg.Purpose) > 8000:
		return invalid("purpose_invalid", "purpose is longer than 2000 characters")
	}
	return nil
}

// Store is the API-key registry in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns the registry on pool; the openapi-keys migrations must
// have been applied.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const keyColumns = `id, secret_hash, name, email, purpose, tier, rate, period_ms, burst, status, created_at, revoked_at, coalesce(revoked_by, '')`

func scanKey(row pgx.Row) (*Key, error) {
	var (
		k                     Key
		rate, periodMS, burst *int32
	)
	if err := row.Scan(&k.ID, &k.secretHash, &k.Name, &k.Email, &k.Purpose, &k.Tier, &rate, &periodMS, &burst,
		&k.Status, &k.CreatedAt, &k.RevokedAt, &k.RevokedBy); err != nil {
		return nil, err
	}
	if rate != nil && periodMS != nil && burst != nil {
		k.Limit = &ratelimit.Limit{Rate: int(*rate), Period: time.Duration(*periodMS) * time.Millisecond, Burst: int(*burst)}
	}
	return &k, nil
}

// newID returns "k_" and 26 base32 characters (130 random bits): the public
// half of a key, safe to log.
func newID() string { return "k_" + strings.ToLower(rand.Text()) }

// newSecret returns 256 random bits, base64url.
func newSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// Create registers a key in the anonymous tier (until an operator raises
// it) and returns it with its secret, which is not kept and cannot be shown
// again.
func (s *Store) Create(ctx context.Context, reg Registration) (*Key, string, error) {
	const op = "apikeys.Store.Create"
	if err := reg.validate(); err != nil {
		return nil, "", govx.E(op, err)
	}
	secret := newSecret()
	k, err := scanKey(s.pool.QueryRow(ctx, `INSERT INTO openapi_keys.api_keys (id, secret_hash, name, email, purpose, tier)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+keyColumns, newID(), hashSecret(secret), reg.Name, reg.Email, reg.Purpose, TierAnonymous))
	if err != nil {
		return nil, "", postgres.Translate(op, err, "")
	}
	return k, secret, nil
}

// Key returns the key id, revoked or not.
func (s *Store) Key(ctx context.Context, id string) (*Key, error) {
	const op = "apikeys.Store.Key"
	if !validID(id) {
		return nil, govx.E(op, errNoKey(id))
	}
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyColumns+` FROM openapi_keys.api_keys WHERE id = $1`, id))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, govx.E(op, errNoKey(id))
		}
		return nil, postgres.Translate(op, err, "api_key_not_found")
	}
	return k, nil
}

func errNoKey(id string) error {
	return govx.Errorf(govx.KindNotFound, "api_key_not_found", "no API key %q", truncate(id, 40))
}

var idPattern = regexp.MustCompile(`^k_[a-z2-7]{26}$`)

func validID(id string) bool { return idPattern.MatchString(id) }

// Filter narrows a listing.
type Filter struct {
	Status Status // "" means any
	Email  string // case-insensitive; "" means any
	Limit  int    // default and maximum 1000
}

// Keys lists keys, newest first.
func (s *Store) Keys(ctx context.Context, f Filter) ([]Key, error) {
	const op = "apikeys.Store.Keys"
	switch f.Status {
	case "", StatusActive, StatusRevoked:
	default:
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_status", "status must be active or revoked"))
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 1000
	}
	rows, err := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM openapi_keys.api_keys
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR lower(email) = lower($2))
		ORDER BY created_at DESC, id LIMIT $3`, string(f.Status), f.Email, f.Limit)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	out := []Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		out = append(out, *k)
	}
	return out, postgres.Translate(op, rows.Err(), "")
}

// checkSecret returns k if secret is its secret. A wrong id (k nil) or
// secret is api_key_invalid; a revoked key is api_key_revoked, and only
// once the secret matched, so revocation is no oracle for guessed ids.
func checkSecret(op string, k *Key, secret string) (*Key, error) {
	want := make([]byte, sha256.Size)
	if k != nil {
		want = k.secretHash
	}
	// Hash and compare even for an unknown id, so timing says nothing.
	if subtle.ConstantTimeCompare(hashSecret(secret), want) != 1 || k == nil {
		return nil, govx.E(op, errInvalidKey())
	}
	if k.Status != StatusActive {
		return nil, govx.E(op, errRevoked(k.ID))
	}
	return k, nil
}

func errInvalidKey() error {
	return govx.Errorf(govx.KindUnauthenticated, CodeKeyInvalid, "the API key is not valid")
}

func errRevoked(id string) error {
	return govx.Errorf(govx.KindUnauthenticated, CodeKeyRevoked, "the API key %s has been revoked", id)
}

// Revoke revokes key id, recording who did. Revoking a revoked key is not
// an error: the key stays revoked as it was.
func (s *Store) Revoke(ctx context.Context, id, by string) (*Key, error) {
	const op = "apikeys.Store.Revoke"
	if !validID(id) {
		return nil, govx.E(op, errNoKey(id))
	}
	_, err := s.pool.Exec(ctx, `UPDATE openapi_keys.api_keys SET status = 'revoked', revoked_at = now(), revoked_by = $2
		WHERE id = $1 AND status = 'active'`, id, by)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	k, err := s.Key(ctx, id)
	return k, govx.E(op, err)
}

// SetLimit puts key id in tier and, if lim is not nil, gives it lim instead
// of the tier's limit (nil clears an override). Whether tier is configured
// is the caller's business (Service.SetLimit checks it).
func (s *Store) SetLimit(ctx context.Context, id, tier string, lim *ratelimit.Limit) (*Key, error) {
	const op = "apikeys.Store.SetLimit"
	if !validID(id) {
		return nil, govx.E(op, errNoKey(id))
	}
	if !tierPattern.MatchString(tier) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "tier_invalid", "tier %q is not a key tier", truncate(tier, 40)))
	}
	var rate, periodMS, burst *int64
	if lim != nil {
		if err := lim.Validate(); err != nil {
			return nil, govx.E(op, err)
		}
		if lim.Period%time.Millisecond != 0 {
			return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "limit_invalid", "period must be whole milliseconds"))
		}
		r, p, b := int64(lim.Rate), lim.Period.Milliseconds(), int64(lim.Burst)
		rate, periodMS, burst = &r, &p, &b
	}
	k, err := scanKey(s.pool.QueryRow(ctx, `UPDATE openapi_keys.api_keys SET tier = $2, rate = $3, period_ms = $4, burst = $5
		WHERE id = $1 RETURNING `+keyColumns, id, tier, rate, periodMS, burst))
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, govx.E(op, errNoKey(id))
		}
		return nil, postgres.Translate(op, err, "")
	}
	return k, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
