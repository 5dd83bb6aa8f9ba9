package node_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx/adapters/population"
	"govx/catalog"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

// The government's identity provider, run inside the test: a discovery
// document, a JWKS and RS256 tokens whose claims are mapped to govx's.
func TestLookupEndToEndWithOIDC(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var idp *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": idp.URL, "jwks_uri": idp.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "idp-1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes())}}})
	})
	idp = httptest.NewServer(mux)
	t.Cleanup(idp.Close)

	cfg := nodetest.Config(t)
	cfg.OIDC = auth.OIDCConfig{Issuer: idp.URL, Audience: "govx", Claims: auth.ClaimMapping{
		Dept: "org", DeptValues: map[string]string{"SC-01": catalog.DeptServiceCenter, "XX-99": "no-such-department"},
		Scope: "roles", ScopeValues: map[string]string{"population-reader": population.ResourceIdentity},
	}}
	m := nodetest.Start(t, cfg)
	mint := func(org string) string {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": idp.URL, "aud": "govx", "sub": "officer-7",
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "org": org, "roles": []string{"population-reader", "other"}})
		tok.Header["kid"] = "idp-1"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	want := population.NewGenerator(node.DemoSeed).Resident(42)
	nodetest.Consent(t, m, want.IDNumber, "case:test-1", population.ResourceIdentity)
	url := m.URL() + "/v1/resources/population.identity/query"

	resp := nodetest.Post(t, url, mint("SC-01"), nodetest.Query(want.IDNumber, "name"))
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d: %v", resp.Status, resp.Body)
	}
	if rec := resp.Body["record"].(map[string]any); rec["name"] != want.Name {
		t.Errorf("record = %v", rec)
	}
	if a := nodetest.Audit(t, m, resp.RequestID); a.Outcome != ledger.Released || a.Consumer != catalog.DeptServiceCenter || a.Caller != "officer-7" {
		t.Errorf("audit = %+v", a)
	}
	// The provider's token maps to a department the catalogue lacks.
	if resp := nodetest.Post(t, url, mint("XX-99"), nodetest.Query(want.IDNumber, "name")); resp.Status != 403 || resp.ErrorCode() != "department_unknown" {
		t.Errorf("unknown department: %d %v", resp.Status, resp.Body)
	}
	// The local key still serves the tools and `govx up`.
	if resp := nodetest.Post(t, url, nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}}),
		nodetest.Query(want.IDNumber, "name")); resp.Status != http.StatusOK {
		t.Errorf("local token: %d %v", resp.Status, resp.Body)
	}
}
