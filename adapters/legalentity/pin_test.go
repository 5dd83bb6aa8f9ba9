package legalentity_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"govx/adapters/legalentity"
)

// TestGeneratedDataPinned pins what a seed generates: the demo's seeds
// name companies that docs, tests and saved cases refer to, so a change to
// the generator or its randomness must not move them.
func TestGeneratedDataPinned(t *testing.T) {
	g, _ := newGenerator()
	h := sha256.New()
	for _, i := range []int{0, 1, 2, 3, 999, 123_456, legalentity.Capacity() - 1} {
		fmt.Fprintf(h, "%+v\n", g.Company(i))
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), "5dafce1ec15b1a85fef162c7c7b10292cb7812d014bd15e8737a247437bd5690"; got != want {
		t.Errorf("generated data changed: sha256 %s, want %s", got, want)
	}
	if c := g.Company(0); c.USCC != "91120102596952116T" {
		t.Errorf("company 0 is %s %s", c.USCC, c.Name)
	}
}
