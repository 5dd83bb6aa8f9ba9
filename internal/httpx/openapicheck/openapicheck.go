// Package openapicheck keeps an OpenAPI document in step with the handlers
// it describes: tests validate real answers against the schema the document
// declares for their operation and status. It understands the subset of
// JSON Schema govx's documents use: $ref, type (one or a list), required,
// properties, additionalProperties (false or a schema), items, enum, const,
// oneOf/anyOf, minimum/maximum and nullable types.
package openapicheck

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Doc is a parsed OpenAPI 3.1 document.
type Doc struct {
	root map[string]any
}

// Load parses an OpenAPI 3.1 document.
func Load(doc []byte) (*Doc, error) {
	var root map[string]any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("openapi document does not parse: %w", err)
	}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		return nil, fmt.Errorf("openapi = %v, want 3.1.x", root["openapi"])
	}
	if _, ok := root["paths"].(map[string]any); !ok {
		return nil, fmt.Errorf("openapi document has no paths")
	}
	return &Doc{root: root}, nil
}

// Paths lists the document's path templates.
func (d *Doc) Paths() []string {
	var out []string
	for p := range d.root["paths"].(map[string]any) {
		out = append(out, p)
	}
	return out
}

func (d *Doc) resolve(node map[string]any) (map[string]any, error) {
	for i := 0; i < 32; i++ {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node, nil
		}
		var cur any = d.root
		for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("unresolvable $ref %s", ref)
			}
			cur = m[strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")]
		}
		next, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("unresolvable $ref %s", ref)
		}
		node = next
	}
	return nil, fmt.Errorf("$ref chain too deep")
}

// ResponseSchema returns the schema the document declares for method on
// pathTemplate ("/v1/resources/{code}/query") answering status with
// contentType ("" picks the only or the JSON one).
func (d *Doc) ResponseSchema(method, pathTemplate string, status int, contentType string) (map[string]any, error) {
	item, ok := d.root["paths"].(map[string]any)[pathTemplate].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("path %s is not documented", pathTemplate)
	}
	op, ok := item[strings.ToLower(method)].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s %s is not documented", method, pathTemplate)
	}
	responses, _ := op["responses"].(map[string]any)
	r, ok := responses[fmt.Sprint(status)].(map[string]any)
	if !ok {
		if r, ok = responses[fmt.Sprintf("%dXX", status/100)].(map[string]any); !ok {
			if r, ok = responses["default"].(map[string]any); !ok {
				return nil, fmt.Errorf("%s %s: status %d is not documented", method, pathTemplate, status)
			}
		}
	}
	r, err := d.resolve(r)
	if err != nil {
		return nil, err
	}
	content, ok := r["content"].(map[string]any)
	if !ok {
		return nil, nil // a response without a body
	}
	if contentType == "" {
		for ct := range content {
			if contentType == "" || strings.Contains(ct, "json") {
				contentType = ct
			}
		}
	}
	if i := strings.IndexByte(contentType, ';'); i >= 0 {
		contentType = strings.TrimSpace(contentType[:i])
	}
	media, ok := content[contentType].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s %s %d: content type %s is not documented", method, pathTemplate, status, contentType)
	}
	schema, _ := media["schema"].(map[string]any)
	return schema, nil
}

// CheckResponse validates a decoded JSON body against the schema the
// document declares for the operation and status.
func (d *Doc) CheckResponse(method, pathTemplate string, status int, contentType string, body any) error {
	schema, err := d.ResponseSchema(method, pathTemplate, status, contentType)
	if err != nil {
		return err
	}
	if schema == nil {
		return nil
	}
	return d.Check(schema, body)
}

// CheckResponseJSON is CheckResponse on a raw JSON body.
func (d *Doc) CheckResponseJSON(method, pathTemplate string, status int, contentType string, body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	return d.CheckResponse(method, pathTemplate, status, contentType, v)
}

// Component returns the schema components.schemas[name].
func (d *Doc) Component(name string) (map[string]any, error) {
	comps, _ := d.root["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	s, ok := schemas[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no schema %q in components", name)
	}
	return s, nil
}

// Check validates a decoded JSON value (map[string]any, []any, string,
// float64, bool, nil) against schema.
func (d *Doc) Check(schema map[string]any, v any) error { return d.check(schema, v, "$") }

func (d *Doc) check(schema map[string]any, v any, path string) error {
	schema, err := d.resolve(schema)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if c, ok := schema["const"]; ok && c != v {
		return fmt.Errorf("%s: %v is not %v", path, v, c)
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
	for _, key := range []string{"oneOf", "anyOf"} {
		alts, ok := schema[key].([]any)
		if !ok {
			continue
		}
		var errs []string
		for _, a := range alts {
			as, _ := a.(map[string]any)
			if err := d.check(as, v, path); err == nil {
				errs = nil
				break
			} else {
				errs = append(errs, err.Error())
			}
		}
		if errs != nil {
			return fmt.Errorf("%s: matches none of %s: %s", path, key, strings.Join(errs, "; "))
		}
	}
	types := typesOf(schema["type"])
	if len(types) == 0 {
		return nil
	}
	var last error
	for _, t := range types {
		if last = d.checkType(schema, t, v, path); last == nil {
			return nil
		}
	}
	return last
}

func typesOf(t any) []string {
	switch t := t.(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (d *Doc) checkType(schema map[string]any, t string, v any, path string) error {
	switch t {
	case "null":
		if v != nil {
			return fmt.Errorf("%s: want null, got %T", path, v)
		}
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
				switch ap := schema["additionalProperties"].(type) {
				case bool:
					if !ap {
						return fmt.Errorf("%s: member %q is not in the document", path, k)
					}
				case map[string]any:
					if err := d.check(ap, val, path+"."+k); err != nil {
						return err
					}
				}
				continue
			}
			if err := d.check(ps, val, path+"."+k); err != nil {
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
				if err := d.check(items, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want a string, got %T", path, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %T", path, v)
		}
	case "number", "integer":
		n, ok := v.(float64)
		if !ok {
			return fmt.Errorf("%s: want a %s, got %T", path, t, v)
		}
		if t == "integer" && n != math.Trunc(n) {
			return fmt.Errorf("%s: want an integer, got %v", path, n)
		}
		if m, ok := schema["minimum"].(float64); ok && n < m {
			return fmt.Errorf("%s: %v is below the minimum %v", path, n, m)
		}
		if m, ok := schema["maximum"].(float64); ok && n > m {
			return fmt.Errorf("%s: %v is above the maximum %v", path, n, m)
		}
	}
	return nil
}

func asStrings(v any) []string {
	var out []string
	arr, _ := v.([]any)
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
