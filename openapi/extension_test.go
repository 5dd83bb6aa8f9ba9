package openapi_test

import (
	"encoding/json"
	"testing"

	"govx/openapi"
	"govx/openapi/apikeys"
)

// The key and token endpoints' fragment merges into the open-data document
// without a clash, and clashes are refused rather than silently resolved.
func TestMergeOpenAPI(t *testing.T) {
	merged, paths, err := openapi.MergeOpenAPI(openapi.OpenAPI(), apikeys.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("fragment paths = %d", len(paths))
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(merged, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/open/v1/datasets/{id}/records", "/open/v1/keys", "/open/v1/token"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("merged document lacks %s", p)
		}
	}
	// The fragment's top-level security moves onto its operations.
	if op, _ := doc.Paths["/open/v1/keys"]["post"].(map[string]any); op["security"] == nil {
		t.Error("POST /open/v1/keys lost the fragment's security")
	}
	for name, frag := range map[string]string{
		"same path":          `{"paths":{"/open/v1/datasets":{}}}`,
		"differing schema":   `{"components":{"schemas":{"Error":{"type":"string"}}}}`,
		"not json":           `{`,
		"components garbled": `{"components":{"schemas":[]}}`,
	} {
		if _, _, err := openapi.MergeOpenAPI(openapi.OpenAPI(), []byte(frag)); err == nil {
			t.Errorf("%s: merged without error", name)
		}
	}
}
