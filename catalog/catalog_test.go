package catalog_test

import (
	"strings"
	"testing"

	"govx/catalog"
)

func TestValidCode(t *testing.T) {
	for code, want := range map[string]bool{
		"population.identity":           true,
		"licence.food-business":         true,
		"legal-entity.basic":            true,
		"population":                    false,
		"Population.identity":           false,
		"population..identity":          false,
		"population.":                   false,
		".identity":                     false,
		"population.identity;--":        false,
		"population identity":           false,
		"人口.身份":                         false,
		"a." + strings.Repeat("b", 100): false,
	} {
		if got := catalog.ValidCode(code); got != want {
			t.Errorf("ValidCode(%q) = %v, want %v", code, got, want)
		}
	}
}

func FuzzValidCode(f *testing.F) {
	f.Add("population.identity")
	f.Add("a..b")
	f.Fuzz(func(t *testing.T, s string) {
		if catalog.ValidCode(s) && (len(s) > 100 || !strings.Contains(s, ".") || strings.ContainsAny(s, " ;'\"\\/%")) {
			t.Errorf("ValidCode(%q) accepted a code of the wrong shape", s)
		}
	})
}
