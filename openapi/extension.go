package openapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"govx"
)

// Extension is a set of routes served beside the open-data API under
// Prefix, such as the API-key and token endpoints of package apikeys.
type Extension struct {
	// Mount registers the routes on a mux of their own.
	Mount func(*http.ServeMux)
	// OpenAPI is the OpenAPI 3.1 fragment describing the routes. Its
	// paths are merged into the API's document and are what is routed to
	// Mount's mux: a route the fragment does not document is not served.
	// Components it shares with the document must be identical.
	OpenAPI []byte
}

var methods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

// mountExtension routes every documented operation of ext to its own mux
// behind limit and returns doc with ext's paths and components merged in.
func mountExtension(mux *http.ServeMux, limit func(http.Handler) http.Handler, doc []byte, ext Extension) ([]byte, error) {
	invalid := func(format string, args ...any) error {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "openapi: extension: "+format, args...)
	}
	if ext.Mount == nil {
		return nil, invalid("Mount is required")
	}
	merged, paths, err := MergeOpenAPI(doc, ext.OpenAPI)
	if err != nil {
		return nil, err
	}
	em := http.NewServeMux()
	ext.Mount(em)
	h := limit(em)
	for path, ops := range paths {
		if !strings.HasPrefix(path, Prefix) {
			return nil, invalid("path %s is outside %s", path, Prefix)
		}
		for _, m := range methods {
			if _, ok := ops[m]; ok {
				mux.Handle(strings.ToUpper(m)+" "+path, h)
			}
		}
	}
	return merged, nil
}

// MergeOpenAPI adds the paths and components of fragment to the OpenAPI
// document doc. A path both declare is an error, and so is a component of
// the same name that differs; the fragment's top-level security applies to
// its own operations that declare none. It returns the merged document and
// the fragment's paths.
func MergeOpenAPI(doc, fragment []byte) ([]byte, map[string]map[string]any, error) {
	invalid := func(format string, args ...any) error {
		return govx.Errorf(govx.KindInvalid, "openapi_merge", "openapi: merging documents: "+format, args...)
	}
	var base, frag map[string]any
	if err := json.Unmarshal(doc, &base); err != nil {
		return nil, nil, invalid("document: %v", err)
	}
	if err := json.Unmarshal(fragment, &frag); err != nil {
		return nil, nil, invalid("fragment: %v", err)
	}
	obj := func(m map[string]any, k string) map[string]any {
		v, ok := m[k].(map[string]any)
		if !ok {
			v = map[string]any{}
			m[k] = v
		}
		return v
	}
	bp, fp := obj(base, "paths"), obj(frag, "paths")
	paths := make(map[string]map[string]any, len(fp))
	keys := make([]string, 0, len(fp))
	for k := range fp {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, p := range keys {
		if _, dup := bp[p]; dup {
			return nil, nil, invalid("path %s is declared twice", p)
		}
		ops, ok := fp[p].(map[string]any)
		if !ok {
			return nil, nil, invalid("path %s is not an object", p)
		}
		if sec, ok := frag["security"]; ok {
			for _, m := range methods {
				if op, ok := ops[m].(map[string]any); ok {
					if _, has := op["security"]; !has {
						op["security"] = sec
					}
				}
			}
		}
		bp[p], paths[p] = ops, ops
	}
	bc, fc := obj(base, "components"), obj(frag, "components")
	for section, v := range fc {
		items, ok := v.(map[string]any)
		if !ok {
			return nil, nil, invalid("components.%s is not an object", section)
		}
		bs := obj(bc, section)
		for name, item := range items {
			if have, ok := bs[name]; ok && !reflect.DeepEqual(have, item) {
				return nil, nil, invalid("components.%s.%s differs", section, name)
			}
			bs[name] = item
		}
	}
	out, err := json.MarshalIndent(base, "", "  ")
	if err != nil {
		return nil, nil, invalid("%v", err)
	}
	return out, paths, nil
}
