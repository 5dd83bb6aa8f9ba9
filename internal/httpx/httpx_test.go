package httpx_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"govx"
	"govx/internal/httpx"
)

func decode(t *testing.T, body string, v any) error {
	t.Helper()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	return httpx.DecodeJSON(r, 1<<10, v)
}

func TestDecodeJSON(t *testing.T) {
	type inner struct {
		Reason string `json:"reason"`
	}
	type body struct {
		Name  string            `json:"name"`
		Tags  []string          `json:"tags"`
		Meta  map[string]string `json:"meta"`
		Inner *inner            `json:"inner"`
		Any   any               `json:"any"`
	}
	tests := []struct {
		name, body, code string
	}{
		{"one object", `{"name":"a"}`, ""},
		{"trailing space", "{\"name\":\"a\"}\n  ", ""},
		{"stray closing brace", `{"name":"a"}}`, "invalid_json"},
		{"stray closing bracket", `{"name":"a"}]`, "invalid_json"},
		{"second value", `{"name":"a"}{"name":"b"}`, "invalid_json"},
		{"trailing garbage", `{"name":"a"} x`, "invalid_json"},
		{"NUL in a field", `{"name":"a\u0000b"}`, "invalid_text"},
		{"NUL in a list", `{"tags":["x","\u0000"]}`, "invalid_text"},
		{"NUL in a map value", `{"meta":{"k":"\u0000"}}`, "invalid_text"},
		{"NUL in a map key", `{"meta":{"\u0000":"v"}}`, "invalid_text"},
		{"NUL in a nested struct", `{"inner":{"reason":"no\u0000"}}`, "invalid_text"},
		{"NUL in any", `{"any":{"deep":["\u0000"]}}`, "invalid_text"},
		{"invalid UTF-8", "{\"name\":\"\xff\xfe\"}", "invalid_text"},
		{"escaped lone surrogate is replaced, valid", `{"name":"\ud800"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v body
			err := decode(t, tt.body, &v)
			if got := code(err); got != tt.code {
				t.Fatalf("DecodeJSON(%q) = %v (code %q), want code %q", tt.body, err, got, tt.code)
			}
			if err != nil && govx.ErrorKind(err) != govx.KindInvalid {
				t.Errorf("kind %v, want Invalid", govx.ErrorKind(err))
			}
		})
	}
}

func code(err error) string {
	if err == nil {
		return ""
	}
	return govx.ErrorCode(err)
}

func TestValidText(t *testing.T) {
	h := httpx.ValidText(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	tests := []struct {
		target string
		status int
	}{
		{"/open/v1/datasets?q=shops", 204},
		{"/open/v1/datasets?q=%E5%BA%97", 204},
		{"/open/v1/datasets?q=%00", 400},
		{"/open/v1/datasets?q=%ff%fe", 400},
		{"/open/v1/datasets?publisher=%00", 400},
		{"/open/v1/datasets?theme=%ff", 400},
		{"/open/v1/datasets?%00=x", 400},
		{"/open/v1/datasets?q=" + strings.Repeat("a", httpx.MaxQueryValue+1), 400},
		{"/open/v1/datasets/%00", 400},
		{"/open/v1/datasets/%ff", 400},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", tt.target, nil))
		if w.Code != tt.status {
			t.Errorf("GET %s = %d, want %d", httpx.Truncate(tt.target, 60), w.Code, tt.status)
		}
		if tt.status == 400 && !strings.Contains(w.Body.String(), `"invalid_text"`) {
			t.Errorf("GET %s: %s, want code invalid_text", httpx.Truncate(tt.target, 60), w.Body)
		}
	}
}

// FuzzCheckText: whatever CheckText lets through is text PostgreSQL can
// store, within the bound.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"", "shops", "店铺", "a\x00b", "\xff\xfe", "=1+2", strings.Repeat("x", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := httpx.CheckText("q", s, 64)
		ok := utf8.ValidString(s) && !strings.ContainsRune(s, 0) && len(s) <= 64
		if (err == nil) != ok {
			t.Fatalf("CheckText(%q) = %v, want ok=%v", s, err, ok)
		}
		if err != nil && govx.ErrorCode(err) != httpx.CodeInvalidText {
			t.Fatalf("CheckText(%q) code %q", s, govx.ErrorCode(err))
		}
		if err == nil && httpx.CheckQuery(map[string][]string{"q": {s}}) != nil {
			t.Fatalf("CheckQuery refuses %q, which CheckText admits", s)
		}
	})
}
