package legalentity_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"govx"
	"govx/adapters/legalentity"
	"govx/adapters/population"
)

const (
	seed      = 11
	residents = 2000
)

func newGenerator() (*legalentity.Generator, *population.Generator) {
	pop := population.NewGenerator(seed)
	return legalentity.NewGenerator(seed, pop, residents), pop
}

func TestUSCCsUniqueAndValid(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	g, _ := newGenerator()
	seen := make(map[string]int, n)
	for i := range n {
		code := g.USCC(i)
		if err := govx.ValidateUSCC(code); err != nil {
			t.Fatalf("USCC(%d) = %s: %v", i, code, err)
		}
		if j, dup := seen[code]; dup {
			t.Fatalf("USCC(%d) = USCC(%d) = %s", i, j, code)
		}
		seen[code] = i
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	a, _ := newGenerator()
	b, _ := newGenerator()
	other := legalentity.NewGenerator(seed+1, population.NewGenerator(seed), residents)
	differ := 0
	for _, i := range []int{0, 1, 999, 123_456, legalentity.Capacity() - 1} {
		ca, cb := a.Company(i), b.Company(i)
		if ca != cb {
			t.Errorf("Company(%d) differs between two generators of one seed:\n%+v\n%+v", i, ca, cb)
		}
		if a.USCC(i) != ca.USCC {
			t.Errorf("USCC(%d) = %s, Company(%d).USCC = %s", i, a.USCC(i), i, ca.USCC)
		}
		if other.USCC(i) != ca.USCC {
			differ++
		}
	}
	if differ == 0 {
		t.Error("another seed gives the same codes")
	}
}

func TestGeneratorPanicsOutsideCapacity(t *testing.T) {
	g, _ := newGenerator()
	for _, i := range []int{-1, legalentity.Capacity()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Company(%d) did not panic", i)
				}
			}()
			g.Company(i)
		}()
	}
}

// Every company is coherent in itself and with the population register.
func TestCompaniesAreConsistent(t *testing.T) {
	g, pop := newGenerator()
	rep := make(map[string]population.Resident, residents)
	for j := range residents {
		r := pop.Resident(j)
		rep[r.IDNumber] = r
	}
	divisions := map[string]bool{}
	for _, d := range population.Divisions() {
		divisions[d.Code] = true
	}
	types := map[string]int{}
	statuses := map[string]int{}
	end := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	const n = 20_000
	for i := range n {
		c := g.Company(i)
		types[c.Type]++
		statuses[c.Status]++
		r, ok := rep[c.RepresentativeID]
		if !ok {
			t.Fatalf("company %d: representative %s is not among the first %d residents", i, c.RepresentativeID, residents)
		}
		if c.LegalRepresentative != r.Name {
			t.Errorf("company %d: representative named %q, the register says %q", i, c.LegalRepresentative, r.Name)
		}
		if adult := r.BirthDate.AddDate(18, 0, 0); c.EstablishedOn.Before(adult) {
			t.Errorf("company %d established %s by a representative born %s", i, c.EstablishedOn, r.BirthDate)
		}
		if c.EstablishedOn.After(end) || c.StatusDate.Before(c.EstablishedOn) || c.StatusDate.After(end) {
			t.Errorf("company %d: established %s, status date %s", i, c.EstablishedOn, c.StatusDate)
		}
		switch c.Status {
		case legalentity.StatusInBusiness:
			if c.StatusReason != "" || !c.StatusDate.Equal(c.EstablishedOn) {
				t.Errorf("company %d in business since %s with reason %q", i, c.StatusDate, c.StatusReason)
			}
		case legalentity.StatusDeregistered, legalentity.StatusRevoked:
			if c.StatusReason == "" || !c.StatusDate.After(c.EstablishedOn) {
				t.Errorf("company %d %s on %s (established %s) with reason %q", i, c.Status, c.StatusDate, c.EstablishedOn, c.StatusReason)
			}
		default:
			t.Errorf("company %d: status %q", i, c.Status)
		}
		if !divisions[c.DivisionCode] || c.USCC[2:8] != c.DivisionCode || c.AuthorityCode != c.DivisionCode {
			t.Errorf("company %d: division %s, USCC %s, authority %s", i, c.DivisionCode, c.USCC, c.AuthorityCode)
		}
		if !strings.HasSuffix(c.AuthorityName, "市场监督管理局") || !strings.Contains(c.Address, "号") {
			t.Errorf("company %d: authority %q, address %q", i, c.AuthorityName, c.Address)
		}
		individual := c.Type == legalentity.TypeIndividualBusiness
		if (c.USCC[:2] == "92") != individual || (c.USCC[:2] == "91") == individual {
			t.Errorf("company %d: a %s with USCC %s", i, c.Type, c.USCC)
		}
		if mA := c.USCC[8:10] == "MA"; mA != !c.EstablishedOn.Before(time.Date(2015, 10, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("company %d established %s has organisation code %s", i, c.EstablishedOn, c.USCC[8:17])
		}
		noCapital := individual || c.Type == legalentity.TypeBranch
		if (c.RegisteredCapital == 0) != noCapital || c.RegisteredCapital%10_000 != 0 {
			t.Errorf("company %d: a %s with capital %d", i, c.Type, c.RegisteredCapital)
		}
		if l := utf8.RuneCountInString(c.Name); l < 6 || l > 40 || !utf8.ValidString(c.Name) {
			t.Errorf("company %d: name %q", i, c.Name)
		}
		if !strings.Contains(c.BusinessScope, "经营活动") || !strings.Contains(c.BusinessScope, "；") {
			t.Errorf("company %d: business scope %q", i, c.BusinessScope)
		}
		if i < 8 || testing.Verbose() && i < 30 {
			t.Logf("%s %s %s %s %s %d %s %s %s %q %s %s %s", c.USCC, c.Name, c.Type, c.LegalRepresentative, c.RepresentativeID,
				c.RegisteredCapital, c.EstablishedOn.Format(time.DateOnly), c.AuthorityName, c.Address, c.BusinessScope,
				c.Status, c.StatusDate.Format(time.DateOnly), c.StatusReason)
		}
	}
	// Shares roughly as in China's register.
	share := func(m map[string]int, k string) float64 { return float64(m[k]) / n }
	for _, want := range []struct {
		m      map[string]int
		key    string
		lo, hi float64
	}{
		{types, legalentity.TypeIndividualBusiness, 0.55, 0.70},
		{types, legalentity.TypeLimitedLiability, 0.25, 0.35},
		{types, legalentity.TypeBranch, 0.01, 0.05},
		{statuses, legalentity.StatusInBusiness, 0.70, 0.90},
		{statuses, legalentity.StatusRevoked, 0.02, 0.10},
	} {
		if s := share(want.m, want.key); s < want.lo || s > want.hi {
			t.Errorf("share of %s = %.3f, want [%.2f, %.2f]", want.key, s, want.lo, want.hi)
		}
	}
}

// With few adults among the residents every company still finds one.
func TestFewResidents(t *testing.T) {
	pop := population.NewGenerator(seed)
	g := legalentity.NewGenerator(seed, pop, 3)
	ids := map[string]bool{pop.IDNumber(0): true, pop.IDNumber(1): true, pop.IDNumber(2): true}
	for i := range 200 {
		if c := g.Company(i); !ids[c.RepresentativeID] {
			t.Fatalf("company %d: representative %s is not one of the 3 residents", i, c.RepresentativeID)
		}
	}
}

func BenchmarkCompany(b *testing.B) {
	g, _ := newGenerator()
	for i := 0; b.Loop(); i++ {
		g.Company(i)
	}
}
