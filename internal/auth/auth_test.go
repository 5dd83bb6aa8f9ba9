package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx"
	"govx/internal/auth"
)

const (
	testIss = "https://idp.govx.test"
	testAud = "govx-exchange"
)

// t0 is "now" for every test that does not move the clock.
var t0 = time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC)

// clock is an injected, settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func MustKey(tb testing.TB) *auth.Key {
	tb.Helper()
	k, err := auth.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func MustVerifier(tb testing.TB, cfg auth.Config, keys ...*auth.Key) *auth.Verifier {
	tb.Helper()
	v, err := auth.NewVerifier(cfg, keys...)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func MustMint(tb testing.TB, k *auth.Key, spec auth.TokenSpec) string {
	tb.Helper()
	tok, err := k.Mint(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// MustSign signs claims with any method and key, setting kid unless empty:
// the way an attacker or a foreign issuer would.
func MustSign(tb testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.Claims) string {
	tb.Helper()
	t := jwt.NewWithClaims(m, claims)
	if kid != "" {
		t.Header["kid"] = kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func spec(now time.Time) auth.TokenSpec {
	return auth.TokenSpec{
		Issuer: testIss, Audience: testAud, Subject: "svc-market-1",
		Dept: "market-regulation", Role: "service",
		Scopes: []string{"population.identity", "enterprise.license"},
		TTL:    time.Hour, Now: now,
	}
}

func config(now func() time.Time) auth.Config {
	return auth.Config{Issuer: testIss, Audience: testAud, Now: now}
}

// validClaims are well-formed claims for tokens built by hand.
func validClaims() *auth.Claims {
	return &auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: testIss, Subject: "svc", Audience: jwt.ClaimStrings{testAud},
			IssuedAt: jwt.NewNumericDate(t0), NotBefore: jwt.NewNumericDate(t0),
			ExpiresAt: jwt.NewNumericDate(t0.Add(time.Hour)),
		},
		Scope: "population.identity",
	}
}

// wantAuthErr checks that err is a govx Unauthenticated error with code, and,
// when cause is set, that the cause is in its chain.
func wantAuthErr(t *testing.T, err error, code string, cause error) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want code %q", code)
	}
	var ge *govx.Error
	if !errors.As(err, &ge) {
		t.Fatalf("err = %T %v, want *govx.Error", err, err)
	}
	if ge.Kind != govx.KindUnauthenticated || ge.Code != code {
		t.Fatalf("err = %v/%q (%v), want Unauthenticated/%q", ge.Kind, ge.Code, err, code)
	}
	if msg := govx.ErrorMessage(err); msg == "" || strings.Contains(msg, "jwt") {
		t.Errorf("caller message %q is empty or leaks internals", msg)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Errorf("err = %v, want %v in chain", err, cause)
	}
}

func TestVerify(t *testing.T) {
	key := MustKey(t)
	other := MustKey(t)
	v := MustVerifier(t, config(func() time.Time { return t0 }), key)

	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(key.Public))})
	rsaKey := must(rsa.GenerateKey(rand.Reader, 2048))
	ecKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))

	valid := MustMint(t, key, spec(t0))
	tampered := func() string {
		parts := strings.Split(valid, ".")
		payload := must(base64.RawURLEncoding.DecodeString(parts[1]))
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			t.Fatal(err)
		}
		m["scope"] = m["scope"].(string) + " tax.records"
		parts[1] = base64.RawURLEncoding.EncodeToString(must(json.Marshal(m)))
		return strings.Join(parts, ".")
	}()
	noneToken := MustSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, key.ID, validClaims())
	withClaims := func(f func(c *auth.Claims)) *auth.Claims {
		c := validClaims()
		f(c)
		return c
	}

	tests := []struct {
		name  string
		token string
		code  string // "" means valid
		cause error  // optional: must be in the error chain
		msg   string // optional: caller-facing message
	}{
		{name: "valid", token: valid},
		{name: "valid without kid (single key)", token: MustSign(t, jwt.SigningMethodEdDSA, key.Private, "", validClaims())},
		{name: "valid with several audiences", token: MustSign(t, jwt.SigningMethodEdDSA, key.Private, key.ID,
			withClaims(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"other", testAud} }))},
		{name: "expired within leeway", token: MustMint(t, key, spec(t0.Add(-time.Hour-10*time.Second)))},
		{name: "expired", token: MustMint(t, key, spec(t0.Add(-2*time.Hour))),
			code: auth.CodeTokenExpired, cause: jwt.ErrTokenExpired, msg: "token has expired"},
		{name: "expired and wrong issuer", token: MustSign(t, jwt.SigningMethodEdDSA, key.Private, key.ID,
			withClaims(func(c *auth.Claims) {
				c.Issuer = "https://evil.test"
				c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Hour))
			})),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenInvalidIssuer},
		// Expiry is only news about a token we signed.
		{name: "expired and signed by another key", token: MustSign(t, jwt.SigningMethodEdDSA, other.Private, key.ID,
			withClaims(func(c *auth.Claims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Hour)) })),
			code: auth.CodeTokenInvalid, cause: jwt.ErrEd25519Verification},
		{name: "not yet valid", token: MustMint(t, key, spec(t0.Add(time.Hour))),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenNotValidYet, msg: "token is not valid yet"},
		{name: "not yet valid within leeway", token: MustMint(t, key, spec(t0.Add(20*time.Second)))},
		{name: "wrong issuer", token: MustMint(t, key, func() auth.TokenSpec { s := spec(t0); s.Issuer = "https://evil.test"; return s }()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenInvalidIssuer, msg: "token issuer is not accepted"},
		{name: "missing issuer", token: MustSign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, withClaims(func(c *auth.Claims) { c.Issuer = "" })),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "wrong audience", token: MustMint(t, key, func() auth.TokenSpec { s := spec(t0); s.Audience = "other-bus"; return s }()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenInvalidAudience, msg: "token audience is not accepted"},
		{name: "missing audience", token: MustSign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, withClaims(func(c *auth.Claims) { c.Audience = nil })),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenRequiredClaimMissing},
		{name: "missing exp", token: MustSign(t, jwt.SigningMethodEdDSA, key.Private, key.ID, withClaims(func(c *auth.Claims) { c.ExpiresAt = nil })),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenRequiredClaimMissing, msg: "token is missing a required claim"},
		{name: "issued in the future", token: MustSign(t, jwt.SigningMethodEdDSA, key.Private, key.ID,
			withClaims(func(c *auth.Claims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(10 * time.Minute)) })),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenUsedBeforeIssued},
		{name: "alg none", token: noneToken,
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenSignatureInvalid, msg: "token signature is invalid"},
		{name: "alg none without signature part", token: strings.TrimSuffix(noneToken, "."),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenMalformed},
		{name: "HS256 signed with public key bytes", token: MustSign(t, jwt.SigningMethodHS256, []byte(key.Public), key.ID, validClaims()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenSignatureInvalid},
		{name: "HS256 signed with public key PEM", token: MustSign(t, jwt.SigningMethodHS256, pubPEM, key.ID, validClaims()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenSignatureInvalid},
		{name: "HS256 without kid", token: MustSign(t, jwt.SigningMethodHS256, []byte(key.Public), "", validClaims()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenSignatureInvalid},
		{name: "RS256", token: MustSign(t, jwt.SigningMethodRS256, rsaKey, key.ID, validClaims()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenSignatureInvalid},
		{name: "ES256", token: MustSign(t, jwt.SigningMethodES256, ecKey, key.ID, validClaims()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenSignatureInvalid},
		{name: "signed by another key under our kid", token: MustSign(t, jwt.SigningMethodEdDSA, other.Private, key.ID, validClaims()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrEd25519Verification, msg: "token signature is invalid"},
		{name: "signed by another key under its own kid", token: MustMint(t, other, spec(t0)),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenUnverifiable, msg: "token signing key is unknown"},
		{name: "signed by another key without kid", token: MustSign(t, jwt.SigningMethodEdDSA, other.Private, "", validClaims()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrEd25519Verification},
		{name: "unknown kid", token: MustSign(t, jwt.SigningMethodEdDSA, key.Private, "no-such-key", validClaims()),
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenUnverifiable, msg: "token signing key is unknown"},
		{name: "garbage", token: "this is not a token",
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenMalformed, msg: "token is malformed"},
		{name: "three garbage segments", token: "a.b.c",
			code: auth.CodeTokenInvalid, cause: jwt.ErrTokenMalformed},
		{name: "tampered payload", token: tampered,
			code: auth.CodeTokenInvalid, cause: jwt.ErrEd25519Verification, msg: "token signature is invalid"},
		{name: "truncated signature", token: valid[:len(valid)-4],
			code: auth.CodeTokenInvalid},
		{name: "empty", token: "", code: auth.CodeTokenMissing},
		{name: "too large", token: valid + strings.Repeat("A", auth.MaxTokenSize),
			code: auth.CodeTokenInvalid, msg: "token is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the second call may be answered by the cache, and must
			// answer the same.
			for i := range 2 {
				c, err := v.Verify(tt.token)
				if tt.code == "" {
					if err != nil {
						t.Fatalf("call %d: Verify: %v", i, err)
					}
					if c.Issuer != testIss || !slices.Contains(c.Audience, testAud) || c.ExpiresAt == nil {
						t.Fatalf("call %d: claims = %+v", i, c)
					}
					continue
				}
				if c != nil {
					t.Errorf("call %d: claims = %+v, want nil", i, c)
				}
				wantAuthErr(t, err, tt.code, tt.cause)
				if tt.msg != "" {
					if got := govx.ErrorMessage(err); got != tt.msg {
						t.Errorf("message = %q, want %q", got, tt.msg)
					}
				}
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	key := MustKey(t)
	v := MustVerifier(t, config(func() time.Time { return t0 }), key)
	tok := MustMint(t, key, spec(t0))
	for i := range 2 { // cold, then cached
		c, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != "svc-market-1" || c.Dept != "market-regulation" || c.Role != "service" ||
			c.Scope != "population.identity enterprise.license" || c.ID == "" ||
			!c.IssuedAt.Equal(t0) || !c.NotBefore.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("call %d: claims = %+v", i, c)
		}
		// The caller owns what it gets back.
		c.Scope = "everything"
		c.Audience[0] = "other"
		c.ExpiresAt.Time = t0.Add(100 * time.Hour)
	}
}

func TestVerifySeveralKeys(t *testing.T) {
	k1, k2 := MustKey(t), MustKey(t)
	v := MustVerifier(t, config(func() time.Time { return t0 }), k1, auth.PublicKey(k2.Public))
	for _, k := range []*auth.Key{k1, k2} {
		if _, err := v.Verify(MustMint(t, k, spec(t0))); err != nil {
			t.Errorf("token of %s: %v", k, err)
		}
	}
	// Without a kid, which key is meant is ambiguous.
	_, err := v.Verify(MustSign(t, jwt.SigningMethodEdDSA, k1.Private, "", validClaims()))
	wantAuthErr(t, err, auth.CodeTokenInvalid, jwt.ErrTokenUnverifiable)
}

func TestVerifyCacheExpiry(t *testing.T) {
	key := MustKey(t)
	clk := &clock{t: t0}
	v := MustVerifier(t, config(clk.Now), key)
	tok := MustMint(t, key, spec(t0)) // exp = t0+1h

	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	if n := auth.CacheLen(v); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1", n)
	}
	// At exp the cache must step aside; the leeway still lets it through
	// verification, but it must not go back into the cache.
	clk.Set(t0.Add(time.Hour))
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	if n := auth.CacheLen(v); n != 0 {
		t.Fatalf("cache holds %d tokens after exp, want 0", n)
	}
	clk.Set(t0.Add(time.Hour + time.Minute))
	_, err := v.Verify(tok)
	wantAuthErr(t, err, auth.CodeTokenExpired, jwt.ErrTokenExpired)
}

func TestVerifyNoLeeway(t *testing.T) {
	key := MustKey(t)
	cfg := config(func() time.Time { return t0 })
	cfg.Leeway = -1
	v := MustVerifier(t, cfg, key)
	_, err := v.Verify(MustMint(t, key, spec(t0.Add(-time.Hour))))
	wantAuthErr(t, err, auth.CodeTokenExpired, jwt.ErrTokenExpired)
}

func TestVerifyCacheBounded(t *testing.T) {
	key := MustKey(t)
	cfg := config(func() time.Time { return t0 })
	cfg.CacheSize = 8
	v := MustVerifier(t, cfg, key)
	for i := range 50 {
		s := spec(t0)
		s.Subject = fmt.Sprint("svc-", i)
		if _, err := v.Verify(MustMint(t, key, s)); err != nil {
			t.Fatal(err)
		}
		if n := auth.CacheLen(v); n < 1 || n > 8 {
			t.Fatalf("after %d tokens the cache holds %d, want 1..8", i+1, n)
		}
	}
}

func TestVerifyCacheDisabled(t *testing.T) {
	key := MustKey(t)
	cfg := config(func() time.Time { return t0 })
	cfg.CacheSize = -1
	v := MustVerifier(t, cfg, key)
	tok := MustMint(t, key, spec(t0))
	for range 2 {
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := auth.CacheLen(v); n != 0 {
		t.Fatalf("disabled cache holds %d tokens", n)
	}
}

// TestVerifyConcurrent is for the race detector.
func TestVerifyConcurrent(t *testing.T) {
	key := MustKey(t)
	cfg := config(func() time.Time { return t0 })
	cfg.CacheSize = 16
	v := MustVerifier(t, cfg, key)
	toks := make([]string, 40)
	for i := range toks {
		s := spec(t0)
		s.Subject = fmt.Sprint("svc-", i)
		toks[i] = MustMint(t, key, s)
	}
	bad := MustMint(t, MustKey(t), spec(t0))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tok := toks[(g*7+i)%len(toks)]
				c, err := v.Verify(tok)
				if err != nil {
					t.Errorf("Verify: %v", err)
					return
				}
				c.Scope = "mutated" // must not reach other goroutines
				if _, err := v.Verify(bad); govx.ErrorCode(err) != auth.CodeTokenInvalid {
					t.Errorf("bad token: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	c, err := v.Verify(toks[0])
	if err != nil || c.Scope != "population.identity enterprise.license" {
		t.Fatalf("claims = %+v, %v", c, err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  auth.Config
		ok   bool
	}{
		{"complete", auth.Config{Issuer: testIss, Audience: testAud}, true},
		{"no issuer", auth.Config{Audience: testAud}, false},
		{"no audience", auth.Config{Issuer: testIss}, false},
		{"leeway too large", auth.Config{Issuer: testIss, Audience: testAud, Leeway: time.Hour}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if tt.cfg.Leeway != auth.DefaultLeeway || tt.cfg.CacheSize != auth.DefaultCacheSize || tt.cfg.Now == nil {
					t.Fatalf("defaults not filled: %+v", tt.cfg)
				}
				return
			}
			if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) != "config_invalid" {
				t.Fatalf("err = %v, want Invalid/config_invalid", err)
			}
		})
	}
	t.Run("negative values survive revalidation", func(t *testing.T) {
		cfg := auth.Config{Issuer: testIss, Audience: testAud, Leeway: -1, CacheSize: -1}
		for range 2 {
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
		}
		if cfg.Leeway != -1 || cfg.CacheSize != -1 {
			t.Fatalf("cfg = %+v", cfg)
		}
	})
}

func TestNewVerifierRejects(t *testing.T) {
	k := MustKey(t)
	cfg := config(nil)
	tests := []struct {
		name string
		keys []*auth.Key
	}{
		{"no keys", nil},
		{"nil key", []*auth.Key{nil}},
		{"empty key", []*auth.Key{{ID: "x"}}},
		{"duplicate key", []*auth.Key{k, k}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewVerifier(cfg, tt.keys...)
			if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) != "config_invalid" {
				t.Fatalf("err = %v, want Invalid/config_invalid", err)
			}
		})
	}
	if _, err := auth.NewVerifier(auth.Config{Audience: testAud}, k); govx.ErrorCode(err) != "config_invalid" {
		t.Fatalf("no issuer: err = %v", err)
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		name  string
		scope string
		want  []string
	}{
		{"empty", "", nil},
		{"one", "population.identity", []string{"population.identity"}},
		{"two", "population.identity enterprise.license", []string{"population.identity", "enterprise.license"}},
		{"extra whitespace", "  population.identity \t enterprise.license  ", []string{"population.identity", "enterprise.license"}},
		{"only whitespace", "   ", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &auth.Claims{Scope: tt.scope}
			if got := c.Scopes(); !slices.Equal(got, tt.want) {
				t.Fatalf("Scopes() = %q, want %q", got, tt.want)
			}
			for _, s := range tt.want {
				if !c.HasScope(s) {
					t.Errorf("HasScope(%q) = false", s)
				}
			}
		})
	}

	c := &auth.Claims{Scope: "population.identity enterprise.license"}
	for _, s := range []string{"", "population", "identity", "population.identity enterprise.license", "enterprise.licence"} {
		if c.HasScope(s) {
			t.Errorf("HasScope(%q) = true, want false", s)
		}
	}
}

func TestMint(t *testing.T) {
	key := MustKey(t)
	tok := MustMint(t, key, spec(t0))

	// Header: kid and alg, read without trusting the token.
	var c auth.Claims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &c)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "EdDSA" || parsed.Header["kid"] != key.ID {
		t.Fatalf("header = %v", parsed.Header)
	}
	if c.ID == "" || c.Issuer != testIss || !slices.Equal(c.Audience, []string{testAud}) {
		t.Fatalf("claims = %+v", c)
	}
	if tok2 := MustMint(t, key, spec(t0)); tok2 == tok {
		t.Fatal("two mints gave the same token; jti is not unique")
	}

	bad := []struct {
		name string
		key  *auth.Key
		edit func(*auth.TokenSpec)
	}{
		{"no issuer", key, func(s *auth.TokenSpec) { s.Issuer = "" }},
		{"no audience", key, func(s *auth.TokenSpec) { s.Audience = "" }},
		{"negative TTL", key, func(s *auth.TokenSpec) { s.TTL = -time.Second }},
		{"scope with space", key, func(s *auth.TokenSpec) { s.Scopes = []string{"a b"} }},
		{"empty scope", key, func(s *auth.TokenSpec) { s.Scopes = []string{""} }},
		{"public key only", auth.PublicKey(key.Public), func(*auth.TokenSpec) {}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			s := spec(t0)
			tt.edit(&s)
			_, err := tt.key.Mint(s)
			if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) != "token_spec_invalid" {
				t.Fatalf("err = %v, want Invalid/token_spec_invalid", err)
			}
		})
	}

	t.Run("default TTL", func(t *testing.T) {
		s := spec(t0)
		s.TTL = 0
		var c auth.Claims
		if _, _, err := jwt.NewParser().ParseUnverified(MustMint(t, key, s), &c); err != nil {
			t.Fatal(err)
		}
		if got := c.ExpiresAt.Sub(t0); got != auth.DefaultTTL {
			t.Fatalf("TTL = %v, want %v", got, auth.DefaultTTL)
		}
	})
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k1, err := auth.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, auth.KeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode = %v, want 0700", di.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(data); b == nil || b.Type != "PRIVATE KEY" {
		t.Fatalf("key file is not a PKCS#8 PEM:\n%s", data)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("dir holds %d files, want only the key", len(ents))
	}

	k2, err := auth.LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k2.ID != k1.ID || !k2.Private.Equal(k1.Private) || !k2.Public.Equal(k1.Public) {
		t.Fatalf("second load gave %s, want %s", k2, k1)
	}
	if k1.ID != auth.Thumbprint(k1.Public) {
		t.Fatalf("ID %q is not the thumbprint", k1.ID)
	}

	// A token minted with the first load verifies with the second.
	v := MustVerifier(t, config(func() time.Time { return t0 }), auth.PublicKey(k2.Public))
	if _, err := v.Verify(MustMint(t, k1, spec(t0))); err != nil {
		t.Fatal(err)
	}

	t.Run("concurrent creators agree", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "keys")
		ids := make([]string, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				k, err := auth.LoadOrCreateKey(dir)
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = k.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("ids = %q, want all equal", ids)
			}
		}
	})

	t.Run("corrupt file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, auth.KeyFile), []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := auth.LoadOrCreateKey(dir); err == nil || govx.ErrorKind(err) != govx.KindInternal {
			t.Fatalf("err = %v, want an Internal error", err)
		}
		// and it was not replaced
		if data, _ := os.ReadFile(filepath.Join(dir, auth.KeyFile)); string(data) != "not a key" {
			t.Fatal("corrupt key file was overwritten")
		}
	})
}

