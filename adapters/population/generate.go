package population

import (
	"fmt"
	"math/bits"
	"strconv"
	"time"

	"govx/internal/splitmix"
)

// Values of Resident.Sex and Resident.Status, as stored.
const (
	SexMale   = "male"
	SexFemale = "female"

	StatusNormal   = "normal"
	StatusMovedOut = "moved_out" // registration moved to another division
	StatusDeceased = "deceased"
)

// Resident is one entry of the population register.
type Resident struct {
	IDNumber     string    // 18-character resident identity number (GB 11643)
	Name         string    // as registered, e.g. "王秀英" or "艾力·买买提"
	Sex          string    // SexMale or SexFemale
	BirthDate    time.Time // midnight UTC of the birth date
	Ethnicity    string    // 民族, e.g. "汉族", "壮族"
	Address      string    // household-register (户籍) address
	DivisionCode string    // GB/T 2260 code of the division of registration
	Status       string    // StatusNormal, StatusMovedOut or StatusDeceased
	UpdatedAt    time.Time // last change of the entry
}

// Generator makes synthetic residents. Resident i is a pure function of the
// seed and i, so two processes with the same seed agree on every resident
// without talking to each other. A Generator is immutable and safe for
// concurrent use.
//
// ID numbers are unique over all of [0, Capacity()) by construction: i goes
// through a keyed permutation of [0, Capacity()) to a position, and
// positions are laid out without overlap over (division, birth year, day of
// year, sequence slot). Each (division, birth year) cell has as many
// sequence slots per day as its population weight allows (never more than
// the 999 sequence numbers 001–999), and a slot maps to a sequence number by
// an affine bijection mod 999. Distinct positions therefore give distinct
// (division code, birth date, sequence) triples, i.e. distinct first 17
// digits. The parity of the sequence number is the resident's sex.
//
// A resident is registered in the division their ID number names; the
// database does not require that, since people who move keep their number.
type Generator struct {
	keys [feistelRounds]uint64 // round keys of the permutation
	salt uint64                // seeds everything that is not in the ID number
}

// NewGenerator returns the generator for seed.
func NewGenerator(seed int64) *Generator {
	g := &Generator{}
	s := uint64(seed)
	for r := range g.keys {
		s += splitmix.Golden
		g.keys[r] = splitmix.Mix64(s)
	}
	s += splitmix.Golden
	g.salt = splitmix.Mix64(s)
	return g
}

// Capacity is the number of distinct residents a Generator can make; valid
// indexes are [0, Capacity()). It is the same for every seed and well above
// five million.
func Capacity() int { return lay.total }

// IDNumber returns the ID number of resident i, without the rest of the
// resident. It panics if i is outside [0, Capacity()).
func (g *Generator) IDNumber(i int) string {
	var id [18]byte
	g.locate(i).format(&id)
	return string(id[:])
}

// Resident returns resident i. It panics if i is outside [0, Capacity()).
func (g *Generator) Resident(i int) Resident {
	loc := g.locate(i)
	var id [18]byte
	loc.format(&id)
	div := &divisions[loc.division]
	r := splitmix.RNG{State: splitmix.Mix64(g.salt ^ uint64(i))}

	male := loc.seq%2 == 1
	sex := SexFemale
	if male {
		sex = SexMale
	}
	ethnicity := ethnicPickers[div.people].pick(r.Next())
	status := StatusNormal
	switch u := r.Intn(1000); {
	case u >= 990:
		status = StatusDeceased
	case u >= 960:
		status = StatusMovedOut
	}
	return Resident{
		IDNumber:     string(id[:]),
		Name:         makeName(&r, ethnicity, male, loc.year),
		Sex:          sex,
		BirthDate:    time.Date(loc.year, time.Month(loc.month), loc.day, 0, 0, 0, 0, time.UTC),
		Ethnicity:    ethnicity,
		Address:      makeAddress(&r, div),
		DivisionCode: div.code,
		Status:       status,
		UpdatedAt:    time.Unix(updatedFrom+int64(r.Intn(updatedSpan)), 0).UTC(),
	}
}

