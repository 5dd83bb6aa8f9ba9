package catalog

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"govx"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

// AlgEd25519 is the only signature algorithm department keys use (RFC 8032,
// pure Ed25519).
const AlgEd25519 = "Ed25519"

// DepartmentKey is the public half of a key a department signs with, for
// instance a licence issuer's electronic seal. Consumers fetch a
// department's keys once and verify its signed records offline.
type DepartmentKey struct {
	Department string
	KeyID      string // unique within the department; what a signature names
	Algorithm  string // AlgEd25519
	PublicKey  ed25519.PublicKey
	CreatedAt  time.Time
	RetiredAt  *time.Time // signs nothing after this; still verifies what it signed before
}

var (
	departmentCodeRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)
	keyIDRE          = regexp.MustCompile(`^[A-Za-z0-9._~:#-]{1,128}$`)
)

// PutDepartmentKey registers a department's public key. Registering the
// same key again is a no-op, apart from setting RetiredAt when given (a key
// is retired by registering it with RetiredAt; it is never un-retired). A
// key id the department already uses for another key is KindConflict
// ("key_id_taken"): a key id always names one key, or signatures made with
// it would verify against the wrong key. An unknown department is
// KindNotFound ("department_not_found").
func (s *Store) PutDepartmentKey(ctx context.Context, k DepartmentKey) error {
	const op = "catalog.PutDepartmentKey"
	switch {
	case !departmentCodeRE.MatchString(k.Department):
		return govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_department_code", "a department code is 2 to 63 lower-case letters, digits and dashes"))
	case !keyIDRE.MatchString(k.KeyID):
		return govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_key_id", "a key id is 1 to 128 characters of A–Z a–z 0–9 . _ ~ : # -"))
	case k.Algorithm != "" && k.Algorithm != AlgEd25519:
		return govx.E(op, govx.Errorf(govx.KindInvalid, "unsupported_algorithm", "department keys are Ed25519, not %q", k.Algorithm))
	case len(k.PublicKey) != ed25519.PublicKeySize:
		return govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_public_key", "an Ed25519 public key has %d bytes, got %d", ed25519.PublicKeySize, len(k.PublicKey)))
	}
	created := k.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	// The update applies only when the stored key is the same key, so a
	// clash of key ids returns no row.
	var one int
	err := s.pool.QueryRow(ctx, `INSERT INTO catalog.department_keys
		(department_code, key_id, algorithm, public_key, created_at, retired_at)
		VALUES ($1, $2, 'Ed25519', $3, $4, $5)
		ON CONFLICT (department_code, key_id) DO UPDATE
			SET retired_at = COALESCE(catalog.department_keys.retired_at, EXCLUDED.retired_at)
			WHERE catalog.department_keys.public_key = EXCLUDED.public_key
		RETURNING 1`, k.Department, k.KeyID, []byte(k.PublicKey), created, k.RetiredAt).Scan(&one)
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return &govx.Error{Kind: govx.KindConflict, Code: "key_id_taken", Op: op,
			Message: "department " + k.Department + " already has another key with id " + k.KeyID}
	case errors.As(err, &pe) && pe.Code == "23503":
		return &govx.Error{Kind: govx.KindNotFound, Code: "department_not_found", Op: op,
			Message: "no department " + k.Department + " in the catalogue", Err: err}
	}
	return postgres.Translate(op, err, "")
}

