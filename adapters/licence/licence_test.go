package licence_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"govx"
	"govx/adapters/licence"
	"govx/adapters/population"
)

const seed = 7

// companies are company holders with valid unified social credit codes,
// computed here as the legal-entity register would make them.
func companies(i int) (string, string) {
	body := fmt.Sprintf("%08d", 30000000+i)
	oc, err := govx.OrgCodeCheckChar(body)
	if err != nil {
		panic(err)
	}
	first17 := "91440106" + body + string(oc)
	c, err := govx.USCCCheckChar(first17)
	if err != nil {
		panic(err)
	}
	return first17 + string(c), fmt.Sprintf("广州市天河区第%d号贸易有限公司", i)
}

func residents() licence.Holders {
	g := population.NewGenerator(seed)
	return func(i int) (string, string) {
		r := g.Resident(i)
		return r.IDNumber, r.Name
	}
}

func mustGenerator(tb testing.TB) *licence.Generator {
	tb.Helper()
	g, err := licence.NewGenerator(licence.GeneratorConfig{Seed: seed,
		Companies: companies, CompanyCount: 2000, Residents: residents(), ResidentCount: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// keys returns the generator's public keys by key id.
func keys(g *licence.Generator) licence.KeySet {
	ks := licence.KeySet{}
	for _, k := range g.PublicKeys() {
		ks[k.KeyID] = k.PublicKey
	}
	return ks
}

func TestGenerator(t *testing.T) {
	g := mustGenerator(t)
	ks := keys(g)
	const n = 5000
	numbers, ids := map[string]bool{}, map[string]bool{}
	types, statuses := map[string]int{}, map[string]int{}
	people := 0
	for i := range n {
		l := g.Licence(i)
		if numbers[l.Number] || ids[l.ID] {
			t.Fatalf("licence %d repeats number %s or id %s", i, l.Number, l.ID)
		}
		numbers[l.Number], ids[l.ID] = true, true
		types[l.Type]++
		statuses[l.Status]++
		if err := licence.ValidateNumber(l.Type, l.Number); err != nil {
			t.Fatalf("licence %d: %v", i, err)
		}
		if typ, err := licence.TypeOf(l.Number); err != nil || typ != l.Type {
			t.Fatalf("TypeOf(%s) = %s, %v; want %s", l.Number, typ, err, l.Type)
		}
		if err := licence.ValidateHolder(l.HolderCode); err != nil {
			t.Fatalf("licence %d holder %s: %v", i, l.HolderCode, err)
		}
		if govx.ValidateIDNumber(l.HolderCode) == nil {
			people++
			if l.Type == licence.TypePharmacy || l.Type == licence.TypeConstruction {
				t.Errorf("licence %d: a %s licence held by a natural person", i, l.Type)
			}
		}
		if err := govx.ValidateUSCC(l.AuthorityCode); err != nil || l.Authority == "" {
			t.Fatalf("licence %d authority %q %s: %v", i, l.Authority, l.AuthorityCode, err)
		}
		if l.ValidFrom.Before(l.IssueDate) || !l.ValidUntil.After(l.ValidFrom) || !l.IssueDate.Before(g.AsOf()) {
			t.Fatalf("licence %d dates: issued %v, valid %v to %v", i, l.IssueDate, l.ValidFrom, l.ValidUntil)
		}
		switch l.Status {
		case licence.StatusExpired:
			if !l.ValidUntil.Before(g.AsOf()) {
				t.Fatalf("licence %d expired but valid until %v", i, l.ValidUntil)
			}
		case licence.StatusValid:
			if l.ValidUntil.Before(g.AsOf()) {
				t.Fatalf("licence %d valid but ended %v", i, l.ValidUntil)
			}
		case licence.StatusRevoked:
			if l.RevokedAt == nil || l.RevocationReason == "" || l.RevokedAt.Before(l.ValidFrom) || l.RevokedAt.After(g.AsOf()) {
				t.Fatalf("licence %d revoked at %v for %q", i, l.RevokedAt, l.RevocationReason)
			}
		default:
			t.Fatalf("licence %d status %q", i, l.Status)
		}
		if len(l.Items) == 0 {
			t.Fatalf("licence %d without face items", i)
		}
		if err := ks.Verify(l); err != nil {
			t.Fatalf("licence %d: %v", i, err)
		}
	}
	for _, typ := range licence.Types {
		if types[typ] < n/20 {
			t.Errorf("%d %s licences of %d", types[typ], typ, n)
		}
	}
	if statuses[licence.StatusRevoked] == 0 || statuses[licence.StatusRevoked] > n/20 || statuses[licence.StatusExpired] == 0 || statuses[licence.StatusValid] < n/3 {
		t.Errorf("statuses %v", statuses)
	}
	if people == 0 || people > n/3 {
		t.Errorf("%d of %d licences held by natural persons", people, n)
	}

	// The same configuration makes the same licences, in another process too.
	again := mustGenerator(t)
	for _, i := range []int{0, 1, 999, licence.Capacity - 1} {
		a, b := g.Licence(i), again.Licence(i)
		if string(licence.Canonical(&a)) != string(licence.Canonical(&b)) || string(a.Seal) != string(b.Seal) || a.Status != b.Status {
			t.Errorf("licence %d differs between generators", i)
		}
	}
}

func TestCanonical(t *testing.T) {
	l := licence.Licence{ID: "1.2.156.3005.2.1001.X.0000000001", Type: "food-business", Number: "JY1", HolderName: "张三\"\\\n\x01</>",
		HolderCode: "H", Authority: "A", AuthorityCode: "C",
		IssueDate: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), ValidFrom: time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC),
		ValidUntil: time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC), Status: "valid",
		Items: map[string]string{"premises": "天河路1号", "b": "x", "\U0001F600": "emoji", "\uff01": "fullwidth"}, SealKeyID: "C.k"}
	want := `{"authority":"A","authority_code":"C","holder_code":"H","holder_name":"张三\"\\\n\u0001</>",` +
		`"id":"1.2.156.3005.2.1001.X.0000000001","issue_date":"2024-03-01",` +
		// RFC 8785 sorts by UTF-16 code units: U+1F600 (D83D …) before U+FF01.
		`"items":{"b":"x","premises":"天河路1号","` + "\U0001F600" + `":"emoji","` + "\uff01" + `":"fullwidth"},` +
		`"number":"JY1","seal_key_id":"C.k","type":"food-business","valid_from":"2024-03-02","valid_until":"2029-03-01"}`
	if got := string(licence.Canonical(&l)); got != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", got, want)
	}
}

