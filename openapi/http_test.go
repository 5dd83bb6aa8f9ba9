package openapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/internal/postgres/postgrestest"
	"govx/openapi"
)

type api struct {
	t       *testing.T
	url     string
	key     *auth.Key
	doc     *openapicheck.Doc
	limited *atomic.Int64
}

// fixedSource is an in-process department system: what a Source is for.
type fixedSource struct{ rows [][]string }

func (fixedSource) Columns() []openapi.Column {
	return []openapi.Column{{Name: "licence_no", Type: openapi.Text}, {Name: "holder", Type: openapi.Text}, {Name: "issued_on", Type: openapi.Date}}
}

func (f fixedSource) Rows(ctx context.Context, yield func([]string) error) error {
	for _, r := range f.rows {
		if err := yield(r); err != nil {
			return err
		}
	}
	return nil
}

func newAPI(t *testing.T) *api {
	t.Helper()
	pool := postgrestest.NewMigrated(t, catalog.MigrationSource(), openapi.MigrationSource())
	cs := catalog.NewStore(pool)
	ctx := context.Background()
	for _, d := range []string{"licensing", "market-regulation", "health", "environment"} {
		if err := cs.PutDepartment(ctx, catalog.Department{Code: d, Name: d}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.PutResources(ctx, catalog.Resource{Code: "licence.shops", Name: "Shop licences", Provider: "licensing", KeyType: "licence_number",
		Fields: []catalog.Field{{Name: "holder", Type: "string"}}, Sharing: catalog.Unconditional, OpenClass: catalog.Open, SchemaSubject: "licence.shops"},
		catalog.Resource{Code: "licence.secret", Name: "Closed", Provider: "licensing", KeyType: "licence_number",
			Fields: []catalog.Field{{Name: "holder", Type: "string"}}, Sharing: catalog.Unconditional, OpenClass: catalog.NotOpen, SchemaSubject: "licence.secret"},
	); err != nil {
		t.Fatal(err)
	}
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: "govx", Audience: "govx-exchange"}, key)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapicheck.Load(openapi.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var limited atomic.Int64
	src := fixedSource{rows: [][]string{{"L-1", "Acme Ltd", "2025-01-02"}, {"L-2", "Beta Co", ""}}}
	h, err := openapi.NewHandler(openapi.Config{Store: openapi.NewStore(pool), Verifier: v, Departments: cs, Resources: cs,
		Sources:   map[string]openapi.Source{"licence.shops": src, "licence.secret": src},
		MaxUpload: 4 << 10,
		Limit: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				limited.Add(1)
				next.ServeHTTP(w, r)
			})
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &api{t: t, url: srv.URL, key: key, doc: doc, limited: &limited}
}

func (a *api) token(dept, role string) string {
	a.t.Helper()
	tok, err := a.key.Mint(auth.TokenSpec{Issuer: "govx", Audience: "govx-exchange", Subject: "svc", Dept: dept, Role: role})
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a.body)
	}
	return m
}

