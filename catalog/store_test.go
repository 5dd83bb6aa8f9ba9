package catalog_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/catalog"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

// mustStore returns a Store on a fresh, migrated database, and its pool.
func mustStore(tb testing.TB) (*catalog.Store, *pgxpool.Pool) {
	tb.Helper()
	pool := postgrestest.NewMigrated(tb, catalog.MigrationSource())
	return catalog.NewStore(pool), pool
}

// mustSeeded returns a Store with the demo catalogue.
func mustSeeded(tb testing.TB) (*catalog.Store, *pgxpool.Pool) {
	tb.Helper()
	s, pool := mustStore(tb)
	if err := catalog.SeedDemo(context.Background(), s); err != nil {
		tb.Fatalf("SeedDemo: %v", err)
	}
	return s, pool
}

func wantErr(tb testing.TB, err error, kind govx.Kind, code string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("no error, want %v %q", kind, code)
	}
	if govx.ErrorKind(err) != kind || govx.ErrorCode(err) != code {
		tb.Fatalf("error = %v (kind %v, code %q), want %v %q", err, govx.ErrorKind(err), govx.ErrorCode(err), kind, code)
	}
}

const personV1 = `{"type": "record", "name": "Person", "namespace": "govx.test", "fields": [
	{"name": "name", "type": "string"}]}`

// The same schema laid out differently: other whitespace, attributes in
// another order.
const personV1Reformatted = `{
  "namespace": "govx.test",
  "type":      "record",
  "fields": [ { "type": "string", "name": "name" } ],
  "name": "Person"
}`

const personV2 = `{"type": "record", "name": "Person", "namespace": "govx.test", "fields": [
	{"name": "name", "type": "string"},
	{"name": "age", "type": "int", "default": 0}]}`

func TestRegisterSchema(t *testing.T) {
	ctx := context.Background()
	s, pool := mustStore(t)

	id1, err := s.RegisterSchema(ctx, "test.person", personV1)
	if err != nil {
		t.Fatalf("RegisterSchema v1: %v", err)
	}
	version := func(subject string, id int) int {
		t.Helper()
		var v int
		if err := pool.QueryRow(ctx, `SELECT version FROM catalog.schemas WHERE subject = $1 AND schema_id = $2`, subject, id).Scan(&v); err != nil {
			t.Fatalf("version of %d in %s: %v", id, subject, err)
		}
		return v
	}
	if v := version("test.person", id1); v != 1 {
		t.Errorf("first schema of the subject has version %d, want 1", v)
	}

	tests := []struct {
		name    string
		subject string
		schema  string
		sameID  bool
		version int
	}{
		{name: "same schema again", subject: "test.person", schema: personV1, sameID: true, version: 1},
		{name: "same schema reformatted", subject: "test.person", schema: personV1Reformatted, sameID: true, version: 1},
		{name: "changed schema", subject: "test.person", schema: personV2, version: 2},
		{name: "changed schema again", subject: "test.person", schema: personV2, version: 2},
		{name: "same schema under another subject", subject: "test.other", schema: personV1, sameID: true, version: 1},
	}
	ids := map[string]int{"test.person/" + personV1: id1}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := s.RegisterSchema(ctx, tt.subject, tt.schema)
			if err != nil {
				t.Fatalf("RegisterSchema: %v", err)
			}
			if tt.sameID && id != id1 {
				t.Errorf("id = %d, want the first registration's %d", id, id1)
			}
			if !tt.sameID && id == id1 {
				t.Errorf("id = %d, the first registration's; want a new one", id)
			}
			if prev, ok := ids[tt.subject+"/"+tt.schema]; ok && prev != id {
				t.Errorf("id = %d, want %d as before", id, prev)
			}
			ids[tt.subject+"/"+tt.schema] = id
			if v := version(tt.subject, id); v != tt.version {
				t.Errorf("version = %d, want %d", v, tt.version)
			}
		})
	}

	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM catalog.schemas`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Errorf("catalog.schemas holds %d rows, want 3 (person v1, v2; other v1)", rows)
	}

	t.Run("SchemaByID returns the text first registered", func(t *testing.T) {
		text, err := s.SchemaByID(ctx, id1)
		if err != nil {
			t.Fatal(err)
		}
		if text != personV1 {
			t.Errorf("SchemaByID(%d) = %q, want %q", id1, text, personV1)
		}
	})

	for _, tt := range []struct {
		name   string
		schema string
	}{
		{"not JSON", `{"type": "record", `},
		{"unknown type", `{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}`},
		{"empty", ``},
	} {
		t.Run("invalid schema: "+tt.name, func(t *testing.T) {
			_, err := s.RegisterSchema(ctx, "test.person", tt.schema)
			wantErr(t, err, govx.KindInvalid, "invalid_schema")
		})
	}

	for _, id := range []int{0, -1, 999_999, 1 << 40} {
		t.Run(fmt.Sprintf("SchemaByID unknown %d", id), func(t *testing.T) {
			_, err := s.SchemaByID(ctx, id)
			wantErr(t, err, govx.KindNotFound, "schema_not_found")
		})
	}
}

// Instances starting at once register the same new schema: one version, one
// id, for all of them.
func TestRegisterSchemaConcurrently(t *testing.T) {
	ctx := context.Background()
	s, pool := mustStore(t)
	const n = 8
	ids := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			schema := personV1
			if i%2 == 1 {
				schema = personV1Reformatted
			}
			ids[i], errs[i] = s.RegisterSchema(ctx, "test.person", schema)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("registration %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("registration %d got id %d, registration 0 got %d", i, ids[i], ids[0])
		}
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM catalog.schemas`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("catalog.schemas holds %d rows, want 1", rows)
	}
}

