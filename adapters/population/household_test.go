package population_test

import (
	"context"
	"slices"
	"testing"

	"govx"
	"govx/adapters/population"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

func TestHouseholdsAreCoherent(t *testing.T) {
	g := population.NewGenerator(seed)
	const n = 3000
	seen := map[string]bool{}
	numbers := map[string]bool{}
	normal := 0
	for i := range n {
		if g.Resident(i).Status == population.StatusNormal {
			normal++
		}
	}
	byID := map[string]population.Resident{}
	for i := range n {
		r := g.Resident(i)
		byID[r.IDNumber] = r
	}
	g.Households(0, n, func(h population.Household) bool {
		if len(h.Members) < 1 || len(h.Members) > 5 {
			t.Errorf("household %s has %d members", h.Number, len(h.Members))
		}
		if numbers[h.Number] || len(h.Number) != 15 || h.Number[:6] != h.DivisionCode {
			t.Errorf("household number %s repeated or malformed", h.Number)
		}
		numbers[h.Number] = true
		head := byID[h.Head.IDNumber]
		if h.Members[0] != h.Head || h.Head.Relation != population.RelationHead || h.Address != head.Address || h.Head.Name != head.Name {
			t.Errorf("household %s: head %+v, first member %+v", h.Number, h.Head, h.Members[0])
		}
		spouses := 0
		for _, m := range h.Members {
			r, ok := byID[m.IDNumber]
			if !ok || seen[m.IDNumber] || r.Status != population.StatusNormal || r.DivisionCode != h.DivisionCode || r.Name != m.Name {
				t.Errorf("member %+v of %s: outside the range, twice, not living or another division", m, h.Number)
			}
			seen[m.IDNumber] = true
			if r.BirthDate.Before(head.BirthDate) {
				t.Errorf("member %s is older than the head of %s", m.IDNumber, h.Number)
			}
			switch m.Relation {
			case population.RelationSpouse:
				spouses++
				if r.Sex == head.Sex {
					t.Errorf("spouse of the same sex in %s", h.Number)
				}
			case population.RelationChild, population.RelationGrandchild:
				if head.BirthDate.AddDate(18, 0, 0).After(r.BirthDate) {
					t.Errorf("child %s less than 18 years younger than the head of %s", m.IDNumber, h.Number)
				}
			}
		}
		if spouses > 1 {
			t.Errorf("%d spouses in %s", spouses, h.Number)
		}
		return true
	})
	if len(seen) != normal {
		t.Errorf("%d residents in households, want every living one (%d)", len(seen), normal)
	}
}

func TestSeedHouseholdsAndLookup(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewMigrated(t, catalog.MigrationSource(), population.MigrationSource())
	store := population.NewStore(pool)
	g := population.NewGenerator(seed)
	if _, err := store.Seed(ctx, g, 0, 2000); err != nil {
		t.Fatal(err)
	}
	hh, _, err := store.SeedHouseholds(ctx, g, 0, 2000)
	if err != nil || hh == 0 {
		t.Fatalf("SeedHouseholds = %d, %v", hh, err)
	}
	var want []population.Household
	g.Households(0, 2000, func(h population.Household) bool { want = append(want, h); return true })
	if int64(len(want)) != hh {
		t.Errorf("seeded %d households, generator makes %d", hh, len(want))
	}
	for _, w := range want[:50] {
		for _, m := range w.Members {
			got, err := store.Household(ctx, m.IDNumber)
			if err != nil {
				t.Fatalf("Household(%s): %v", m.IDNumber, err)
			}
			ws := slices.Clone(w.Members[1:])
			slices.SortFunc(ws, func(a, b population.Member) int { return compare(a.IDNumber, b.IDNumber) })
			if got.Number != w.Number || got.Head != w.Head || got.Address != w.Address || got.DivisionCode != w.DivisionCode ||
				!slices.Equal(got.Members, append([]population.Member{w.Head}, ws...)) {
				t.Fatalf("Household(%s)\n got %+v\nwant %+v", m.IDNumber, got, w)
			}
		}
	}
	if _, _, err := store.SeedHouseholds(ctx, g, 0, 2000); govx.ErrorCode(err) != "already_exists" {
		t.Errorf("seeding twice: %v, want already_exists", err)
	}
	for _, tc := range []struct{ id, code string }{
		{"123", "invalid_id_number"},
		{"110101190001010014", "household_not_found"},
	} {
		if _, err := store.Household(ctx, tc.id); govx.ErrorCode(err) != tc.code {
			t.Errorf("Household(%s) = %v, want %s", tc.id, err, tc.code)
		}
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// The catalogue entry and the Avro schema describe the same fields, and a
// household record survives the wire.
func TestHouseholdResourceAndSchema(t *testing.T) {
	ctx := context.Background()
	res := population.HouseholdResource()
	if res.Code != population.ResourceHousehold || res.SchemaSubject != population.ResourceHousehold ||
		res.Sharing != catalog.Conditional || res.Provider != population.Department || !catalog.ValidCode(res.Code) {
		t.Errorf("resource = %+v", res)
	}
	pool := postgrestest.NewMigrated(t, catalog.MigrationSource())
	codec := avro.NewCodec(catalog.NewStore(pool))
	text, err := schemas.Text(population.ResourceHousehold)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec.Register(ctx, population.ResourceHousehold, text); err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{
		"household_no": "110101000000042", "head_id_number": "110101199003074477", "head_name": "王秀英",
		"address": "北京市东城区", "division_code": "110101",
		"members": []any{
			map[string]any{"id_number": "110101199003074477", "name": "王秀英", "relation": "head"},
			map[string]any{"id_number": "110101201003074470", "name": "李明", "relation": "child"},
		},
	}
	b, err := codec.Marshal(population.ResourceHousehold, rec)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := codec.UnmarshalAs(ctx, population.ResourceHousehold, b, &got); err != nil {
		t.Fatal(err)
	}
	members, _ := got["members"].([]any)
	if len(members) != 2 || got["head_name"] != "王秀英" {
		t.Fatalf("round trip = %v", got)
	}
	if m, _ := members[1].(map[string]any); m["relation"] != "child" || m["name"] != "李明" {
		t.Errorf("member = %v", members[1])
	}
	var fields []string
	for _, f := range res.Fields {
		fields = append(fields, f.Name)
	}
	for _, f := range fields {
		if _, ok := got[f]; !ok {
			t.Errorf("catalogue field %s is not in the schema", f)
		}
	}
	if len(got) != len(fields) {
		t.Errorf("schema has %d fields, catalogue %d", len(got), len(fields))
	}
}

func BenchmarkSeedHouseholds(b *testing.B) {
	ctx := context.Background()
	pool := postgrestest.NewMigrated(b, population.MigrationSource())
	store := population.NewStore(pool)
	g := population.NewGenerator(seed)
	const n = 20000
	for i := 0; b.Loop(); i++ {
		if _, err := store.Seed(ctx, g, i*n, n); err != nil {
			b.Fatal(err)
		}
		if _, _, err := store.SeedHouseholds(ctx, g, i*n, n); err != nil {
			b.Fatal(err)
		}
	}
	// Rows of all three tables: residents, households, members.
	var rows int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM population.residents) +
		(SELECT count(*) FROM population.households) + (SELECT count(*) FROM population.household_members)`).Scan(&rows); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

func TestHouseholdRecordWithoutMembers(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewMigrated(t, catalog.MigrationSource())
	codec := avro.NewCodec(catalog.NewStore(pool))
	text, _ := schemas.Text(population.ResourceHousehold)
	if _, err := codec.Register(ctx, population.ResourceHousehold, text); err != nil {
		t.Fatal(err)
	}
	b, err := codec.Marshal(population.ResourceHousehold, map[string]any{"head_name": "王秀英"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := codec.UnmarshalAs(ctx, population.ResourceHousehold, b, &got); err != nil {
		t.Fatal(err)
	}
	if got["head_name"] != "王秀英" || got["address"] != nil {
		t.Errorf("got %v", got)
	}
}
