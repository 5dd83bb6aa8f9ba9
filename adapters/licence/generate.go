package licence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"govx"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/splitmix"
)

// Holders names holder i of some register: the code it is known by (a
// unified social credit code or a resident ID number) and its name. The
// wiring fills it from the legal-entity and population generators, so that
// every holder of a generated licence exists in its own register.
type Holders func(i int) (code, name string)

// GeneratorConfig says whom generated licences belong to.
type GeneratorConfig struct {
	Seed int64
	// Companies hold most licences (pharmacy and construction ones only
	// they); Residents hold some food business and road transport licences
	// (个体 operators). At least one of the two must have a count; when one
	// is missing the other holds everything.
	Companies     Holders
	CompanyCount  int
	Residents     Holders
	ResidentCount int
	// AsOf is the day the register is generated as of: licences are issued
	// in the eight years before it and those whose validity ended before it
	// are expired. Default 2026-01-01, so the data does not depend on when
	// it is made.
	AsOf time.Time
}

// Generator makes synthetic, sealed licences. Licence i is a pure function
// of the configuration and i: two processes with the same configuration
// agree on every licence. Licence numbers are unique by construction: each
// embeds i as its serial. A Generator is safe for concurrent use.
//
// The issuing authorities' seal keys are derived from the seed
// (IssuerKeys), so demo data can be made and checked anywhere; a real
// department keeps its keys in its seal system, and this one keeps them in
// licence.issuer_keys, its own schema, from which Issue signs.
type Generator struct {
	pre   atomic.Pointer[presigned]
	cfg   GeneratorConfig
	salt  uint64
	keys  []IssuerKey // by authority index
	asOfD int         // AsOf in days since the epoch
}

// Capacity is the number of licences a Generator can make; serials from
// Capacity up are left for licences issued later (Store.Issue).
const Capacity = 500_000

// NewGenerator returns the generator for cfg.
func NewGenerator(cfg GeneratorConfig) (*Generator, error) {
	if (cfg.Companies == nil || cfg.CompanyCount <= 0) && (cfg.Residents == nil || cfg.ResidentCount <= 0) {
		return nil, govx.Errorf(govx.KindInvalid, "config_invalid", "licence generator: no holders")
	}
	if cfg.Companies == nil {
		cfg.CompanyCount = 0
	}
	if cfg.Residents == nil {
		cfg.ResidentCount = 0
	}
	if cfg.AsOf.IsZero() {
		cfg.AsOf = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	cfg.AsOf = cfg.AsOf.UTC().Truncate(24 * time.Hour)
	g := &Generator{cfg: cfg, salt: splitmix.Hash(uint64(cfg.Seed)), asOfD: int(cfg.AsOf.Unix() / 86400)}
	created := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, a := range authorities {
		var s [8]byte
		binary.BigEndian.PutUint64(s[:], uint64(cfg.Seed))
		seed := sha256.Sum256(append(append([]byte("govx licence seal key\x00"), s[:]...), a.Code...))
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub := priv.Public().(ed25519.PublicKey)
		g.keys = append(g.keys, IssuerKey{KeyID: KeyID(a.Code, auth.Thumbprint(pub)), Authority: *a, Private: priv, CreatedAt: created})
	}
	return g, nil
}

// AsOf is the day the generated register is as of.
func (g *Generator) AsOf() time.Time { return g.cfg.AsOf }

// IssuerKeys are the seal keys of every issuing authority, private halves
// included: they belong in licence.issuer_keys and nowhere else.
func (g *Generator) IssuerKeys() []IssuerKey { return g.keys }

// PublicKeys are the seal keys' public halves, to register in the
// catalogue under Department.
func (g *Generator) PublicKeys() []catalog.DepartmentKey {
	out := make([]catalog.DepartmentKey, len(g.keys))
	for i, k := range g.keys {
		out[i] = k.Public()
	}
	return out
}

// IssuerKey is an issuing authority's seal key.
type IssuerKey struct {
	KeyID     string
	Authority Authority
	Private   ed25519.PrivateKey
	CreatedAt time.Time
}

// Public is k's public half as the catalogue lists it.
func (k IssuerKey) Public() catalog.DepartmentKey {
	return catalog.DepartmentKey{Department: Department, KeyID: k.KeyID, Algorithm: catalog.AlgEd25519,
		PublicKey: k.Private.Public().(ed25519.PublicKey), CreatedAt: k.CreatedAt}
}

// Licence returns licence i, sealed. It panics if i is outside [0, Capacity).
func (g *Generator) Licence(i int) Licence {
	l := g.Unsealed(i)
	if p := g.pre.Load(); p != nil && i >= p.from && i < p.from+len(p.seals) {
		l.Seal = p.seals[i-p.from]
		return l
	}
	sign(&l, g.keys[g.authorityOf(&l)].Private)
	return l
}

// presigned holds the seals of licences [from, from+len(seals)).
type presigned struct {
	from  int
	seals [][]byte
}

// Presign seals licences [from, from+n) ahead of time, one worker per CPU,
// and keeps the seals (64 bytes each) until the next Presign, so that a
// later Seed of that range streams rows without signing. Signing is about
// 20 µs of CPU per licence, the bulk of a seed; this lets it happen while
// nothing waits (or be measured apart from the load).
func (g *Generator) Presign(from, n int) {
	if from < 0 || n < 0 || from > Capacity-n {
		panic(fmt.Sprintf("licence: presign range [%d, %d+%d) outside [0, %d)", from, from, n, Capacity))
	}
	p := &presigned{from: from, seals: make([][]byte, n)}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1024)) - 1024
				if k >= n {
					return
				}
				for j := k; j < min(k+1024, n); j++ {
					l := g.Unsealed(from + j)
					sign(&l, g.keys[g.authorityOf(&l)].Private)
					p.seals[j] = l.Seal
				}
			}
		}()
	}
	wg.Wait()
	g.pre.Store(p)
}

