package licence

import (
	"context"

	"govx"
	"govx/catalog"
)

// Catalog returns the licensing department and the resources it publishes,
// for the catalogue. Their schemas are the embedded subjects of the same
// names.
func Catalog() (catalog.Department, []catalog.Resource) {
	dept := catalog.Department{Code: Department,
		Name:    "省政务服务数据管理局电子证照库 (Electronic Licence Register, Government Service Data Administration)",
		Contact: "licence-data@example.gov.cn"}
	licenceFields := func(items string) []catalog.Field {
		return []catalog.Field{
			{Name: "id", Type: "string", Description: "Electronic licence identifier (GB/T 36901 shape)", Label: "证照标识", LabelEN: "Licence identifier"},
			{Name: "type", Type: "string", Description: "Licence type code", Label: "证照类型", LabelEN: "Licence type", Values: typeValues},
			{Name: "number", Type: "string", Description: "Licence number as printed", Label: "证照编号", LabelEN: "Licence number"},
			{Name: "holder_name", Type: "string", Description: "Holder: company name, or a natural person's name", Personal: true, Label: "持证主体", LabelEN: "Holder"},
			{Name: "holder_code", Type: "string", Description: "Holder's unified social credit code, or resident ID number of a natural person", Personal: true, Subject: true, Label: "持证主体代码", LabelEN: "Holder code"},
			{Name: "authority", Type: "string", Description: "Issuing authority", Label: "发证机关", LabelEN: "Issuing authority"},
			{Name: "authority_code", Type: "string", Description: "Issuing authority's unified social credit code", Label: "发证机关代码", LabelEN: "Issuing authority code"},
			{Name: "issue_date", Type: "date", Description: "Date of issue, YYYY-MM-DD", Label: "发证日期", LabelEN: "Date of issue"},
			{Name: "valid_from", Type: "date", Description: "First day of validity, YYYY-MM-DD", Label: "有效期起", LabelEN: "Valid from"},
			{Name: "valid_until", Type: "date", Description: "Last day of validity, YYYY-MM-DD", Label: "有效期至", LabelEN: "Valid until"},
			{Name: "status", Type: "string", Description: "valid, revoked or expired", Label: "证照状态", LabelEN: "Status", Values: statusValues},
			{Name: "items", Type: "map", Description: "Face items: " + items, Label: "证面信息", LabelEN: "Face items"},
			{Name: "seal_key_id", Type: "string", Description: "Key id of the issuing authority's seal, in the catalogue's keys of department licensing", Label: "电子印章密钥", LabelEN: "Seal key"},
			{Name: "seal", Type: "bytes", Description: "Ed25519 signature over the licence's canonical form (RFC 8785 JSON of every field but seal, status and revocation)", Label: "电子印章", LabelEN: "Seal"},
			{Name: "revoked_at", Type: "datetime", Description: "When revoked, RFC 3339", Label: "注销时间", LabelEN: "Revoked at"},
			{Name: "revocation_reason", Type: "string", Description: "Why it was revoked", Label: "注销原因", LabelEN: "Revocation reason"},
		}
	}
	resource := func(typ, name, summary, items, basis string) catalog.Resource {
		return catalog.Resource{
			Code: Resource(typ), Name: name, Classification: "base/licence/" + typ, Provider: Department,
			Summary: summary, Format: "avro", KeyType: catalog.KeyLicenceNumber, Fields: licenceFields(items),
			Sharing: catalog.Unconditional, Methods: []string{catalog.MethodQuery, catalog.MethodSubscribe},
			// That a licence was issued, to whom and for what, is public
			// (许可信息公示); open data leaves out natural persons' codes.
			OpenClass: catalog.Open, UpdateCycle: "real-time", LegalBasis: basis, PublishedOn: "2026-01-01",
			Related: []string{ResourceByHolder, "legal-entity.basic", "population.identity"}, SchemaSubject: Resource(typ), Status: "active",
		}
	}
	resources := []catalog.Resource{
		resource(TypeFoodBusiness, "食品经营许可证 (Food business licence)",
			"An electronic food business licence with its business type, items and premises, sealed by the issuing market regulation bureau; looked up by licence number (JY…).",
			"business_type, business_items, premises, residence",
			"《中华人民共和国食品安全法》第三十五条；《食品经营许可和备案管理办法》（国家市场监督管理总局令第78号）；《国务院关于加快推进电子证照扩大应用领域和全国互通互认的意见》（国办发〔2022〕3号）"),
		resource(TypePharmacy, "药品经营许可证 (Drug trading licence)",
			"An electronic drug trading licence (wholesale, retail chain or retail) with its scope and premises, sealed by the issuing drug regulator; looked up by licence number.",
			"business_mode, scope, premises, warehouse",
			"《中华人民共和国药品管理法》第五十一条、第五十二条；《药品经营和使用质量监督管理办法》（国家市场监督管理总局令第84号）"),
		resource(TypeConstruction, "建筑施工企业安全生产许可证 (Construction work safety licence)",
			"An electronic work safety licence of a construction enterprise, sealed by the provincial housing and urban-rural development department; looked up by licence number.",
			"licensed_scope, address",
			"《安全生产许可证条例》（国务院令第397号）；《建筑施工企业安全生产许可证管理规定》（建设部令第128号）"),
		resource(TypeRoadTransport, "道路运输经营许可证 (Road transport operation licence)",
			"An electronic road transport operation licence with its business scope and fleet size, sealed by the issuing transport bureau; looked up by licence number.",
			"business_scope, address, vehicles",
			"《中华人民共和国道路运输条例》第二十四条；《道路货物运输及站场管理规定》（交通运输部令2023年第12号）"),
	}
	resources = append(resources, catalog.Resource{
		Code: ResourceByHolder, Name: "持证主体电子证照目录 (Licences by holder)", Classification: "base/licence/by-holder", Provider: Department,
		Summary: "The electronic licences a company (unified social credit code) or person (resident ID number) holds, most recently issued first, at most 100; the window's check of what an applicant already holds.",
		Format:  "avro", KeyType: catalog.KeyHolder,
		Fields: []catalog.Field{
			{Name: "holder_code", Type: "string", Description: "Unified social credit code or resident ID number", Personal: true, Label: "持证主体代码", LabelEN: "Holder code"},
			{Name: "total", Type: "int", Description: "Licences held in all", Label: "证照数", LabelEN: "Licences held"},
			{Name: "licences", Type: "array", Description: "Identifier, type, number, holder name, authority and code, dates and status of each licence", Personal: true, Label: "证照", LabelEN: "Licences"},
		},
		Sharing: catalog.Unconditional, Methods: []string{catalog.MethodQuery},
		// Keyed by resident ID numbers: a list of what a person holds is
		// not opened.
		OpenClass: catalog.NotOpen, UpdateCycle: "real-time",
		LegalBasis:  "《国务院关于加快推进电子证照扩大应用领域和全国互通互认的意见》（国办发〔2022〕3号）；《国务院关于加快推进政务服务标准化规范化便利化的指导意见》（国发〔2022〕5号）",
		PublishedOn: "2026-01-01", Related: []string{ResourceFoodBusiness, ResourcePharmacy, ResourceConstruction, ResourceRoadTransport},
		SchemaSubject: ResourceByHolder, Status: "active",
	})
	resources = append(resources, issueResource())
	return dept, resources
}

