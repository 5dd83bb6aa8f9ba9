package legalentity

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"govx"
	"govx/adapters/population"
	"govx/internal/splitmix"
)

// Values of Company.Type, as stored.
const (
	TypeLimitedLiability   = "limited_liability_company" // 有限责任公司
	TypeJointStock         = "joint_stock_company"       // 股份有限公司
	TypeSoleProprietorship = "sole_proprietorship"       // 个人独资企业
	TypePartnership        = "partnership"               // 合伙企业
	TypeBranch             = "branch"                    // 分公司
	TypeIndividualBusiness = "individual_business"       // 个体工商户
)

// Values of Company.Status, as stored.
const (
	StatusInBusiness   = "in_business"  // 存续
	StatusDeregistered = "deregistered" // 注销: closed at its own request
	StatusRevoked      = "revoked"      // 吊销: business licence revoked as a sanction
)

// Company is one entry of the market entity register. Despite the name it
// stands for every kind of market entity, individual businesses included.
type Company struct {
	USCC                string    // GB 32100-2015 unified social credit code
	Name                string    // registered name, e.g. "杭州鑫源科技有限公司"
	Type                string    // Type* constant
	LegalRepresentative string    // name of the legal representative (operator, partner in charge)
	RepresentativeID    string    // their resident ID number, as in the population register
	RegisteredCapital   int64     // in yuan; 0 where the entity has none (branches, individual businesses)
	EstablishedOn       time.Time // midnight UTC of the date of establishment
	AuthorityName       string    // registration authority, e.g. "北京市朝阳区市场监督管理局"
	AuthorityCode       string    // its GB/T 2260 division code
	Address             string    // registered address (住所)
	DivisionCode        string    // GB/T 2260 code of the address
	BusinessScope       string    // 经营范围
	Status              string    // Status* constant
	StatusDate          time.Time // midnight UTC of the date the status took effect
	StatusReason        string    // why it left business; empty while in business
	UpdatedAt           time.Time // last change of the entry
}

// Terminal reports whether the entity has left business for good: no
// status change follows a deregistration or a revocation.
func (c *Company) Terminal() bool { return c.Status != StatusInBusiness }

// Capacity is the number of distinct companies a Generator can make; valid
// indexes are [0, Capacity()).
func Capacity() int { return orgSpace }

// orgSpace is the number of organisation-code bodies the generator hands
// out: 8 decimal digits.
const orgSpace = 100_000_000

// registerEnd is the last day of the generated register's history.
var registerEnd = time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)

// usccSince is when new entities began to get "MA" organisation codes
// issued with their unified social credit code, rather than an older
// numeric organisation code.
var usccSince = time.Date(2015, 10, 1, 0, 0, 0, 0, time.UTC)

// Generator makes synthetic market entities. Company i is a pure function of
// the seed, the population generator and i, so processes that share them
// agree on every company. A Generator is immutable and safe for concurrent
// use.
//
// Unified social credit codes are unique over [0, Capacity()) by
// construction: i goes through a keyed permutation of [0, 10^8) to the
// entity's organisation code number, written either as 8 digits (entities
// established before October 2015) or, base 31, after "MA" (those after).
// The two spellings cannot meet, each is injective, and the organisation
// code is positions 9–16 of the USCC, so no two entities share a code.
type Generator struct {
	pop       *population.Generator
	residents int
	keys      [feistelRounds]uint64
	salt      uint64
}

// NewGenerator returns the generator for seed whose legal representatives
// are residents [0, residents) of pop. It panics if residents is outside
// [1, population.Capacity()].
func NewGenerator(seed int64, pop *population.Generator, residents int) *Generator {
	if residents < 1 || residents > population.Capacity() {
		panic(fmt.Sprintf("legalentity: %d residents outside [1, %d]", residents, population.Capacity()))
	}
	g := &Generator{pop: pop, residents: residents}
	s := uint64(seed) ^ 0x6c6567616c // a different stream from population's for the same seed
	for r := range g.keys {
		s += splitmix.Golden
		g.keys[r] = splitmix.Mix64(s)
	}
	s += splitmix.Golden
	g.salt = splitmix.Mix64(s)
	return g
}

