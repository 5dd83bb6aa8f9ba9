package node_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"govx"
	"govx/adapters"
	"govx/adapters/licence"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/node"
	"govx/node/nodetest"
)

// The open-data API is served on the exchange's address with the demo
// dataset published, and its cursors survive a restart on the same data
// folder.
func TestOpenDataServedWithDemo(t *testing.T) {
	cfg := nodetest.Config(t)
	m := nodetest.Start(t, cfg)
	// Its publisher's tokens (govx bench-open's) name a department the
	// catalogue holds.
	if ok, err := catalog.NewStore(m.Pool).DepartmentExists(context.Background(), node.DemoOpenPublisher); !ok || err != nil {
		t.Errorf("the demo dataset's publisher %s is not in the catalogue (%v)", node.DemoOpenPublisher, err)
	}
	get := func(base, path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	status, d := get(m.URL(), "/open/v1/datasets/"+node.DemoOpenDataset)
	if status != 200 || d["rows"].(float64) != 12*14*24 {
		t.Fatalf("demo dataset = %d %v", status, d)
	}
	status, page := get(m.URL(), "/open/v1/datasets/air-quality/records?filter=pm25:gt:60&sort=-pm25&limit=5&count=true")
	if status != 200 || len(page["records"].([]any)) != 5 || page["next"] == nil {
		t.Fatalf("records = %d %v", status, page)
	}
	next := page["next"].(string)
	m.Close()

	// Restarted on the same data folder: nothing is published twice and
	// the cursor still works.
	m2 := nodetest.Start(t, cfg)
	defer m2.Close()
	status, d = get(m2.URL(), "/open/v1/datasets/"+node.DemoOpenDataset)
	if status != 200 || d["version"].(float64) != 1 {
		t.Fatalf("after restart = %d %v", status, d)
	}
	status, page2 := get(m2.URL(), next)
	if status != 200 || len(page2["records"].([]any)) != 5 {
		t.Fatalf("next page after restart = %d %v", status, page2)
	}
	if strings.Contains(next, "count=") {
		t.Fatalf("next link repeats count: %s", next)
	}
}

// openAnswer is one answer of the running program, checked against the
// OpenAPI document it serves.
type openAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

func (a openAnswer) code() string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// openClient calls the running program's open-data API and validates
// every answer against the one document served at /open/v1/openapi.json.
type openClient struct {
	t    *testing.T
	base string
	doc  *openapicheck.Doc
}

func newOpenClient(t *testing.T, base string) *openClient {
	t.Helper()
	resp, err := http.Get(base + "/open/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := openapicheck.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &openClient{t: t, base: base, doc: doc}
}

func (c *openClient) do(method, path, template string, body io.Reader, hdr ...string) openAnswer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := openAnswer{status: resp.StatusCode, header: resp.Header}
	json.Unmarshal(raw, &a.body)
	if err := c.doc.CheckResponseJSON(method, template, a.status, "application/json", raw); err != nil {
		c.t.Errorf("%s %s: answer %d does not match the served OpenAPI document: %v", method, path, a.status, err)
	}
	return a
}

// Third parties read the open data anonymously within a per-address limit,
// or with a registered key (as X-API-Key or a client-credentials token)
// within a higher one; a revoked key stops working, and the one OpenAPI
// document describes every answer, key and token routes included.
func TestOpenDataAPIKeysAndLimits(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))
	c := newOpenClient(t, m.URL())
	for _, p := range []string{"/open/v1/datasets/{id}/records", "/open/v1/keys", "/open/v1/keys/{id}", "/open/v1/token"} {
		if !slices.Contains(c.doc.Paths(), p) {
			t.Fatalf("the served document lacks %s: %v", p, c.doc.Paths())
		}
	}
	const records, tmpl = "/open/v1/datasets/" + node.DemoOpenDataset + "/records?limit=2", "/open/v1/datasets/{id}/records"
	limitOf := func(a openAnswer) int {
		t.Helper()
		n, err := strconv.Atoi(a.header.Get("RateLimit-Limit"))
		if err != nil || a.header.Get("RateLimit-Remaining") == "" || a.header.Get("RateLimit-Reset") == "" || a.header.Get("RateLimit-Policy") == "" {
			t.Fatalf("RateLimit headers missing: %v", a.header)
		}
		return n
	}

	// Register a key: the secret is answered once.
	reg := c.do("POST", "/open/v1/keys", "/open/v1/keys", strings.NewReader(
		`{"name":"Atlas Maps","email":"dev@atlas.example","purpose":"air-quality map"}`), "Content-Type", "application/json")
	if reg.status != http.StatusCreated {
		t.Fatalf("register = %d %v", reg.status, reg.body)
	}
	id, _ := reg.body["id"].(string)
	secret, _ := reg.body["secret"].(string)
	apiKey, _ := reg.body["api_key"].(string)
	if id == "" || apiKey != id+"."+secret {
		t.Fatalf("register answered %v", reg.body)
	}

	// A new key has the anonymous limit; an operator raises it to the
	// registered tier's, above the anonymous one.
	a := c.do("GET", records, tmpl, nil, "X-API-Key", apiKey)
	if a.status != http.StatusOK || len(a.body["records"].([]any)) != 2 {
		t.Fatalf("with key = %d %v", a.status, a.body)
	}
	anon := c.do("GET", records, tmpl, nil)
	if anon.status != http.StatusOK {
		t.Fatalf("anonymous = %d %v", anon.status, anon.body)
	}
	if keyLimit, anonLimit := limitOf(a), limitOf(anon); keyLimit != anonLimit || a.header.Get("RateLimit-Policy") != anon.header.Get("RateLimit-Policy") {
		t.Fatalf("a new key's limit %d is not the anonymous %d", keyLimit, anonLimit)
	}
	operator := nodetest.Token(t, m.Key, auth.TokenSpec{Role: node.RoleOperator})
	if a := c.do("PUT", "/open/v1/keys/"+id+"/limit", "/open/v1/keys/{id}/limit", strings.NewReader(`{"tier":"registered"}`),
		"Content-Type", "application/json", "Authorization", "Bearer "+operator); a.status != http.StatusOK || a.body["tier"] != "registered" {
		t.Fatalf("operator raises the key = %d %v", a.status, a.body)
	}
	a = c.do("GET", records, tmpl, nil, "X-API-Key", apiKey)
	keyLimit := limitOf(a)
	if anonLimit := limitOf(anon); keyLimit <= anonLimit {
		t.Fatalf("raised key limit %d is not above the anonymous %d", keyLimit, anonLimit)
	}
	for i := range limitOf(anon) + 5 { // more than an anonymous burst
		if a := c.do("GET", records, tmpl, nil, "X-API-Key", apiKey); a.status != http.StatusOK {
			t.Fatalf("keyed request %d = %d %v", i, a.status, a.body)
		}
	}

	// Client credentials: the key's id and secret buy a bearer token that
	// reads under the key's budget.
	tr := c.do("POST", "/open/v1/token", "/open/v1/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded",
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(id+":"+secret)))
	tok, _ := tr.body["access_token"].(string)
	if tr.status != http.StatusOK || tok == "" || tr.body["token_type"] != "Bearer" {
		t.Fatalf("token = %d %v", tr.status, tr.body)
	}
	a = c.do("GET", records, tmpl, nil, "Authorization", "Bearer "+tok)
	if a.status != http.StatusOK || limitOf(a) != keyLimit {
		t.Fatalf("with token = %d %v %v", a.status, a.body, a.header)
	}

	// The holder revokes its key: the key and its tokens are refused.
	if a := c.do("DELETE", "/open/v1/keys/"+id, "/open/v1/keys/{id}", nil, "X-API-Key", apiKey); a.status != http.StatusOK {
		t.Fatalf("revoke = %d %v", a.status, a.body)
	}
	for name, hdr := range map[string][]string{"api key": {"X-API-Key", apiKey}, "token": {"Authorization", "Bearer " + tok}} {
		if a := c.do("GET", records, tmpl, nil, hdr...); a.status != http.StatusUnauthorized || a.code() != "api_key_revoked" {
			t.Fatalf("revoked %s = %d %v", name, a.status, a.body)
		}
	}

	// Anonymous callers run out of their burst and are told when to retry.
	var last openAnswer
	for range 100 {
		if last = c.do("GET", records, tmpl, nil); last.status != http.StatusOK {
			break
		}
		limitOf(last)
	}
	if last.status != http.StatusTooManyRequests || last.code() != "rate_limited" {
		t.Fatalf("past the anonymous burst = %d %v", last.status, last.body)
	}
	if s, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("429 without a usable Retry-After: %v", last.header)
	}
	if limitOf(last); last.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("429 with RateLimit-Remaining %q", last.header.Get("RateLimit-Remaining"))
	}
	// Registering is limited like reading, on the same exhausted budget,
	// so keys cannot be minted in bulk: at most a token or two has come
	// back since (one every 100 ms).
	registered := 0
	for range 5 {
		reg = c.do("POST", "/open/v1/keys", "/open/v1/keys", strings.NewReader(`{"name":"B","email":"b@b.example","purpose":"p"}`),
			"Content-Type", "application/json")
		if reg.status == http.StatusTooManyRequests {
			break
		}
		registered++
	}
	if reg.status != http.StatusTooManyRequests || registered > 2 {
		t.Fatalf("anonymous registration past the limit: %d registered, then %d", registered, reg.status)
	}
}