// issueResource is the catalogue entry of the licence.issue command: an
// order goes through the exchange, whose policy decides it as it decides a
// query (the token's scope names licence.issue, the department holds an
// approved grant) and whose ledger records it. Its record is the licence
// issued (licence.issued). Shared on conditions rather than
// unconditionally: ordering a licence is a power of the department that
// granted it, which the licensing department approves once per ordering
// department.
func issueResource() catalog.Resource {
	return catalog.Resource{
		Code: ResourceIssue, Name: "电子证照签发 (Licence issuing order)", Classification: "base/licence/issue", Provider: Department,
		Summary: "An order to issue an electronic licence a case granted, sent through the exchange with the order (" + SubjectOrder +
			") as its payload and keyed by the order's reference (the case number); answered with the licence issued and sealed. " +
			"Orders are idempotent by reference.",
		Format: "avro", KeyType: catalog.KeyReference, Fields: IssuedFields(),
		Sharing: catalog.Conditional,
		Conditions: "For the department that took in and granted the application (the one-stop window); " +
			"the licensing department approves one grant per ordering department.",
		Methods: []string{catalog.MethodCommand}, OpenClass: catalog.NotOpen, UpdateCycle: "real-time",
		LegalBasis:  "《中华人民共和国行政许可法》第三十九条、第四十四条；《国务院关于加快推进电子证照扩大应用领域和全国互通互认的意见》（国办发〔2022〕3号）",
		PublishedOn: "2026-12-01", Related: []string{ResourceFoodBusiness, ResourcePharmacy, ResourceConstruction, ResourceRoadTransport},
		SchemaSubject: SubjectIssued, Status: "active",
	}
}

