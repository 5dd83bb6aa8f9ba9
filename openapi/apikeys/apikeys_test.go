package apikeys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/internal/postgres/postgrestest"
	"govx/internal/ratelimit"
	"govx/internal/redis"
	"govx/internal/redis/redistest"
	"govx/openapi/apikeys"
)

const issuer = "https://govx.test"

// env is one deployment: a database, a Redis prefix and a signing key,
// with any number of API instances on them.
type env struct {
	t     *testing.T
	store *apikeys.Store
	key   *auth.Key
	staff *auth.Verifier
	rdb   *redis.Client
	doc   *openapicheck.Doc
}

func newEnv(t *testing.T) *env {
	t.Helper()
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	staff, err := auth.NewVerifier(auth.Config{Issuer: issuer, Audience: "govx-exchange"}, key)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapicheck.Load(apikeys.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: apikeys.NewStore(postgrestest.NewMigrated(t, apikeys.MigrationSource())),
		key: key, staff: staff, rdb: redistest.New(t), doc: doc}
}

// instance is one API server of the deployment: the key endpoints and a
// stand-in open-data endpoint that echoes the caller, behind the middleware.
type instance struct {
	*env
	svc *apikeys.Service
	url string
}

func (e *env) instance(cfg apikeys.Config, rdb *redis.Client) *instance {
	e.t.Helper()
	if rdb == nil {
		// A connection of its own: another process of the deployment.
		var err error
		rdb, err = redis.Open(context.Background(), redis.Config{URL: redistest.URL(), Prefix: e.rdb.Prefix})
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { rdb.Close() })
	}
	lim, err := ratelimit.New(ratelimit.Config{Redis: rdb})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.Issuer = issuer
	cfg.Store, cfg.Limiter, cfg.Key, cfg.Staff = e.store, lim, e.key, e.staff
	svc, err := apikeys.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Mount(mux)
	mux.HandleFunc("GET /open/v1/datasets", func(w http.ResponseWriter, r *http.Request) {
		c, ok := apikeys.CallerFrom(r.Context())
		if !ok {
			http.Error(w, "no caller in context", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"kind": string(c.Kind), "key": c.KeyID, "via": c.Via, "tier": c.Tier, "addr": c.Addr.String()})
	})
	srv := httptest.NewServer(svc.Middleware(mux))
	e.t.Cleanup(srv.Close)
	return &instance{env: e, svc: svc, url: srv.URL}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a answer) code() string {
	if e, ok := a.body["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c
	}
	c, _ := a.body["error"].(string) // OAuth errors
	return c
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

// do sends a request; template, when set, names the operation whose
// documented schema the answer must match.
func (in *instance) do(method, path, template string, body io.Reader, hdr ...string) answer {
	in.t.Helper()
	req, err := http.NewRequest(method, in.url+path, body)
	if err != nil {
		in.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if template != "" {
		if err := in.doc.CheckResponseJSON(method, template, resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
			in.t.Errorf("%s %s → %d does not match the OpenAPI document: %v\n%s", method, path, resp.StatusCode, err, raw)
		}
	}
	for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"} {
		if resp.Header.Get(h) == "" {
			in.t.Errorf("%s %s → %d without %s", method, path, resp.StatusCode, h)
		}
	}
	var out map[string]any
	json.Unmarshal(raw, &out)
	return answer{status: resp.StatusCode, header: resp.Header, body: out}
}

func jsonBody(v any) io.Reader { b, _ := json.Marshal(v); return bytes.NewReader(b) }

// register makes a key through the API and returns "<id>.<secret>".
func (in *instance) register(name string) (id, secret string) {
	in.t.Helper()
	a := in.do("POST", "/open/v1/keys", "/open/v1/keys", jsonBody(map[string]string{
		"name": name, "email": name + "@example.org", "purpose": "a map of open licences"}))
	if a.status != http.StatusCreated {
		in.t.Fatalf("register: %d %v", a.status, a.body)
	}
	id, secret = a.str("id"), a.str("secret")
	if a.str("api_key") != id+"."+secret || a.str("tier") != apikeys.TierAnonymous || a.header.Get("Location") != "/open/v1/keys/"+id {
		in.t.Fatalf("register answered %v", a.body)
	}
	return id, secret
}

func (in *instance) operatorToken() string {
	in.t.Helper()
	tok, err := in.key.Mint(auth.TokenSpec{Issuer: issuer, Audience: "govx-exchange", Subject: "ops-1", Role: apikeys.RoleOperator})
	if err != nil {
		in.t.Fatal(err)
	}
	return tok
}

func (in *instance) tokenFor(id, secret string) string {
	in.t.Helper()
	a := in.do("POST", "/open/v1/token", "/open/v1/token", strings.NewReader(url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded")
	if a.status != http.StatusOK || a.str("token_type") != "Bearer" || a.header.Get("Cache-Control") != "no-store" {
		in.t.Fatalf("token: %d %v %v", a.status, a.body, a.header)
	}
	return a.str("access_token")
}

func TestKeyLifecycle(t *testing.T) {
	in := newEnv(t).instance(apikeys.Config{}, nil)
	id, secret := in.register("atlas")
	apiKey := id + "." + secret

	// The secret is not stored, only its hash.
	ks, err := in.store.Keys(context.Background(), apikeys.Filter{})
	if err != nil || len(ks) != 1 || ks[0].ID != id {
		t.Fatalf("Keys = %v, %v", ks, err)
	}
	if b, _ := json.Marshal(ks[0]); bytes.Contains(b, []byte(secret)) {
		t.Fatalf("the key record holds the secret: %s", b)
	}

	a := in.do("GET", "/open/v1/datasets", "", nil, "X-API-Key", apiKey)
	if a.status != 200 || a.str("kind") != "key" || a.str("key") != id || a.str("via") != "api-key" {
		t.Fatalf("with the key: %d %v", a.status, a.body)
	}
	// A new key has the anonymous limit until an operator raises it.
	if a.header.Get("RateLimit-Limit") != "20" || a.header.Get("RateLimit-Policy") != "20;w=2" || a.str("tier") != apikeys.TierAnonymous {
		t.Errorf("new key's limit headers: %v %v", a.body, a.header)
	}
	if a := in.do("GET", "/open/v1/datasets", "", nil); a.str("kind") != "anonymous" || a.header.Get("RateLimit-Limit") != "20" {
		t.Errorf("anonymous: %v %v", a.body, a.header)
	}

	// The holder reads its key; another holder may not; nobody anonymous.
	if a := in.do("GET", "/open/v1/keys/"+id, "/open/v1/keys/{id}", nil, "X-API-Key", apiKey); a.status != 200 || a.str("status") != "active" {
		t.Fatalf("holder reads: %d %v", a.status, a.body)
	}
	otherID, otherSecret := in.register("other")
	if a := in.do("DELETE", "/open/v1/keys/"+id, "/open/v1/keys/{id}", nil, "X-API-Key", otherID+"."+otherSecret); a.status != 403 || a.code() != "not_your_key" {
		t.Fatalf("another holder revokes: %d %v", a.status, a.body)
	}
	if a := in.do("DELETE", "/open/v1/keys/"+id, "/open/v1/keys/{id}", nil); a.status != 401 || a.code() != "credentials_required" {
		t.Fatalf("anonymous revokes: %d %v", a.status, a.body)
	}

	// The holder revokes; the key is refused from then on, not let in as
	// anonymous.
	a = in.do("DELETE", "/open/v1/keys/"+id, "/open/v1/keys/{id}", nil, "X-API-Key", apiKey)
	if a.status != 200 || a.str("status") != "revoked" || a.str("revoked_by") != "holder" {
		t.Fatalf("holder revokes: %d %v", a.status, a.body)
	}
	if a := in.do("GET", "/open/v1/datasets", "", nil, "X-API-Key", apiKey); a.status != 401 || a.code() != apikeys.CodeKeyRevoked {
		t.Fatalf("revoked key: %d %v", a.status, a.body)
	}
	if a := in.do("GET", "/open/v1/keys/"+id, "/open/v1/keys/{id}", nil, "X-API-Key", apiKey); a.status != 401 || a.code() != apikeys.CodeKeyRevoked {
		t.Fatalf("revoked key reads itself: %d %v", a.status, a.body)
	}
}

func TestRegisterInvalid(t *testing.T) {
	in := newEnv(t).instance(apikeys.Config{}, nil)
	for _, tt := range []struct {
		name, body, code string
		status           int
	}{
		{"no name", `{"email":"a@example.org","purpose":"x"}`, "name_required", 400},
		{"blank name", `{"name":"  ","email":"a@example.org","purpose":"x"}`, "name_required", 400},
		{"long name", `{"name":"` + strings.Repeat("n", 201) + `","email":"a@example.org","purpose":"x"}`, "name_invalid", 400},
		{"no email", `{"name":"a","purpose":"x"}`, "email_required", 400},
		{"bad email", `{"name":"a","email":"not an address","purpose":"x"}`, "email_invalid", 400},
		{"email with display name", `{"name":"a","email":"A <a@example.org>","purpose":"x"}`, "email_invalid", 400},
		{"no purpose", `{"name":"a","email":"a@example.org"}`, "purpose_required", 400},
		{"unknown field", `{"name":"a","email":"a@example.org","purpose":"x","tier":"partner"}`, "invalid_json", 400},
		{"not json", `name=a`, "invalid_json", 400},
		{"too large", `{"name":"` + strings.Repeat("n", 9000) + `"}`, "body_too_large", 413},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := in.do("POST", "/open/v1/keys", "/open/v1/keys", strings.NewReader(tt.body))
			if a.status != tt.status || a.code() != tt.code {
				t.Fatalf("%d %v, want %d %s", a.status, a.body, tt.status, tt.code)
			}
		})
	}
	if ks, _ := in.store.Keys(context.Background(), apikeys.Filter{}); len(ks) != 0 {
		t.Fatalf("invalid registrations stored %d keys", len(ks))
	}
}

func TestBadCredentials(t *testing.T) {
	in := newEnv(t).instance(apikeys.Config{}, nil)
	id, secret := in.register("atlas")
	unknown := "k_" + strings.Repeat("a", 26)
	other := in.key
	foreign, _ := auth.GenerateKey()
	mint := func(k *auth.Key, aud, sub, role string) string {
		tok, err := k.Mint(auth.TokenSpec{Issuer: issuer, Audience: aud, Subject: sub, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	wrong := []byte(secret)
	wrong[0] ^= 1
	for _, tt := range []struct {
		name   string
		hdr    []string
		status int
		code   string
	}{
		{"no dot", []string{"X-API-Key", id + secret}, 401, apikeys.CodeKeyInvalid},
		{"short secret", []string{"X-API-Key", id + ".abc"}, 401, apikeys.CodeKeyInvalid},
		{"bad id", []string{"X-API-Key", "key1." + secret}, 401, apikeys.CodeKeyInvalid},
		{"empty", []string{"X-API-Key", ""}, 401, apikeys.CodeKeyInvalid},
		{"wrong secret", []string{"X-API-Key", id + "." + string(wrong)}, 401, apikeys.CodeKeyInvalid},
		{"unknown id", []string{"X-API-Key", unknown + "." + secret}, 401, apikeys.CodeKeyInvalid},
		{"two keys", []string{"X-API-Key", id + "." + secret, "X-API-Key", id + "." + secret}, 401, apikeys.CodeKeyInvalid},
		{"key and bearer", []string{"X-API-Key", id + "." + secret, "Authorization", "Bearer x"}, 400, apikeys.CodeAmbiguous},
		{"garbage bearer", []string{"Authorization", "Bearer not-a-token"}, 401, auth.CodeTokenInvalid},
		{"foreign signer", []string{"Authorization", "Bearer " + mint(foreign, apikeys.Audience, id, apikeys.RoleOpenData)}, 401, auth.CodeTokenInvalid},
		{"service token", []string{"Authorization", "Bearer " + mint(other, "govx-exchange", "svc", "service")}, 401, auth.CodeTokenInvalid},
		{"open-data role for the exchange", []string{"Authorization", "Bearer " + mint(other, "govx-exchange", id, apikeys.RoleOpenData)}, 401, auth.CodeTokenInvalid},
		{"token for an unknown key", []string{"Authorization", "Bearer " + mint(other, apikeys.Audience, unknown, apikeys.RoleOpenData)}, 401, apikeys.CodeKeyInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := in.do("GET", "/open/v1/datasets", "", nil, tt.hdr...)
			if a.status != tt.status || a.code() != tt.code {
				t.Fatalf("%d %v, want %d %s", a.status, a.body, tt.status, tt.code)
			}
		})
	}
	// Basic auth is no credential of the open-data API: anonymous.
	if a := in.do("GET", "/open/v1/datasets", "", nil, "Authorization", "Basic eDp5"); a.status != 200 || a.str("kind") != "anonymous" {
		t.Fatalf("basic auth: %d %v", a.status, a.body)
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	in := e.instance(apikeys.Config{StatusTTL: 50 * time.Millisecond}, nil)
	other := e.instance(apikeys.Config{StatusTTL: 50 * time.Millisecond}, nil)
	id, secret := in.register("atlas")
	tok := in.tokenFor(id, secret)

	// Basic auth, with the id and secret form-encoded (RFC 6749 §2.3.1).
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	a := in.do("POST", "/open/v1/token", "/open/v1/token", strings.NewReader("grant_type=client_credentials"),
		"Content-Type", "application/x-www-form-urlencoded", "Authorization", basic)
	if a.status != 200 || a.str("access_token") == "" || a.body["expires_in"] != float64(600) {
		t.Fatalf("basic: %d %v", a.status, a.body)
	}

	for _, in := range []*instance{in, other} {
		a := in.do("GET", "/open/v1/datasets", "", nil, "Authorization", "Bearer "+tok)
		if a.status != 200 || a.str("kind") != "key" || a.str("key") != id || a.str("via") != "token" {
			t.Fatalf("with the token: %d %v", a.status, a.body)
		}
	}
	// Revoked by an operator on one instance: refused there at once, and
	// on the other once its status cache (50ms here) has aged.
	a = in.do("DELETE", "/open/v1/keys/"+id, "/open/v1/keys/{id}", nil, "Authorization", "Bearer "+in.operatorToken())
	if a.status != 200 || a.str("revoked_by") != "operator:ops-1" {
		t.Fatalf("operator revokes: %d %v", a.status, a.body)
	}
	if a := in.do("GET", "/open/v1/datasets", "", nil, "Authorization", "Bearer "+tok); a.status != 401 || a.code() != apikeys.CodeKeyRevoked {
		t.Fatalf("token of a revoked key: %d %v", a.status, a.body)
	}
	time.Sleep(60 * time.Millisecond)
	if a := other.do("GET", "/open/v1/datasets", "", nil, "Authorization", "Bearer "+tok); a.status != 401 || a.code() != apikeys.CodeKeyRevoked {
		t.Fatalf("token of a revoked key on another instance: %d %v", a.status, a.body)
	}
	// And it gets no new token.
	a = in.do("POST", "/open/v1/token", "/open/v1/token", strings.NewReader("grant_type=client_credentials&client_id="+id+"&client_secret="+secret),
		"Content-Type", "application/x-www-form-urlencoded")
	if a.status != 401 || a.code() != "invalid_client" || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("token for a revoked key: %d %v", a.status, a.body)
	}
}

func TestTokenErrors(t *testing.T) {
	in := newEnv(t).instance(apikeys.Config{}, nil)
	id, secret := in.register("atlas")
	form := "application/x-www-form-urlencoded"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	for _, tt := range []struct {
		name, body, ctype, authz string
		status                   int
		code                     string
	}{
		{"json body", `{"grant_type":"client_credentials"}`, "application/json", "", 400, "invalid_request"},
		{"no grant type", "client_id=" + id + "&client_secret=" + secret, form, "", 400, "invalid_request"},
		{"password grant", "grant_type=password&username=a&password=b", form, "", 400, "unsupported_grant_type"},
		{"repeated parameter", "grant_type=client_credentials&grant_type=client_credentials", form, "", 400, "invalid_request"},
		{"no credentials", "grant_type=client_credentials", form, "", 401, "invalid_client"},
		{"wrong secret", "grant_type=client_credentials&client_id=" + id + "&client_secret=x", form, "", 401, "invalid_client"},
		{"unknown client", "grant_type=client_credentials&client_id=nobody&client_secret=" + secret, form, "", 401, "invalid_client"},
		{"two methods", "grant_type=client_credentials&client_secret=" + secret, form, basic, 400, "invalid_request"},
		{"bad basic", "grant_type=client_credentials", form, "Basic !!!", 401, "invalid_client"},
		{"bearer instead of basic", "grant_type=client_credentials", form, "Bearer x", 401, "token_invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{"Content-Type", tt.ctype}
			if tt.authz != "" {
				hdr = append(hdr, "Authorization", tt.authz)
			}
			a := in.do("POST", "/open/v1/token", "/open/v1/token", strings.NewReader(tt.body), hdr...)
			if a.status != tt.status || a.code() != tt.code {
				t.Fatalf("%d %v, want %d %s", a.status, a.body, tt.status, tt.code)
			}
		})
	}
}

// TestRateLimit: two instances of one deployment share a budget per
// caller; over it they answer 429 with Retry-After; after the wait the
// caller passes again.
func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	// One token back every 2 s: the counts below do not depend on how
	// fast a loaded machine runs the requests.
	cfg := apikeys.Config{
		Anonymous:  ratelimit.Limit{Rate: 10, Period: 20 * time.Second, Burst: 10},
		Registered: ratelimit.Limit{Rate: 5, Period: 10 * time.Second, Burst: 5},
	}
	a, b := e.instance(cfg, nil), e.instance(cfg, nil)
	for i := range 10 {
		in := []*instance{a, b}[i%2]
		ans := in.do("GET", "/open/v1/datasets", "", nil)
		if ans.status != 200 {
			t.Fatalf("request %d: %d %v", i, ans.status, ans.body)
		}
		if rem, _ := strconv.Atoi(ans.header.Get("RateLimit-Remaining")); rem > 9-i {
			t.Errorf("request %d: RateLimit-Remaining %d, want at most %d", i, rem, 9-i)
		}
	}
	over := b.do("GET", "/open/v1/datasets", "", nil)
	if retry, _ := strconv.Atoi(over.header.Get("Retry-After")); over.status != http.StatusTooManyRequests || over.code() != apikeys.CodeRateLimited ||
		over.header.Get("RateLimit-Remaining") != "0" || retry < 1 || retry > 2 {
		t.Fatalf("11th request: %d %v %v", over.status, over.body, over.header)
	}
	// A wrong key does not get past the address's budget either: guessing
	// keys is limited.
	if ans := a.do("GET", "/open/v1/datasets", "", nil, "X-API-Key", "junk"); ans.status != http.StatusTooManyRequests {
		t.Fatalf("wrong key over the anonymous budget: %d %v", ans.status, ans.body)
	}
	// A key has a budget of its own.
	k, secret, err := e.store.Create(context.Background(), apikeys.Registration{Name: "atlas", Email: "atlas@example.org", Purpose: "maps"})
	if err != nil {
		t.Fatal(err)
	}
	id := k.ID
	if _, err := e.store.SetLimit(context.Background(), id, apikeys.TierRegistered, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if ans := []*instance{a, b}[i%2].do("GET", "/open/v1/datasets", "", nil, "X-API-Key", id+"."+secret); ans.status != 200 {
			t.Fatalf("key request %d: %d %v", i, ans.status, ans.body)
		}
	}
	// Its tokens draw on the same budget. (The token endpoint is under
	// the exhausted anonymous budget, so mint directly.)
	tok, _, err := a.svc.IssueToken(context.Background(), id, secret)
	if err != nil {
		t.Fatal(err)
	}
	if ans := b.do("GET", "/open/v1/datasets", "", nil, "Authorization", "Bearer "+tok); ans.status != http.StatusTooManyRequests {
		t.Fatalf("token over the key's budget: %d %v", ans.status, ans.body)
	}
	wait, _ := strconv.Atoi(over.header.Get("Retry-After"))
	time.Sleep(time.Duration(wait) * time.Second)
	if ans := a.do("GET", "/open/v1/datasets", "", nil); ans.status != 200 {
		t.Fatalf("after Retry-After: %d %v", ans.status, ans.body)
	}
	if ans := b.do("GET", "/open/v1/datasets", "", nil, "Authorization", "Bearer "+tok); ans.status != 200 {
		t.Fatalf("key after Retry-After: %d %v", ans.status, ans.body)
	}
}

// TestRedisDown: with Redis gone requests are still limited, per
// instance, and never fail.
func TestRedisDown(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	down := &redis.Client{Client: goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1}), Prefix: "govxtest:down:"}
	t.Cleanup(func() { down.Close() })
	in := e.instance(apikeys.Config{Anonymous: ratelimit.PerMinute(3, 3)}, down)
	for i := range 3 {
		if a := in.do("GET", "/open/v1/datasets", "", nil); a.status != 200 {
			t.Fatalf("request %d with Redis down: %d %v", i, a.status, a.body)
		}
	}
	if a := in.do("GET", "/open/v1/datasets", "", nil); a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Fatalf("over the local limit: %d %v", a.status, a.body)
	}
}

