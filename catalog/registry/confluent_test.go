package registry_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"govx/catalog"
	"govx/catalog/registry"
	"govx/internal/httpx/openapicheck"
)

// confluentCalls goes on from TestRegistryAnswers' calls (test.person soft
// deleted with versions 1 and 2) through the rest of Confluent's API: its
// listings, deletes, subject-level settings and modes, each with the error
// codes Confluent documents.
func (f registryFixture) confluentCalls(t *testing.T) []call {
	writer := f.token(t, "market-regulation", "service", registry.ScopeWrite)
	popWriter := f.token(t, catalog.DeptPopulation, "service", registry.ScopeWrite)
	admin := f.token(t, "ops", catalog.RoleAdmin, registry.ScopeWrite)
	p1 := schemaBody(person(fName))
	p2 := schemaBody(person(fName, fAgeInt0))
	const (
		vs    = "/subjects/{subject}/versions"
		v     = "/subjects/{subject}/versions/{version}"
		vText = "/subjects/{subject}/versions/{version}/schema"
		refBy = "/subjects/{subject}/versions/{version}/referencedby"
	)
	return []call{
		{name: "root", method: "GET", path: "/", template: "/", status: 200},
		{name: "schema types", method: "GET", path: "/schemas/types", template: "/schemas/types", status: 200},
		{name: "schemas", method: "GET", path: "/schemas", template: "/schemas", status: 200},
		{name: "schemas filtered", method: "GET", path: "/schemas?subjectPrefix=test.&deleted=true&latestOnly=true&offset=0&limit=10", template: "/schemas", status: 200},
		{name: "schemas with a bad limit", method: "GET", path: "/schemas?limit=many", template: "/schemas", status: 400, code: 400, msg: "limit"},
		{name: "schema text by id", method: "GET", path: "/schemas/ids/1/schema", template: "/schemas/ids/{id}/schema", status: 200},
		{name: "schema text by missing id", method: "GET", path: "/schemas/ids/999999/schema", template: "/schemas/ids/{id}/schema", status: 404, code: 40403},
		{name: "subjects of an id", method: "GET", path: "/schemas/ids/1/subjects", template: "/schemas/ids/{id}/subjects", status: 200},
		{name: "subjects of an id, deleted too", method: "GET", path: "/schemas/ids/1/subjects?deleted=true", template: "/schemas/ids/{id}/subjects", status: 200},
		{name: "subjects of a missing id", method: "GET", path: "/schemas/ids/999999/subjects", template: "/schemas/ids/{id}/subjects", status: 404, code: 40403},
		{name: "versions of an id", method: "GET", path: "/schemas/ids/1/versions", template: "/schemas/ids/{id}/versions", status: 200},
		{name: "versions of no id", method: "GET", path: "/schemas/ids/x/versions", template: "/schemas/ids/{id}/versions", status: 404, code: 40403},
		{name: "subjects, deleted too", method: "GET", path: "/subjects?deleted=true", template: "/subjects", status: 200},
		{name: "subjects, deleted only", method: "GET", path: "/subjects?deletedOnly=true&subjectPrefix=test.", template: "/subjects", status: 200},
		{name: "versions of a deleted subject", method: "GET", path: "/subjects/test.person/versions?deleted=true", template: vs, status: 200},
		{name: "a soft-deleted version", method: "GET", path: "/subjects/test.person/versions/1", template: v, status: 404, code: 40401},
		{name: "a soft-deleted version asked for", method: "GET", path: "/subjects/test.person/versions/1?deleted=true", template: v, status: 200},
		{name: "a soft-deleted version's text", method: "GET", path: "/subjects/test.person/versions/1/schema?deleted=true", template: vText, status: 200},
		{name: "a soft-deleted version's text unasked", method: "GET", path: "/subjects/test.person/versions/1/schema", template: vText, status: 404, code: 40401},
		{name: "latest text", method: "GET", path: "/subjects/population.identity/versions/latest/schema", template: vText, status: 200},
		{name: "referenced by", method: "GET", path: "/subjects/population.identity/versions/latest/referencedby", template: refBy, status: 200},
		{name: "referenced by, missing version", method: "GET", path: "/subjects/population.identity/versions/9/referencedby", template: refBy, status: 404, code: 40402},

		{name: "lookup in a soft-deleted subject", method: "POST", path: "/subjects/test.person", template: "/subjects/{subject}", body: p1, status: 404, code: 40401},
		{name: "lookup among deleted versions", method: "POST", path: "/subjects/test.person?deleted=true", template: "/subjects/{subject}", body: p1, status: 200},
		{name: "register as octet-stream after a delete", method: "POST", path: "/subjects/test.person/versions", template: vs, token: admin, body: p1, ctype: "application/octet-stream", status: 200},
		{name: "delete a version without token", method: "DELETE", path: "/subjects/test.person/versions/latest", template: v, status: 401, code: 40101},
		{name: "delete a version of a subject no resource owns as a department", method: "DELETE", path: "/subjects/test.person/versions/latest", template: v, token: popWriter, status: 403, code: 40301},
		{name: "delete a version of another provider's resource", method: "DELETE", path: "/subjects/population.identity/versions/1", template: v, token: writer, status: 403, code: 40301},
		{name: "delete the latest version", method: "DELETE", path: "/subjects/test.person/versions/latest", template: v, token: admin, status: 200},
		{name: "delete it again", method: "DELETE", path: "/subjects/test.person/versions/3", template: v, token: admin, status: 404, code: 40406},
		{name: "delete a missing version", method: "DELETE", path: "/subjects/test.person/versions/99", template: v, token: admin, status: 404, code: 40402},
		{name: "delete an invalid version", method: "DELETE", path: "/subjects/test.person/versions/first", template: v, token: admin, status: 422, code: 42202},
		{name: "delete a version of no subject", method: "DELETE", path: "/subjects/test.nobody/versions/1", template: v, token: admin, status: 404, code: 40401},
		{name: "permanently delete a live version", method: "DELETE", path: "/subjects/population.identity/versions/1?permanent=true", template: v, token: popWriter, status: 404, code: 40407},
		{name: "permanently delete a live subject", method: "DELETE", path: "/subjects/population.identity?permanent=true", template: "/subjects/{subject}", token: popWriter, status: 404, code: 40405},
		{name: "permanently delete a soft-deleted version", method: "DELETE", path: "/subjects/test.person/versions/3?permanent=true", template: v, token: admin, status: 200},
		{name: "permanently delete a soft-deleted subject", method: "DELETE", path: "/subjects/test.person?permanent=true", template: "/subjects/{subject}", token: admin, status: 200},
		{name: "versions of a subject deleted for good", method: "GET", path: "/subjects/test.person/versions?deleted=true", template: vs, status: 404, code: 40401},

		{name: "subject config not set", method: "GET", path: "/config/test.fresh", template: "/config/{subject}", status: 404, code: 40408},
		{name: "subject config defaulting to global", method: "GET", path: "/config/test.fresh?defaultToGlobal=true", template: "/config/{subject}", status: 200},
		{name: "set a fresh subject's config", method: "PUT", path: "/config/test.fresh", template: "/config/{subject}", token: admin, body: `{"compatibility": "NONE"}`, status: 200},
		{name: "delete a subject config", method: "DELETE", path: "/config/test.fresh", template: "/config/{subject}", token: admin, status: 200},
		{name: "delete it again", method: "DELETE", path: "/config/test.fresh", template: "/config/{subject}", token: admin, status: 404, code: 40401},
		{name: "delete another provider's config", method: "DELETE", path: "/config/population.identity", template: "/config/{subject}", token: writer, status: 403, code: 40301},

		{name: "global mode", method: "GET", path: "/mode", template: "/mode", status: 200},
		{name: "subject mode not set", method: "GET", path: "/mode/test.ro", template: "/mode/{subject}", status: 404, code: 40409},
		{name: "subject mode defaulting to global", method: "GET", path: "/mode/test.ro?defaultToGlobal=true", template: "/mode/{subject}", status: 200},
		{name: "set the global mode as a department", method: "PUT", path: "/mode", template: "/mode", token: popWriter, body: `{"mode": "READONLY"}`, status: 403, code: 40301},
		{name: "set the global mode without token", method: "PUT", path: "/mode", template: "/mode", body: `{"mode": "READONLY"}`, status: 401, code: 40101},
		{name: "set an unsupported mode", method: "PUT", path: "/mode/test.ro", template: "/mode/{subject}", token: admin, body: `{"mode": "IMPORT"}`, status: 422, code: 42204},
		{name: "set another provider's mode", method: "PUT", path: "/mode/population.identity", template: "/mode/{subject}", token: writer, body: `{"mode": "READONLY"}`, status: 403, code: 40301},
		{name: "make a subject read-only", method: "PUT", path: "/mode/test.ro", template: "/mode/{subject}", token: admin, body: `{"mode": "READONLY"}`, status: 200},
		{name: "subject mode", method: "GET", path: "/mode/test.ro", template: "/mode/{subject}", status: 200},
		{name: "register under a read-only subject", method: "POST", path: "/subjects/test.ro/versions", template: vs, token: admin, body: p1, status: 422, code: 42205, msg: "read-only"},
		{name: "set a read-only subject's config", method: "PUT", path: "/config/test.ro", template: "/config/{subject}", token: admin, body: `{"compatibility": "NONE"}`, status: 422, code: 42205},
		{name: "delete a subject mode", method: "DELETE", path: "/mode/test.ro", template: "/mode/{subject}", token: admin, status: 200},
		{name: "delete it again", method: "DELETE", path: "/mode/test.ro", template: "/mode/{subject}", token: admin, status: 404, code: 40401},
		{name: "register once writable", method: "POST", path: "/subjects/test.ro/versions", template: vs, token: admin, body: p1, status: 200},
		{name: "make the registry read-only", method: "PUT", path: "/mode", template: "/mode", token: admin, body: `{"mode": "READONLY"}`, status: 200},
		{name: "register under a read-only registry", method: "POST", path: "/subjects/test.ro2/versions", template: vs, token: admin, body: p2, status: 422, code: 42205},
		{name: "delete under a read-only registry", method: "DELETE", path: "/subjects/test.ro", template: "/subjects/{subject}", token: admin, status: 422, code: 42205},
		{name: "make the registry writable", method: "PUT", path: "/mode", template: "/mode", token: admin, body: `{"mode": "READWRITE"}`, status: 200},
		{name: "delete once writable", method: "DELETE", path: "/subjects/test.ro", template: "/subjects/{subject}", token: admin, status: 200},
	}
}