// IssuedFields are the fields of a licence.issued record, as the
// catalogue describes licence.issue.
func IssuedFields() []catalog.Field {
	return []catalog.Field{
		{Name: "reference", Type: "string", Description: "The order's reference", Label: "业务编号", LabelEN: "Reference"},
		{Name: "id", Type: "string", Description: "Electronic licence identifier (GB/T 36901 shape)", Label: "证照标识", LabelEN: "Licence identifier"},
		{Name: "number", Type: "string", Description: "Licence number as printed", Label: "证照编号", LabelEN: "Licence number"},
		{Name: "type", Type: "string", Description: "Licence type code", Label: "证照类型", LabelEN: "Licence type", Values: typeValues},
		{Name: "holder_code", Type: "string", Description: "Holder's unified social credit code, or resident ID number of a natural person", Personal: true, Subject: true, Label: "持证主体代码", LabelEN: "Holder code"},
		{Name: "holder_name", Type: "string", Description: "Holder: company name, or a natural person's name", Personal: true, Label: "持证主体", LabelEN: "Holder"},
		{Name: "authority", Type: "string", Description: "Issuing authority", Label: "发证机关", LabelEN: "Issuing authority"},
		{Name: "authority_code", Type: "string", Description: "Issuing authority's unified social credit code", Label: "发证机关代码", LabelEN: "Issuing authority code"},
		{Name: "issue_date", Type: "date", Description: "Date of issue, YYYY-MM-DD", Label: "发证日期", LabelEN: "Date of issue"},
		{Name: "valid_from", Type: "date", Description: "First day of validity, YYYY-MM-DD", Label: "有效期起", LabelEN: "Valid from"},
		{Name: "valid_until", Type: "date", Description: "Last day of validity, YYYY-MM-DD", Label: "有效期至", LabelEN: "Valid until"},
		{Name: "items", Type: "map", Description: "Face items, as sealed", Label: "证面信息", LabelEN: "Face items"},
		{Name: "seal_key_id", Type: "string", Description: "Key id of the issuing authority's seal", Label: "电子印章密钥", LabelEN: "Seal key"},
		{Name: "seal", Type: "bytes", Description: "Ed25519 signature over the licence's canonical form", Label: "电子印章", LabelEN: "Seal"},
	}
}

// SeedCatalog publishes the licensing department and its resources, and
// gives the one-stop window (catalog.DeptServiceCenter) the demo's
// approved grant to order licences. The legal-entity resources the licence
// resources name as related must be in the catalogue already.
func SeedCatalog(ctx context.Context, s *catalog.Store) error {
	const op = "licence.SeedCatalog"
	dept, resources := Catalog()
	if err := s.Publish(ctx, dept, resources...); err != nil {
		return govx.E(op, err)
	}
	res := issueResource()
	return govx.E(op, catalog.SeedGrant(ctx, s, catalog.DemoGrant{Resource: ResourceIssue, Fields: res.FieldNames(), Provider: Department,
		Purpose:    "Issue the electronic licences that cases at the one-stop window granted (一窗受理、统一出件)",
		LegalBasis: "《国务院关于加快推进政务服务标准化规范化便利化的指导意见》（国发〔2022〕5号）"}))
}

// The labels of the enumerated data items, for the catalogue.
var (
	typeValues = []catalog.Value{
		{Code: TypeFoodBusiness, Label: "食品经营许可证", LabelEN: "Food business licence"},
		{Code: TypePharmacy, Label: "药品经营许可证", LabelEN: "Drug trading licence"},
		{Code: TypeConstruction, Label: "建筑施工企业安全生产许可证", LabelEN: "Construction work safety licence"},
		{Code: TypeRoadTransport, Label: "道路运输经营许可证", LabelEN: "Road transport operation licence"},
	}
	statusValues = []catalog.Value{
		{Code: StatusValid, Label: "有效", LabelEN: "Valid"},
		{Code: StatusRevoked, Label: "已注销", LabelEN: "Revoked"},
		{Code: StatusExpired, Label: "已过期", LabelEN: "Expired"},
	}
)