// The licensing department's food business licences are open data: the
// demo publishes them from the register, companies' licences only, and
// the department publishes a new version from its register at will.
func TestLicencesPublishedAsOpenData(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = node.ReferenceAdapters
	m := nodetest.Start(t, cfg)
	gens, err := node.NewGenerators(node.DemoRegisters(cfg.Residents))
	if err != nil {
		t.Fatal(err)
	}
	companies, persons := 0, 0
	for i := range node.DemoLicences {
		l := gens.Licences.Licence(i)
		if l.Type != licence.TypeFoodBusiness {
			continue
		}
		if govx.ValidateIDNumber(l.HolderCode) == nil {
			persons++
		} else {
			companies++
		}
	}
	if persons == 0 || companies == 0 {
		t.Fatalf("demo food licences: %d of companies, %d of persons; the test needs both", companies, persons)
	}
	st, body, raw := nodetest.Call(t, "GET", m.URL()+"/open/v1/datasets/licence-food-business/records?limit=1000&count=true&fields=number,holder_code,status", "", nil)
	if st != 200 {
		t.Fatalf("records: %d %s", st, raw)
	}
	recs, _ := body["records"].([]any)
	total, _ := body["total"].(float64)
	if int(total) != companies || len(recs) != min(companies, 1000) {
		t.Fatalf("total %v, %d records; want the %d licences of companies", body["total"], len(recs), companies)
	}
	for _, r := range recs {
		code, _ := r.(map[string]any)["holder_code"].(string)
		if govx.ValidateIDNumber(code) == nil || govx.ValidateUSCC(code) != nil {
			t.Fatalf("open data holds holder %q", code)
		}
	}
	// Only the provider publishes a new version.
	other := nodetest.Token(t, m.Key, auth.TokenSpec{Dept: "population", Role: "service"})
	if st, body, _ := nodetest.Call(t, "POST", m.URL()+"/open/v1/sources/licence.food-business/publish", other, nil); st != 403 {
		t.Errorf("another department published: %d %v", st, body)
	}
	steward := nodetest.Token(t, m.Key, auth.TokenSpec{Dept: licence.Department, Role: "service"})
	if st, body, _ := nodetest.Call(t, "POST", m.URL()+"/open/v1/sources/licence.food-business/publish", steward, nil); st/100 != 2 {
		t.Errorf("the licensing department published: %d %v", st, body)
	}

	// The dataset follows the register: a licence revoked there shows
	// revoked here, and the dataset's modified time moves on.
	var number string
	for _, r := range recs {
		if rec := r.(map[string]any); rec["status"] == "valid" {
			number = rec["number"].(string)
			break
		}
	}
	if number == "" {
		t.Fatal("no valid licence of a company in the open data")
	}
	dataset := m.URL() + "/open/v1/datasets/licence-food-business"
	modified := func() (time.Time, string) {
		t.Helper()
		resp, err := http.Get(dataset)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var d struct {
			Modified time.Time `json:"modified"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != 200 {
			t.Fatalf("dataset: %d %v", resp.StatusCode, err)
		}
		return d.Modified, resp.Header.Get("Last-Modified")
	}
	before, _ := modified()
	store := licence.NewStore(m.Pool, adapters.NewOutbox(m.Pool, licence.Schema, licence.Department, m.Codec, nil))
	if _, err := store.Revoke(t.Context(), number, "经营场所灭失"); err != nil {
		t.Fatal(err)
	}
	status := ""
	for deadline := time.Now().Add(90 * time.Second); status != "revoked" && time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		st, body, raw := nodetest.Call(t, "GET", dataset+"/records?fields=number,status&filter=number:eq:"+url.QueryEscape(number), "", nil)
		recs, _ := body["records"].([]any)
		if st != 200 || len(recs) != 1 {
			t.Fatalf("licence %s in the open data: %d %s", number, st, raw)
		}
		status, _ = recs[0].(map[string]any)["status"].(string)
	}
	if status != "revoked" {
		t.Fatalf("licence %s revoked in the register is %q in the open data", number, status)
	}
	after, lastModified := modified()
	if !after.After(before) {
		t.Errorf("modified %v after the change, %v before", after, before)
	}
	if lm, err := http.ParseTime(lastModified); err != nil || lm.Before(before.Truncate(time.Second)) {
		t.Errorf("Last-Modified %q, modified before the change %v", lastModified, before)
	}
	// The DCAT catalogue says the same.
	_, cat, raw := nodetest.Call(t, "GET", m.URL()+"/open/v1/catalog.jsonld", "", nil)
	found := false
	for _, d := range cat["dcat:dataset"].([]any) {
		d := d.(map[string]any)
		if d["dct:identifier"] != "licence-food-business" {
			continue
		}
		found = true
		v, _ := d["dct:modified"].(map[string]any)["@value"].(string)
		if at, err := time.Parse(time.RFC3339, v); err != nil || !at.After(before) {
			t.Errorf("DCAT dct:modified %q, modified before the change %v", v, before)
		}
	}
	if !found {
		t.Errorf("licence-food-business not in the DCAT catalogue: %s", raw)
	}
}