func TestSeal(t *testing.T) {
	g := mustGenerator(t)
	ks := keys(g)
	var l licence.Licence
	for i := 0; ; i++ { // one with a revocation, to show those fields are outside the seal
		if l = g.Licence(i); l.Status == licence.StatusRevoked {
			break
		}
	}
	pub := ks[l.SealKeyID]
	if err := licence.VerifySeal(l, pub); err != nil {
		t.Fatalf("VerifySeal: %v", err)
	}
	day := 24 * time.Hour
	for _, tt := range []struct {
		name  string
		alter func(*licence.Licence)
	}{
		{"id", func(l *licence.Licence) { l.ID += "1" }},
		{"type", func(l *licence.Licence) { l.Type = licence.TypePharmacy }},
		{"number", func(l *licence.Licence) { l.Number = l.Number[:len(l.Number)-1] + "9" }},
		{"holder name", func(l *licence.Licence) { l.HolderName += "分公司" }},
		{"holder code", func(l *licence.Licence) { l.HolderCode, _ = companies(1) }},
		{"authority", func(l *licence.Licence) { l.Authority = "某某局" }},
		{"issue date", func(l *licence.Licence) { l.IssueDate = l.IssueDate.Add(-day) }},
		{"valid from", func(l *licence.Licence) { l.ValidFrom = l.ValidFrom.Add(day) }},
		{"valid until", func(l *licence.Licence) { l.ValidUntil = l.ValidUntil.AddDate(1, 0, 0) }},
		{"an item changed", func(l *licence.Licence) { l.Items = clone(l.Items); l.Items["premises"] = "另一地址1号" }},
		{"an item added", func(l *licence.Licence) { l.Items = clone(l.Items); l.Items["extra"] = "" }},
		{"an item removed", func(l *licence.Licence) {
			l.Items = clone(l.Items)
			for k := range l.Items {
				delete(l.Items, k)
				break
			}
		}},
		{"seal bit", func(l *licence.Licence) { l.Seal = append([]byte{}, l.Seal...); l.Seal[10] ^= 1 }},
		{"seal truncated", func(l *licence.Licence) { l.Seal = l.Seal[:63] }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := l
			tt.alter(&m)
			if err := licence.VerifySeal(m, pub); govx.ErrorCode(err) != "seal_invalid" {
				t.Errorf("VerifySeal after altering %s: %v, want seal_invalid", tt.name, err)
			}
		})
	}
	t.Run("status and revocation are outside the seal", func(t *testing.T) {
		m := l
		m.Status, m.RevokedAt, m.RevocationReason = licence.StatusValid, nil, ""
		if err := licence.VerifySeal(m, pub); err != nil {
			t.Errorf("VerifySeal: %v", err)
		}
	})
	t.Run("another authority's key", func(t *testing.T) {
		m := l
		for id := range ks {
			if !strings.HasPrefix(id, l.AuthorityCode+".") {
				m.SealKeyID = id
				break
			}
		}
		if err := licence.VerifySeal(m, ks[m.SealKeyID]); govx.ErrorCode(err) != "seal_key_mismatch" {
			t.Errorf("VerifySeal with a key of another authority: %v", err)
		}
		m = l
		m.AuthorityCode, _ = companies(2)
		if err := licence.VerifySeal(m, pub); govx.ErrorCode(err) != "seal_key_mismatch" {
			t.Errorf("VerifySeal with another authority code: %v", err)
		}
	})
	t.Run("a key that did not seal it", func(t *testing.T) {
		other, _, _ := ed25519.GenerateKey(rand.Reader)
		if err := licence.VerifySeal(l, other); govx.ErrorCode(err) != "seal_invalid" {
			t.Errorf("VerifySeal with a stranger's key: %v", err)
		}
		if err := (licence.KeySet{}).Verify(l); govx.ErrorCode(err) != "seal_key_unknown" {
			t.Errorf("KeySet.Verify without the key: %v", err)
		}
	})
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestValidateNumber(t *testing.T) {
	g := mustGenerator(t)
	good := map[string]string{}
	for i := 0; len(good) < len(licence.Types); i++ {
		l := g.Licence(i)
		good[l.Type] = l.Number
	}
	for typ, n := range good {
		if err := licence.ValidateNumber(typ, n); err != nil {
			t.Errorf("ValidateNumber(%s, %s): %v", typ, n, err)
		}
	}
	food := good[licence.TypeFoodBusiness]
	wrongCheck := food[:15] + string('0'+(food[15]-'0'+1)%10)
	for _, tt := range []struct{ typ, number string }{
		{licence.TypeFoodBusiness, ""},
		{licence.TypeFoodBusiness, wrongCheck},
		{licence.TypeFoodBusiness, food + "1"},
		{licence.TypeFoodBusiness, strings.ToLower(food)},
		{licence.TypeFoodBusiness, good[licence.TypePharmacy]},
		{licence.TypePharmacy, "粤XX4401000001"},
		{licence.TypeConstruction, "(粤)JZ安许证字[2021]12345"},
		{licence.TypeRoadTransport, "粤交运管许可穗字440106000001"},
		{licence.TypeRoadTransport, strings.Repeat("粤", 100)},
	} {
		if err := licence.ValidateNumber(tt.typ, tt.number); govx.ErrorCode(err) != "invalid_licence_number" {
			t.Errorf("ValidateNumber(%s, %q) = %v, want invalid_licence_number", tt.typ, tt.number, err)
		}
	}
}
