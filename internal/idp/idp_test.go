package idp_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"govx/internal/auth"
	"govx/internal/idp"
)

const (
	client   = "hall"
	verifier = "a-verifier-of-at-least-forty-three-characters-long"
)

func start(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	redirect := srv.URL + "/cb"
	p, err := idp.New(idp.Config{Issuer: srv.URL + "/idp", Key: key,
		Users:   []idp.User{{Subject: "11010519491231002X", Role: idp.RoleCitizen, Name: "张三"}},
		Clients: []idp.Client{{ID: client, RedirectURIs: []string{redirect}}}})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(p.Prefix(), p)
	return srv, redirect
}

// code picks the demo user on the authorization page and returns the code
// the browser is sent back with.
func code(t *testing.T, srv *httptest.Server, redirect string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(verifier))
	form := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect}, "scope": {"openid"},
		"state": {"st"}, "nonce": {"no"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "user": {"0"}}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(srv.URL+"/idp/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("state") != "st" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, loc)
	}
	return loc.Query().Get("code")
}

func redeem(t *testing.T, srv *httptest.Server, redirect, code, verifier string) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(srv.URL+"/idp/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirect}, "client_id": {client}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestCodeFlow(t *testing.T) {
	srv, redirect := start(t)

	// A wrong verifier is refused, and the code is spent.
	c := code(t, srv, redirect)
	if status, body := redeem(t, srv, redirect, c, strings.Repeat("x", 43)); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: %d %v", status, body)
	}
	if status, body := redeem(t, srv, redirect, c, verifier); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("spent code: %d %v", status, body)
	}
	// Another redirect URI than the code's is refused.
	if status, _ := redeem(t, srv, redirect+"x", code(t, srv, redirect), verifier); status != 400 {
		t.Errorf("other redirect URI: %d", status)
	}

	// The right verifier gets an ID token that govx's verifier accepts as
	// the resident's, with the nonce of the request.
	status, body := redeem(t, srv, redirect, code(t, srv, redirect), verifier)
	tok, _ := body["id_token"].(string)
	if status != 200 || tok == "" {
		t.Fatalf("token: %d %v", status, body)
	}
	key, _ := auth.GenerateKey()
	v, err := auth.NewVerifier(auth.Config{Issuer: "govx", Audience: "govx-exchange",
		OIDC: &auth.OIDCConfig{Issuer: srv.URL + "/idp", Audience: client}}, key)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.Subject != "11010519491231002X" || claims.Role != auth.RoleCitizen || claims.Issuer != srv.URL+"/idp" {
		t.Errorf("claims: %+v", claims)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if !strings.Contains(string(payload), `"nonce":"no"`) {
		t.Errorf("nonce missing: %s", payload)
	}
}