// authorityOf finds the index of l's authority.
func (g *Generator) authorityOf(l *Licence) int {
	return authorityIndex[l.AuthorityCode]
}

// Unsealed returns licence i without its seal (SealKeyID is set): the
// costly part of Licence is the signature, which Store.Seed makes in
// parallel.
func (g *Generator) Unsealed(i int) Licence {
	if i < 0 || i >= Capacity {
		panic(fmt.Sprintf("licence: index %d outside [0, %d)", i, Capacity))
	}
	r := rng{splitmix.RNG{State: splitmix.Mix64(g.salt ^ uint64(i))}}
	d := &divisions[r.intn(len(divisions))]
	var typ string
	switch u := r.intn(100); {
	case u < 50:
		typ = TypeFoodBusiness
	case u < 60:
		typ = TypePharmacy
	case u < 72:
		typ = TypeConstruction
	default:
		typ = TypeRoadTransport
	}

	// Holders: a third of all licences go to a fiftieth of the holders
	// (chains, fleets), so listings by holder have more than one entry.
	person := false
	switch typ {
	case TypeFoodBusiness:
		person = r.intn(100) < 15
	case TypeRoadTransport:
		person = r.intn(100) < 50
	}
	if g.cfg.CompanyCount == 0 {
		person = true
	} else if g.cfg.ResidentCount == 0 {
		person = false
	}
	holders, count := g.cfg.Companies, g.cfg.CompanyCount
	if person {
		holders, count = g.cfg.Residents, g.cfg.ResidentCount
	}
	h := r.intn(count)
	if r.intn(3) == 0 {
		h = r.intn(max(1, count/50))
	}
	holderCode, holderName := holders(h)

	// Dates: issued in the eight years before AsOf, valid from the issue
	// date or up to two weeks later, for the type's term.
	issue := g.asOfD - 1 - r.intn(8*365)
	from := issue + r.intn(15)
	l := Licence{
		Type:       typ,
		HolderCode: holderCode,
		HolderName: holderName,
		IssueDate:  day(issue),
		ValidFrom:  day(from),
		Status:     StatusValid,
	}
	l.ValidUntil = l.ValidFrom.AddDate(terms[typ], 0, -1)

	var a *Authority
	variant := 0
	premises := d.address(&r)
	switch typ {
	case TypeFoodBusiness:
		a = d.market
		variant = 1 + r.intn(3)
		l.Items = foodItems(&r, variant, premises)
	case TypePharmacy:
		variant = r.intn(10) // 0 wholesale, 1–2 retail chain, 3–9 retail
		a = d.market
		if variant == 0 {
			a = d.province.drugs
		}
		l.Items = pharmacyItems(&r, variant, premises)
	case TypeConstruction:
		a = d.province.housing
		l.Items = map[string]string{"licensed_scope": "建筑施工", "address": premises}
	case TypeRoadTransport:
		a = d.transport
		l.Items = roadItems(&r, person, premises)
	}
	l.Authority, l.AuthorityCode = a.Name, a.Code
	l.Number = formatNumber(typ, variant, d, i, l.IssueDate.Year())
	l.ID = identifier(typ, a.Code, i)
	l.SealKeyID = g.keys[authorityIndex[a.Code]].KeyID

	switch {
	case r.intn(1000) < 15:
		// Revoked some time after it took effect, before it would have expired.
		end := min(g.asOfD-1, int(l.ValidUntil.Unix()/86400))
		at := from + r.intn(max(1, end-from))
		t := day(at).Add(time.Duration(9+r.intn(8)) * time.Hour)
		l.Status, l.RevokedAt = StatusRevoked, &t
		l.RevocationReason = revocationReasons[r.intn(len(revocationReasons))]
	case l.ValidUntil.Before(g.cfg.AsOf):
		l.Status = StatusExpired
	}
	l.UpdatedAt = l.IssueDate.Add(10 * time.Hour)
	if l.RevokedAt != nil {
		l.UpdatedAt = *l.RevokedAt
	}
	return l
}