// UpdatedAt of generated residents falls in 2015–2025.
var (
	updatedFrom = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	updatedSpan = int(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - updatedFrom)
)

// location is what the ID number of a resident encodes.
type location struct {
	division         int // index into divisions
	year, month, day int
	seq              int // 1–999
}

func (l location) format(id *[18]byte) {
	copy(id[0:6], divisions[l.division].code)
	put := func(at, width, v int) {
		for k := at + width - 1; k >= at; k-- {
			id[k] = byte('0' + v%10)
			v /= 10
		}
	}
	put(6, 4, l.year)
	put(10, 2, l.month)
	put(12, 2, l.day)
	put(14, 3, l.seq)
	sum := 0
	for k := 0; k < 17; k++ {
		sum += int(id[k]-'0') * idWeights[k]
	}
	id[17] = "10X98765432"[sum%11]
}

// idWeights are the MOD 11-2 weights of GB 11643; govx.ValidateIDNumber
// holds the reference implementation, which the tests check this against.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// seqMultiplier is coprime to 999, so slot → (slot·m + offset) mod 999 is a
// bijection and the slots of one day get distinct sequence numbers.
const seqMultiplier = 577

func (g *Generator) locate(i int) location {
	if i < 0 || i >= lay.total {
		panic(fmt.Sprintf("population: resident index %d outside [0, %d)", i, lay.total))
	}
	return g.decode(g.permute(uint64(i)))
}

// decode turns a position of the layout into what the ID number encodes.
func (g *Generator) decode(p int) location {
	// Binary search for the cell holding p: the first whose end is past p.
	lo, hi := 0, len(lay.cellEnd)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if lay.cellEnd[m] <= p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	c := lo
	start := 0
	if c > 0 {
		start = lay.cellEnd[c-1]
	}
	d, y := c/lay.years, c%lay.years
	slots := divisions[d].weight * lay.yearWeight[y]
	off := p - start
	dayOfYear, slot := off/slots, off%slots
	year := firstBirthYear + y
	month, day := monthDay(year, dayOfYear)
	offset := int(splitmix.Mix64(g.salt^uint64(c)<<20^uint64(dayOfYear)) % 999)
	return location{
		division: d,
		year:     year, month: month, day: day,
		seq: 1 + (slot*seqMultiplier+offset)%999,
	}
}

// lay is the arrangement of positions over (division, birth year) cells;
// it depends only on the tables, not on the seed.
var lay = newLayout()

type layout struct {
	years          int
	yearWeight     []int // per birth year
	cellEnd        []int // cumulative end position of cell division*years + year
	total          int
	hiBits, loBits int // widths of the halves of the permutation's domain
}

func newLayout() layout {
	l := layout{years: lastBirthYear - firstBirthYear + 1}
	l.yearWeight = make([]int, l.years)
	for _, w := range birthYearWeights {
		for y := w.from; y <= w.to; y++ {
			l.yearWeight[y-firstBirthYear] = w.weight
		}
	}
	for y, w := range l.yearWeight {
		if w == 0 {
			panic(fmt.Sprintf("population: no weight for birth year %d", firstBirthYear+y))
		}
	}
	l.cellEnd = make([]int, 0, len(divisions)*l.years)
	for _, d := range divisions {
		for y, w := range l.yearWeight {
			slots := d.weight * w
			if slots < 1 || slots > 999 {
				panic(fmt.Sprintf("population: %d sequence slots for %s", slots, d.code))
			}
			l.total += slots * daysInYear(firstBirthYear+y)
			l.cellEnd = append(l.cellEnd, l.total)
		}
	}
	k := bits.Len(uint(l.total - 1))
	l.hiBits, l.loBits = (k+1)/2, k/2
	return l
}

// feistelRounds is even, so the unbalanced halves end at their start widths.
const feistelRounds = 6