func TestOperator(t *testing.T) {
	in := newEnv(t).instance(apikeys.Config{}, nil)
	id, secret := in.register("atlas")
	in.register("beacon")
	op := "Bearer " + in.operatorToken()

	if a := in.do("GET", "/open/v1/keys", "/open/v1/keys", nil); a.status != 401 || a.code() != apikeys.CodeNeedsOperator {
		t.Fatalf("anonymous lists: %d %v", a.status, a.body)
	}
	if a := in.do("GET", "/open/v1/keys", "/open/v1/keys", nil, "X-API-Key", id+"."+secret); a.status != 403 || a.code() != apikeys.CodeNeedsOperator {
		t.Fatalf("holder lists: %d %v", a.status, a.body)
	}
	a := in.do("GET", "/open/v1/keys", "/open/v1/keys", nil, "Authorization", op)
	if ks, _ := a.body["keys"].([]any); a.status != 200 || len(ks) != 2 {
		t.Fatalf("operator lists: %d %v", a.status, a.body)
	}
	if a := in.do("GET", "/open/v1/keys?status=paused", "/open/v1/keys", nil, "Authorization", op); a.status != 400 || a.code() != "invalid_status" {
		t.Fatalf("bad status filter: %d %v", a.status, a.body)
	}
	a = in.do("GET", "/open/v1/keys?email=ATLAS@example.org", "/open/v1/keys", nil, "Authorization", op)
	if ks, _ := a.body["keys"].([]any); a.status != 200 || len(ks) != 1 {
		t.Fatalf("by email: %d %v", a.status, a.body)
	}

	// Move the key to the partner tier, then give it a limit of its own.
	a = in.do("PUT", "/open/v1/keys/"+id+"/limit", "/open/v1/keys/{id}/limit", jsonBody(map[string]any{"tier": "partner"}), "Authorization", op)
	if a.status != 200 || a.str("tier") != "partner" || a.body["limit_override"] != false {
		t.Fatalf("partner: %d %v", a.status, a.body)
	}
	if a := in.do("GET", "/open/v1/datasets", "", nil, "X-API-Key", id+"."+secret); a.header.Get("RateLimit-Limit") != "2000" || a.str("tier") != "partner" {
		t.Fatalf("partner limit: %v %v", a.body, a.header)
	}
	a = in.do("PUT", "/open/v1/keys/"+id+"/limit", "/open/v1/keys/{id}/limit",
		jsonBody(map[string]any{"tier": "partner", "limit": map[string]int{"rate": 50, "period_ms": 1000, "burst": 75}}), "Authorization", op)
	if a.status != 200 || a.body["limit_override"] != true {
		t.Fatalf("own limit: %d %v", a.status, a.body)
	}
	if a := in.do("GET", "/open/v1/datasets", "", nil, "X-API-Key", id+"."+secret); a.header.Get("RateLimit-Limit") != "75" {
		t.Fatalf("own limit headers: %v", a.header)
	}
	for _, tt := range []struct {
		name, path, body, code string
		status                 int
	}{
		{"unknown tier", id, `{"tier":"gold"}`, "tier_invalid", 400},
		{"zero burst", id, `{"tier":"registered","limit":{"rate":1,"period_ms":1000,"burst":0}}`, "limit_invalid", 400},
		{"unknown key", "k_" + strings.Repeat("b", 26), `{"tier":"registered"}`, "api_key_not_found", 404},
		{"malformed key id", "nope", `{"tier":"registered"}`, "api_key_not_found", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := in.do("PUT", "/open/v1/keys/"+tt.path+"/limit", "/open/v1/keys/{id}/limit", strings.NewReader(tt.body), "Authorization", op)
			if a.status != tt.status || a.code() != tt.code {
				t.Fatalf("%d %v, want %d %s", a.status, a.body, tt.status, tt.code)
			}
		})
	}
	if a := in.do("PUT", "/open/v1/keys/"+id+"/limit", "/open/v1/keys/{id}/limit", strings.NewReader(`{"tier":"partner"}`), "X-API-Key", id+"."+secret); a.status != 403 {
		t.Fatalf("holder sets its own limit: %d %v", a.status, a.body)
	}
	if a := in.do("DELETE", "/open/v1/keys/k_"+strings.Repeat("c", 26), "/open/v1/keys/{id}", nil, "Authorization", op); a.status != 404 {
		t.Fatalf("revoke unknown: %d %v", a.status, a.body)
	}
}