// TestThumbprint checks against RFC 8037 appendix A.1 and A.3.
func TestThumbprint(t *testing.T) {
	d := must(base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"))
	k := auth.NewKey(ed25519.NewKeyFromSeed(d))
	if x := base64.RawURLEncoding.EncodeToString(k.Public); x != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" {
		t.Fatalf("x = %s", x)
	}
	if k.ID != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("thumbprint = %s", k.ID)
	}
}

func TestKeyDoesNotPrintPrivate(t *testing.T) {
	k := MustKey(t)
	secret := base64.StdEncoding.EncodeToString(k.Private)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(f, k)
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprint([]byte(k.Private))) || !strings.Contains(out, k.ID) {
			t.Errorf("%s prints %q", f, out)
		}
	}
}

// jwksDoc decodes a JWKS, refusing members we do not expect.
func jwksDoc(t *testing.T, data []byte) []map[string]string {
	t.Helper()
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("JWKS %s: %v", data, err)
	}
	return doc.Keys
}

func TestJWKS(t *testing.T) {
	k := MustKey(t)
	data, err := k.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	keys := jwksDoc(t, data)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys: %s", len(keys), data)
	}
	got := keys[0]
	want := map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": k.ID, "alg": "EdDSA", "use": "sig", "x": got["x"]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("JWK = %v, want %v", got, want)
	}
	x, err := base64.RawURLEncoding.DecodeString(got["x"])
	if err != nil {
		t.Fatalf("x is not base64url without padding: %v", err)
	}
	if !ed25519.PublicKey(x).Equal(k.Public) {
		t.Fatal("x does not decode to the public key")
	}
	if strings.Contains(string(data), `"d"`) {
		t.Fatalf("JWKS leaks the private key: %s", data)
	}
}