func (a answer) code(t *testing.T) string {
	t.Helper()
	e, _ := a.json(t)["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// do sends a request and checks a JSON answer against the document's
// schema for template.
func (a *api) do(method, path, template, token string, body io.Reader, hdr ...string) answer {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.url+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent gzip
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	ct := resp.Header.Get("Content-Type")
	if template != "" && strings.Contains(ct, "json") && resp.Header.Get("Content-Encoding") == "" {
		if err := a.doc.CheckResponseJSON(method, template, resp.StatusCode, ct, raw); err != nil {
			a.t.Errorf("%s %s: answer does not match the OpenAPI document: %v\n%s", method, path, err, raw)
		}
	}
	return answer{resp.StatusCode, resp.Header, raw}
}

const uploadCSV = "shop,district,opened,rating\nNoodle House,Futian,2025-01-03,4.5\nTea Co,Nanshan,2025-02-11,3.75\nDumplings,Futian,2025-03-01,\n"

func TestOpenDataAPI(t *testing.T) {
	a := newAPI(t)
	pub := a.token("market-regulation", "service")
	meta := `{"title":"Food shops","description":"Licensed food shops","theme":"economy","keywords":["food","shops"],"licence":"CC-BY-4.0","frequency":"monthly","temporal_start":"2025-01-01","temporal_end":"2025-12-31","spatial":"Shenzhen"}`

	if r := a.do("PUT", "/open/v1/datasets/shops", "/open/v1/datasets/{id}", a.token("market-regulation", "citizen"), strings.NewReader(meta)); r.status != 403 {
		t.Fatalf("citizen PUT = %d, want 403", r.status)
	}
	// A token's department must be one the catalogue holds.
	if r := a.do("PUT", "/open/v1/datasets/shops", "/open/v1/datasets/{id}", a.token("no-such-department", "service"), strings.NewReader(meta)); r.status != 403 || r.code(t) != "department_unknown" {
		t.Fatalf("unknown department's PUT = %d %s, want 403 department_unknown", r.status, r.body)
	}
	if r := a.do("PUT", "/open/v1/datasets/shops", "/open/v1/datasets/{id}", pub, strings.NewReader(meta)); r.status != 201 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	if r := a.do("PUT", "/open/v1/datasets/shops", "/open/v1/datasets/{id}", a.token("health", "service"), strings.NewReader(meta)); r.code(t) != "not_publisher" {
		t.Fatalf("other department's PUT = %d %s", r.status, r.body)
	}
	up := a.do("POST", "/open/v1/datasets/shops/versions", "/open/v1/datasets/{id}/versions", pub, strings.NewReader(uploadCSV), "Content-Type", "text/csv")
	if up.status != 201 {
		t.Fatalf("upload = %d %s", up.status, up.body)
	}
	d := up.json(t)
	if d["version"].(float64) != 1 || d["rows"].(float64) != 3 || len(d["distributions"].([]any)) != 3 {
		t.Fatalf("dataset after upload: %s", up.body)
	}

	t.Run("malformed upload is 422 with the line and the old version serves", func(t *testing.T) {
		r := a.do("POST", "/open/v1/datasets/shops/versions?columns=shop:text,district:text,opened:date,rating:number", "/open/v1/datasets/{id}/versions", pub,
			strings.NewReader("shop,district,opened,rating\nA,B,2025-01-01,1\nC,D,2025-13-01,2\n"))
		if r.status != 422 || r.code(t) != "csv_invalid" || !strings.Contains(string(r.body), "line 3") {
			t.Fatalf("malformed = %d %s", r.status, r.body)
		}
		big := "shop,district,opened,rating\n" + strings.Repeat("A,B,2025-01-01,1\n", 400)
		if r := a.do("POST", "/open/v1/datasets/shops/versions", "/open/v1/datasets/{id}/versions", pub, strings.NewReader(big)); r.status != 413 {
			t.Fatalf("too large = %d %s", r.status, r.body)
		}
		r = a.do("GET", "/open/v1/datasets/shops/records?count=true", "/open/v1/datasets/{id}/records", "", nil)
		if m := r.json(t); m["version"].(float64) != 1 || m["total"].(float64) != 3 {
			t.Fatalf("after failed uploads: %s", r.body)
		}
	})

	t.Run("a declared index naming no column is 400 and nothing is written", func(t *testing.T) {
		r := a.do("POST", "/open/v1/datasets/shops/versions?index=district,nope", "/open/v1/datasets/{id}/versions", pub, strings.NewReader(uploadCSV), "Content-Type", "text/csv")
		if r.status != 400 || r.code(t) != "index_invalid" || !strings.Contains(string(r.body), `no column \"nope\"`) {
			t.Fatalf("bad index = %d %s", r.status, r.body)
		}
		r = a.do("GET", "/open/v1/datasets/shops", "/open/v1/datasets/{id}", "", nil)
		if m := r.json(t); m["version"].(float64) != 1 {
			t.Fatalf("after a refused index: %s", r.body)
		}
	})

	t.Run("records with filters, fields, paging and ETag", func(t *testing.T) {
		r := a.do("GET", "/open/v1/datasets/shops/records?fields=shop&filter=district:eq:Futian&sort=-opened&limit=1", "/open/v1/datasets/{id}/records", "", nil)
		m := r.json(t)
		if r.status != 200 || !strings.Contains(string(r.body), `"records":[{"shop":"Dumplings"}]`) || m["next"] == nil {
			t.Fatalf("page 1 = %d %s", r.status, r.body)
		}
		r2 := a.do("GET", m["next"].(string), "/open/v1/datasets/{id}/records", "", nil)
		if !strings.Contains(string(r2.body), `"records":[{"shop":"Noodle House"}]`) || r2.json(t)["next"] != nil {
			t.Fatalf("page 2 = %s", r2.body)
		}
		etag := r.header.Get("ETag")
		if r := a.do("GET", "/open/v1/datasets/shops/records", "", "", nil, "If-None-Match", etag); r.status != 304 {
			t.Fatalf("If-None-Match = %d, want 304", r.status)
		}
		if r := a.do("GET", "/open/v1/datasets/shops", "", "", nil); r.header.Get("ETag") == "" {
			t.Fatal("metadata has no ETag")
		} else if r2 := a.do("GET", "/open/v1/datasets/shops", "", "", nil, "If-None-Match", r.header.Get("ETag")); r2.status != 304 {
			t.Fatalf("metadata If-None-Match = %d", r2.status)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for path, want := range map[string]struct {
			status int
			code   string
		}{
			"/open/v1/datasets/nope/records":                     {404, "dataset_not_found"},
			"/open/v1/datasets/nope":                             {404, "dataset_not_found"},
			"/open/v1/datasets/shops/records?fields=x":           {400, "unknown_column"},
			"/open/v1/datasets/shops/records?filter=opened:xx:1": {400, "filter_invalid"},
			"/open/v1/datasets/shops/records?filter=rating":      {400, "filter_invalid"},
			"/open/v1/datasets/shops/records?limit=5000":         {400, "limit_too_large"},
			"/open/v1/datasets/shops/records?cursor=abc.def":     {400, "cursor_invalid"},
			"/open/v1/datasets/shops/versions/9/records":         {404, "version_not_found"},
			"/open/v1/datasets/shops/export?format=xml":          {400, "format_invalid"},
		} {
			r := a.do("GET", path, strings.Split(strings.Replace(strings.Replace(strings.Replace(path, "/nope", "/{id}", 1), "/shops", "/{id}", 1), "/9/", "/{n}/", 1), "?")[0], "", nil)
			if r.status != want.status || r.code(t) != want.code {
				t.Errorf("%s = %d %s, want %d %s", path, r.status, r.body, want.status, want.code)
			}
		}
	})

	t.Run("exports", func(t *testing.T) {
		csv := a.do("GET", "/open/v1/datasets/shops/export", "", "", nil)
		if csv.status != 200 || string(csv.body) != "shop,district,opened,rating\nNoodle House,Futian,2025-01-03,4.5\nTea Co,Nanshan,2025-02-11,3.75\nDumplings,Futian,2025-03-01,\n" {
			t.Fatalf("csv = %d %q", csv.status, csv.body)
		}
		if int(d["distributions"].([]any)[0].(map[string]any)["byte_size"].(float64)) != len(csv.body) {
			t.Fatalf("csv byte_size %v != %d", d["distributions"], len(csv.body))
		}
		nd := a.do("GET", "/open/v1/datasets/shops/export?format=ndjson&filter=district:eq:Futian&fields=shop,rating", "", "", nil, "Accept-Encoding", "gzip")
		if nd.header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("no gzip: %v", nd.header)
		}
		zr, err := gzip.NewReader(bytes.NewReader(nd.body))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if string(plain) != "{\"shop\":\"Noodle House\",\"rating\":4.5}\n{\"shop\":\"Dumplings\",\"rating\":null}\n" {
			t.Fatalf("ndjson = %q", plain)
		}
		js := a.do("GET", "/open/v1/datasets/shops/export?format=json", "/open/v1/datasets/{id}/export", "", nil)
		var arr []map[string]any
		if err := json.Unmarshal(js.body, &arr); err != nil || len(arr) != 3 {
			t.Fatalf("json export = %v %s", err, js.body)
		}
	})

	t.Run("search, facets, DCAT", func(t *testing.T) {
		a.do("PUT", "/open/v1/datasets/air", "/open/v1/datasets/{id}", a.token("environment", "steward"), strings.NewReader(`{"title":"Air quality","theme":"environment"}`))
		r := a.do("GET", "/open/v1/datasets?q=FOOD", "/open/v1/datasets", "", nil)
		m := r.json(t)
		if m["total"].(float64) != 1 {
			t.Fatalf("q=FOOD: %s", r.body)
		}
		r = a.do("GET", "/open/v1/datasets?format=csv", "/open/v1/datasets", "", nil)
		if m := r.json(t); m["total"].(float64) != 1 {
			t.Fatalf("format=csv: %s", r.body)
		}
		r = a.do("GET", "/open/v1/datasets", "/open/v1/datasets", "", nil)
		if !strings.Contains(string(r.body), `"theme":[{"value":"economy","count":1},{"value":"environment","count":1}]`) {
			t.Fatalf("facets: %s", r.body)
		}
		r = a.do("GET", "/open/v1/catalog.jsonld", "/open/v1/catalog.jsonld", "", nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"dcat:Distribution"`) {
			t.Fatalf("catalog = %d %s", r.status, r.body)
		}
	})

	t.Run("publishing from a source", func(t *testing.T) {
		lic := a.token("licensing", "service")
		if r := a.do("POST", "/open/v1/sources/licence.secret/publish", "/open/v1/sources/{code}/publish", lic, nil); r.code(t) != "resource_not_open" {
			t.Fatalf("not-open resource = %d %s", r.status, r.body)
		}
		if r := a.do("POST", "/open/v1/sources/licence.shops/publish", "/open/v1/sources/{code}/publish", pub, nil); r.code(t) != "not_provider" {
			t.Fatalf("other department = %d %s", r.status, r.body)
		}
		r := a.do("POST", "/open/v1/sources/licence.shops/publish", "/open/v1/sources/{code}/publish", lic, nil)
		if r.status != 201 || r.json(t)["rows"].(float64) != 2 {
			t.Fatalf("publish = %d %s", r.status, r.body)
		}
		r = a.do("GET", "/open/v1/datasets/licence-shops/records?filter=issued_on:gte:2025-01-01", "/open/v1/datasets/{id}/records", "", nil)
		if !strings.Contains(string(r.body), `"records":[{"licence_no":"L-1","holder":"Acme Ltd","issued_on":"2025-01-02"}]`) {
			t.Fatalf("source records: %s", r.body)
		}
	})

	t.Run("docs and limit hook", func(t *testing.T) {
		r := a.do("GET", "/open/v1/docs", "", "", nil)
		if r.status != 200 || !strings.Contains(string(r.body), "filter=column:op:value") {
			t.Fatalf("docs = %d", r.status)
		}
		if r := a.do("GET", "/open/v1/openapi.json", "", "", nil); r.status != 200 {
			t.Fatalf("openapi.json = %d", r.status)
		}
		before := a.limited.Load()
		a.do("GET", "/open/v1/datasets/shops", "", "", nil)
		if a.limited.Load() != before+1 {
			t.Fatal("the Limit middleware did not see a public read")
		}
	})
}

// Text PostgreSQL cannot hold is refused at the edge with 400, never a 500.
func TestBadTextIsRefused(t *testing.T) {
	a := newAPI(t)
	pub := a.token("market-regulation", "service")
	for _, q := range []string{"q=%00", "q=%ff%fe", "publisher=%00", "theme=%ff"} {
		r := a.do("GET", "/open/v1/datasets?"+q, "/open/v1/datasets", "", nil)
		if r.status != 400 || r.code(t) != "invalid_text" {
			t.Errorf("GET ?%s = %d %s, want 400 invalid_text", q, r.status, r.body)
		}
	}
	for _, meta := range []string{`{"title":"Food\u0000shops"}`, `{"title":"Food","keywords":["a\u0000"]}`, "{\"title\":\"\xff\"}"} {
		r := a.do("PUT", "/open/v1/datasets/shops", "/open/v1/datasets/{id}", pub, strings.NewReader(meta))
		if r.status != 400 || r.code(t) != "invalid_text" {
			t.Errorf("PUT %q = %d %s, want 400 invalid_text", meta, r.status, r.body)
		}
	}
}

// A text cell a spreadsheet would evaluate leaves the CSV export with a
// single quote in front; numbers and the JSON exports keep their value.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	a := newAPI(t)
	pub := a.token("market-regulation", "service")
	if r := a.do("PUT", "/open/v1/datasets/cells", "/open/v1/datasets/{id}", pub, strings.NewReader(`{"title":"Cells"}`)); r.status != 201 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	upload := "name,score\n" +
		`"=HYPERLINK(""http://x"")",-3.5` + "\n" +
		"+1 text,1\n" +
		"-minus,2\n" +
		"@SUM(A1),3\n" +
		"\"\tTab\",4\n" +
		"\"\rCR\",5\n" +
		"plain,-6\n"
	if r := a.do("POST", "/open/v1/datasets/cells/versions", "/open/v1/datasets/{id}/versions", pub, strings.NewReader(upload), "Content-Type", "text/csv"); r.status != 201 {
		t.Fatalf("upload = %d %s", r.status, r.body)
	}
	r := a.do("GET", "/open/v1/datasets/cells/export?format=csv", "", "", nil)
	want := "name,score\n" +
		`"'=HYPERLINK(""http://x"")",-3.5` + "\n" +
		"'+1 text,1\n" +
		"'-minus,2\n" +
		"'@SUM(A1),3\n" +
		"'\tTab,4\n" +
		"\"'\rCR\",5\n" +
		"plain,-6\n"
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("CSV export = %d\n%q\nwant\n%q", r.status, r.body, want)
	}
	r = a.do("GET", "/open/v1/datasets/cells/export?format=json", "", "", nil)
	var rows []map[string]any
	if err := json.Unmarshal(r.body, &rows); err != nil || len(rows) != 7 {
		t.Fatalf("JSON export = %v %s", err, r.body)
	}
	for i, name := range []string{`=HYPERLINK("http://x")`, "+1 text", "-minus", "@SUM(A1)", "\tTab", "\rCR", "plain"} {
		if rows[i]["name"] != name {
			t.Errorf("JSON row %d name = %q, want %q", i, rows[i]["name"], name)
		}
	}
	if rows[0]["score"] != -3.5 {
		t.Errorf("JSON score = %v, want -3.5", rows[0]["score"])
	}
}

// A publisher follows its upload while the CSV is still arriving: the
// rows copied in so far, on a status endpoint, since the POST answers only
// at the end. Nobody else sees it, and it is gone once the version is in.
func TestUploadProgress(t *testing.T) {
	a := newAPI(t)
	pub := a.token("market-regulation", "service")
	const path, tmpl = "/open/v1/datasets/shops/upload", "/open/v1/datasets/{id}/upload"
	if r := a.do("PUT", "/open/v1/datasets/shops", "/open/v1/datasets/{id}", pub, strings.NewReader(`{"title":"Shops","theme":"economy"}`)); r.status != 201 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if r := a.do("GET", path, tmpl, pub, nil); r.status != 404 || r.code(t) != "upload_not_running" {
		t.Fatalf("before any upload: %d %s", r.status, r.body)
	}

	// The body arrives in two parts; the test holds the second back.
	pr, pw := io.Pipe()
	posted := make(chan answer, 1)
	go func() {
		posted <- a.do("POST", "/open/v1/datasets/shops/versions?columns=shop:text,rating:number", "/open/v1/datasets/{id}/versions", pub, pr,
			"Content-Type", "text/csv")
	}()
	io.WriteString(pw, "shop,rating\nNoodle House,4.5\nTea Co,3.75\nDumplings,\n")
	var p map[string]any
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		r := a.do("GET", path, tmpl, pub, nil)
		if r.status == 200 {
			if p = r.json(t); p["rows"] == 3.0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress of 3 rows while the upload runs: %d %s", r.status, r.body)
		}
	}
	if p["dataset"] != "shops" || p["publisher"] != "market-regulation" || p["phase"] != "loading" || p["started_at"] == nil {
		t.Errorf("progress %v", p)
	}
	for _, tok := range []string{a.token("health", "service"), ""} {
		if r := a.do("GET", path, tmpl, tok, nil); r.status == 200 {
			t.Errorf("another department sees the upload: %s", r.body)
		}
	}
	io.WriteString(pw, "Bao Shop,4\n")
	pw.Close()
	if r := <-posted; r.status != 201 || r.json(t)["rows"] != 4.0 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	if r := a.do("GET", path, tmpl, pub, nil); r.status != 404 || r.code(t) != "upload_not_running" {
		t.Errorf("after the upload: %d %s", r.status, r.body)
	}
}
