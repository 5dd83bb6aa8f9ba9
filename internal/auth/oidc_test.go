package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx/internal/auth"
)

// idp is an OpenID Connect provider run inside the test: it serves its
// discovery document and JWKS and mints RS256 tokens.
type idp struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	keys   map[string]*rsa.PrivateKey
	listed []string // kids published in the JWKS
	jwks   int      // JWKS fetches
}

func newIDP(t *testing.T) *idp {
	p := &idp{t: t, keys: map[string]*rsa.PrivateKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.jwks++
		var keys []map[string]string
		for _, kid := range p.listed {
			pub := p.keys[kid].PublicKey
			keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
				"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())})
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// publish makes kids the published keys, creating those that are new.
func (p *idp) publish(kids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, kid := range kids {
		if p.keys[kid] == nil {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				p.t.Fatal(err)
			}
			p.keys[kid] = k
		}
	}
	p.listed = slices.Clone(kids)
}

func (p *idp) fetches() int { p.mu.Lock(); defer p.mu.Unlock(); return p.jwks }

// mint signs claims with the key kid; iss, aud, iat and exp default to a
// good one-hour token at now.
func (p *idp) mint(kid string, now time.Time, claims jwt.MapClaims) string {
	p.t.Helper()
	c := jwt.MapClaims{"iss": p.srv.URL, "aud": "govx-client", "sub": "user-42",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	p.mu.Lock()
	key := p.keys[kid]
	p.mu.Unlock()
	return MustSign(p.t, jwt.SigningMethodRS256, key, kid, c)
}

func TestOIDC(t *testing.T) {
	p := newIDP(t)
	p.publish("k1")
	clk := &clock{t: t0}
	local := MustKey(t)
	cfg := config(clk.Now)
	cfg.OIDC = &auth.OIDCConfig{Issuer: p.srv.URL, Audience: "govx-client", MinRefreshInterval: 30 * time.Second,
		RefreshInterval: time.Hour, Claims: auth.ClaimMapping{
			Dept:        "https://id.gov.test/org",
			Role:        "groups",
			RoleValues:  map[string]string{"govx-clerks": "clerk", "govx-stewards": "steward"},
			Scope:       "scp",
			ScopeValues: map[string]string{"read:population": "population.identity", "openid": ""},
			DeptValues:  map[string]string{"SAMR": "market-regulation"},
		}}
	v := MustVerifier(t, cfg, local)

	claims := jwt.MapClaims{"https://id.gov.test/org": "SAMR", "groups": []string{"staff", "govx-clerks"},
		"scp": "openid read:population"}
	got, err := v.Verify(p.mint("k1", t0, claims))
	if err != nil {
		t.Fatalf("a provider's token: %v", err)
	}
	if got.Subject != "user-42" || got.Dept != "market-regulation" || got.Role != "clerk" || got.Scope != "population.identity" {
		t.Errorf("mapped claims = sub %q dept %q role %q scope %q", got.Subject, got.Dept, got.Role, got.Scope)
	}
	t.Run("local key still verifies", func(t *testing.T) {
		if _, err := v.Verify(MustMint(t, local, spec(t0))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("array scope", func(t *testing.T) {
		c, err := v.Verify(p.mint("k1", t0, jwt.MapClaims{"scp": []string{"read:population", "write:anything"}}))
		if err != nil || c.Scope != "population.identity" || c.Dept != "" {
			t.Fatalf("claims %+v, err %v", c, err)
		}
	})
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		code   string
	}{
		{"wrong issuer", jwt.MapClaims{"iss": "https://evil.test"}, auth.CodeTokenInvalid},
		{"wrong audience", jwt.MapClaims{"aud": "another-client"}, auth.CodeTokenInvalid},
		{"expired", jwt.MapClaims{"iat": t0.Add(-2 * time.Hour).Unix(), "exp": t0.Add(-time.Hour).Unix()}, auth.CodeTokenExpired},
		{"expired beyond the skew", jwt.MapClaims{"iat": t0.Add(-time.Hour).Unix(), "exp": t0.Add(-61 * time.Second).Unix()}, auth.CodeTokenExpired},
		{"issued beyond the skew", jwt.MapClaims{"iat": t0.Add(61 * time.Second).Unix(), "exp": t0.Add(time.Hour).Unix()}, auth.CodeTokenInvalid},
		{"no subject", jwt.MapClaims{"sub": nil}, auth.CodeTokenInvalid},
		{"lives too long", jwt.MapClaims{"exp": t0.Add(48 * time.Hour).Unix()}, auth.CodeTokenInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := jwt.MapClaims{}
			for k, v := range tc.claims {
				if v != nil {
					c[k] = v
				}
			}
			tok := p.mint("k1", t0, c)
			if tc.claims["sub"] == nil && len(tc.claims) == 1 {
				tok = MustSign(t, jwt.SigningMethodRS256, p.keys["k1"], "k1", jwt.MapClaims{"iss": p.srv.URL,
					"aud": "govx-client", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()})
			}
			_, err := v.Verify(tok)
			wantAuthErr(t, err, tc.code, nil)
		})
	}
	t.Run("within the skew", func(t *testing.T) {
		tok := p.mint("k1", t0, jwt.MapClaims{"iat": t0.Add(-time.Hour).Unix(), "exp": t0.Add(-59 * time.Second).Unix()})
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("a token 59 s past exp, within the 60 s skew: %v", err)
		}
	})
	t.Run("provider's token signed by the local key", func(t *testing.T) {
		tok := MustSign(t, jwt.SigningMethodEdDSA, local.Private, local.ID, jwt.MapClaims{"iss": p.srv.URL,
			"aud": "govx-client", "sub": "x", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()})
		_, err := v.Verify(tok)
		wantAuthErr(t, err, auth.CodeTokenInvalid, nil)
	})

	// Key rotation: the provider publishes k2 beside k1.
	old := p.mint("k1", t0, claims)
	p.publish("k1", "k2")
	clk.Set(t0.Add(time.Minute)) // past MinRefreshInterval
	fetched := p.fetches()
	if _, err := v.Verify(p.mint("k2", clk.Now(), claims)); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	if p.fetches() != fetched+1 {
		t.Errorf("an unknown kid fetched the JWKS %d times, want once", p.fetches()-fetched)
	}
	if _, err := v.Verify(old); err != nil {
		t.Fatalf("a token of the old key while it is still published: %v", err)
	}
	t.Run("unknown kids fetch at most every MinRefreshInterval", func(t *testing.T) {
		p.publish("k1", "k2", "k3") // a forger's kid would not be published either way
		fetched := p.fetches()
		for range 5 {
			_, err := v.Verify(p.mint("k3", clk.Now(), claims))
			wantAuthErr(t, err, auth.CodeTokenInvalid, nil)
		}
		if p.fetches() != fetched {
			t.Errorf("%d fetches within MinRefreshInterval of the last", p.fetches()-fetched)
		}
		p.publish("k1", "k2")
	})

	// The provider removes k1: once the keys are refreshed, its tokens are
	// refused, cached or not.
	p.publish("k2")
	clk.Set(t0.Add(time.Minute + time.Hour)) // past RefreshInterval
	_, err = v.Verify(old)
	wantAuthErr(t, err, auth.CodeTokenInvalid, nil)
	if _, err := v.Verify(p.mint("k2", clk.Now(), claims)); err != nil {
		t.Fatalf("a token of the remaining key: %v", err)
	}
}

func TestOIDCConfig(t *testing.T) {
	for name, c := range map[string]auth.OIDCConfig{
		"plain http":  {Issuer: "http://idp.example.gov", Audience: "a"},
		"no audience": {Issuer: "https://idp.example.gov"},
		"relative":    {Issuer: "idp.example.gov", Audience: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config(nil)
			cfg.OIDC = &c
			if _, err := auth.NewVerifier(cfg, MustKey(t)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := auth.ParseClaimMapping([]byte(`{"dept":"org","dept_value":{"a":"b"}}`)); err == nil {
		t.Error("a misspelt mapping member was accepted")
	}
	m, err := auth.ParseClaimMapping([]byte(`{"dept":"org","role_values":{"g":"clerk"}}`))
	if err != nil || m.Dept != "org" || m.Role != "role" || m.Scope != "scope" || m.RoleValues["g"] != "clerk" {
		t.Errorf("mapping %+v, %v", m, err)
	}
}
