package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"govx"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/internal/redis/redistest"
)

type api struct {
	t   *testing.T
	url string
	key *auth.Key
	doc *openapicheck.Doc
}

func newAPI(t *testing.T, s *catalog.Store) *api {
	t.Helper()
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: "govx", Audience: "govx-exchange"}, key)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapicheck.Load(catalog.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	// Mounted as cmd/govx mounts them: the department keys route is part
	// of the catalogue API's document.
	mux := http.NewServeMux()
	h, err := catalog.NewHandler(catalog.HandlerConfig{Store: s, Verifier: v, MaxBody: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/v1/catalog/", h)
	mux.Handle(catalog.KeysPath, catalog.NewKeysHandler(s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &api{t: t, url: srv.URL, key: key, doc: doc}
}

// in is a for subtest t.
func (a *api) in(t *testing.T) *api {
	c := *a
	c.t = t
	return &c
}

// token mints a token of dept with role; it carries the catalogue's write
// scope, so role decides.
func (a *api) token(dept, role string, scopes ...string) string {
	a.t.Helper()
	if scopes == nil {
		scopes = []string{catalog.ScopeCatalogWrite}
	}
	tok, err := a.key.Mint(auth.TokenSpec{Issuer: "govx", Audience: "govx-exchange", Subject: "user:" + dept, Dept: dept, Role: role, Scopes: scopes, TTL: time.Hour})
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r answer) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// do sends a request and checks the answer against the OpenAPI document's
// schema for the operation (template) and the status.
func (a *api) do(method, path, template, token string, body any, header ...string) answer {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := answer{status: resp.StatusCode, header: resp.Header}
	out.raw, _ = io.ReadAll(resp.Body)
	if err := json.Unmarshal(out.raw, &out.body); err != nil {
		a.t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, out.raw)
	}
	if out.status >= 400 && (out.code() == "" || resp.Header.Get("X-Request-Id") == "" && out.code() != "route_not_found") {
		a.t.Errorf("%s %s: error answer without code or request id: %s", method, path, out.raw)
	}
	if template != "" {
		if err := a.doc.CheckResponseJSON(method, template, out.status, resp.Header.Get("Content-Type"), out.raw); err != nil {
			a.t.Errorf("%s %s → %d does not match the OpenAPI document: %v\n%s", method, path, out.status, err, out.raw)
		}
	}
	return out
}

func (a *api) want(r answer, status int, code string) {
	a.t.Helper()
	if r.status != status || r.code() != code {
		a.t.Fatalf("status %d code %q, want %d %q: %s", r.status, r.code(), status, code, r.raw)
	}
}

const (
	pResources   = "/v1/catalog/resources"
	pResource    = "/v1/catalog/resources/{code}"
	pVersions    = "/v1/catalog/resources/{code}/versions"
	pRetire      = "/v1/catalog/resources/{code}/retire"
	pDepartments = "/v1/catalog/departments"
	pDepartment  = "/v1/catalog/departments/{code}"
	pKeys        = "/v1/catalog/departments/{code}/keys"
)

func TestHTTPResources(t *testing.T) {
	s, _ := mustLicenceStore(t)
	a := newAPI(t, s)
	lic, pop := a.token("licence", "steward"), a.token("population", "steward")
	const res = "/v1/catalog/resources/licence.food-business"

	t.Run("unauthenticated", func(t *testing.T) {
		a := a.in(t)
		a.want(a.do("GET", pResources, pResources, "", nil), 401, "token_missing")
		a.want(a.do("GET", res, pResource, "not-a-token", nil), 401, "token_invalid")
	})

	r := a.do("POST", pResources, pResources, lic, licence("licence.food-business"))
	a.want(r, 201, "")
	if r.header.Get("Location") != res || r.header.Get("ETag") != `"1"` || r.body["version"] != 1.0 || r.body["provider_name"] != "Licensing office" {
		t.Errorf("register: %v %s", r.header, r.raw)
	}

	t.Run("labels of data items and codes", func(t *testing.T) {
		a := a.in(t)
		r := licence("licence.labelled")
		r.Fields[0].Label, r.Fields[0].LabelEN = "许可证编号", "Licence number"
		r.Fields = append(r.Fields, catalog.Field{Name: "status", Type: "string", Label: "状态", LabelEN: "Status",
			Values: []catalog.Value{{Code: "valid", Label: "有效", LabelEN: "Valid"}, {Code: "revoked", Label: "已注销"}}})
		a.want(a.do("POST", pResources, pResources, lic, r), 201, "")
		got := a.do("GET", "/v1/catalog/resources/licence.labelled", pResource, lic, nil)
		a.want(got, 200, "")
		if !strings.Contains(string(got.raw), `"values":[{"code":"valid","label":"有效","label_en":"Valid"},{"code":"revoked","label":"已注销"}]`) ||
			!strings.Contains(string(got.raw), `"label":"许可证编号","label_en":"Licence number"`) {
			t.Errorf("labels not kept: %s", got.raw)
		}
		r.Code = "licence.labelled2"
		r.Fields[3].Values = append(r.Fields[3].Values, catalog.Value{Code: "valid", Label: "又有效"})
		a.want(a.do("POST", pResources, pResources, lic, r), 400, "duplicate_value")
	})

	t.Run("register refused", func(t *testing.T) {
		a := a.in(t)
		bad := func(edit func(*catalog.Resource)) catalog.Resource {
			r := licence("licence.drugs")
			edit(&r)
			return r
		}
		for _, tt := range []struct {
			name   string
			token  string
			body   any
			status int
			code   string
		}{
			{"duplicate code", lic, licence("licence.food-business"), 409, "resource_exists"},
			{"another department's resource", pop, licence("licence.drugs"), 403, "not_provider"},
			{"unknown department", a.token("tax", "service"), bad(func(r *catalog.Resource) { r.Provider = "tax" }), 403, "department_unknown"},
			{"a citizen's token", a.token("tax", "citizen"), licence("licence.drugs"), 403, "person_not_department"},
			{"provider's service token", a.token("licence", "service"), licence("licence.drugs"), 403, "role_required"},
			{"steward without catalog:write", a.token("licence", "steward", "registry:write"), licence("licence.drugs"), 403, "scope_missing"},
			{"malformed date", lic, bad(func(r *catalog.Resource) { r.PublishedOn = "2024-02-30" }), 400, "invalid_date"},
			{"unknown open class", lic, bad(func(r *catalog.Resource) { r.OpenClass = "public" }), 400, "invalid_open_class"},
			{"unknown sharing", lic, bad(func(r *catalog.Resource) { r.Sharing = "sometimes" }), 400, "invalid_sharing"},
			{"unknown method", lic, bad(func(r *catalog.Resource) { r.Methods = []string{"fax"} }), 400, "invalid_method"},
			{"unknown key type", lic, bad(func(r *catalog.Resource) { r.KeyType = "phone" }), 400, "invalid_key_type"},
			{"conditional without conditions", lic, bad(func(r *catalog.Resource) { r.Sharing = catalog.Conditional }), 400, "conditions_required"},
			{"duplicate field", lic, bad(func(r *catalog.Resource) { r.Fields[1].Name = "licence_number" }), 400, "duplicate_field"},
			{"invalid field name", lic, bad(func(r *catalog.Resource) { r.Fields[1].Name = "holder-uscc" }), 400, "invalid_field"},
			{"related not in the catalogue", lic, bad(func(r *catalog.Resource) { r.Related = []string{"licence.nothing"} }), 400, "related_not_found"},
			{"registered retired", lic, bad(func(r *catalog.Resource) { r.Status = "retired" }), 400, "invalid_status"},
			{"unknown member", lic, `{"code":"licence.drugs","admin":true}`, 400, "invalid_json"},
			{"not JSON", lic, `{"code":`, 400, "invalid_json"},
			{"wrong type", lic, `{"code":"licence.drugs","fields":"all"}`, 400, "invalid_json"},
			{"oversized body", lic, `{"summary":"` + strings.Repeat("x", 20<<10) + `"}`, 413, "body_too_large"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				a := a.in(t)
				a.want(a.do("POST", pResources, pResources, tt.token, tt.body), tt.status, tt.code)
			})
		}
		a.want(a.do("GET", "/v1/catalog/resources/licence.drugs", pResource, lic, nil), 404, "resource_not_found")
	})

	t.Run("show", func(t *testing.T) {
		a := a.in(t)
		r := a.do("GET", res, pResource, pop, nil)
		a.want(r, 200, "")
		if r.body["legal_basis"] != "《中华人民共和国食品安全法》" || r.body["published_on"] != "2024-06-30" || r.header.Get("ETag") != `"1"` {
			t.Errorf("show: %s", r.raw)
		}
		a.want(a.do("GET", "/v1/catalog/resources/licence.nothing", pResource, pop, nil), 404, "resource_not_found")
		a.want(a.do("GET", "/v1/catalog/resources/%00", pResource, pop, nil), 404, "resource_not_found")
	})

	// Update: read, change, send back with the version seen.
	var cur map[string]any
	json.Unmarshal(a.do("GET", res, pResource, lic, nil).raw, &cur)
	cur["summary"] = "Licences to run a food business."
	r = a.do("PUT", res, pResource, lic, cur)
	a.want(r, 200, "")
	if r.body["version"] != 2.0 || r.header.Get("ETag") != `"2"` || r.body["summary"] != cur["summary"] {
		t.Errorf("update: %s", r.raw)
	}

	t.Run("update refused", func(t *testing.T) {
		a := a.in(t)
		stale := cur // still version 1
		a.want(a.do("PUT", res, pResource, lic, stale), 409, "version_conflict")
		a.want(a.do("PUT", res, pResource, lic, licence("licence.food-business"), "If-Match", `"1"`), 409, "version_conflict")
		a.want(a.do("PUT", res, pResource, lic, licence("licence.food-business"), "If-Match", `yesterday`), 400, "invalid_if_match")
		a.want(a.do("PUT", res, pResource, pop, licence("licence.food-business")), 403, "not_provider")
		// The provider's other people read only: a reviewer, even with the
		// scope, and a steward without it.
		a.want(a.do("PUT", res, pResource, a.token("licence", "reviewer"), licence("licence.food-business")), 403, "role_required")
		a.want(a.do("PUT", res, pResource, a.token("licence", "service", "population.identity"), licence("licence.food-business")), 403, "role_required")
		a.want(a.do("PUT", res, pResource, a.token("licence", "steward", "grant:decide"), licence("licence.food-business")), 403, "scope_missing")
		a.want(a.do("POST", res+"/retire", pRetire, a.token("licence", "reviewer"), nil), 403, "role_required")
		a.want(a.do("PUT", res, pResource, lic, licence("licence.drugs")), 400, "code_mismatch")
		moved := licence("licence.food-business")
		moved.Provider = "population"
		a.want(a.do("PUT", res, pResource, lic, moved), 400, "provider_immutable")
		dup := licence("licence.food-business")
		dup.Fields = append(dup.Fields, dup.Fields[0])
		a.want(a.do("PUT", res, pResource, lic, dup), 400, "duplicate_field")
		a.want(a.do("PUT", "/v1/catalog/resources/licence.nothing", pResource, lic, licence("")), 404, "resource_not_found")
		a.want(a.do("PUT", res, pResource, lic, `{"summary": "`+strings.Repeat("y", 20<<10)+`"}`), 413, "body_too_large")
	})
	// Without a version the change is not checked against others.
	a.want(a.do("PUT", res, pResource, lic, licence("licence.food-business")), 200, "")

	t.Run("versions", func(t *testing.T) {
		a := a.in(t)
		r := a.do("GET", res+"/versions", pVersions, pop, nil)
		a.want(r, 200, "")
		vs, _ := r.body["versions"].([]any)
		if len(vs) != 3 {
			t.Fatalf("versions: %s", r.raw)
		}
		v2 := vs[1].(map[string]any)
		if v2["action"] != "update" || v2["actor"].(map[string]any)["dept"] != "licence" || v2["resource"].(map[string]any)["summary"] != cur["summary"] {
			t.Errorf("version 2: %v", v2)
		}
		a.want(a.do("GET", "/v1/catalog/resources/licence.nothing/versions", pVersions, pop, nil), 404, "resource_not_found")
	})

	t.Run("retire", func(t *testing.T) {
		a := a.in(t)
		a.want(a.do("POST", res+"/retire", pRetire, pop, nil), 403, "not_provider")
		a.want(a.do("POST", res+"/retire", pRetire, lic, nil, "If-Match", `"2"`), 409, "version_conflict")
		r := a.do("POST", res+"/retire", pRetire, lic, nil, "If-Match", `"3"`)
		a.want(r, 200, "")
		if r.body["status"] != "retired" || r.body["version"] != 4.0 {
			t.Errorf("retire: %s", r.raw)
		}
		a.want(a.do("POST", res+"/retire", pRetire, lic, nil), 409, "resource_retired")
		a.want(a.do("PUT", res, pResource, lic, licence("licence.food-business")), 409, "resource_retired")
		a.want(a.do("POST", "/v1/catalog/resources/licence.nothing/retire", pRetire, lic, nil), 404, "resource_not_found")
		if r := a.do("GET", res, pResource, pop, nil); r.status != 200 || r.body["status"] != "retired" {
			t.Errorf("a retired resource is gone from the catalogue view: %s", r.raw)
		}
		vs := a.do("GET", res+"/versions", pVersions, pop, nil).body["versions"].([]any)
		if last := vs[len(vs)-1].(map[string]any); last["action"] != "retire" {
			t.Errorf("last version: %v", last)
		}
	})
}

func TestHTTPSearch(t *testing.T) {
	s, _ := mustLicenceStore(t)
	a := newAPI(t, s)
	lic := a.token("licence", "steward")
	for _, code := range []string{"licence.a", "licence.b", "licence.c"} {
		a.want(a.do("POST", pResources, pResources, lic, licence(code)), 201, "")
	}
	var got []string
	next := ""
	for range 5 {
		r := a.do("GET", pResources+"?status=all&limit=2&cursor="+next, pResources, lic, nil)
		a.want(r, 200, "")
		if r.body["total"] != 5.0 {
			t.Fatalf("total: %s", r.raw)
		}
		for _, x := range r.body["resources"].([]any) {
			got = append(got, x.(map[string]any)["code"].(string))
		}
		next, _ = r.body["next"].(string)
		if next == "" {
			break
		}
	}
	if strings.Join(got, ",") != "licence.a,licence.b,licence.c,population.household,population.identity" {
		t.Errorf("paged search = %v", got)
	}
	r := a.do("GET", pResources+"?q=HOLDER_USCC&provider=licence&sharing=unconditional&open_class=open", pResources, lic, nil)
	if r.status != 200 || r.body["total"] != 3.0 {
		t.Errorf("filtered search: %s", r.raw)
	}
	for _, tt := range []struct{ query, code string }{
		{"limit=0", "invalid_limit"},
		{"limit=101", "invalid_limit"},
		{"limit=-1", "invalid_limit"},
		{"limit=ten", "invalid_limit"},
		{"limit=99999999999999999999", "invalid_limit"},
		{"sharing=sometimes", "invalid_sharing"},
		{"open_class=public", "invalid_open_class"},
		{"status=deleted", "invalid_status"},
		{"provider=tax", "unknown_provider"},
		{"provider=%27%3B--", "invalid_provider"},
		{"q=%00", "invalid_query"},
		{"cursor=%%%", "invalid_query_string"},
		{"cursor=abc!", "invalid_cursor"},
		{"page=2", "unknown_parameter"},
		{"q=a&q=b", "repeated_parameter"},
	} {
		t.Run(tt.query, func(t *testing.T) {
			a := a.in(t)
			a.want(a.do("GET", pResources+"?"+tt.query, pResources, lic, nil), 400, tt.code)
		})
	}
}

func TestHTTPDepartments(t *testing.T) {
	s, _ := mustSeeded(t)
	a := newAPI(t, s)
	admin, svc := a.token("service-center", "admin"), a.token("service-center", "service")

	r := a.do("GET", pDepartments, pDepartments, svc, nil)
	a.want(r, 200, "")
	if ds := r.body["departments"].([]any); len(ds) != 2 || ds[0].(map[string]any)["code"] != "population" {
		t.Errorf("departments: %s", r.raw)
	}
	a.want(a.do("GET", "/v1/catalog/departments/population", pDepartment, svc, nil), 200, "")
	a.want(a.do("GET", "/v1/catalog/departments/tax", pDepartment, svc, nil), 404, "department_not_found")

	tax := map[string]string{"name": "税务局 (Tax bureau)", "contact": "data@tax.example.gov.cn"}
	a.want(a.do("PUT", "/v1/catalog/departments/tax", pDepartment, svc, tax), 403, "admin_required")
	r = a.do("PUT", "/v1/catalog/departments/tax", pDepartment, admin, tax)
	a.want(r, 200, "")
	if r.body["code"] != "tax" || r.body["name"] != tax["name"] {
		t.Errorf("put department: %s", r.raw)
	}
	tax["name"] = "Tax bureau"
	a.want(a.do("PUT", "/v1/catalog/departments/tax", pDepartment, admin, tax), 200, "")
	if d, err := s.Department(context.Background(), "tax"); err != nil || d.Name != "Tax bureau" {
		t.Errorf("department after the second put: %+v, %v", d, err)
	}
	a.want(a.do("PUT", "/v1/catalog/departments/Tax%20Bureau", pDepartment, admin, tax), 400, "invalid_department_code")
	a.want(a.do("PUT", "/v1/catalog/departments/tax", pDepartment, admin, map[string]string{"code": "vat", "name": "x"}), 400, "code_mismatch")
	a.want(a.do("PUT", "/v1/catalog/departments/tax", pDepartment, admin, map[string]string{"name": ""}), 400, "invalid_name")
	a.want(a.do("PUT", "/v1/catalog/departments/tax", pDepartment, admin, `{"name":"x","budget":1}`), 400, "invalid_json")
}

func TestHTTPDepartmentKeys(t *testing.T) {
	ctx := context.Background()
	s, _ := mustSeeded(t)
	a := newAPI(t, s)
	retired := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, k := range []catalog.DepartmentKey{
		{Department: "population", KeyID: "seal-2024", PublicKey: newPub(t), CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), RetiredAt: &retired},
		{Department: "population", KeyID: "seal-2025", PublicKey: newPub(t), CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := s.PutDepartmentKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}

	// No token: the keys are public.
	r := a.do("GET", "/v1/catalog/departments/population/keys", pKeys, "", nil)
	a.want(r, 200, "")
	if ct := r.header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("content type %q", ct)
	}
	keys, _ := r.body["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["kid"] != "seal-2024" || keys[0].(map[string]any)["retired_at"] != "2025-06-01T00:00:00Z" ||
		keys[1].(map[string]any)["kid"] != "seal-2025" || keys[1].(map[string]any)["retired_at"] != nil {
		t.Errorf("keys: %s", r.raw)
	}
	r = a.do("GET", "/v1/catalog/departments/tax/keys", pKeys, "", nil)
	a.want(r, 404, "department_not_found")
	a.want(a.do("GET", "/v1/catalog/departments/Tax%20Bureau/keys", pKeys, "", nil), 400, "invalid_department_code")

	// The document's JWK schema is the one the answers are checked
	// against: a key of another type does not pass it.
	jwk, err := a.doc.Component("JWK")
	if err != nil {
		t.Fatal(err)
	}
	var rsa map[string]any
	json.Unmarshal([]byte(`{"kty":"RSA","crv":"Ed25519","x":"AA","kid":"k","alg":"EdDSA","use":"sig"}`), &rsa)
	if a.doc.Check(jwk, rsa) == nil {
		t.Error("the JWK schema takes an RSA key")
	}
}

func TestHTTPRoutes(t *testing.T) {
	s, _ := mustSeeded(t)
	a := newAPI(t, s)
	resp, err := http.Get(a.url + "/v1/catalog/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(b, catalog.OpenAPI()) {
		t.Errorf("openapi.json: %d", resp.StatusCode)
	}
	a.want(a.do("GET", "/v1/catalog/nothing", "", a.token("population", "service"), nil), 404, "route_not_found")
	a.want(a.do("DELETE", "/v1/catalog/resources/population.identity", "", a.token("population", "service"), nil), 404, "route_not_found")
	// Every documented path answers; none answers route_not_found.
	for _, p := range a.doc.Paths() {
		path := strings.ReplaceAll(p, "{code}", "population")
		if r := a.do("GET", path, "", a.token("population", "service"), nil); r.code() == "route_not_found" && !strings.HasSuffix(p, "/retire") {
			t.Errorf("documented path %s is not served", p)
		}
	}
}

// Wired as cmd/govx wires it, a change through the API reaches the
// exchange's policy cache within the second.
func TestHTTPChangeInvalidatesPolicy(t *testing.T) {
	ctx := context.Background()
	s, pool := mustSeeded(t)
	rdb := redistest.New(t)
	c, _ := newPolicy(t, s, catalog.NewGrantStore(pool, nil), rdb)
	inv, err := catalog.NewInvalidator(catalog.InvalidatorConfig{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	s.OnChange(inv.ResourceChanged)
	a := newAPI(t, s)
	if _, _, err := c.Lookup(ctx, "population.identity", catalog.DeptServiceCenter); err != nil {
		t.Fatal(err)
	}
	a.want(a.do("POST", "/v1/catalog/resources/population.identity/retire", pRetire, a.token("population", "admin"), nil), 200, "")
	deadline := time.Now().Add(time.Second)
	for {
		if _, _, err := c.Lookup(ctx, "population.identity", catalog.DeptServiceCenter); govx.ErrorCode(err) == "resource_not_found" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the policy cache still serves a retired resource a second later")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
