package catalog

import (
	"context"

	"govx"
	"govx/schemas"
)

// Demo departments.
const (
	DeptPopulation    = "population"
	DeptServiceCenter = "service-center"
)

// SeedDemo registers the departments and resources of the demo: the
// population department and its population.identity resource with its full
// catalogue metadata. It is idempotent: a second run changes nothing, not
// even the resource's version.
func SeedDemo(ctx context.Context, s *Store) error {
	const op = "catalog.SeedDemo"
	if err := s.PutDepartment(ctx, Department{Code: DeptServiceCenter, Name: "政务服务中心 (Government Service Center, one-stop window)",
		Contact: "window@example.gov.cn"}); err != nil {
		return govx.E(op, err)
	}
	population := Department{Code: DeptPopulation, Name: "公安厅人口管理处 (Population Register, Public Security)",
		Contact: "population-data@example.gov.cn"}
	identity := Resource{
		Code:           "population.identity",
		Name:           "居民身份信息 (Resident identity)",
		Classification: "基础信息资源/人口 (base/population)",
		Provider:       DeptPopulation,
		Summary:        "A resident's identity as held in the household register, looked up by 18-character resident ID number.",
		Format:         "avro",
		KeyType:        KeyIDNumber,
		Fields: []Field{
			{Name: "id_number", Type: "string", Description: "Resident ID number (GB 11643)", Personal: true, Label: "公民身份号码", LabelEN: "ID number"},
			{Name: "name", Type: "string", Description: "Name", Personal: true, Label: "姓名", LabelEN: "Name"},
			{Name: "sex", Type: "string", Description: "male or female", Personal: true, Label: "性别", LabelEN: "Sex", Values: []Value{{Code: "male", Label: "男", LabelEN: "Male"}, {Code: "female", Label: "女", LabelEN: "Female"}}},
			{Name: "birth_date", Type: "date", Description: "Date of birth, YYYY-MM-DD", Personal: true, Label: "出生日期", LabelEN: "Date of birth"},
			{Name: "ethnicity", Type: "string", Description: "Ethnic group", Personal: true, Label: "民族", LabelEN: "Ethnic group"},
			{Name: "address", Type: "string", Description: "Household-register address", Personal: true, Label: "户籍地址", LabelEN: "Household-register address"},
			{Name: "division_code", Type: "string", Description: "GB/T 2260 division code of the address", Personal: false, Label: "户籍地区划代码", LabelEN: "Division code"},
			{Name: "status", Type: "string", Description: "normal, moved_out or deceased", Personal: false, Label: "户籍状态", LabelEN: "Status", Values: []Value{{Code: "normal", Label: "正常", LabelEN: "Normal"}, {Code: "moved_out", Label: "已迁出", LabelEN: "Moved out"}, {Code: "deceased", Label: "已死亡", LabelEN: "Deceased"}}},
		},
		Sharing:       Unconditional,
		Methods:       []string{MethodQuery, MethodSubscribe},
		OpenClass:     NotOpen,
		UpdateCycle:   "real-time",
		LegalBasis:    "《中华人民共和国居民身份证法》; 《中华人民共和国户口登记条例》",
		PublishedOn:   "2025-01-01",
		SchemaSubject: schemas.PopulationIdentity,
	}
	if err := s.Publish(ctx, population, identity, DemoHouseholdResource()); err != nil {
		return govx.E(op, err)
	}
	return govx.E(op, seedGrants(ctx, s))
}