func TestClientAddr(t *testing.T) {
	e := newEnv(t)
	lim, _ := ratelimit.New(ratelimit.Config{})
	svc, err := apikeys.New(apikeys.Config{Store: e.store, Limiter: lim, Key: e.key, Issuer: issuer,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.5:4000", nil, "203.0.113.5"},
		{"203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"}, // not a trusted peer
		{"10.0.0.2:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.2:4000", []string{"6.6.6.6, 198.51.100.1, 10.0.0.9"}, "198.51.100.1"}, // spoofed left entry ignored
		{"10.0.0.2:4000", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.2:4000", []string{"garbage"}, "10.0.0.2"},
		{"10.0.0.2:4000", nil, "10.0.0.2"},
		{"[::ffff:203.0.113.5]:4000", nil, "203.0.113.5"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := svc.ClientAddr(r); got.String() != tt.want {
			t.Errorf("%s %v: %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

func TestConfig(t *testing.T) {
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// Never used: Validate only checks that they are there.
	store, lim := apikeys.NewStore(nil), new(ratelimit.Limiter)
	for _, tt := range []struct {
		name string
		cfg  apikeys.Config
		ok   bool
		bare bool // without a store, limiter and key
	}{
		{"defaults", apikeys.Config{Issuer: issuer}, true, false},
		{"no store, limiter or key", apikeys.Config{Issuer: issuer}, false, true},
		{"no issuer", apikeys.Config{}, false, false},
		{"bad anonymous", apikeys.Config{Issuer: issuer, Anonymous: ratelimit.Limit{Rate: 1}}, false, false},
		{"tier named registered", apikeys.Config{Issuer: issuer, Tiers: map[string]ratelimit.Limit{"registered": ratelimit.PerSecond(1, 1)}}, false, false},
		{"long token", apikeys.Config{Issuer: issuer, TokenTTL: 2 * time.Hour}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.bare {
				tt.cfg.Store, tt.cfg.Limiter, tt.cfg.Key = store, lim, key
			}
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v", err)
			}
			if err != nil && govx.ErrorCode(err) != "config_invalid" {
				t.Fatalf("code %q", govx.ErrorCode(err))
			}
			if err == nil && (tt.cfg.Anonymous != apikeys.DefaultAnonymous || tt.cfg.Registered != apikeys.DefaultRegistered || tt.cfg.StatusTTL != 5*time.Second) {
				t.Fatalf("defaults: %+v", tt.cfg)
			}
		})
	}
	_ = fmt.Sprint
}

// TestRegistrationLimit: self-registration is limited per client address
// and per e-mail address, across instances, and a new key gets no more than
// an anonymous caller until an operator raises it.
func TestRegistrationLimit(t *testing.T) {
	e := newEnv(t)
	cfg := apikeys.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}}
	a, b := e.instance(cfg, nil), e.instance(cfg, nil)
	register := func(in *instance, addr, email string) answer {
		t.Helper()
		return in.do("POST", "/open/v1/keys", "/open/v1/keys", jsonBody(map[string]string{
			"name": "atlas", "email": email, "purpose": "a map of open licences"}), "X-Forwarded-For", addr)
	}

	var id, secret string
	for i := range 3 {
		ans := register([]*instance{a, b}[i%2], "203.0.113.7", "dev"+strconv.Itoa(i)+"@example.org")
		if ans.status != http.StatusCreated {
			t.Fatalf("registration %d from one address: %d %v", i, ans.status, ans.body)
		}
		id, secret = ans.str("id"), ans.str("secret")
	}
	ans := register(b, "203.0.113.7", "dev3@example.org")
	if retry, _ := strconv.Atoi(ans.header.Get("Retry-After")); ans.status != http.StatusTooManyRequests || ans.code() != apikeys.CodeRegistrationLimited || retry < 1 {
		t.Fatalf("fourth registration from one address: %d %v %v", ans.status, ans.body, ans.header)
	}

	// One mailbox from many addresses: case and +tags do not make it new.
	for i, email := range []string{"ops@example.net", "OPS@example.net", "ops+2@example.net"} {
		if ans := register([]*instance{a, b}[i%2], "198.51.100."+strconv.Itoa(i+1), email); ans.status != http.StatusCreated {
			t.Fatalf("registration %d for one e-mail: %d %v", i, ans.status, ans.body)
		}
	}
	if ans := register(a, "198.51.100.9", "ops@example.net"); ans.status != http.StatusTooManyRequests || ans.code() != apikeys.CodeRegistrationLimited {
		t.Fatalf("fourth registration for one e-mail from another address: %d %v", ans.status, ans.body)
	}
	if ks, _ := e.store.Keys(context.Background(), apikeys.Filter{}); len(ks) != 6 {
		t.Fatalf("%d keys stored, want 6", len(ks))
	}

	// A new key's limit is the anonymous tier's, on the wire and in force.
	op := "Bearer " + a.operatorToken()
	got := a.do("GET", "/open/v1/keys/"+id, "/open/v1/keys/{id}", nil, "Authorization", op)
	lim, _ := got.body["limit"].(map[string]any)
	if got.str("tier") != apikeys.TierAnonymous || lim["burst"] != float64(apikeys.DefaultAnonymous.Burst) || lim["rate"] != float64(apikeys.DefaultAnonymous.Rate) {
		t.Fatalf("new key: %v", got.body)
	}
	if ans := a.do("GET", "/open/v1/datasets", "", nil, "X-API-Key", id+"."+secret, "X-Forwarded-For", "192.0.2.1"); ans.header.Get("RateLimit-Policy") != apikeys.DefaultAnonymous.Policy() {
		t.Fatalf("new key's limit: %v", ans.header)
	}
	// An operator raises it.
	if ans := a.do("PUT", "/open/v1/keys/"+id+"/limit", "/open/v1/keys/{id}/limit", jsonBody(map[string]any{"tier": "registered"}), "Authorization", op); ans.status != 200 || ans.str("tier") != apikeys.TierRegistered {
		t.Fatalf("raise: %d %v", ans.status, ans.body)
	}
	if ans := b.do("GET", "/open/v1/datasets", "", nil, "X-API-Key", id+"."+secret, "X-Forwarded-For", "192.0.2.1"); ans.header.Get("RateLimit-Policy") != apikeys.DefaultRegistered.Policy() {
		t.Fatalf("raised key's limit: %v", ans.header)
	}
}
