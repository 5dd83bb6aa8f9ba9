package casework

import (
	"slices"

	"govx"
	"govx/internal/httpx"
)

// Departments that take part in the demo items. The one-stop window
// (service-center) takes applications in; the others review them.
const (
	DeptServiceCenter   = "service-center"
	DeptMarket          = "market-regulation"
	DeptPopulation      = "population"
	DeptFireRescue      = "fire-rescue"
	DeptUrbanManagement = "urban-management"
)

// Applicant kinds.
const (
	Person  = "person"  // a resident, named by ID number (GB 11643)
	Company = "company" // a company, named by USCC (GB 32100), with its legal representative
)

// Sources of a material.
const (
	FromExchange = "exchange" // verified through the exchange; never asked of the applicant
	FromUpload   = "upload"   // handed in at the window
)

// Parties a material from the exchange is about.
const (
	AboutApplicant      = "applicant"      // the person applying
	AboutCompany        = "company"        // the company applying (USCC)
	AboutRepresentative = "representative" // the company's legal representative (ID number)
	AboutLicence        = "licence"        // the licence whose number the clerk typed in
)

// MaterialSpec is one material an item needs.
type MaterialSpec struct {
	Code   string `json:"code"`
	Name   string `json:"name"`    // Chinese
	NameEN string `json:"name_en"` // English
	Source string `json:"source"`  // FromExchange or FromUpload
	// Exchange materials: which resource, which fields, about whom.
	Resource string   `json:"resource,omitempty"`
	Fields   []string `json:"fields,omitempty"`
	About    string   `json:"about,omitempty"`
	// Commitment: the applicant's written commitment (告知承诺) may stand in
	// for the material; it is checked later — through the exchange for an
	// exchange material, by the reviewer for an uploaded one.
	Commitment bool `json:"commitment,omitempty"`
	// Optional uploads may be missing at acceptance ("with gaps") and be
	// supplied by the supplement deadline; others are required.
	Optional bool `json:"optional,omitempty"`
}

// Item is a service item (事项) of the catalogue.
type Item struct {
	Code       string `json:"code"`
	Name       string `json:"name"`
	NameEN     string `json:"name_en"`
	LegalBasis string `json:"legal_basis"`
	// LegalBasisEN is the legal basis in English, for the service guide.
	LegalBasisEN string `json:"legal_basis_en,omitempty"`
	// Fees and FeesEN say what the applicant pays, in Chinese and English
	// ("不收费" / "Free of charge" when nothing), for the service guide.
	Fees   string `json:"fees,omitempty"`
	FeesEN string `json:"fees_en,omitempty"`
	// IntakeDepts are the windows that take the item in.
	IntakeDepts []string `json:"intake_depts"`
	// Departments review it; a bundled item ("one thing", 一件事) has
	// several, which review in parallel.
	Departments []string `json:"departments"`
	Applicant   string   `json:"applicant"` // Person or Company
	// Statutory is the time limit the law sets, Promised the shorter one
	// the government promises; both in working days from acceptance.
	Statutory int            `json:"statutory_days"`
	Promised  int            `json:"promised_days"`
	Materials []MaterialSpec `json:"materials"`
	// Issues is the licence type an approved case issues ("" issues a
	// certificate of the window itself), and IssueVariant its business type.
	Issues       string `json:"issues,omitempty"`
	IssueVariant int    `json:"issue_variant,omitempty"`
	// NeedsLicenceNumber: the clerk types in the number of the applicant's
	// existing licence (a renewal).
	NeedsLicenceNumber bool `json:"needs_licence_number,omitempty"`
	// CrossRegion: the windows of other nodes of the federation may take
	// the item in for this node's departments to decide (跨域通办).
	CrossRegion bool `json:"cross_region,omitempty"`
	// DecidedAt, when set, is the node of the federation whose departments
	// decide the item, as its item DecidedAs: this node's window takes it
	// in and verifies the materials, and the case goes there
	// (crossregion.go). Departments then name that node's departments
	// ("guangzhou/market-regulation").
	DecidedAt string `json:"decided_at,omitempty"`
	DecidedAs string `json:"decided_as,omitempty"`
}

// Bundled reports whether several departments review the item.
func (it *Item) Bundled() bool { return len(it.Departments) > 1 }

// Material returns the item's material with code, or nil.
func (it *Item) Material(code string) *MaterialSpec {
	for i := range it.Materials {
		if it.Materials[i].Code == code {
			return &it.Materials[i]
		}
	}
	return nil
}

