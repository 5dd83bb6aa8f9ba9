package casework

import (
	"testing"

	"govx"
)

func TestCrossRegionItem(t *testing.T) {
	var base Item
	for _, it := range DemoItems() {
		if it.Code == "food-business-new" {
			base = it
		}
	}
	if !base.CrossRegion {
		t.Fatal("food-business-new is not offered to other nodes' windows")
	}
	v := CrossRegionItem(base, "guangzhou")
	if v.Code != "food-business-new-guangzhou" || v.DecidedAt != "guangzhou" || v.DecidedAs != base.Code || v.CrossRegion ||
		len(v.Departments) != 1 || v.Departments[0] != "guangzhou/"+DeptMarket || base.Departments[0] != DeptMarket {
		t.Errorf("variant: %+v", v)
	}
	if _, err := NewCatalogue(append(DemoItems(), v)); err != nil {
		t.Errorf("the demo items with the variant: %v", err)
	}
	for name, mutate := range map[string]func(*Item){
		"node without its item": func(it *Item) { it.DecidedAs = "" },
		"item without its node": func(it *Item) { it.DecidedAt = "" },
		"node name not a name":  func(it *Item) { it.DecidedAt = "Guang Zhou" },
	} {
		t.Run(name, func(t *testing.T) {
			it := v
			mutate(&it)
			if _, err := NewCatalogue([]Item{it}); govx.ErrorCode(err) != "item_invalid" {
				t.Errorf("NewCatalogue: %v", err)
			}
		})
	}
}
