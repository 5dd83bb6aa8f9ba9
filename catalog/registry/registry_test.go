package registry_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"
	hambareg "github.com/hamba/avro/v2/registry"

	"govx/bus"
	"govx/catalog"
	"govx/catalog/registry"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/httpx/openapicheck"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

const (
	testIssuer   = "govx"
	testAudience = "govx-exchange"
)

// Schemas of a test record, as in the catalogue's compatibility tests.
const (
	fName      = `{"name": "name", "type": "string"}`
	fAgeInt0   = `{"name": "age", "type": "int", "default": 0}`
	fAgeString = `{"name": "age", "type": "string"}`
	fStatus    = `{"name": "status", "type": "string"}`
)

// person is a record govx.test.Person with the given fields (JSON).
func person(fields ...string) string {
	return `{"type": "record", "name": "Person", "namespace": "govx.test", "fields": [` + strings.Join(fields, ", ") + `]}`
}

// mustSeeded returns a Store with the demo catalogue on a fresh database.
func mustSeeded(tb testing.TB) *catalog.Store {
	tb.Helper()
	s := catalog.NewStore(postgrestest.NewMigrated(tb, catalog.MigrationSource()))
	if err := catalog.SeedDemo(context.Background(), s); err != nil {
		tb.Fatalf("SeedDemo: %v", err)
	}
	return s
}

type registryFixture struct {
	store *catalog.Store
	key   *auth.Key
	base  string // the registry's base URL, under /registry
}