func TestSeedDemo(t *testing.T) {
	ctx := context.Background()
	s, pool := mustSeeded(t)
	first, err := s.Resource(ctx, "population.identity")
	if err != nil {
		t.Fatalf("Resource after the first SeedDemo: %v", err)
	}
	if err := catalog.SeedDemo(ctx, s); err != nil {
		t.Fatalf("second SeedDemo: %v", err)
	}

	r, err := s.Resource(ctx, "population.identity")
	if err != nil {
		t.Fatalf("Resource: %v", err)
	}
	if !reflect.DeepEqual(r, first) {
		t.Errorf("second SeedDemo changed the resource\n got %+v\nwant %+v", r, first)
	}
	wantFields := []string{"id_number", "name", "sex", "birth_date", "ethnicity", "address", "division_code", "status"}
	if got := r.FieldNames(); !slices.Equal(got, wantFields) {
		t.Errorf("fields = %v, want %v", got, wantFields)
	}
	if r.Provider != catalog.DeptPopulation || r.Sharing != catalog.Unconditional || r.KeyType != catalog.KeyIDNumber ||
		r.SchemaSubject != schemas.PopulationIdentity || r.Status != "active" {
		t.Errorf("resource = %+v; want provider population, unconditional, keyed by id_number, subject %s, active",
			r, schemas.PopulationIdentity)
	}
	for _, f := range r.Fields {
		wantPersonal := f.Name != "division_code" && f.Name != "status"
		if f.Personal != wantPersonal {
			t.Errorf("field %s personal = %v, want %v", f.Name, f.Personal, wantPersonal)
		}
	}
	if !r.HasField("birth_date") || r.HasField("income") {
		t.Error("HasField disagrees with the field list")
	}

	counts := map[string]int{}
	for _, q := range []struct{ name, sql string }{
		{"departments", `SELECT count(*) FROM catalog.departments`},
		{"resources", `SELECT count(*) FROM catalog.resources`},
		{"schema versions", `SELECT count(*) FROM catalog.schemas WHERE subject = 'population.identity'`},
		{"grants", `SELECT count(*) FROM catalog.grants`},
	} {
		var n int
		if err := pool.QueryRow(ctx, q.sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[q.name] = n
	}
	if want := map[string]int{"departments": 2, "resources": 2, "schema versions": 1, "grants": 1}; !reflect.DeepEqual(counts, want) {
		t.Errorf("after two SeedDemo: %v, want %v", counts, want)
	}

	providers, err := s.Providers(ctx)
	if err != nil {
		t.Fatalf("Providers: %v", err)
	}
	// The service center consumes but provides nothing.
	if !slices.Equal(providers, []string{catalog.DeptPopulation}) {
		t.Errorf("Providers = %v, want [population]", providers)
	}
}

func TestResource(t *testing.T) {
	ctx := context.Background()
	s, _ := mustSeeded(t)
	if err := s.PutDepartment(ctx, catalog.Department{Code: "tax", Name: "Tax bureau"}); err != nil {
		t.Fatal(err)
	}
	income := catalog.Resource{Code: "tax.income", Name: "Income", Classification: "theme/tax", Provider: "tax",
		Summary: "Declared yearly income.", Format: "avro", KeyType: catalog.KeyIDNumber,
		Fields:  []catalog.Field{{Name: "id_number", Type: "string", Personal: true}, {Name: "income", Type: "long", Description: "yuan", Personal: true}},
		Sharing: catalog.Conditional, Conditions: "for social assistance cases only",
		Methods: []string{catalog.MethodQuery, catalog.MethodBulk}, OpenClass: catalog.NotOpen,
		UpdateCycle: "yearly", LegalBasis: "《中华人民共和国个人所得税法》", PublishedOn: "2024-03-01",
		Related: []string{"population.identity"}, SchemaSubject: "tax.income"}
	if err := s.PutResource(ctx, income); err != nil {
		t.Fatalf("PutResource: %v", err)
	}
	got, err := s.Resource(ctx, "tax.income")
	if err != nil {
		t.Fatalf("Resource: %v", err)
	}
	want := income
	want.Status, want.Version, want.ProviderName, want.ConsentRequired = "active", 1, "Tax bureau", true
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Resource\n got %+v\nwant %+v", *got, want)
	}
	if p, _ := s.Providers(ctx); !slices.Equal(p, []string{"population", "tax"}) {
		t.Errorf("Providers = %v, want [population tax]", p)
	}

	t.Run("defaults", func(t *testing.T) {
		r := catalog.Resource{Code: "tax.minimal", Name: "Minimal", Provider: "tax", KeyType: catalog.KeyIDNumber,
			Fields: []catalog.Field{{Name: "id_number", Type: "string", Personal: true}}, Sharing: catalog.Unconditional}
		if err := s.PutResource(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.Resource(ctx, r.Code)
		if err != nil {
			t.Fatal(err)
		}
		if got.Format != "avro" || !slices.Equal(got.Methods, []string{"query"}) || got.OpenClass != catalog.NotOpen ||
			got.SchemaSubject != r.Code || got.PublishedOn != "" || got.Related != nil || got.Status != "active" || got.Version != 1 {
			t.Errorf("defaults: %+v", got)
		}
	})

	retired := income
	retired.Status = "retired"
	if err := s.PutResource(ctx, retired); err != nil {
		t.Fatalf("retire: %v", err)
	}

	for _, code := range []string{"tax.income", "population.nothing", ""} {
		t.Run(fmt.Sprintf("not found %q", code), func(t *testing.T) {
			_, err := s.Resource(ctx, code)
			wantErr(t, err, govx.KindNotFound, "resource_not_found")
		})
	}
	t.Run("retired is in the catalogue view", func(t *testing.T) {
		r, err := s.ResourceAnyStatus(ctx, "tax.income")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "retired" || r.Version != 2 || r.LegalBasis != income.LegalBasis {
			t.Errorf("ResourceAnyStatus = %+v; want retired at version 2 with its metadata", r)
		}
		_, err = s.ResourceAnyStatus(ctx, "population.nothing")
		wantErr(t, err, govx.KindNotFound, "resource_not_found")
	})
	t.Run("retired provider is no provider", func(t *testing.T) {
		if p, _ := s.Providers(ctx); !slices.Equal(p, []string{"population", "tax"}) {
			t.Errorf("Providers = %v, want [population tax] (tax.minimal is still active)", p)
		}
	})

	t.Run("unknown provider", func(t *testing.T) {
		r := income
		r.Code, r.Provider = "nobody.thing", "nobody"
		wantErr(t, s.PutResource(ctx, r), govx.KindNotFound, "department_not_found")
	})
	t.Run("unknown sharing class", func(t *testing.T) {
		r := income
		r.Code, r.Sharing = "tax.other", "sometimes"
		wantErr(t, s.PutResource(ctx, r), govx.KindInvalid, "invalid_sharing")
	})
	t.Run("department code of the wrong shape", func(t *testing.T) {
		wantErr(t, s.PutDepartment(ctx, catalog.Department{Code: "Tax Bureau", Name: "x"}), govx.KindInvalid, "invalid_department_code")
	})
	t.Run("departments", func(t *testing.T) {
		ds, err := s.Departments(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, d := range ds {
			codes = append(codes, d.Code)
		}
		if !slices.Equal(codes, []string{"population", "service-center", "tax"}) {
			t.Errorf("Departments = %v", codes)
		}
		d, err := s.Department(ctx, "tax")
		if err != nil || d.Name != "Tax bureau" {
			t.Errorf("Department(tax) = %+v, %v", d, err)
		}
		_, err = s.Department(ctx, "nobody")
		wantErr(t, err, govx.KindNotFound, "department_not_found")
	})
}