// Catalogue is the service items a deployment offers, by code.
type Catalogue struct {
	items []Item
}

// NewCatalogue checks items and returns them as a catalogue.
func NewCatalogue(items []Item) (*Catalogue, error) {
	seen := map[string]bool{}
	for i := range items {
		it := &items[i]
		bad := func(format string, args ...any) error {
			return govx.Errorf(govx.KindInvalid, "item_invalid", "item %s: "+format, append([]any{it.Code}, args...)...)
		}
		switch {
		case it.Code == "" || seen[it.Code]:
			return nil, bad("code missing or repeated")
		case it.Applicant != Person && it.Applicant != Company:
			return nil, bad("applicant must be person or company")
		case len(it.IntakeDepts) == 0 || len(it.Departments) == 0:
			return nil, bad("needs an intake window and a reviewing department")
		case it.Promised <= 0 || it.Statutory < it.Promised:
			return nil, bad("promised time limit must be positive and within the statutory one")
		case (it.DecidedAt == "") != (it.DecidedAs == ""):
			return nil, bad("an item decided at another node names the node and its item there")
		case it.DecidedAt != "" && !validNodeName(it.DecidedAt):
			return nil, bad("node %q is not lower-case letters, digits and dashes", it.DecidedAt)
		}
		seen[it.Code] = true
		for _, m := range it.Materials {
			switch {
			case m.Source == FromExchange && (m.Resource == "" || m.About == ""):
				return nil, bad("material %s: an exchange material names its resource and party", m.Code)
			case m.Source == FromExchange && m.About == AboutRepresentative && it.Applicant != Company,
				m.Source == FromExchange && m.About == AboutCompany && it.Applicant != Company,
				m.Source == FromExchange && m.About == AboutApplicant && it.Applicant != Person:
				return nil, bad("material %s: about %s does not fit a %s applicant", m.Code, m.About, it.Applicant)
			case m.Source == FromExchange && m.About == AboutLicence && !it.NeedsLicenceNumber:
				return nil, bad("material %s: a licence material needs the licence number", m.Code)
			case m.Source != FromExchange && m.Source != FromUpload:
				return nil, bad("material %s: source must be exchange or upload", m.Code)
			}
		}
	}
	return &Catalogue{items: items}, nil
}

// Item returns the item with code.
func (c *Catalogue) Item(code string) (*Item, error) {
	for i := range c.items {
		if c.items[i].Code == code {
			return &c.items[i], nil
		}
	}
	return nil, govx.Errorf(govx.KindNotFound, "item_not_found", "no service item %q", httpx.Truncate(code, 64))
}

// All returns every item.
func (c *Catalogue) All() []Item { return c.items }

// TakenBy returns the items a window of dept takes in.
func (c *Catalogue) TakenBy(dept string) []Item {
	var out []Item
	for _, it := range c.items {
		if slices.Contains(it.IntakeDepts, dept) {
			out = append(out, it)
		}
	}
	return out
}

// Shared materials of the demo items.
var (
	companyRegistration = MaterialSpec{Code: "company_registration", Name: "营业执照（主体登记信息）", NameEN: "Business registration",
		Source: FromExchange, Resource: "legal-entity.basic", About: AboutCompany, Commitment: true,
		Fields: []string{"uscc", "name", "entity_type", "legal_representative", "address", "status", "status_reason"}}
	representativeIdentity = MaterialSpec{Code: "representative_identity", Name: "法定代表人身份证明", NameEN: "Legal representative's identity",
		Source: FromExchange, Resource: "population.identity", About: AboutRepresentative, Fields: []string{"name", "status"}}
	premisesProof = MaterialSpec{Code: "premises_proof", Name: "经营场所使用证明", NameEN: "Proof of use of the premises",
		Source: FromUpload, Commitment: true}
	layoutPlan = MaterialSpec{Code: "layout_plan", Name: "设备布局图和工艺流程图", NameEN: "Equipment layout and process flow",
		Source: FromUpload, Optional: true}
	foodSafetyRules = MaterialSpec{Code: "food_safety_rules", Name: "食品安全管理制度文本", NameEN: "Food safety management rules",
		Source: FromUpload, Commitment: true}
)

