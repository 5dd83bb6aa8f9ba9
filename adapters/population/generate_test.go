package population

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"govx"
)

const testSeed = 20240601

func TestCapacityHoldsFiveMillion(t *testing.T) {
	if c := Capacity(); c < 5_000_000 {
		t.Fatalf("Capacity() = %d, want at least 5,000,000", c)
	}
}

// The ID numbers of the first two million residents are all different. The
// first 17 digits determine the 18th, so they are compared as integers.
func TestIDNumbersUnique(t *testing.T) {
	n := 2_000_000
	if testing.Short() {
		n = 200_000
	}
	g := NewGenerator(testSeed)
	keys := make([]uint64, n)
	for i := range keys {
		id := g.IDNumber(i)
		var k uint64
		for j := 0; j < 17; j++ {
			k = k*10 + uint64(id[j]-'0')
		}
		keys[i] = k
	}
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			t.Fatalf("ID number body %017d occurs twice among the first %d residents", keys[i], n)
		}
	}
}

// The permutation behind the construction is a bijection of the whole of
// [0, Capacity()): every position is hit exactly once.
func TestPermutationIsBijective(t *testing.T) {
	if testing.Short() {
		t.Skip("walks all of Capacity()")
	}
	g := NewGenerator(testSeed)
	n := Capacity()
	seen := make([]uint64, (n+63)/64)
	for i := 0; i < n; i++ {
		p := g.permute(uint64(i))
		if p < 0 || p >= n {
			t.Fatalf("permute(%d) = %d, outside [0, %d)", i, p, n)
		}
		if seen[p/64]&(1<<(p%64)) != 0 {
			t.Fatalf("position %d reached twice (second time from %d)", p, i)
		}
		seen[p/64] |= 1 << (p % 64)
	}
}

// Distinct positions decode to distinct ID numbers: checked over every
// position of a sample of (division, year) cells, including the fullest.
func TestLocateIsInjectiveWithinCells(t *testing.T) {
	g := NewGenerator(testSeed)
	// Cell c covers positions [cellEnd[c-1], cellEnd[c]).
	for _, c := range []int{0, 1, len(lay.cellEnd) / 2, len(lay.cellEnd) - 1, fullestCell()} {
		start := 0
		if c > 0 {
			start = lay.cellEnd[c-1]
		}
		seen := map[string]int{}
		for p := start; p < lay.cellEnd[c]; p++ {
			var id [18]byte
			g.decode(p).format(&id)
			if q, dup := seen[string(id[:17])]; dup {
				t.Fatalf("positions %d and %d of cell %d both give %s", q, p, c, id[:17])
			}
			seen[string(id[:17])] = p
		}
	}
}

func fullestCell() int {
	best, bestSlots := 0, 0
	for c := range lay.cellEnd {
		if s := divisions[c/lay.years].weight * lay.yearWeight[c%lay.years]; s > bestSlots {
			best, bestSlots = c, s
		}
	}
	return best
}

func TestGeneratorIsDeterministic(t *testing.T) {
	a, b := NewGenerator(testSeed), NewGenerator(testSeed)
	for _, i := range []int{0, 1, 1234, 999_999, 4_999_999, Capacity() - 1} {
		ra, rb := a.Resident(i), b.Resident(i)
		if ra != rb {
			t.Errorf("resident %d differs between two generators of one seed:\n%+v\n%+v", i, ra, rb)
		}
		if id := a.IDNumber(i); id != ra.IDNumber {
			t.Errorf("IDNumber(%d) = %s, Resident(%d).IDNumber = %s", i, id, i, ra.IDNumber)
		}
	}
	other := NewGenerator(testSeed + 1)
	same := 0
	for i := 0; i < 1000; i++ {
		if other.IDNumber(i) == a.IDNumber(i) {
			same++
		}
	}
	if same > 5 {
		t.Errorf("seeds %d and %d agree on %d of 1000 ID numbers", testSeed, testSeed+1, same)
	}
}

func TestGeneratorPanicsOutsideCapacity(t *testing.T) {
	g := NewGenerator(testSeed)
	for _, i := range []int{-1, Capacity()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("IDNumber(%d) did not panic", i)
				}
			}()
			g.IDNumber(i)
		}()
	}
}

