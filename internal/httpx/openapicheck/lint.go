package openapicheck

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Lint checks the rules every govx OpenAPI document keeps, those of
// Redocly's recommended ruleset that a document can break by omission and
// a few of govx's own, and returns one message per breach, in a stable
// order:
//
//   - servers: at least one, each with a url (no-empty-servers);
//   - every operation has an operationId, unique in the document, and a
//     summary (operation-operationId, operation-operationId-unique,
//     operation-summary);
//   - every operation declares its security, [] for a public one, not left
//     to the document's default (security-defined, made explicit);
//   - a schema's required properties are defined in it
//     (no-required-schema-properties-undefined);
//   - a query parameter whose examples hold characters RFC 3986 reserves
//     (filter=pm25:gt:60) declares allowReserved, or its examples are not
//     valid values of it;
//   - an export (a path ending in /export) declares Content-Disposition on
//     its successful answers;
//   - a 401 answer declares WWW-Authenticate, as RFC 9110 requires.
func (d *Doc) Lint() []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	servers, _ := d.root["servers"].([]any)
	if len(servers) == 0 {
		bad("servers: none declared")
	}
	for i, s := range servers {
		if m, _ := s.(map[string]any); m == nil || m["url"] == nil || m["url"] == "" {
			bad("servers[%d]: no url", i)
		}
	}

	ids := map[string]string{}
	paths := d.root["paths"].(map[string]any)
	for _, path := range sortedKeys(paths) {
		item, _ := paths[path].(map[string]any)
		for _, method := range []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"} {
			op, ok := item[method].(map[string]any)
			if !ok {
				continue
			}
			where := strings.ToUpper(method) + " " + path
			if id, _ := op["operationId"].(string); id == "" {
				bad("%s: no operationId", where)
			} else if other, dup := ids[id]; dup {
				bad("%s: operationId %q is also %s's", where, id, other)
			} else {
				ids[id] = where
			}
			if s, _ := op["summary"].(string); strings.TrimSpace(s) == "" {
				bad("%s: no summary", where)
			}
			if _, ok := op["security"].([]any); !ok {
				bad("%s: no security declared ([] for a public operation)", where)
			}
			params, _ := item["parameters"].([]any)
			opParams, _ := op["parameters"].([]any)
			for _, p := range append(slices.Clone(params), opParams...) {
				pm, ok := p.(map[string]any)
				if !ok {
					continue
				}
				if pm, _ = d.resolve(pm); pm == nil || pm["in"] != "query" || pm["allowReserved"] == true {
					continue
				}
				for _, ex := range examples(pm) {
					if strings.ContainsAny(ex, ":/?#[]@!$&'()*+,;=") {
						bad("%s: query parameter %v has example %q with reserved characters but no allowReserved", where, pm["name"], ex)
						break
					}
				}
			}
			responses, _ := op["responses"].(map[string]any)
			for _, status := range sortedKeys(responses) {
				r, ok := responses[status].(map[string]any)
				if !ok {
					continue
				}
				r, err := d.resolve(r)
				if err != nil {
					bad("%s %s: %v", where, status, err)
					continue
				}
				headers, _ := r["headers"].(map[string]any)
				if status == "401" && !hasKeyFold(headers, "WWW-Authenticate") {
					bad("%s: 401 declares no WWW-Authenticate header", where)
				}
				if strings.HasSuffix(path, "/export") && strings.HasPrefix(status, "2") && !hasKeyFold(headers, "Content-Disposition") {
					bad("%s: export answer %s declares no Content-Disposition header", where, status)
				}
			}
		}
	}

	d.walkSchemas(d.root, "#", func(at string, s map[string]any) {
		req, ok := s["required"].([]any)
		if !ok {
			return
		}
		defined := map[string]bool{}
		d.collectProperties(s, defined, 0)
		for _, name := range req {
			if n, _ := name.(string); !defined[n] {
				bad("%s: required property %v is not defined", at, name)
			}
		}
	})
	return out
}

// walkSchemas calls fn with every object of the document that is a
// schema with a required list: a parameter's or a request body's
// "required" is a boolean and passes unseen.
func (d *Doc) walkSchemas(node any, at string, fn func(at string, s map[string]any)) {
	switch n := node.(type) {
	case map[string]any:
		if _, ok := n["required"].([]any); ok {
			fn(at, n)
		}
		for _, k := range sortedKeys(n) {
			if k == "examples" || k == "example" {
				continue
			}
			d.walkSchemas(n[k], at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), fn)
		}
	case []any:
		for i, v := range n {
			d.walkSchemas(v, fmt.Sprintf("%s/%d", at, i), fn)
		}
	}
}

// collectProperties adds the properties s defines, itself or through
// allOf, anyOf and oneOf, to into.
func (d *Doc) collectProperties(s map[string]any, into map[string]bool, depth int) {
	if depth > 16 {
		return
	}
	s, err := d.resolve(s)
	if err != nil {
		return
	}
	props, _ := s["properties"].(map[string]any)
	for k := range props {
		into[k] = true
	}
	for _, comb := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := s[comb].([]any)
		for _, sub := range list {
			if m, ok := sub.(map[string]any); ok {
				d.collectProperties(m, into, depth+1)
			}
		}
	}
}

// examples are a parameter's example values that are strings.
func examples(p map[string]any) []string {
	var out []string
	add := func(v any) {
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	add(p["example"])
	exs, _ := p["examples"].(map[string]any)
	for _, k := range sortedKeys(exs) {
		if e, ok := exs[k].(map[string]any); ok {
			add(e["value"])
		}
	}
	if s, ok := p["schema"].(map[string]any); ok {
		add(s["example"])
		add(s["examples"])
	}
	return out
}

func hasKeyFold(m map[string]any, key string) bool {
	for k := range m {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
