package exchange_test

import (
	"maps"
	"testing"

	"govx"
	"govx/exchange"
)

func TestCursor(t *testing.T) {
	for _, tc := range []struct {
		text string
		want exchange.Cursor
	}{
		{"0:0", exchange.Cursor{0: 0}},
		{"0:12,1:7,3:0", exchange.Cursor{0: 12, 1: 7, 3: 0}},
	} {
		got, err := exchange.ParseCursor(tc.text)
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("ParseCursor(%q) = %v, %v; want %v", tc.text, got, err, tc.want)
		}
		if s := got.String(); s != tc.text {
			t.Errorf("String() = %q, want %q", s, tc.text)
		}
	}
	for _, bad := range []string{"", ",", "0", "0:", ":1", "a:1", "0:x", "-1:3", "0:-3", "0:1,0:2", "01:1", "+1:1",
		"0:1;1:2", "0:1,", "70000:1", "0:99999999999999999999", "0:1\n"} {
		if _, err := exchange.ParseCursor(bad); govx.ErrorCode(err) != "invalid_cursor" {
			t.Errorf("ParseCursor(%q): %v, want invalid_cursor", bad, err)
		}
	}
}

// Whatever a client sends as Last-Event-ID, a cursor that parses prints
// back the same, and nothing else panics.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"0:12,1:7", "0:0", "x", "0:1,0:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := exchange.ParseCursor(s)
		if err != nil {
			return
		}
		again, err := exchange.ParseCursor(c.String())
		if err != nil || !maps.Equal(c, again) {
			t.Fatalf("%q → %v → %q does not parse back (%v)", s, c, c.String(), err)
		}
	})
}
