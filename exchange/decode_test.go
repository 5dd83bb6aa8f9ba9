package exchange

import (
	"net/http/httptest"
	"strings"
	"testing"

	"govx"
)

// FuzzDecodeQuery feeds the query decoder what a hostile caller might send:
// it must never panic, and anything it accepts must be within the limits.
func FuzzDecodeQuery(f *testing.F) {
	for _, s := range []string{
		`{"key":"110101199003074477","fields":["name"],"purpose":"case:1"}`,
		`{"key":`, `[]`, `null`, `{"key":"a"}{"key":"b"}`, `{"fields":[` + strings.Repeat(`"x",`, 70) + `"x"]}`,
		`{"key":"\u0000","purpose":"\ud800"}`, strings.Repeat("[", 10000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/v1/resources/population.identity/query", strings.NewReader(body))
		q, err := decodeQuery(r, 4096)
		if err != nil {
			if k := govx.ErrorKind(err); k != govx.KindInvalid && k != govx.KindTooLarge {
				t.Fatalf("error of kind %v for bad input: %v", k, err)
			}
			return
		}
		if len(body) > 4096 || len(q.Fields) > 64 {
			t.Fatalf("accepted a query over the limits: %d bytes, %d fields", len(body), len(q.Fields))
		}
	})
}

func TestDecodeQueryLimits(t *testing.T) {
	cases := []struct {
		name, body string
		code       string
	}{
		{"ok", `{"key":"k","fields":["a"],"purpose":"p"}`, ""},
		{"two values", `{"key":"a"}{"key":"b"}`, "invalid_json"},
		{"wrong type", `{"key":1}`, "invalid_json"},
		{"empty", ``, "invalid_json"},
		{"too many fields", `{"fields":[` + strings.Repeat(`"x",`, 64) + `"x"]}`, "too_many_fields"},
		{"too large", `{"key":"` + strings.Repeat("1", 5000) + `"}`, "body_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			_, err := decodeQuery(r, 4096)
			if got := codeOf(err); got != tc.code {
				t.Errorf("code = %q, want %q (%v)", got, tc.code, err)
			}
		})
	}
}

func codeOf(err error) string {
	if err == nil {
		return ""
	}
	return govx.ErrorCode(err)
}
