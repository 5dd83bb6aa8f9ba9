package web

import (
	"strings"
	"testing"
	"unicode/utf8"

	"govx"
)

func TestNormaliseCode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"11010519491231002X", "11010519491231002X"},
		{"11010519491231002x", "11010519491231002X"},
		{"  11010519491231002x\t", "11010519491231002X"},
		{"１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"},
		{"１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"},
		{"\u300011010519491231002X\u3000", "11010519491231002X"},
		{"91350100m000100y43", "91350100M000100Y43"},
		{"９１３５０１００Ｍ０００１００Ｙ４３", "91350100M000100Y43"},
		{"9135 0100", "9135 0100"}, // inner spaces stay, for the validator to refuse
		{"一二三", "一二三"},
		{"", ""},
		{"1101051949123100２X", "11010519491231002X"},
	} {
		if got := normaliseCode(c.in); got != c.want {
			t.Errorf("normaliseCode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// What a clerk types with an input method now passes the validators.
	if err := govx.ValidateIDNumber(normaliseCode("１１０１０５１９４９１２３１００２ｘ")); err != nil {
		t.Errorf("full-width ID number refused after normalising: %v", err)
	}
	if err := govx.ValidateUSCC(normaliseCode(" ９１３５０１００ｍ０００１００ｙ４３ ")); err != nil {
		t.Errorf("full-width credit code refused after normalising: %v", err)
	}
	if n, changed := normalised(" 11010519491231002X "); changed || n != "11010519491231002X" {
		t.Errorf("normalised of a standard code with spaces = %q, %v; want unchanged", n, changed)
	}
	if _, changed := normalised("11010519491231002x"); !changed {
		t.Error("normalised of a lowercase x: not reported as changed")
	}
}

// FuzzNormaliseCode holds the normaliser to its promises on any input:
// idempotent, no lowercase ASCII or full-width form left, no surrounding
// space, valid UTF-8 kept valid, and a standard code passes through.
func FuzzNormaliseCode(f *testing.F) {
	for _, s := range []string{"11010519491231002x", "１２３Ｘ", "\u3000ｍ\u3000", "91350100M000100Y43", "é", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := normaliseCode(s)
		if normaliseCode(n) != n {
			t.Fatalf("not idempotent: %q → %q → %q", s, n, normaliseCode(n))
		}
		if strings.TrimSpace(n) != n {
			t.Fatalf("%q → %q keeps surrounding space", s, n)
		}
		for _, r := range n {
			if (r >= 'a' && r <= 'z') || (r >= 0xFF01 && r <= 0xFF5E) || r == 0x3000 {
				t.Fatalf("%q → %q keeps %q", s, n, r)
			}
		}
		if utf8.ValidString(s) && !utf8.ValidString(n) {
			t.Fatalf("%q → %q is not valid UTF-8", s, n)
		}
		if govx.ValidateIDNumber(s) == nil && n != s {
			t.Fatalf("valid ID number %q changed to %q", s, n)
		}
		if govx.ValidateUSCC(s) == nil && n != s {
			t.Fatalf("valid credit code %q changed to %q", s, n)
		}
	})
}