// terms are the years a licence of each type is valid.
var terms = map[string]int{TypeFoodBusiness: 5, TypePharmacy: 5, TypeConstruction: 3, TypeRoadTransport: 4}

// typeArcs are the licence types' arcs in the identifier.
var typeArcs = map[string]string{TypeFoodBusiness: "1001", TypePharmacy: "1002", TypeConstruction: "1003", TypeRoadTransport: "1004"}

const idRoot = "1.2.156.3005.2."

func identifier(typ, authorityCode string, serial int) string {
	return idRoot + typeArcs[typ] + "." + authorityCode + "." + pad(serial, 10)
}

// formatNumber makes the licence number of type typ with serial (below
// 10^6), variant being the food business type (1–3) or the pharmacy
// category (0 wholesale, 1–2 chain, else retail).
func formatNumber(typ string, variant int, d *division, serial, year int) string {
	s := pad(serial, 6)
	switch typ {
	case TypeFoodBusiness:
		body := strconv.Itoa(variant) + d.code + s
		return "JY" + body + string(checkDigit(body))
	case TypePharmacy:
		cat := "DA"
		switch {
		case variant == 0:
			cat = "AA"
		case variant <= 2:
			cat = "CA"
		}
		return d.province.abbr + cat + d.code[:4] + s
	case TypeConstruction:
		return "(" + d.province.abbr + ")JZ安许证字[" + strconv.Itoa(year) + "]" + s
	default:
		return d.province.abbr + "交运管许可" + d.cityAbbr + "字" + d.code + s + "号"
	}
}

func day(d int) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

var revocationReasons = []string{
	"申请人申请注销", "经营者主体资格依法终止", "许可依法被撤销", "被吊销许可证", "因不可抗力导致许可事项无法实施",
}

func foodItems(r *rng, kind int, premises string) map[string]string {
	var typ, items string
	switch kind {
	case 1:
		typ = "食品销售经营者"
		items = pick(r, "预包装食品销售（含冷藏冷冻食品）", "预包装食品销售（不含冷藏冷冻食品）；散装食品销售（不含冷藏冷冻食品）",
			"预包装食品销售（含冷藏冷冻食品）；保健食品销售；特殊医学用途配方食品销售")
	case 2:
		typ = "餐饮服务经营者"
		items = pick(r, "热食类食品制售", "热食类食品制售；冷食类食品制售", "热食类食品制售；自制饮品制售", "糕点类食品（含裱花蛋糕）制售")
	default:
		typ = "单位食堂"
		items = pick(r, "热食类食品制售", "热食类食品制售；冷食类食品制售")
	}
	return map[string]string{"business_type": typ, "business_items": items, "premises": premises, "residence": premises}
}

func pharmacyItems(r *rng, variant int, premises string) map[string]string {
	m := map[string]string{"premises": premises}
	switch {
	case variant == 0:
		m["business_mode"] = "批发"
		m["scope"] = pick(r, "中药饮片、中成药、化学药、生物制品", "中成药、化学药、生物制品（除疫苗）", "化学药、生物制品、体外诊断试剂（药品）")
		m["warehouse"] = premises + "仓库"
	case variant <= 2:
		m["business_mode"] = "零售连锁"
		m["scope"] = pick(r, "中药饮片、中成药、化学药、生物制品", "中成药、化学药")
	default:
		m["business_mode"] = "零售"
		m["scope"] = pick(r, "中药饮片、中成药、化学药", "中成药、化学药、生物制品", "处方药、甲类非处方药、乙类非处方药")
	}
	return m
}

func roadItems(r *rng, person bool, premises string) map[string]string {
	scope := pick(r, "道路普通货物运输", "道路普通货物运输；货物专用运输（集装箱）", "道路普通货物运输；大型物件运输")
	vehicles := 1 + r.intn(3)
	if !person {
		scope = pick(r, scope, "道路危险货物运输（第3类）", "省际普通班车客运；县内包车客运")
		vehicles = 5 + r.intn(120)
	}
	return map[string]string{"business_scope": scope, "address": premises, "vehicles": strconv.Itoa(vehicles)}
}

