package node_test

import (
	"fmt"
	"net/http"
	"testing"

	"govx/adapters/population"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/node"
	"govx/node/nodetest"
)

// The OpenAPI document stays in step with the handlers: real answers,
// good and bad, validate against the schemas it declares for their status.
func TestResponsesMatchOpenAPI(t *testing.T) {
	doc, err := openapicheck.Load(exchange.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	m := nodetest.Start(t, nodetest.Config(t))
	url := m.URL() + "/v1/resources/population.identity/query"
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	id := population.NewGenerator(node.DemoSeed).IDNumber(5)
	nodetest.Consent(t, m, id, "p", population.ResourceIdentity)
	nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)
	for _, tc := range []struct {
		name  string
		token string
		body  []byte
		want  int
	}{
		{"answer", tok, nodetest.Query(id, "name", "status"), http.StatusOK},
		{"all fields", tok, []byte(fmt.Sprintf(`{"key":%q,"purpose":"p"}`, id)), http.StatusOK},
		{"unauthenticated", "", nodetest.Query(id), http.StatusUnauthorized},
		{"bad key", tok, nodetest.Query("123"), http.StatusBadRequest},
		{"no consent", tok, nodetest.Query(population.NewGenerator(node.DemoSeed).IDNumber(6), "name"), http.StatusForbidden},
	} {
		r := nodetest.Post(t, url, tc.token, tc.body)
		if r.Status != tc.want {
			t.Fatalf("%s: status %d, want %d", tc.name, r.Status, tc.want)
		}
		if err := doc.CheckResponse("POST", "/v1/resources/{code}/query", r.Status, "application/json", r.Body); err != nil {
			t.Errorf("%s: answer does not match the OpenAPI document: %v", tc.name, err)
		}
	}
	// The request schema refuses what the handler refuses.
	q, err := doc.Component("Query")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Check(q, map[string]any{"key": id, "purpose": "p", "admin": true}); err == nil {
		t.Error("the document's Query schema accepts an unknown member the handler refuses")
	}
}
