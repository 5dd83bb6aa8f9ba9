package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"govx/adapters/population"
	"govx/exchange"
	"govx/internal/auth"
)

// schemaCheck validates v against the subset of JSON Schema the exchange's
// OpenAPI document uses: $ref, type, required, properties,
// additionalProperties: false, items and enum.
func schemaCheck(doc map[string]any, schema map[string]any, v any, path string) error {
	if ref, ok := schema["$ref"].(string); ok {
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		var node any = doc
		for _, p := range parts {
			node = node.(map[string]any)[p]
		}
		return schemaCheck(doc, node.(map[string]any), v, path)
	}
	if enum, ok := schema["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || e == v
		}
		if !found {
			return fmt.Errorf("%s: %v not in %v", path, v, enum)
		}
	}
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %T", path, v)
		}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asStrings(schema["required"]) {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: required member %q missing", path, r)
			}
		}
		for k, val := range obj {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if schema["additionalProperties"] == false {
					return fmt.Errorf("%s: member %q is not in the document", path, k)
				}
				continue
			}
			if err := schemaCheck(doc, ps, val, path+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %T", path, v)
		}
		if items, ok := schema["items"].(map[string]any); ok {
			for i, e := range arr {
				if err := schemaCheck(doc, items, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want a string, got %T", path, v)
		}
	}
	return nil
}

func asStrings(v any) []string {
	var out []string
	arr, _ := v.([]any)
	for _, e := range arr {
		out = append(out, e.(string))
	}
	return out
}

// The OpenAPI document stays in step with the handlers: real answers,
// good and bad, validate against the schemas it declares for their status.
func TestResponsesMatchOpenAPI(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(exchange.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	op := doc["paths"].(map[string]any)["/v1/resources/{code}/query"].(map[string]any)["post"].(map[string]any)
	responses := op["responses"].(map[string]any)
	schemaFor := func(status int) map[string]any {
		r, ok := responses[fmt.Sprint(status)].(map[string]any)
		if !ok {
			t.Fatalf("status %d is not documented", status)
		}
		if ref, ok := r["$ref"].(string); ok {
			r = doc["components"].(map[string]any)["responses"].(map[string]any)[strings.TrimPrefix(ref, "#/components/responses/")].(map[string]any)
		}
		return r["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	}

	m := mustRun(t, testConfig(t))
	url := m.URL() + "/v1/resources/population.identity/query"
	tok := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	id := population.NewGenerator(DemoSeed).IDNumber(5)
	for _, tc := range []struct {
		name  string
		token string
		body  []byte
		want  int
	}{
		{"answer", tok, query(id, "name", "status"), http.StatusOK},
		{"all fields", tok, []byte(fmt.Sprintf(`{"key":%q,"purpose":"p"}`, id)), http.StatusOK},
		{"unauthenticated", "", query(id), http.StatusUnauthorized},
		{"bad key", tok, query("123"), http.StatusBadRequest},
	} {
		r := post(t, url, tc.token, tc.body)
		if r.Status != tc.want {
			t.Fatalf("%s: status %d, want %d", tc.name, r.Status, tc.want)
		}
		if err := schemaCheck(doc, schemaFor(r.Status), r.Body, "$"); err != nil {
			t.Errorf("%s: answer does not match the OpenAPI document: %v", tc.name, err)
		}
	}
	// The request schema refuses what the handler refuses.
	q := doc["components"].(map[string]any)["schemas"].(map[string]any)["Query"].(map[string]any)
	if err := schemaCheck(doc, q, map[string]any{"key": id, "purpose": "p", "admin": true}, "$"); err == nil {
		t.Error("the document's Query schema accepts an unknown member the handler refuses")
	}
}