// mustRegistry serves the registry of a seeded catalogue under /registry
// of a test server, as the exchange mounts it.
func mustRegistry(t *testing.T) registryFixture {
	t.Helper()
	store := mustSeeded(t)
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(auth.Config{Issuer: testIssuer, Audience: testAudience}, key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := registry.NewHandler(registry.Config{Store: store, Verifier: verifier, Prefix: "/registry"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/registry/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return registryFixture{store: store, key: key, base: srv.URL + "/registry"}
}

func (f registryFixture) token(t *testing.T, dept, role string, scopes ...string) string {
	t.Helper()
	tok, err := f.key.Mint(auth.TokenSpec{Issuer: testIssuer, Audience: testAudience, Subject: "svc:test",
		Dept: dept, Role: role, Scopes: scopes, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// bearer adds a token to every request of the hamba client, which knows
// only basic auth itself.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func (f registryFixture) client(t *testing.T, token string) *hambareg.Client {
	t.Helper()
	var opts []hambareg.ClientFunc
	if token != "" {
		opts = append(opts, hambareg.WithHTTPClient(&http.Client{Transport: bearer{token}, Timeout: 10 * time.Second}))
	}
	c, err := hambareg.NewClient(f.base, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hamba/avro's registry client, a client govx did not write, works the
// registry end to end under a path prefix: register, fetch, check, look
// up, configure, delete.
func TestRegistryWithHambaClient(t *testing.T) {
	ctx := context.Background()
	f := mustRegistry(t)
	provider := f.client(t, f.token(t, catalog.DeptPopulation, "service", registry.ScopeWrite))
	const subject = schemas.PopulationIdentity

	v1, err := provider.GetLatestSchemaInfo(ctx, subject)
	if err != nil {
		t.Fatalf("GetLatestSchemaInfo: %v", err)
	}
	if v1.Version != 1 || v1.Schema.(hamba.NamedSchema).FullName() == "" {
		t.Fatalf("seeded version = %+v, want version 1 of a named record", v1)
	}
	text, _ := schemas.Text(subject)
	var doc map[string]any
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	fields := doc["fields"].([]any)
	withField := func(f string) string {
		var extra map[string]any
		json.Unmarshal([]byte(f), &extra)
		d := map[string]any{}
		for k, v := range doc {
			d[k] = v
		}
		d["fields"] = append(slices.Clone(fields), extra)
		b, _ := json.Marshal(d)
		return string(b)
	}
	v2text := withField(`{"name": "photo_ref", "type": "string", "default": ""}`)
	badText := withField(`{"name": "height_cm", "type": "int"}`)

	t.Run("check compatibility", func(t *testing.T) {
		if ok, err := provider.IsCompatible(ctx, subject, v2text); err != nil || !ok {
			t.Errorf("IsCompatible(new field with default) = %v, %v; want true", ok, err)
		}
		if ok, err := provider.IsCompatible(ctx, subject, badText); err != nil || ok {
			t.Errorf("IsCompatible(new field without default) = %v, %v; want false", ok, err)
		}
	})

	var id2 int
	t.Run("register and fetch", func(t *testing.T) {
		id2, _, err = provider.CreateSchema(ctx, subject, v2text)
		if err != nil {
			t.Fatalf("CreateSchema: %v", err)
		}
		again, _, err := provider.CreateSchema(ctx, subject, v2text)
		if err != nil || again != id2 {
			t.Errorf("registering the same schema again = %d, %v; want id %d", again, err, id2)
		}
		info, err := provider.GetLatestSchemaInfo(ctx, subject)
		if err != nil || info.Version != 2 || info.ID != id2 {
			t.Fatalf("latest = %+v, %v; want version 2, id %d", info, err, id2)
		}
		s, err := f.client(t, "").GetSchema(ctx, id2)
		if err != nil {
			t.Fatal(err)
		}
		if rec := s.(*hamba.RecordSchema); rec.Fields()[len(rec.Fields())-1].Name() != "photo_ref" {
			t.Errorf("schema %d has no photo_ref field: %s", id2, s)
		}
		if id, _, err := provider.IsRegistered(ctx, subject, v2text); err != nil || id != id2 {
			t.Errorf("IsRegistered = %d, %v; want %d", id, err, id2)
		}
		if vs, err := provider.GetVersions(ctx, subject); err != nil || !reflect.DeepEqual(vs, []int{1, 2}) {
			t.Errorf("GetVersions = %v, %v; want [1 2]", vs, err)
		}
		if subs, err := provider.GetSubjects(ctx); err != nil || !slices.Contains(subs, subject) {
			t.Errorf("GetSubjects = %v, %v; want it to hold %s", subs, err, subject)
		}
	})

	t.Run("incompatible version refused with the field and the rule", func(t *testing.T) {
		_, _, err := provider.CreateSchema(ctx, subject, badText)
		var re hambareg.Error
		if !errors.As(err, &re) {
			t.Fatalf("CreateSchema = %v, want a hambareg.Error", err)
		}
		want := "field `height_cm` added without default (BACKWARD: this schema cannot read data written with version 2"
		if re.StatusCode != http.StatusConflict || re.Code != 409 || !strings.Contains(re.Message, want) {
			t.Errorf("error = %d %d %q; want 409 409 holding %q", re.StatusCode, re.Code, re.Message, want)
		}
	})

	t.Run("compatibility levels", func(t *testing.T) {
		if lvl, err := provider.GetGlobalCompatibilityLevel(ctx); err != nil || lvl != hambareg.BackwardCL {
			t.Errorf("global level = %q, %v; want BACKWARD", lvl, err)
		}
		if err := provider.SetCompatibilityLevel(ctx, subject, hambareg.NoneCL); err != nil {
			t.Fatal(err)
		}
		if lvl, err := provider.GetCompatibilityLevel(ctx, subject); err != nil || lvl != hambareg.NoneCL {
			t.Errorf("subject level = %q, %v; want NONE", lvl, err)
		}
		if ok, err := provider.IsCompatible(ctx, subject, badText); err != nil || !ok {
			t.Errorf("IsCompatible under NONE = %v, %v; want true", ok, err)
		}
		if err := provider.SetGlobalCompatibilityLevel(ctx, hambareg.FullCL); err == nil {
			t.Error("a department's token set the registry-wide level")
		}
	})

	t.Run("soft delete", func(t *testing.T) {
		deleted, err := provider.DeleteSubject(ctx, subject)
		if err != nil || !reflect.DeepEqual(deleted, []int{1, 2}) {
			t.Fatalf("DeleteSubject = %v, %v; want [1 2]", deleted, err)
		}
		var re hambareg.Error
		if _, err := provider.GetVersions(ctx, subject); !errors.As(err, &re) || re.Code != 40401 {
			t.Errorf("GetVersions after delete = %v, want 40401", err)
		}
		// Messages on the bus still carry the ids.
		if _, err := f.client(t, "").GetSchema(ctx, id2); err != nil {
			t.Errorf("GetSchema(%d) after delete: %v", id2, err)
		}
		id3, _, err := provider.CreateSchema(ctx, subject, v2text)
		if err != nil {
			t.Fatal(err)
		}
		if id3 != id2 {
			t.Errorf("registered again after its deletion: id %d, want %d as before", id3, id2)
		}
		if info, err := provider.GetLatestSchemaInfo(ctx, subject); err != nil || info.Version != 3 || info.ID != id2 {
			t.Errorf("after re-registering: %+v, %v; want version 3, id %d", info, err, id2)
		}
	})
}

// A bus message written by govx's codec decodes with nothing but the
// hamba client and hamba avro: the id from the wire bytes, the schema from
// the registry.
func TestRegistryDecodesBusMessages(t *testing.T) {
	ctx := context.Background()
	f := mustRegistry(t)
	codec := avro.NewCodec(f.store)
	if err := schemas.RegisterAll(ctx, codec); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	req := bus.Request{RequestID: "r-1", Resource: "population.identity", Key: "11010519491231002X",
		Fields: []string{"name", "sex"}, Purpose: "case:2026-000123", Consumer: "service-center",
		Caller: "clerk-7", ReplyTo: "govx.replies.x", RequestedAt: now, Deadline: now.Add(5 * time.Second)}
	msg, err := codec.Marshal(schemas.Request, req)
	if err != nil {
		t.Fatal(err)
	}
	if msg[0] != 0 {
		t.Fatalf("magic byte %d", msg[0])
	}
	id := int(binary.BigEndian.Uint32(msg[1:5]))
	s, err := f.client(t, "").GetSchema(ctx, id)
	if err != nil {
		t.Fatalf("GetSchema(%d): %v", id, err)
	}
	var got bus.Request
	if err := hamba.Unmarshal(s, msg[5:], &got); err != nil {
		t.Fatalf("decoding with the fetched schema: %v", err)
	}
	if !reflect.DeepEqual(got, req) {
		t.Errorf("decoded\n got %+v\nwant %+v", got, req)
	}
	info, err := f.client(t, "").GetLatestSchemaInfo(ctx, schemas.Request)
	if err != nil || info.ID != id {
		t.Errorf("latest %s = %+v, %v; want id %d", schemas.Request, info, err, id)
	}
}

type call struct {
	name     string
	method   string
	path     string // under the base URL
	template string // the document's path template
	token    string
	ctype    string
	body     string
	status   int
	code     int    // error_code; 0 for a good answer
	msg      string // substring of the message
}

func (f registryFixture) do(t *testing.T, c call) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(c.method, f.base+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.body != "" {
		ct := c.ctype
		if ct == "" {
			ct = registry.ContentType
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func schemaBody(schema string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema})
	return string(b)
}

// Every answer, good or bad, has Confluent's shape and status, the
// registry's media type, and matches the OpenAPI document; writes are held
// to scope, department and role.
func TestRegistryAnswers(t *testing.T) {
	doc, err := openapicheck.Load(registry.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	f := mustRegistry(t)
	writer := f.token(t, "market-regulation", "service", registry.ScopeWrite)
	popWriter := f.token(t, catalog.DeptPopulation, "service", registry.ScopeWrite)
	admin := f.token(t, "ops", catalog.RoleAdmin, registry.ScopeWrite)
	noScope := f.token(t, catalog.DeptPopulation, "service", "population.identity")
	envelope, _ := schemas.Text(schemas.Request)
	p1 := schemaBody(person(fName))
	p2 := schemaBody(person(fName, fAgeInt0))
	pBad := schemaBody(person(fName, fAgeString, fStatus))

	calls := []call{
		{name: "register", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: admin, body: p1, status: 200},
		{name: "register as application/json", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: admin, body: p2, ctype: "application/json", status: 200},
		{name: "register as vnd.schemaregistry+json", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: admin, body: p2, ctype: "application/vnd.schemaregistry+json; charset=utf-8", status: 200},
		{name: "register incompatible", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: admin, body: pBad, status: 409, code: 409,
			msg: "field `age` changed type from int to string"},
		{name: "register unparsable", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: admin,
			body: schemaBody(`{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}`), status: 422, code: 42201, msg: "nope"},
		{name: "register another schema type", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: admin,
			body: `{"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}`, status: 422, code: 42201, msg: "AVRO only"},
		{name: "register without token", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", body: p1, status: 401, code: 40101},
		{name: "register with a bad token", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: "x.y.z", body: p1, status: 401, code: 40101},
		{name: "register without scope", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: noScope, body: p1, status: 403, code: 40301, msg: "registry:write"},
		{name: "register another provider's resource", method: "POST", path: "/subjects/population.identity/versions", template: "/subjects/{subject}/versions", token: writer, body: p1, status: 403, code: 40301, msg: "provided by population"},
		{name: "register a bus envelope as a department", method: "POST", path: "/subjects/govx.exchange.Request/versions", template: "/subjects/{subject}/versions", token: popWriter, body: schemaBody(envelope), status: 403, code: 40301, msg: "admin"},
		{name: "register a subject no resource owns as a department", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: writer, body: p1, status: 403, code: 40301, msg: "admin"},
		{name: "register an order envelope as its department", method: "POST", path: "/subjects/licence.issue-order/versions", template: "/subjects/{subject}/versions", token: f.token(t, "licensing", "service", registry.ScopeWrite), body: p1, status: 403, code: 40301, msg: "admin"},
		{name: "set the config of a subject no resource owns as a department", method: "PUT", path: "/config/licence.issue-order", template: "/config/{subject}", token: writer, body: `{"compatibility": "NONE"}`, status: 403, code: 40301},
		{name: "delete a subject no resource owns as a department", method: "DELETE", path: "/subjects/licence.issue-order", template: "/subjects/{subject}", token: writer, status: 403, code: 40301},
		{name: "register a bus envelope as admin", method: "POST", path: "/subjects/govx.exchange.Request/versions", template: "/subjects/{subject}/versions", token: admin, body: schemaBody(envelope), status: 200},
		{name: "register with a text body", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: admin, body: p1, ctype: "text/plain", status: 415, code: 415},
		{name: "register a huge body", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: admin,
			body: schemaBody(strings.Repeat(" ", 1<<20) + person(fName)), status: 413, code: 413},
		{name: "register not JSON", method: "POST", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", token: admin, body: `{"schema":`, status: 400, code: 400},

		{name: "subjects", method: "GET", path: "/subjects", template: "/subjects", status: 200},
		{name: "versions", method: "GET", path: "/subjects/test.person/versions", template: "/subjects/{subject}/versions", status: 200},
		{name: "versions of no subject", method: "GET", path: "/subjects/test.nobody/versions", template: "/subjects/{subject}/versions", status: 404, code: 40401},
		{name: "version 1", method: "GET", path: "/subjects/test.person/versions/1", template: "/subjects/{subject}/versions/{version}", status: 200},
		{name: "version latest", method: "GET", path: "/subjects/test.person/versions/latest", template: "/subjects/{subject}/versions/{version}", status: 200},
		{name: "version -1", method: "GET", path: "/subjects/test.person/versions/-1", template: "/subjects/{subject}/versions/{version}", status: 200},
		{name: "missing version", method: "GET", path: "/subjects/test.person/versions/7", template: "/subjects/{subject}/versions/{version}", status: 404, code: 40402},
		{name: "version of no subject", method: "GET", path: "/subjects/test.nobody/versions/1", template: "/subjects/{subject}/versions/{version}", status: 404, code: 40401},
		{name: "invalid version", method: "GET", path: "/subjects/test.person/versions/first", template: "/subjects/{subject}/versions/{version}", status: 422, code: 42202},
		{name: "version 0", method: "GET", path: "/subjects/test.person/versions/0", template: "/subjects/{subject}/versions/{version}", status: 422, code: 42202},
		{name: "schema by id", method: "GET", path: "/schemas/ids/1", template: "/schemas/ids/{id}", status: 200},
		{name: "schema by missing id", method: "GET", path: "/schemas/ids/999999", template: "/schemas/ids/{id}", status: 404, code: 40403},

		{name: "lookup", method: "POST", path: "/subjects/test.person", template: "/subjects/{subject}", body: p2, status: 200},
		{name: "lookup unregistered", method: "POST", path: "/subjects/test.person", template: "/subjects/{subject}", body: pBad, status: 404, code: 40403},
		{name: "lookup in no subject", method: "POST", path: "/subjects/test.nobody", template: "/subjects/{subject}", body: p1, status: 404, code: 40401},

		{name: "compatible", method: "POST", path: "/compatibility/subjects/test.person/versions", template: "/compatibility/subjects/{subject}/versions", body: p2, status: 200},
		{name: "incompatible", method: "POST", path: "/compatibility/subjects/test.person/versions/latest", template: "/compatibility/subjects/{subject}/versions/{version}", body: pBad, status: 200},
		{name: "compatible with version 1", method: "POST", path: "/compatibility/subjects/test.person/versions/1", template: "/compatibility/subjects/{subject}/versions/{version}", body: p2, status: 200},
		{name: "compatibility with a missing version", method: "POST", path: "/compatibility/subjects/test.person/versions/9", template: "/compatibility/subjects/{subject}/versions/{version}", body: p2, status: 404, code: 40402},
		{name: "compatibility with invalid schema", method: "POST", path: "/compatibility/subjects/test.person/versions", template: "/compatibility/subjects/{subject}/versions", body: `{"schema": "{"}`, status: 422, code: 42201},

		{name: "global config", method: "GET", path: "/config", template: "/config", status: 200},
		{name: "set global config as a department", method: "PUT", path: "/config", template: "/config", token: writer, body: `{"compatibility": "FULL"}`, status: 403, code: 40301},
		{name: "set global config as admin", method: "PUT", path: "/config", template: "/config", token: admin, body: `{"compatibility": "BACKWARD"}`, status: 200},
		{name: "set subject config", method: "PUT", path: "/config/test.person", template: "/config/{subject}", token: admin, body: `{"compatibilityLevel": "FULL"}`, status: 200},
		{name: "subject config", method: "GET", path: "/config/test.person", template: "/config/{subject}", status: 200},
		{name: "invalid level", method: "PUT", path: "/config/test.person", template: "/config/{subject}", token: admin, body: `{"compatibility": "SIDEWAYS"}`, status: 422, code: 42203},
		{name: "set config without token", method: "PUT", path: "/config/test.person", template: "/config/{subject}", body: `{"compatibility": "NONE"}`, status: 401, code: 40101},

		{name: "delete without token", method: "DELETE", path: "/subjects/test.person", template: "/subjects/{subject}", status: 401, code: 40101},
		{name: "delete another provider's resource", method: "DELETE", path: "/subjects/population.identity", template: "/subjects/{subject}", token: writer, status: 403, code: 40301},
		{name: "delete", method: "DELETE", path: "/subjects/test.person", template: "/subjects/{subject}", token: admin, status: 200},
		{name: "delete again", method: "DELETE", path: "/subjects/test.person", template: "/subjects/{subject}", token: admin, status: 404, code: 40404, msg: "soft deleted"},
		{name: "deleted schema by id", method: "GET", path: "/schemas/ids/1", template: "/schemas/ids/{id}", status: 200},
	}
	seen := map[string]bool{}
	f.check(t, doc, seen, calls)

	// The verdicts and the configured mode, beyond their shape.
	_, _, body := f.do(t, call{method: "POST", path: "/compatibility/subjects/test.other/versions", body: p1})
	if !bytes.Contains(body, []byte(`"is_compatible":true`)) {
		t.Errorf("a subject without versions takes any schema: %s", body)
	}
	_, _, body = f.do(t, call{method: "GET", path: "/config/test.person"})
	if !bytes.Contains(body, []byte(`"compatibility":"FULL"`)) || !bytes.Contains(body, []byte(`"compatibilityLevel":"FULL"`)) {
		t.Errorf("subject config = %s, want FULL under both names", body)
	}

	f.check(t, doc, seen, f.confluentCalls(t))
	for _, op := range operations(t, doc) {
		if !seen[op] && op != "GET /openapi.json" {
			t.Errorf("%s is documented but no call here answers it", op)
		}
	}

	resp, err := http.Get(f.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(served, registry.OpenAPI()) {
		t.Errorf("GET /registry/openapi.json = %d, %d bytes; want the document", resp.StatusCode, len(served))
	}
}

// check makes each call and holds its answer to the call's status and
// error code, the registry's media type and the OpenAPI document. It
// notes in seen which operations were called.
func (f registryFixture) check(t *testing.T, doc *openapicheck.Doc, seen map[string]bool, calls []call) {
	t.Helper()
	for _, c := range calls {
		seen[c.method+" "+c.template] = true
		status, header, body := f.do(t, c)
		ctype := header.Get("Content-Type")
		if status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, status, c.status, body)
			continue
		}
		if status == http.StatusUnauthorized && !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: 401 without a WWW-Authenticate challenge", c.name)
		}
		if ctype != registry.ContentType {
			t.Errorf("%s: Content-Type %q", c.name, ctype)
		}
		if err := doc.CheckResponseJSON(c.method, c.template, status, registry.ContentType, body); err != nil {
			t.Errorf("%s: answer does not match the OpenAPI document: %v\n%s", c.name, err, body)
		}
		if c.code != 0 {
			var e struct {
				ErrorCode int    `json:"error_code"`
				Message   string `json:"message"`
			}
			json.Unmarshal(body, &e)
			if e.ErrorCode != c.code || !strings.Contains(e.Message, c.msg) {
				t.Errorf("%s: error %d %q, want %d holding %q", c.name, e.ErrorCode, e.Message, c.code, c.msg)
			}
		}
	}
}

// The incompatibility answer of a compatibility check names the rule.
func TestRegistryCompatibilityMessages(t *testing.T) {
	f := mustRegistry(t)
	if _, err := f.store.RegisterSchema(context.Background(), "test.person", person(fName, fStatus)); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetCompatibility(context.Background(), "test.person", catalog.Forward); err != nil {
		t.Fatal(err)
	}
	_, _, body := f.do(t, call{method: "POST", path: "/compatibility/subjects/test.person/versions", body: schemaBody(person(fName))})
	var ans struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	want := "field `status` removed without default (FORWARD: readers of version 1 need it)"
	if ans.IsCompatible || len(ans.Messages) != 1 || ans.Messages[0] != want {
		t.Errorf("answer %s, want is_compatible false with %q", body, want)
	}
}