// permute is a bijection of [0, lay.total): a keyed Feistel network on the
// smallest power of two that holds it, walked until it lands inside.
func (g *Generator) permute(x uint64) int {
	n := uint64(lay.total)
	for {
		x = g.feistel(x)
		if x < n {
			return int(x)
		}
	}
}

// feistel is a bijection of [0, 2^(hiBits+loBits)): each round replaces
// (hi, lo) by (lo, hi ^ F(lo)), which can be undone, and swaps the widths.
func (g *Generator) feistel(x uint64) uint64 {
	hiW, loW := uint(lay.hiBits), uint(lay.loBits)
	hi, lo := x>>loW, x&(1<<loW-1)
	for r := range feistelRounds {
		hi, lo = lo, hi^(splitmix.Mix64(lo^g.keys[r])&(1<<hiW-1))
		hiW, loW = loW, hiW
	}
	return hi<<loW | lo
}

var (
	monthStartCommon = [13]int{0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365}
	monthStartLeap   = [13]int{0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335, 366}
)

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysInYear(y int) int {
	if isLeap(y) {
		return 366
	}
	return 365
}

// monthDay turns a 0-based day of the year into month and day.
func monthDay(year, dayOfYear int) (month, day int) {
	starts := &monthStartCommon
	if isLeap(year) {
		starts = &monthStartLeap
	}
	m := 1
	for dayOfYear >= starts[m] {
		m++
	}
	return m, dayOfYear - starts[m-1] + 1
}

// Names.

func makeName(r *splitmix.RNG, ethnicity string, male bool, birthYear int) string {
	var b [64]byte
	name := b[:0]
	switch ethnicity {
	case "维吾尔族", "哈萨克族", "柯尔克孜族", "塔吉克族":
		own := turkicFemaleNames
		if male {
			own = turkicMaleNames
		}
		self := r.Intn(len(own))
		var father int
		if male { // a son seldom bears his father's name
			if father = r.Intn(len(turkicMaleNames) - 1); father >= self {
				father++
			}
		} else {
			father = r.Intn(len(turkicMaleNames))
		}
		name = append(name, own[self]...)
		name = append(name, "·"...)
		name = append(name, turkicMaleNames[father]...)
		return string(name)
	case "藏族", "门巴族":
		second := tibetanFemaleSecond
		if male {
			second = tibetanMaleSecond
		}
		name = append(name, of(r, tibetanFirstParts)...)
		name = append(name, of(r, second)...)
		return string(name)
	case "蒙古族":
		if r.Intn(2) == 0 {
			if male {
				return of(r, mongolianMaleNames)
			}
			return of(r, mongolianFemaleNames)
		}
	case "回族":
		name = append(name, huiSurnamePicker.pick(r.Next())...)
		return string(appendGivenName(name, r, male, birthYear))
	case "朝鲜族":
		name = append(name, koreanSurnamePicker.pick(r.Next())...)
		return string(appendGivenName(name, r, male, birthYear))
	case "壮族":
		name = append(name, zhuangSurnamePicker.pick(r.Next())...)
		return string(appendGivenName(name, r, male, birthYear))
	}
	name = append(name, surnamePicker.pick(r.Next())...)
	return string(appendGivenName(name, r, male, birthYear))
}

// appendGivenName appends a Han given name fitting the sex and generation.
func appendGivenName(name []byte, r *splitmix.RNG, male bool, birthYear int) []byte {
	u := r.Intn(100)
	if birthYear < 1975 {
		full, chars := olderFemaleNames, olderFemaleChars
		if male {
			full, chars = olderMaleNames, olderMaleChars
		}
		switch {
		case u < 45:
			return append(name, of(r, full)...)
		case u < 70:
			return append(name, of(r, chars)...)
		}
		return appendTwo(name, r, chars)
	}
	chars := youngerFemaleChars
	if male {
		chars = youngerMaleChars
	}
	if u < 25 {
		return append(name, of(r, chars)...)
	}
	return appendTwo(name, r, chars)
}