// DemoItems are the service items of the demo: a food business licence
// (new and renewal), a resident certificate, and the bundled "open a
// restaurant" item that three departments review at once.
func DemoItems() []Item {
	return []Item{
		{
			Code: "food-business-new", Name: "食品经营许可（新办）", NameEN: "Food business licence (new)",
			LegalBasis:   "《中华人民共和国食品安全法》第三十五条；《食品经营许可和备案管理办法》",
			LegalBasisEN: "Food Safety Law of the PRC, Article 35; Measures for the Administration of Food Business Licensing and Filing",
			Fees:         "不收费", FeesEN: "Free of charge",
			IntakeDepts: []string{DeptServiceCenter}, Departments: []string{DeptMarket}, Applicant: Company,
			Statutory: 20, Promised: 10, Issues: "food-business", IssueVariant: 2, CrossRegion: true,
			Materials: []MaterialSpec{companyRegistration, representativeIdentity, premisesProof, layoutPlan, foodSafetyRules},
		},
		{
			Code: "food-business-renewal", Name: "食品经营许可（延续）", NameEN: "Food business licence (renewal)",
			LegalBasis:   "《食品经营许可和备案管理办法》第三十一条",
			LegalBasisEN: "Measures for the Administration of Food Business Licensing and Filing, Article 31",
			Fees:         "不收费", FeesEN: "Free of charge",
			IntakeDepts: []string{DeptServiceCenter}, Departments: []string{DeptMarket}, Applicant: Company,
			Statutory: 20, Promised: 5, Issues: "food-business", IssueVariant: 2, NeedsLicenceNumber: true,
			Materials: []MaterialSpec{companyRegistration, representativeIdentity,
				{Code: "current_licence", Name: "原食品经营许可证", NameEN: "Current food business licence",
					Source: FromExchange, Resource: "licence.food-business", About: AboutLicence,
					Fields: []string{"number", "holder_code", "holder_name", "authority", "authority_code", "valid_until", "status",
						"id", "type", "issue_date", "valid_from", "items", "seal_key_id", "seal", "revoked_at", "revocation_reason"}},
				{Code: "self_inspection", Name: "食品安全自查报告", NameEN: "Food safety self-inspection report", Source: FromUpload, Commitment: true}},
		},
		{
			Code: "resident-certificate", Name: "户籍证明", NameEN: "Resident certificate",
			LegalBasis:   "《中华人民共和国户口登记条例》",
			LegalBasisEN: "Regulations of the PRC on Household Registration",
			Fees:         "不收费", FeesEN: "Free of charge",
			IntakeDepts: []string{DeptServiceCenter, DeptPopulation}, Departments: []string{DeptPopulation}, Applicant: Person,
			Statutory: 5, Promised: 1,
			Materials: []MaterialSpec{
				{Code: "applicant_identity", Name: "申请人身份信息", NameEN: "Applicant's identity",
					Source: FromExchange, Resource: "population.identity", About: AboutApplicant,
					Fields: []string{"name", "sex", "birth_date", "address", "status"}},
				{Code: "household", Name: "户籍信息", NameEN: "Household register entry",
					Source: FromExchange, Resource: "population.household", About: AboutApplicant,
					Fields: []string{"household_no", "address"}},
			},
		},
		{
			Code: "open-restaurant", Name: "开餐馆“一件事”", NameEN: "Open a restaurant (one-stop bundle)",
			LegalBasis:   "《国务院关于加快推进政务服务“高效办成一件事”的指导意见》；《中华人民共和国食品安全法》；《中华人民共和国消防法》",
			LegalBasisEN: "State Council Guidelines on Getting \"One Thing\" Done Efficiently; Food Safety Law of the PRC; Fire Protection Law of the PRC",
			Fees:         "不收费", FeesEN: "Free of charge",
			IntakeDepts: []string{DeptServiceCenter}, Departments: []string{DeptMarket, DeptFireRescue, DeptUrbanManagement},
			Applicant: Company, Statutory: 20, Promised: 15, Issues: "food-business", IssueVariant: 2,
			Materials: []MaterialSpec{companyRegistration, representativeIdentity, premisesProof, foodSafetyRules,
				{Code: "fire_safety", Name: "公众聚集场所消防安全承诺书", NameEN: "Fire safety commitment for a public venue",
					Source: FromUpload, Commitment: true},
				{Code: "signboard", Name: "户外招牌设置方案", NameEN: "Outdoor signboard plan", Source: FromUpload, Optional: true}},
		},
	}
}