// core is what the code of a company depends on; the rest of the company
// is drawn from rng after it.
type core struct {
	kind     *entityKind
	rep      int // index of the representative in the population generator
	repID    string
	div      int // index into divs
	est      time.Time
	rng      splitmix.RNG
	orgValue int
}

func (g *Generator) core(i int) core {
	if i < 0 || i >= orgSpace {
		panic(fmt.Sprintf("legalentity: company index %d outside [0, %d)", i, orgSpace))
	}
	c := core{rng: splitmix.RNG{State: splitmix.Mix64(g.salt ^ uint64(i))}, orgValue: g.permute(uint64(i))}
	r := &c.rng
	c.kind = &kinds[kindPicker.pick(r.Next())]
	var earliest time.Time
	c.rep, c.repID, earliest = g.representative(r, c.kind.since)
	// Most register where the representative's ID number says they are
	// from; the rest where the people are.
	if d, ok := divIndex[c.repID[:6]]; ok && r.Intn(10) < 7 {
		c.div = d
	} else {
		c.div = divPicker.pick(r.Next())
	}
	// More entities were founded each year than the year before: the
	// density of the date grows linearly towards the end of the history.
	span := int(registerEnd.Sub(earliest).Hours() / 24)
	c.est = earliest.AddDate(0, 0, int(float64(span+1)*math.Sqrt(r.Float64())))
	if c.est.After(registerEnd) {
		c.est = registerEnd
	}
	return c
}

// representative picks a resident who was 18 by the end of the history and
// returns them with the earliest date an entity of theirs can be founded
// on: the later of since and their 18th birthday.
func (g *Generator) representative(r *splitmix.RNG, since time.Time) (int, string, time.Time) {
	j := 0
	for attempt := 0; attempt < 64; attempt++ {
		j = r.Intn(g.residents)
		id := g.pop.IDNumber(j)
		if e := earliestFor(id, since); !e.After(registerEnd) {
			return j, id, e
		}
	}
	// So few adults among the residents that drawing failed: take the next
	// one in order.
	for k := 1; k <= g.residents; k++ {
		j2 := (j + k) % g.residents
		id := g.pop.IDNumber(j2)
		if e := earliestFor(id, since); !e.After(registerEnd) {
			return j2, id, e
		}
	}
	panic(fmt.Sprintf("legalentity: none of %d residents is of age by %s", g.residents, registerEnd.Format(time.DateOnly)))
}