// appendTwo appends two different characters of chars.
func appendTwo(name []byte, r *splitmix.RNG, chars []string) []byte {
	a := r.Intn(len(chars))
	b := r.Intn(len(chars) - 1)
	if b >= a {
		b++
	}
	return append(append(name, chars[a]...), chars[b]...)
}

// Addresses.

func makeAddress(r *splitmix.RNG, div *division) string {
	var b [160]byte
	a := append(b[:0], div.address...)
	a = append(a, of(r, streets)...)
	if div.lanes {
		// Shanghai: 延安路1200弄18号502室
		a = strconv.AppendInt(a, int64(1+r.Intn(1500)), 10)
		a = append(a, "弄"...)
		a = strconv.AppendInt(a, int64(1+r.Intn(60)), 10)
		a = append(a, "号"...)
		a = appendRoom(a, r, 1+r.Intn(18))
		return string(a)
	}
	a = strconv.AppendInt(a, int64(1+r.Intn(480)), 10)
	a = append(a, "号"...)
	if r.Intn(10) < 7 { // most live in a compound of numbered blocks
		a = strconv.AppendInt(a, int64(1+r.Intn(28)), 10)
		a = append(a, "栋"...)
		a = strconv.AppendInt(a, int64(1+r.Intn(6)), 10)
		a = append(a, "单元"...)
		a = appendRoom(a, r, 1+r.Intn(32))
	}
	return string(a)
}

// appendRoom appends a flat number such as 1203室: floor, then two digits.
func appendRoom(a []byte, r *splitmix.RNG, floor int) []byte {
	a = strconv.AppendInt(a, int64(floor), 10)
	a = append(a, '0', byte('1'+r.Intn(4)))
	return append(a, "室"...)
}

// Randomness: SplitMix64, seeded per resident so residents are independent.

func of(r *splitmix.RNG, list []string) string { return list[r.Intn(len(list))] }

// picker draws from weighted values in constant time through a table of
// 4096 slots, each value holding slots in proportion to its weight (at
// least one).
type picker struct {
	values []string
	slot   [pickerSlots]uint16
}

const pickerBits = 12
const pickerSlots = 1 << pickerBits

func newPicker(ws []weighted) *picker {
	p := &picker{values: make([]string, len(ws))}
	total := 0
	for i, w := range ws {
		if w.weight < 1 {
			panic("population: non-positive weight for " + w.value)
		}
		p.values[i] = w.value
		total += w.weight
	}
	// Cumulative rounding keeps every boundary within one slot of exact.
	cum, at := 0, 0
	for i, w := range ws {
		cum += w.weight
		end := cum * pickerSlots / total
		if end <= at {
			end = at + 1
		}
		if i == len(ws)-1 {
			end = pickerSlots
		}
		for ; at < end && at < pickerSlots; at++ {
			p.slot[at] = uint16(i)
		}
	}
	return p
}

func (p *picker) pick(r uint64) string { return p.values[p.slot[r>>(64-pickerBits)]] }

var (
	surnamePicker       = newPicker(surnames)
	huiSurnamePicker    = newPicker(huiSurnames)
	koreanSurnamePicker = newPicker(koreanSurnames)
	zhuangSurnamePicker = newPicker(zhuangSurnames)
	ethnicPickers       = func() []*picker {
		ps := make([]*picker, len(ethnicProfiles))
		for i, prof := range ethnicProfiles {
			ps[i] = newPicker(prof)
		}
		return ps
	}()
)

// Division is a GB/T 2260 county-level division residents are registered
// in.
type Division struct {
	Code   string // 6-digit GB/T 2260 code
	Name   string // province, city and district, e.g. "北京市朝阳区"
	Weight int    // relative population, 1–5
}

// Divisions lists the divisions of the generator's residents, so that the
// generators of other registers place their records in the same places.
func Divisions() []Division {
	out := make([]Division, len(divisions))
	for i, d := range divisions {
		out[i] = Division{Code: d.code, Name: d.address, Weight: d.weight}
	}
	return out
}
