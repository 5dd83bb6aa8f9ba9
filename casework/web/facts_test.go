package web

import (
	"testing"

	"govx/catalog"
)

func TestFactsOf(t *testing.T) {
	res := &catalog.Resource{Fields: []catalog.Field{
		{Name: "name", Type: "string", Label: "名称", LabelEN: "Name"},
		{Name: "entity_type", Type: "string", Label: "主体类型", LabelEN: "Entity type",
			Values: []catalog.Value{{Code: "limited_liability_company", Label: "有限责任公司", LabelEN: "Limited liability company"}}},
		{Name: "legal_representative", Type: "string", Label: "法定代表人", LabelEN: "Legal representative"},
		{Name: "status", Type: "string", Label: "登记状态", Values: []catalog.Value{{Code: "in_business", Label: "存续"}}},
	}}
	facts := map[string]string{"status": "in_business", "legal_representative": "王芳", "entity_type": "limited_liability_company",
		"name": "杭州鑫源科技有限公司", "extra": "x", "aaa": "y"}
	for _, c := range []struct {
		lang string
		want []fact
	}{
		{"zh", []fact{{"name", "名称", "杭州鑫源科技有限公司", "杭州鑫源科技有限公司"},
			{"entity_type", "主体类型", "limited_liability_company", "有限责任公司"},
			{"legal_representative", "法定代表人", "王芳", "王芳"}, {"status", "登记状态", "in_business", "存续"},
			{"aaa", "aaa", "y", "y"}, {"extra", "extra", "x", "x"}}},
		// English where the catalogue has it, else Chinese rather than a code.
		{"en", []fact{{"name", "Name", "杭州鑫源科技有限公司", "杭州鑫源科技有限公司"},
			{"entity_type", "Entity type", "limited_liability_company", "Limited liability company"},
			{"legal_representative", "Legal representative", "王芳", "王芳"}, {"status", "登记状态", "in_business", "存续"},
			{"aaa", "aaa", "y", "y"}, {"extra", "extra", "x", "x"}}},
	} {
		got := factsOf(facts, res, c.lang)
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d facts, want %d: %v", c.lang, len(got), len(c.want), got)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: fact %d = %+v, want %+v", c.lang, i, got[i], c.want[i])
			}
		}
	}
	// Without a catalogue: the register's own names, sorted.
	got := factsOf(map[string]string{"status": "in_business", "name": "n"}, nil, "zh")
	if len(got) != 2 || got[0] != (fact{"name", "name", "n", "n"}) || got[1] != (fact{"status", "status", "in_business", "in_business"}) {
		t.Errorf("without a catalogue: %+v", got)
	}
}