// Every generated resident is internally consistent and its ID number valid.
func TestResidentsAreConsistent(t *testing.T) {
	g := NewGenerator(testSeed)
	byCode := map[string]*division{}
	for k := range divisions {
		byCode[divisions[k].code] = &divisions[k]
	}
	first := time.Date(firstBirthYear, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Date(lastBirthYear, 12, 31, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 100_000; i++ {
		r := g.Resident(i)
		if err := govx.ValidateIDNumber(r.IDNumber); err != nil {
			t.Fatalf("resident %d: %v", i, err)
		}
		div, ok := byCode[r.DivisionCode]
		if !ok || r.IDNumber[:6] != r.DivisionCode {
			t.Fatalf("resident %d: division %s, ID number %s", i, r.DivisionCode, r.IDNumber)
		}
		if got := r.BirthDate.Format("20060102"); got != r.IDNumber[6:14] || r.BirthDate.Location() != time.UTC ||
			r.BirthDate.Before(first) || r.BirthDate.After(last) {
			t.Fatalf("resident %d: birth date %v, ID number %s", i, r.BirthDate, r.IDNumber)
		}
		wantSex := SexFemale
		if (r.IDNumber[16]-'0')%2 == 1 {
			wantSex = SexMale
		}
		if r.Sex != wantSex {
			t.Fatalf("resident %d: sex %s, ID number %s", i, r.Sex, r.IDNumber)
		}
		if r.IDNumber[14:17] == "000" {
			t.Fatalf("resident %d: sequence 000 in %s", i, r.IDNumber)
		}
		if !strings.HasPrefix(r.Address, div.address) || !strings.Contains(r.Address, "号") ||
			!utf8.ValidString(r.Address) {
			t.Fatalf("resident %d: address %q does not fit division %s %s", i, r.Address, div.code, div.address)
		}
		if div.lanes != strings.Contains(r.Address, "弄") {
			t.Fatalf("resident %d: address %q in %s", i, r.Address, div.address)
		}
		if n := utf8.RuneCountInString(r.Name); n < 2 || n > 16 || !utf8.ValidString(r.Name) {
			t.Fatalf("resident %d: name %q", i, r.Name)
		}
		if !slices.ContainsFunc(ethnicProfiles[div.people], func(w weighted) bool { return w.value == r.Ethnicity }) {
			t.Fatalf("resident %d: ethnicity %s not expected in %s", i, r.Ethnicity, div.address)
		}
		switch r.Status {
		case StatusNormal, StatusMovedOut, StatusDeceased:
		default:
			t.Fatalf("resident %d: status %q", i, r.Status)
		}
		if r.UpdatedAt.Year() < 2015 || r.UpdatedAt.Year() > 2025 || r.UpdatedAt.Location() != time.UTC {
			t.Fatalf("resident %d: updated at %v", i, r.UpdatedAt)
		}
	}
}

// The population looks like China's: shares over 200,000 residents.
func TestResidentDistribution(t *testing.T) {
	g := NewGenerator(testSeed)
	const n = 200_000
	count := map[string]int{}
	var male, adults, born1962to1990, divisionsSeen = 0, 0, 0, map[string]bool{}
	adulthood := time.Date(2008, 1, 1, 0, 0, 0, 0, time.UTC) // 18 by 2026
	for i := 0; i < n; i++ {
		r := g.Resident(i)
		count[r.Status]++
		count[r.Ethnicity]++
		if r.Sex == SexMale {
			male++
		}
		if r.BirthDate.Before(adulthood) {
			adults++
		}
		if y := r.BirthDate.Year(); y >= 1962 && y <= 1990 {
			born1962to1990++
		}
		divisionsSeen[r.DivisionCode] = true
		if strings.Contains(r.Name, "·") {
			count["turkic name"]++
		}
	}
	share := func(k int) float64 { return float64(k) / n }
	within := func(what string, got, lo, hi float64) {
		t.Helper()
		if got < lo || got > hi {
			t.Errorf("%s: share %.4f, want within [%.3f, %.3f]", what, got, lo, hi)
		}
	}
	within("normal", share(count[StatusNormal]), 0.955, 0.965)
	within("moved_out", share(count[StatusMovedOut]), 0.027, 0.033)
	within("deceased", share(count[StatusDeceased]), 0.008, 0.012)
	within("male", share(male), 0.49, 0.51)
	within("adults", share(adults), 0.93, 0.99)
	within("born 1962–1990", share(born1962to1990), 0.45, 0.60)
	within("汉族", share(count["汉族"]), 0.84, 0.95)
	for _, people := range []string{"壮族", "回族", "满族", "维吾尔族", "苗族", "彝族", "土家族", "藏族", "蒙古族", "朝鲜族", "白族"} {
		within(people, share(count[people]), 0.0005, 0.05)
	}
	if count["turkic name"] == 0 {
		t.Error("no Uyghur-style names")
	}
	if len(divisionsSeen) != len(divisions) {
		t.Errorf("%d of %d divisions have residents", len(divisionsSeen), len(divisions))
	}
}

// provinces are the GB/T 2260 province-level codes of the divisions used.
var provinces = map[string]string{
	"11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
	"21": "辽宁省", "22": "吉林省", "23": "黑龙江省", "31": "上海市", "32": "江苏省",
	"33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
	"41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
	"46": "海南省", "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省",
	"54": "西藏自治区", "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
	"65": "新疆维吾尔自治区",
}

func TestDivisionTable(t *testing.T) {
	if len(divisions) < 60 {
		t.Errorf("%d divisions, want at least 60", len(divisions))
	}
	seen := map[string]bool{}
	provincesSeen := map[string]bool{}
	for _, d := range divisions {
		if len(d.code) != 6 || strings.Trim(d.code, "0123456789") != "" {
			t.Errorf("division code %q is not 6 digits", d.code)
		}
		if seen[d.code] {
			t.Errorf("division %s listed twice", d.code)
		}
		seen[d.code] = true
		prov, ok := provinces[d.code[:2]]
		if !ok || !strings.HasPrefix(d.address, prov) {
			t.Errorf("division %s %s: province code %s is %q", d.code, d.address, d.code[:2], prov)
		}
		provincesSeen[d.code[:2]] = true
		if !strings.HasSuffix(d.address, "区") && !strings.HasSuffix(d.address, "市") {
			t.Errorf("division %s %s does not end in a district or city", d.code, d.address)
		}
		if d.weight < 1 || d.weight > 5 || d.people < 0 || d.people >= len(ethnicProfiles) {
			t.Errorf("division %s: weight %d, people %d", d.code, d.weight, d.people)
		}
	}
	if len(provincesSeen) < 25 {
		t.Errorf("divisions cover %d provinces, want at least 25", len(provincesSeen))
	}
	for k, prof := range ethnicProfiles {
		total := 0
		for _, w := range prof {
			total += w.weight
		}
		if total != 1000 {
			t.Errorf("ethnic profile %d sums to %d per mille", k, total)
		}
	}
}

func TestPickerFollowsWeights(t *testing.T) {
	p := newPicker([]weighted{{"a", 900}, {"b", 99}, {"c", 1}})
	count := map[string]int{}
	for k := 0; k < pickerSlots; k++ {
		count[p.pick(uint64(k)<<(64-pickerBits))]++
	}
	if count["a"] != 3686 || count["b"] != 405 || count["c"] != 5 {
		t.Errorf("slots a, b, c = %d, %d, %d; want 3686, 405, 5", count["a"], count["b"], count["c"])
	}
	rare := newPicker([]weighted{{"x", 1_000_000}, {"y", 1}})
	if rare.pick(^uint64(0)) != "y" {
		t.Error("a tiny weight got no slot")
	}
}

func TestMonthDay(t *testing.T) {
	for _, tt := range []struct{ year, doy, month, day int }{
		{1999, 0, 1, 1}, {1999, 31, 2, 1}, {1999, 58, 2, 28}, {1999, 59, 3, 1}, {1999, 364, 12, 31},
		{2000, 59, 2, 29}, {2000, 60, 3, 1}, {2000, 365, 12, 31}, {1900, 59, 3, 1},
	} {
		m, d := monthDay(tt.year, tt.doy)
		if m != tt.month || d != tt.day {
			t.Errorf("monthDay(%d, %d) = %d-%d, want %d-%d", tt.year, tt.doy, m, d, tt.month, tt.day)
		}
	}
}

func BenchmarkResident(b *testing.B) {
	g := NewGenerator(testSeed)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = g.Resident(i)
		i++
		if i == Capacity() {
			i = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "residents/s")
}

func BenchmarkIDNumber(b *testing.B) {
	g := NewGenerator(testSeed)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = g.IDNumber(i)
		i++
		if i == Capacity() {
			i = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ids/s")
}