// DepartmentKeys lists a department's keys, retired ones included, oldest
// first. A department that is not in the catalogue is KindNotFound
// ("department_not_found"); one without keys has an empty list.
func (s *Store) DepartmentKeys(ctx context.Context, department string) ([]DepartmentKey, error) {
	const op = "catalog.DepartmentKeys"
	if !departmentCodeRE.MatchString(department) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_department_code", "a department code is 2 to 63 lower-case letters, digits and dashes"))
	}
	rows, err := s.pool.Query(ctx, `SELECT d.code, k.key_id, k.algorithm, k.public_key, k.created_at, k.retired_at
		FROM catalog.departments d LEFT JOIN catalog.department_keys k ON k.department_code = d.code
		WHERE d.code = $1 ORDER BY k.created_at, k.key_id`, department)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	found := false
	out := []DepartmentKey{}
	for rows.Next() {
		found = true
		var k DepartmentKey
		var id, alg *string
		var pub []byte
		var created *time.Time
		if err := rows.Scan(&k.Department, &id, &alg, &pub, &created, &k.RetiredAt); err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		if id == nil { // the department, without keys
			continue
		}
		k.KeyID, k.Algorithm, k.PublicKey, k.CreatedAt = *id, *alg, ed25519.PublicKey(pub), created.UTC()
		if k.RetiredAt != nil {
			t := k.RetiredAt.UTC()
			k.RetiredAt = &t
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if !found {
		return nil, &govx.Error{Kind: govx.KindNotFound, Code: "department_not_found", Op: op,
			Message: "no department " + department + " in the catalogue"}
	}
	return out, nil
}

// JWK is a department key as a JSON Web Key (RFC 7517; OKP keys of RFC
// 8037). RetiredAt is an extension member: the key signs nothing after it.
type JWK struct {
	Kty       string `json:"kty"` // "OKP"
	Crv       string `json:"crv"` // "Ed25519"
	X         string `json:"x"`   // the public key, base64url without padding
	Kid       string `json:"kid"`
	Alg       string `json:"alg"` // "EdDSA"
	Use       string `json:"use"` // "sig"
	RetiredAt string `json:"retired_at,omitempty"`
}

// JWKSet is a JSON Web Key Set.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// NewJWK returns k as a JWK.
func NewJWK(k DepartmentKey) JWK {
	j := JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.PublicKey), Kid: k.KeyID, Alg: "EdDSA", Use: "sig"}
	if k.RetiredAt != nil {
		j.RetiredAt = k.RetiredAt.UTC().Format(time.RFC3339)
	}
	return j
}

// PublicKey returns the Ed25519 key j holds, or KindInvalid
// ("invalid_jwk") when j is not an Ed25519 signing key.
func (j JWK) PublicKey() (ed25519.PublicKey, error) {
	if j.Kty != "OKP" || j.Crv != "Ed25519" {
		return nil, govx.Errorf(govx.KindInvalid, "invalid_jwk", "key %q is %s/%s, not OKP/Ed25519", j.Kid, j.Kty, j.Crv)
	}
	b, err := base64.RawURLEncoding.DecodeString(j.X)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, govx.Errorf(govx.KindInvalid, "invalid_jwk", "key %q does not hold a %d-byte Ed25519 public key", j.Kid, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// KeysPath is the route of NewKeysHandler.
const KeysPath = "GET /v1/catalog/departments/{code}/keys"

// NewKeysHandler serves GET /v1/catalog/departments/{code}/keys: the
// department's public keys as a JSON Web Key Set. It needs no token: the
// keys are public, and a consumer must be able to fetch them to verify a
// signed record offline. Answers may be cached for five minutes; a new key
// is registered before it signs anything. An unknown department is 404
// department_not_found; every answer carries an X-Request-Id. The route is
// documented in the catalogue API's OpenAPI document.
func NewKeysHandler(s *Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(KeysPath, func(w http.ResponseWriter, r *http.Request) {
		var b [16]byte
		rand.Read(b[:])
		requestID := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", requestID)
		keys, err := s.DepartmentKeys(r.Context(), r.PathValue("code"))
		if err != nil {
			httpx.WriteError(w, slog.Default(), requestID, err)
			return
		}
		set := JWKSet{Keys: make([]JWK, len(keys))}
		for i, k := range keys {
			set.Keys[i] = NewJWK(k)
		}
		body, err := json.Marshal(set)
		if err != nil {
			httpx.WriteError(w, slog.Default(), requestID, govx.E("catalog.keys", err))
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(append(body, '\n'))
	})
	mux.Handle("/", httpx.NotFound(nil))
	return mux
}