// operations lists the document's operations as "METHOD /path".
func operations(t *testing.T, doc *openapicheck.Doc) []string {
	t.Helper()
	var root struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(registry.OpenAPI(), &root); err != nil {
		t.Fatal(err)
	}
	var out []string
	for p, item := range root.Paths {
		for m := range item {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	slices.Sort(out)
	return out
}

// The document is one a client generator can take whole: every operation
// named, summarised and with its security stated, a server to send to,
// 401s that carry their challenge, and no required property left
// undefined.
func TestRegistryOpenAPIDocument(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(registry.OpenAPI(), &root); err != nil {
		t.Fatal(err)
	}
	if servers, _ := root["servers"].([]any); len(servers) == 0 {
		t.Error("the document names no server")
	}
	comps := root["components"].(map[string]any)
	resolve := func(node map[string]any) map[string]any {
		for {
			ref, ok := node["$ref"].(string)
			if !ok {
				return node
			}
			parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
			node = comps[parts[0]].(map[string]any)[parts[1]].(map[string]any)
		}
	}
	ids := map[string]bool{}
	for p, item := range root["paths"].(map[string]any) {
		for m, o := range item.(map[string]any) {
			op := o.(map[string]any)
			name := strings.ToUpper(m) + " " + p
			id, _ := op["operationId"].(string)
			if id == "" || ids[id] {
				t.Errorf("%s: operationId %q missing or repeated", name, id)
			}
			ids[id] = true
			if s, _ := op["summary"].(string); s == "" {
				t.Errorf("%s: no summary", name)
			}
			if _, ok := op["security"].([]any); !ok {
				t.Errorf("%s: security not stated", name)
			}
			for status, r := range op["responses"].(map[string]any) {
				if status != "401" {
					continue
				}
				headers, _ := resolve(r.(map[string]any))["headers"].(map[string]any)
				if headers["WWW-Authenticate"] == nil {
					t.Errorf("%s: 401 declares no WWW-Authenticate header", name)
				}
			}
		}
	}
	var walk func(where string, node any)
	walk = func(where string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if req, ok := n["required"].([]any); ok {
				props, _ := n["properties"].(map[string]any)
				for _, r := range req {
					if name, ok := r.(string); ok && props[name] == nil {
						t.Errorf("%s: property %q is required but not defined", where, name)
					}
				}
			}
			for k, v := range n {
				walk(where+"/"+k, v)
			}
		case []any:
			for _, v := range n {
				walk(where, v)
			}
		}
	}
	walk("#", root)
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return v
}

// One schema, one id, as Confluent: under a second subject, and again
// after a soft delete; the id's subjects and versions, the deleted
// listings and the unwrapped text say so.
func TestRegistrySchemaIDs(t *testing.T) {
	f := mustRegistry(t)
	admin := f.token(t, "ops", catalog.RoleAdmin, registry.ScopeWrite)
	get := func(path string) []byte {
		t.Helper()
		status, _, body := f.do(t, call{method: "GET", path: path})
		if status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, status, body)
		}
		return body
	}
	register := func(subject, schema string) int {
		t.Helper()
		status, _, body := f.do(t, call{method: "POST", path: "/subjects/" + subject + "/versions", token: admin, body: schemaBody(schema)})
		if status != http.StatusOK {
			t.Fatalf("register under %s = %d %s", subject, status, body)
		}
		return decode[struct{ ID int }](t, body).ID
	}
	id := register("test.a", person(fName))
	if again := register("test.b", person(fName)); again != id {
		t.Errorf("the same schema under another subject got id %d, want %d", again, id)
	}
	if status, _, body := f.do(t, call{method: "DELETE", path: "/subjects/test.a/versions/1", token: admin}); status != 200 || strings.TrimSpace(string(body)) != "1" {
		t.Fatalf("delete version 1 = %d %s", status, body)
	}
	if again := register("test.a", person(fName)); again != id {
		t.Errorf("the schema registered again after its deletion got id %d, want %d", again, id)
	}
	if got := decode[[]int](t, get("/subjects/test.a/versions")); !reflect.DeepEqual(got, []int{2}) {
		t.Errorf("live versions = %v, want [2]", got)
	}
	if got := decode[[]int](t, get("/subjects/test.a/versions?deleted=true")); !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("versions with deleted = %v, want [1 2]", got)
	}
	idPath := "/schemas/ids/" + strconv.Itoa(id)
	if got := decode[[]catalog.SubjectVersion](t, get(idPath+"/versions")); !reflect.DeepEqual(got, []catalog.SubjectVersion{{Subject: "test.a", Version: 2}, {Subject: "test.b", Version: 1}}) {
		t.Errorf("versions of id %d = %v", id, got)
	}
	if got := decode[[]catalog.SubjectVersion](t, get(idPath+"/versions?deleted=true")); len(got) != 3 {
		t.Errorf("versions of id %d with deleted = %v, want 3", id, got)
	}
	if got := decode[[]string](t, get(idPath+"/subjects")); !reflect.DeepEqual(got, []string{"test.a", "test.b"}) {
		t.Errorf("subjects of id %d = %v", id, got)
	}
	var text map[string]any
	if err := json.Unmarshal(get(idPath+"/schema"), &text); err != nil || text["name"] != "Person" {
		t.Errorf("unwrapped schema = %v, %v", text, err)
	}

	if status, _, body := f.do(t, call{method: "DELETE", path: "/subjects/test.b", token: admin}); status != 200 {
		t.Fatalf("delete test.b = %d %s", status, body)
	}
	if got := decode[[]string](t, get("/subjects?subjectPrefix=test.")); !reflect.DeepEqual(got, []string{"test.a"}) {
		t.Errorf("live subjects = %v, want [test.a]", got)
	}
	if got := decode[[]string](t, get("/subjects?subjectPrefix=test.&deleted=true")); !reflect.DeepEqual(got, []string{"test.a", "test.b"}) {
		t.Errorf("subjects with deleted = %v, want [test.a test.b]", got)
	}
	latest := decode[[]catalog.SchemaVersion](t, get("/schemas?subjectPrefix=test.&latestOnly=true"))
	if len(latest) != 1 || latest[0].Subject != "test.a" || latest[0].Version != 2 || latest[0].ID != id {
		t.Errorf("latest schemas = %+v, want test.a version 2 id %d", latest, id)
	}
	if got := strings.TrimSpace(string(get("/"))); got != "{}" {
		t.Errorf("GET / = %s, want {}", got)
	}
	if got := decode[[]string](t, get("/schemas/types")); !reflect.DeepEqual(got, []string{"AVRO"}) {
		t.Errorf("types = %v", got)
	}
}
