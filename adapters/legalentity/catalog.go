package legalentity

import (
	"context"

	"govx"
	"govx/catalog"
)

// Department is the market regulation department's catalogue code.
const Department = "market-regulation"

// Catalog returns the department and the resources it publishes, with the
// metadata of the government resource catalogue.
func Catalog() (catalog.Department, []catalog.Resource) {
	dept := catalog.Department{Code: Department, Name: "市场监督管理局 (Market Regulation)",
		Contact: "market-entity-data@example.gov.cn"}
	const (
		legalBasis = "《中华人民共和国市场主体登记管理条例》；《中华人民共和国公司法》；《企业信息公示暂行条例》"
		published  = "2026-01-15"
	)
	idField := catalog.Field{Name: "uscc", Type: "string", Description: "Unified social credit code (GB 32100-2015)", Label: "统一社会信用代码", LabelEN: "Unified social credit code"}
	nameField := catalog.Field{Name: "name", Type: "string", Description: "Registered name", Label: "名称", LabelEN: "Name"}
	statusFields := []catalog.Field{
		{Name: "status", Type: "string", Description: "in_business, deregistered or revoked", Label: "登记状态", LabelEN: "Status", Values: statusValues},
		{Name: "status_date", Type: "date", Description: "Date the status took effect, YYYY-MM-DD", Label: "状态日期", LabelEN: "Status date"},
		{Name: "status_reason", Type: "string", Description: "Why the entity left business; empty while in business", Label: "状态原因", LabelEN: "Status reason"},
	}
	basic := catalog.Resource{
		Code:           ResourceBasic,
		Name:           "市场主体登记基本信息 (Market entity registration)",
		Classification: "base/legal-entity",
		Provider:       Department,
		Summary: "A market entity as registered with market regulation: name, type, legal representative, capital, " +
			"establishment, registration authority, address, business scope and status, looked up by unified social credit code.",
		Format:  "avro",
		KeyType: catalog.KeyUSCC,
		Fields: append([]catalog.Field{idField, nameField,
			{Name: "entity_type", Type: "string", Description: "limited_liability_company, joint_stock_company, sole_proprietorship, partnership, branch or individual_business", Label: "主体类型", LabelEN: "Entity type", Values: entityTypes},
			{Name: "legal_representative", Type: "string", Description: "Name of the legal representative", Personal: true, Label: "法定代表人", LabelEN: "Legal representative"},
			{Name: "legal_representative_id_number", Type: "string", Description: "Resident ID number of the legal representative (GB 11643)", Personal: true, Label: "法定代表人身份号码", LabelEN: "Legal representative's ID number"},
			{Name: "registered_capital", Type: "decimal", Description: "Registered capital in yuan; empty for branches and individual businesses", Label: "注册资本（元）", LabelEN: "Registered capital (yuan)"},
			{Name: "established_on", Type: "date", Description: "Date of establishment, YYYY-MM-DD", Label: "成立日期", LabelEN: "Established on"},
			{Name: "registration_authority", Type: "string", Description: "Registration authority", Label: "登记机关", LabelEN: "Registration authority"},
			{Name: "registration_authority_code", Type: "string", Description: "GB/T 2260 division code of the registration authority", Label: "登记机关区划代码", LabelEN: "Registration authority division code"},
			{Name: "address", Type: "string", Description: "Registered address", Label: "住所", LabelEN: "Registered address"},
			{Name: "division_code", Type: "string", Description: "GB/T 2260 division code of the address", Label: "住所区划代码", LabelEN: "Division code"},
			{Name: "business_scope", Type: "string", Description: "Business scope", Label: "经营范围", LabelEN: "Business scope"},
		}, statusFields...),
		Sharing: catalog.Unconditional,
		Methods: []string{catalog.MethodQuery},
		// The register is public (国家企业信用信息公示系统) except the
		// representative's ID number, so it opens only without it.
		OpenClass:     catalog.ConditionallyOpen,
		UpdateCycle:   "real-time",
		LegalBasis:    legalBasis,
		PublishedOn:   published,
		Related:       []string{ResourceStatus, "population.identity"},
		SchemaSubject: ResourceBasic,
	}
	status := catalog.Resource{
		Code:           ResourceStatus,
		Name:           "市场主体经营状态 (Market entity status)",
		Classification: "base/legal-entity",
		Provider:       Department,
		Summary: "Whether a market entity is still in business, or was deregistered or had its licence revoked, " +
			"with the date and reason; change events when that happens.",
		Format:        "avro",
		KeyType:       catalog.KeyUSCC,
		Fields:        append([]catalog.Field{idField, nameField}, statusFields...),
		Sharing:       catalog.Unconditional,
		Methods:       []string{catalog.MethodQuery, catalog.MethodSubscribe},
		OpenClass:     catalog.Open,
		UpdateCycle:   "real-time",
		LegalBasis:    legalBasis,
		PublishedOn:   published,
		Related:       []string{ResourceBasic},
		SchemaSubject: ResourceStatus,
	}
	return dept, []catalog.Resource{basic, status}
}

// SeedCatalog registers the department, its schemas and its resources in
// the catalogue. It is idempotent.
func SeedCatalog(ctx context.Context, s *catalog.Store) error {
	dept, resources := Catalog()
	return govx.E("legalentity.SeedCatalog", s.Publish(ctx, dept, resources...))
}

// The labels of the enumerated data items, for the catalogue.
var (
	entityTypes = []catalog.Value{
		{Code: TypeLimitedLiability, Label: "有限责任公司", LabelEN: "Limited liability company"},
		{Code: TypeJointStock, Label: "股份有限公司", LabelEN: "Joint stock company"},
		{Code: TypeSoleProprietorship, Label: "个人独资企业", LabelEN: "Sole proprietorship"},
		{Code: TypePartnership, Label: "合伙企业", LabelEN: "Partnership"},
		{Code: TypeBranch, Label: "分公司", LabelEN: "Branch"},
		{Code: TypeIndividualBusiness, Label: "个体工商户", LabelEN: "Individual business"},
	}
	statusValues = []catalog.Value{
		{Code: StatusInBusiness, Label: "存续", LabelEN: "In business"},
		{Code: StatusDeregistered, Label: "注销", LabelEN: "Deregistered"},
		{Code: StatusRevoked, Label: "吊销", LabelEN: "Revoked"},
	}
)