func TestJWKSHandler(t *testing.T) {
	k1, k2 := MustKey(t), MustKey(t)
	v := MustVerifier(t, config(nil), k1, k2)
	h := v.JWKSHandler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("Cache-Control = %q", cc)
	}
	keys := jwksDoc(t, rec.Body.Bytes())
	if len(keys) != 2 || keys[0]["kid"] != k1.ID || keys[1]["kid"] != k2.ID {
		t.Fatalf("keys = %v", keys)
	}
	for i, k := range []*auth.Key{k1, k2} {
		if x := must(base64.RawURLEncoding.DecodeString(keys[i]["x"])); !k.Public.Equal(ed25519.PublicKey(x)) {
			t.Errorf("key %d: x does not decode to the public key", i)
		}
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/.well-known/jwks.json", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") == "" {
		t.Fatalf("POST: status = %d, Allow = %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		headers []string // Authorization header values
		want    string
		code    string
	}{
		{name: "valid", headers: []string{"Bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "lower-case scheme", headers: []string{"bearer abc.def.ghi"}, want: "abc.def.ghi"},
		{name: "extra spaces", headers: []string{"  Bearer   abc.def.ghi  "}, want: "abc.def.ghi"},
		{name: "no header", code: auth.CodeTokenMissing},
		{name: "empty header", headers: []string{""}, code: auth.CodeTokenMissing},
		{name: "basic auth", headers: []string{"Basic dXNlcjpwYXNz"}, code: auth.CodeTokenMissing},
		{name: "scheme only", headers: []string{"Bearer"}, code: auth.CodeTokenMissing},
		{name: "scheme and space", headers: []string{"Bearer "}, code: auth.CodeTokenMissing},
		{name: "no scheme", headers: []string{"abc.def.ghi"}, code: auth.CodeTokenMissing},
		{name: "scheme prefix only", headers: []string{"Bearerabc.def.ghi"}, code: auth.CodeTokenMissing},
		{name: "token with space", headers: []string{"Bearer abc def"}, code: auth.CodeTokenInvalid},
		{name: "two headers", headers: []string{"Bearer a.b.c", "Bearer d.e.f"}, code: auth.CodeTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			got, err := auth.BearerToken(r)
			if tt.code != "" {
				if got != "" {
					t.Errorf("token = %q, want none", got)
				}
				wantAuthErr(t, err, tt.code, nil)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("BearerToken = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// FuzzVerify checks that no input panics Verify or earns anything but a
// clean answer.
func FuzzVerify(f *testing.F) {
	key := MustKey(f)
	v := MustVerifier(f, config(func() time.Time { return t0 }), key)
	valid := MustMint(f, key, spec(t0))
	for _, s := range []string{valid, "", "a.b.c", "e30.e30.", valid + "x", strings.ToUpper(valid), "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	codes := []string{auth.CodeTokenMissing, auth.CodeTokenExpired, auth.CodeTokenInvalid}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok)
		if err != nil {
			if govx.ErrorKind(err) != govx.KindUnauthenticated || !slices.Contains(codes, govx.ErrorCode(err)) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		if c.Issuer != testIss || !slices.Contains(c.Audience, testAud) {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	key := MustKey(b)
	now := time.Now()
	tok := MustMint(b, key, spec(now))
	for _, bc := range []struct {
		name      string
		cacheSize int
	}{{"cold", -1}, {"cached", 0}} {
		cfg := config(nil)
		cfg.CacheSize = bc.cacheSize
		v := MustVerifier(b, cfg, key)
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
