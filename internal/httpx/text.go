package httpx

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"

	"govx"
)

// CodeInvalidText is the code of text a request may not carry: invalid
// UTF-8, a NUL character, or more than the limit.
const CodeInvalidText = "invalid_text"

// MaxQueryValue bounds each query parameter and path segment, in bytes.
const MaxQueryValue = 2048

// CheckText is the one rule for text arriving from outside: valid UTF-8,
// no NUL (PostgreSQL text holds neither, and would fail the statement with
// SQLSTATE 22021 or 22P05), at most max bytes (max ≤ 0: no bound). what
// names the input in the message.
func CheckText(what, s string, max int) error {
	switch {
	case !utf8.ValidString(s):
		return govx.Errorf(govx.KindInvalid, CodeInvalidText, "%s is not valid UTF-8", what)
	case strings.IndexByte(s, 0) >= 0:
		return govx.Errorf(govx.KindInvalid, CodeInvalidText, "%s holds a NUL character", what)
	case max > 0 && len(s) > max:
		return govx.Errorf(govx.KindInvalid, CodeInvalidText, "%s is longer than %d bytes", what, max)
	}
	return nil
}

// CheckQuery applies CheckText to every name and value of a query string.
func CheckQuery(q url.Values) error {
	for k, vs := range q {
		if err := CheckText("a query parameter name", k, MaxQueryValue); err != nil {
			return err
		}
		name := Truncate(strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", ""), ""), 40)
		for _, v := range vs {
			if err := CheckText("query parameter "+name, v, MaxQueryValue); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckRequest checks the decoded path and query string of r.
func CheckRequest(r *http.Request) error {
	if err := CheckText("the path", r.URL.Path, 0); err != nil {
		return err
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return govx.Errorf(govx.KindInvalid, "invalid_query", "the query string is malformed")
	}
	return CheckQuery(q)
}

// ValidText refuses, with 400 invalid_text, every request whose path or
// query string fails CheckText, before next sees it. JSON bodies are
// checked by DecodeJSON.
func ValidText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := CheckRequest(r); err != nil {
			WriteError(w, nil, "", err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkStrings walks a decoded JSON value and applies CheckText (no length
// bound: the body limit bounds it) to every string in it.
func checkStrings(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return checkStrings(v.Elem(), path)
		}
	case reflect.String:
		if path == "" {
			path = "the body"
		}
		return CheckText(path, v.String(), 0)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if f.Anonymous && f.Tag.Get("json") == "" {
				name = ""
			}
			if err := checkStrings(v.Field(i), join(path, name)); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // []byte, json.RawMessage: not text
		}
		for i := range v.Len() {
			if err := checkStrings(v.Index(i), path); err != nil {
				return err
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if k := it.Key(); k.Kind() == reflect.String {
				if err := CheckText("a member name", k.String(), 0); err != nil {
					return err
				}
			}
			if err := checkStrings(it.Value(), path); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, name string) string {
	switch {
	case name == "":
		return path
	case path == "":
		return "field " + name
	}
	return path + "." + name
}