// earliestFor is the later of since and the 18th birthday the ID number
// encodes.
func earliestFor(id string, since time.Time) time.Time {
	y, _ := strconv.Atoi(id[6:10])
	m, _ := strconv.Atoi(id[10:12])
	d, _ := strconv.Atoi(id[12:14])
	adult := time.Date(y+18, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if adult.After(since) {
		return adult
	}
	return since
}

// USCC returns the unified social credit code of company i, without the
// rest of the company. It panics if i is outside [0, Capacity()).
func (g *Generator) USCC(i int) string {
	c := g.core(i)
	return c.uscc()
}

func (c *core) uscc() string {
	var b [govx.USCCLen]byte
	b[0] = '9' // registered by market regulation
	b[1] = c.kind.usccType
	copy(b[2:8], divs[c.div].Code)
	body := b[8:16]
	if c.est.Before(usccSince) {
		v := c.orgValue
		for k := 7; k >= 0; k-- {
			body[k] = byte('0' + v%10)
			v /= 10
		}
	} else {
		body[0], body[1] = 'M', 'A'
		v := c.orgValue
		for k := 7; k >= 2; k-- {
			body[k] = usccAlphabet[v%31]
			v /= 31
		}
	}
	check, err := govx.OrgCodeCheckChar(string(body))
	if err != nil {
		panic(err) // the body is digits and alphabet letters by construction
	}
	b[16] = check
	cc, err := govx.USCCCheckChar(string(b[:17]))
	if err != nil {
		panic(err)
	}
	b[17] = cc
	return string(b[:])
}

// usccAlphabet is GB 32100's character set, which also spells the "MA"
// organisation codes.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// Company returns company i. It panics if i is outside [0, Capacity()).
func (g *Generator) Company(i int) Company {
	c := g.core(i)
	r := &c.rng
	div := &divs[c.div]
	rep := g.pop.Resident(c.rep)
	co := Company{
		USCC:                c.uscc(),
		Type:                c.kind.typ,
		LegalRepresentative: rep.Name,
		RepresentativeID:    c.repID,
		EstablishedOn:       c.est,
		AuthorityName:       div.local + "市场监督管理局",
		AuthorityCode:       div.Code,
		DivisionCode:        div.Code,
		Status:              StatusInBusiness,
		StatusDate:          c.est,
	}
	if len(c.kind.capital) > 0 {
		co.RegisteredCapital = c.kind.capital[r.Intn(len(c.kind.capital))] * 10_000
	}
	ind := &industries[r.Intn(len(industries))]
	if c.kind.typ == TypeIndividualBusiness {
		shop := &shops[r.Intn(len(shops))]
		co.Name = individualName(r, div, rep.Name, shop)
		co.Address = shopAddress(r, div)
		co.BusinessScope = scope(r, shop.scopes, nil, c.est)
	} else {
		if c.kind.typ == TypePartnership {
			ind = &partnershipIndustry
		}
		co.Name = companyName(r, div, c.kind, ind)
		co.Address = officeAddress(r, div)
		co.BusinessScope = scope(r, ind.scopes, generalScopes, c.est)
	}
	// Some leave business: individual businesses more often than companies.
	days := int(registerEnd.Sub(c.est).Hours() / 24)
	if u := r.Intn(1000); days > 0 && u >= c.kind.stay {
		co.StatusDate = c.est.AddDate(0, 0, 1+r.Intn(days))
		if u >= c.kind.stay+(1000-c.kind.stay)*3/4 {
			co.Status, co.StatusReason = StatusRevoked, revokeReasons[r.Intn(len(revokeReasons))]
		} else {
			co.Status, co.StatusReason = StatusDeregistered, c.kind.closing[r.Intn(len(c.kind.closing))]
		}
	}
	co.UpdatedAt = co.StatusDate.Add(time.Duration(9*3600+r.Intn(8*3600)) * time.Second)
	return co
}

func companyName(r *splitmix.RNG, div *division, k *entityKind, ind *industry) string {
	var b strings.Builder
	b.Grow(64)
	b.WriteString(div.city)
	writeTradeName(&b, r)
	b.WriteString(ind.terms[r.Intn(len(ind.terms))])
	switch k.typ {
	case TypeLimitedLiability:
		if r.Intn(10) == 0 {
			b.WriteString("有限责任公司")
		} else {
			b.WriteString("有限公司")
		}
	case TypeJointStock:
		b.WriteString("股份有限公司")
	case TypeBranch:
		b.WriteString("有限公司")
		b.WriteString(div.branch)
		b.WriteString("分公司")
	case TypeSoleProprietorship:
		b.WriteString(soleSuffixes[r.Intn(len(soleSuffixes))])
	case TypePartnership:
		b.WriteString("合伙企业（有限合伙）")
	}
	return b.String()
}

func individualName(r *splitmix.RNG, div *division, repName string, s *shop) string {
	var b strings.Builder
	b.Grow(64)
	b.WriteString(div.local)
	if r.Intn(4) == 0 {
		// 张记: the owner's surname. Two-character surnames are rare
		// enough that the first character will do.
		_, n := firstRune(repName)
		b.WriteString(repName[:n])
		b.WriteString("记")
	} else {
		writeTradeName(&b, r)
	}
	b.WriteString(s.names[r.Intn(len(s.names))])
	return b.String()
}

func firstRune(s string) (rune, int) {
	for i, c := range s {
		if i > 0 {
			return c, i
		}
	}
	return 0, len(s)
}

// writeTradeName writes a two-character trade name (字号) of auspicious
// characters, e.g. 鑫源.
func writeTradeName(b *strings.Builder, r *splitmix.RNG) {
	x := r.Intn(len(tradeChars))
	y := r.Intn(len(tradeChars) - 1)
	if y >= x {
		y++
	}
	b.WriteString(tradeChars[x])
	b.WriteString(tradeChars[y])
}

func officeAddress(r *splitmix.RNG, div *division) string {
	a := make([]byte, 0, 128)
	a = append(a, div.Name...)
	a = append(a, officeStreets[r.Intn(len(officeStreets))]...)
	a = strconv.AppendInt(a, int64(1+r.Intn(999)), 10)
	a = append(a, "号"...)
	switch r.Intn(3) {
	case 0:
		a = strconv.AppendInt(a, int64(1+r.Intn(12)), 10)
		a = append(a, "幢"...)
	case 1:
		a = append(a, towers[r.Intn(len(towers))]...)
	}
	floor := 1 + r.Intn(28)
	a = strconv.AppendInt(a, int64(floor), 10)
	a = append(a, "层"...)
	a = strconv.AppendInt(a, int64(floor*100+1+r.Intn(30)), 10)
	a = append(a, "室"...)
	return string(a)
}

func shopAddress(r *splitmix.RNG, div *division) string {
	a := make([]byte, 0, 128)
	a = append(a, div.Name...)
	a = append(a, shopStreets[r.Intn(len(shopStreets))]...)
	a = strconv.AppendInt(a, int64(1+r.Intn(480)), 10)
	a = append(a, "号"...)
	if r.Intn(2) == 0 {
		a = append(a, "一层商铺"...)
	} else {
		a = strconv.AppendInt(a, int64(1+r.Intn(20)), 10)
		a = append(a, "号门面"...)
	}
	return string(a)
}

// scope writes a business scope (经营范围) of three to six items of own and
// one of general, in the form of the time: since the 2021 reform of
// business registration scopes are lists of standard items under 一般项目.
func scope(r *splitmix.RNG, own, general []string, est time.Time) string {
	n := 3 + r.Intn(4)
	if n > len(own) {
		n = len(own)
	}
	var idx [32]int
	for k := range own {
		idx[k] = k
	}
	items := make([]string, 0, n+1)
	for k := 0; k < n; k++ {
		p := k + r.Intn(len(own)-k)
		idx[k], idx[p] = idx[p], idx[k]
		items = append(items, own[idx[k]])
	}
	if len(general) > 0 && r.Intn(2) == 0 {
		g := general[r.Intn(len(general))]
		dup := false
		for _, it := range items {
			dup = dup || it == g
		}
		if !dup {
			items = append(items, g)
		}
	}
	if est.Year() >= 2021 {
		return "一般项目：" + strings.Join(items, "；") + "。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"
	}
	return strings.Join(items, "；") + "。（依法须经批准的项目，经相关部门批准后方可开展经营活动）"
}

// The permutation of organisation code numbers.

const feistelRounds = 6

// feistelBits is the smallest even width whose power of two holds orgSpace.
const feistelBits = 28

// permute is a bijection of [0, orgSpace): a keyed Feistel network on
// 2^feistelBits, walked until it lands inside.
func (g *Generator) permute(x uint64) int {
	for {
		x = g.feistel(x)
		if x < orgSpace {
			return int(x)
		}
	}
}

func (g *Generator) feistel(x uint64) uint64 {
	const half = feistelBits / 2
	const mask = 1<<half - 1
	hi, lo := x>>half, x&mask
	for r := range feistelRounds {
		hi, lo = lo, hi^(splitmix.Mix64(lo^g.keys[r])&mask)
	}
	return hi<<half | lo
}

// picker draws an index by weight through a table of 4096 slots.
type picker struct{ slot [4096]uint16 }

func newPicker(weights []int) *picker {
	p := &picker{}
	total := 0
	for _, w := range weights {
		if w < 1 {
			panic("legalentity: non-positive weight")
		}
		total += w
	}
	cum, at := 0, 0
	for i, w := range weights {
		cum += w
		end := cum * len(p.slot) / total
		if end <= at {
			end = at + 1
		}
		if i == len(weights)-1 {
			end = len(p.slot)
		}
		for ; at < end && at < len(p.slot); at++ {
			p.slot[at] = uint16(i)
		}
	}
	return p
}

func (p *picker) pick(r uint64) int { return int(p.slot[r>>52]) }