func pick(r *rng, options ...string) string { return options[r.intn(len(options))] }

// Authority is a licence-issuing authority.
type Authority struct {
	Code     string // unified social credit code of the government body
	Name     string
	Division string // GB/T 2260 code of its area
}

type province struct {
	code, name, abbr string
	drugs, housing   *Authority
}

type division struct {
	code, name, city, cityAbbr string
	province                   *province
	roads                      []string
	market, transport          *Authority
}

func (d *division) address(r *rng) string {
	return d.province.name + d.city + d.name + d.roads[r.intn(len(d.roads))] + strconv.Itoa(1+r.intn(999)) + "号"
}

var provinces = []*province{
	{code: "110000", name: "北京市", abbr: "京"},
	{code: "310000", name: "上海市", abbr: "沪"},
	{code: "440000", name: "广东省", abbr: "粤"},
	{code: "510000", name: "四川省", abbr: "川"},
	{code: "330000", name: "浙江省", abbr: "浙"},
}

// divisions are the counties licences are issued in; no two share a city,
// so pharmacy numbers, which carry the city, stay apart.
var divisions = []division{
	{code: "110105", name: "朝阳区", city: "", cityAbbr: "京", province: provinces[0], roads: []string{"建国路", "朝阳北路", "望京街", "酒仙桥路"}},
	{code: "310115", name: "浦东新区", city: "", cityAbbr: "沪", province: provinces[1], roads: []string{"世纪大道", "张杨路", "川沙路", "陆家嘴环路"}},
	{code: "440106", name: "天河区", city: "广州市", cityAbbr: "穗", province: provinces[2], roads: []string{"天河路", "体育西路", "中山大道西", "黄埔大道西"}},
	{code: "440305", name: "南山区", city: "深圳市", cityAbbr: "深", province: provinces[2], roads: []string{"深南大道", "科技园路", "南海大道", "后海大道"}},
	{code: "510107", name: "武侯区", city: "成都市", cityAbbr: "蓉", province: provinces[3], roads: []string{"人民南路四段", "武侯祠大街", "科华北路", "二环路南四段"}},
	{code: "330106", name: "西湖区", city: "杭州市", cityAbbr: "杭", province: provinces[4], roads: []string{"文三路", "天目山路", "教工路", "古墩路"}},
}

// authorities lists every issuing authority; authorityIndex finds one by
// code.
var authorities, authorityIndex = buildAuthorities()

func buildAuthorities() ([]*Authority, map[string]int) {
	var all []*Authority
	add := func(name, div string) *Authority {
		a := &Authority{Code: authorityCode(div, len(all)), Name: name, Division: div}
		all = append(all, a)
		return a
	}
	for _, p := range provinces {
		p.drugs = add(p.name+"药品监督管理局", p.code)
		housing := p.name + "住房和城乡建设厅"
		if p.name[len(p.name)-len("市"):] == "市" {
			housing = p.name + "住房和城乡建设委员会"
		}
		p.housing = add(housing, p.code)
	}
	for i := range divisions {
		d := &divisions[i]
		local := d.province.name + d.city + d.name
		d.market = add(local+"市场监督管理局", d.code)
		d.transport = add(local+"交通运输局", d.code)
	}
	index := make(map[string]int, len(all))
	for i, a := range all {
		index[a.Code] = i
	}
	return all, index
}

// Authorities lists the issuing authorities whose licences the register
// holds.
func Authorities() []Authority {
	out := make([]Authority, len(authorities))
	for i, a := range authorities {
		out[i] = *a
	}
	return out
}

// authorityCode makes the unified social credit code of a government body
// (registration authority 1, type 1) in division div.
func authorityCode(div string, n int) string {
	body := "0" + pad(int(splitmix.Mix64(uint64(n)+0xa5a5)%10_000_000), 7)
	check, err := govx.OrgCodeCheckChar(body)
	if err != nil {
		panic(err)
	}
	first17 := "11" + div + body + string(check)
	c, err := govx.USCCCheckChar(first17)
	if err != nil {
		panic(err)
	}
	return first17 + string(c)
}

// rng is SplitMix64 drawing numbers in a range by remainder (unlike the
// other registers' generators, which multiply): the demo's licences were
// made so and must stay as they are.
type rng struct{ splitmix.RNG }

func (r *rng) intn(n int) int { return int(r.Next() % uint64(n)) }
