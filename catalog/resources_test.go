package catalog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/catalog"
	"govx/internal/postgres"
	"govx/internal/postgres/postgrestest"
)

// licence returns a valid resource of the licence department.
func licence(code string) catalog.Resource {
	return catalog.Resource{Code: code, Name: "Food business licence", Provider: "licence", KeyType: catalog.KeyLicenceNumber,
		Fields: []catalog.Field{
			{Name: "licence_number", Type: "string"},
			{Name: "holder_uscc", Type: "string", Description: "unified social credit code of the holder"},
			{Name: "valid_until", Type: "date"},
		},
		Sharing: catalog.Unconditional, Methods: []string{catalog.MethodQuery}, OpenClass: catalog.Open,
		UpdateCycle: "daily", LegalBasis: "《中华人民共和国食品安全法》", PublishedOn: "2024-06-30"}
}

func TestValidate(t *testing.T) {
	good := licence("licence.food-business")
	if err := good.Validate(); err != nil {
		t.Fatalf("a valid resource: %v", err)
	}
	tests := []struct {
		name string
		edit func(*catalog.Resource)
		code string
	}{
		{"bad code", func(r *catalog.Resource) { r.Code = "Licence.Food" }, "invalid_code"},
		{"no name", func(r *catalog.Resource) { r.Name = "  " }, "invalid_name"},
		{"NUL in name", func(r *catalog.Resource) { r.Name = "a\x00b" }, "invalid_name"},
		{"long summary", func(r *catalog.Resource) { r.Summary = strings.Repeat("长", 4001) }, "invalid_summary"},
		{"bad provider", func(r *catalog.Resource) { r.Provider = "Licence Office" }, "invalid_provider"},
		{"bad key type", func(r *catalog.Resource) { r.KeyType = "phone" }, "invalid_key_type"},
		{"personal field, no subject", func(r *catalog.Resource) { r.Fields[1].Personal = true }, "subject_field_required"},
		{"two subject fields", func(r *catalog.Resource) { r.Fields[1].Subject, r.Fields[2].Subject = true, true }, "subject_field_ambiguous"},
		{"subject field beside a subject key", func(r *catalog.Resource) { r.KeyType, r.Fields[1].Subject = catalog.KeyUSCC, true }, "subject_field_ambiguous"},
		{"no fields", func(r *catalog.Resource) { r.Fields = nil }, "no_fields"},
		{"bad field name", func(r *catalog.Resource) { r.Fields[1].Name = "Holder USCC" }, "invalid_field"},
		{"empty field name", func(r *catalog.Resource) { r.Fields[1].Name = "" }, "invalid_field"},
		{"duplicate field", func(r *catalog.Resource) { r.Fields[2].Name = "licence_number" }, "duplicate_field"},
		{"bad field type", func(r *catalog.Resource) { r.Fields[0].Type = "varchar" }, "invalid_field_type"},
		{"label too long", func(r *catalog.Resource) { r.Fields[0].Label = strings.Repeat("名", catalog.MaxLabel+1) }, "invalid_field_label"},
		{"control in English label", func(r *catalog.Resource) { r.Fields[0].LabelEN = "Status\x00" }, "invalid_field_label"},
		{"value without code", func(r *catalog.Resource) { r.Fields[0].Values = []catalog.Value{{Label: "有效"}} }, "invalid_field_value"},
		{"value without label", func(r *catalog.Resource) { r.Fields[0].Values = []catalog.Value{{Code: "valid", LabelEN: "Valid"}} }, "invalid_field_value_label"},
		{"value twice", func(r *catalog.Resource) {
			r.Fields[0].Values = []catalog.Value{{Code: "valid", Label: "有效"}, {Code: "valid", Label: "仍有效"}}
		}, "duplicate_value"},
		{"bad sharing", func(r *catalog.Resource) { r.Sharing = "sometimes" }, "invalid_sharing"},
		{"conditional without conditions", func(r *catalog.Resource) { r.Sharing = catalog.Conditional }, "conditions_required"},
		{"conditions on unconditional", func(r *catalog.Resource) { r.Conditions = "ask nicely" }, "invalid_conditions"},
		{"bad method", func(r *catalog.Resource) { r.Methods = []string{"fax"} }, "invalid_method"},
		{"method twice", func(r *catalog.Resource) { r.Methods = []string{"query", "query"} }, "invalid_method"},
		{"bad open class", func(r *catalog.Resource) { r.OpenClass = "public" }, "invalid_open_class"},
		{"date of the wrong shape", func(r *catalog.Resource) { r.PublishedOn = "30/06/2024" }, "invalid_date"},
		{"date that does not exist", func(r *catalog.Resource) { r.PublishedOn = "2024-02-30" }, "invalid_date"},
		{"date not zero-padded", func(r *catalog.Resource) { r.PublishedOn = "2024-6-30" }, "invalid_date"},
		{"related not a code", func(r *catalog.Resource) { r.Related = []string{"x"} }, "invalid_related"},
		{"related to itself", func(r *catalog.Resource) { r.Related = []string{r.Code} }, "invalid_related"},
		{"related twice", func(r *catalog.Resource) { r.Related = []string{"a.b", "a.b"} }, "invalid_related"},
		{"bad status", func(r *catalog.Resource) { r.Status = "deleted" }, "invalid_status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := licence("licence.food-business")
			tt.edit(&r)
			wantErr(t, r.Validate(), govx.KindInvalid, tt.code)
		})
	}
	nested := licence("licence.food-business")
	nested.Fields = append(nested.Fields, catalog.Field{Name: "premises", Type: "array", Description: "addresses of the premises"})
	if err := nested.Validate(); err != nil {
		t.Errorf("a resource with an array field: %v", err)
	}
	conditional := licence("licence.food-business")
	conditional.Sharing, conditional.Conditions = catalog.Conditional, "for licensing cases"
	if err := conditional.Validate(); err != nil {
		t.Errorf("a conditional resource with conditions: %v", err)
	}
}

// mustLicenceStore is a seeded store with the licence department.
func mustLicenceStore(t *testing.T) (*catalog.Store, *pgxpool.Pool) {
	t.Helper()
	s, pool := mustSeeded(t)
	if err := s.PutDepartment(context.Background(), catalog.Department{Code: "licence", Name: "Licensing office"}); err != nil {
		t.Fatal(err)
	}
	return s, pool
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestVersionsAndAudit(t *testing.T) {
	ctx := context.Background()
	s, pool := mustLicenceStore(t)
	var changed []string
	var mu sync.Mutex
	s.OnChange(func(ctx context.Context, code string) {
		mu.Lock()
		defer mu.Unlock()
		changed = append(changed, code)
	})
	alice := catalog.Actor{Subject: "user:alice", Dept: "licence"}

	r, err := s.RegisterResource(ctx, alice, licence("licence.food-business"))
	if err != nil {
		t.Fatalf("RegisterResource: %v", err)
	}
	if r.Version != 1 || r.Status != "active" || r.ProviderName != "Licensing office" {
		t.Errorf("registered %+v", r)
	}
	_, err = s.RegisterResource(ctx, alice, licence("licence.food-business"))
	wantErr(t, err, govx.KindConflict, "resource_exists")

	r, err = s.UpdateResource(ctx, "licence.food-business", alice, func(r *catalog.Resource) error {
		r.Summary = "Licences to run a food business."
		r.Fields = append(r.Fields, catalog.Field{Name: "address", Type: "string"})
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateResource: %v", err)
	}
	if r.Version != 2 || len(r.Fields) != 4 {
		t.Errorf("updated %+v", r)
	}
	// A change that changes nothing is no version.
	same, err := s.UpdateResource(ctx, "licence.food-business", alice, func(r *catalog.Resource) error { return nil })
	if err != nil || same.Version != 2 {
		t.Errorf("no-op update: %+v, %v", same, err)
	}
	// The closure's error changes nothing and keeps its kind and code.
	_, err = s.UpdateResource(ctx, "licence.food-business", alice, func(r *catalog.Resource) error {
		r.Name = "changed"
		return govx.Errorf(govx.KindConflict, "version_conflict", "stale")
	})
	wantErr(t, err, govx.KindConflict, "version_conflict")
	_, err = s.UpdateResource(ctx, "licence.food-business", alice, func(r *catalog.Resource) error { r.Code = "licence.other"; return nil })
	wantErr(t, err, govx.KindInvalid, "code_immutable")
	_, err = s.UpdateResource(ctx, "licence.food-business", alice, func(r *catalog.Resource) error { r.PublishedOn = "2024-13-01"; return nil })
	wantErr(t, err, govx.KindInvalid, "invalid_date")
	_, err = s.UpdateResource(ctx, "licence.nothing", alice, func(r *catalog.Resource) error { return nil })
	wantErr(t, err, govx.KindNotFound, "resource_not_found")

	bob := catalog.Actor{Subject: "user:bob", Dept: "licence"}
	if _, err := s.UpdateResource(ctx, "licence.food-business", bob, func(r *catalog.Resource) error { r.Status = "retired"; return nil }); err != nil {
		t.Fatalf("retire: %v", err)
	}
	if _, err := s.Resource(ctx, "licence.food-business"); govx.ErrorCode(err) != "resource_not_found" {
		t.Errorf("Resource of a retired resource: %v", err)
	}

	vs, err := s.ResourceVersions(ctx, "licence.food-business")
	if err != nil {
		t.Fatalf("ResourceVersions: %v", err)
	}
	type row struct {
		version int
		action  string
		subject string
		fields  int
		status  string
	}
	var got []row
	for _, v := range vs {
		got = append(got, row{v.Version, v.Action, v.Actor.Subject, len(v.Resource.Fields), v.Resource.Status})
		if v.Resource.Version != v.Version || v.Resource.ProviderName != "" || v.At.IsZero() || v.Actor.Dept != "licence" {
			t.Errorf("version %d: %+v", v.Version, v)
		}
	}
	want := []row{{1, "register", "user:alice", 3, "active"}, {2, "update", "user:alice", 4, "active"}, {3, "retire", "user:bob", 4, "retired"}}
	if !slices.Equal(got, want) {
		t.Errorf("versions = %+v\nwant %+v", got, want)
	}
	if vs[0].Resource.Summary != "" || vs[1].Resource.Summary == "" {
		t.Error("an old version does not hold what it held then")
	}
	mu.Lock()
	if want := []string{"licence.food-business", "licence.food-business", "licence.food-business"}; !slices.Equal(changed, want) {
		t.Errorf("OnChange saw %v, want %v: one call per committed change, none for failed or empty ones", changed, want)
	}
	mu.Unlock()
	if n := count(t, pool, `SELECT count(*) FROM catalog.resource_audit WHERE code = 'licence.food-business'`); n != 3 {
		t.Errorf("%d audit rows, want 3", n)
	}
	_, err = s.ResourceVersions(ctx, "licence.nothing")
	wantErr(t, err, govx.KindNotFound, "resource_not_found")

	t.Run("related resources must exist", func(t *testing.T) {
		r := licence("licence.drugs")
		r.Related = []string{"licence.food-business", "licence.nothing"}
		_, err := s.RegisterResource(ctx, alice, r)
		wantErr(t, err, govx.KindInvalid, "related_not_found")
		r.Related = []string{"licence.food-business", "population.identity"} // a retired one is still catalogued
		if _, err := s.RegisterResource(ctx, alice, r); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown provider", func(t *testing.T) {
		r := licence("tax.income")
		r.Provider = "tax"
		_, err := s.RegisterResource(ctx, alice, r)
		wantErr(t, err, govx.KindNotFound, "department_not_found")
	})
	t.Run("a hostile actor is stored harmlessly", func(t *testing.T) {
		hostile := catalog.Actor{Subject: "user:\x00eve\xff" + strings.Repeat("长", 100), Dept: "licence\x00"}
		if _, err := s.RegisterResource(ctx, hostile, licence("licence.hostile")); err != nil {
			t.Fatal(err)
		}
		vs, err := s.ResourceVersions(ctx, "licence.hostile")
		if err != nil {
			t.Fatal(err)
		}
		if a := vs[0].Actor; !strings.HasPrefix(a.Subject, "user:eve\uFFFD长") || len(a.Subject) > 200 || a.Dept != "licence" {
			t.Errorf("stored actor %q %q", a.Subject, a.Dept)
		}
	})
	t.Run("an actor is required", func(t *testing.T) {
		_, err := s.RegisterResource(ctx, catalog.Actor{}, licence("licence.anonymous"))
		wantErr(t, err, govx.KindInvalid, "actor_missing")
	})
}

// Concurrent changes of one resource are serialised by the row lock: none
// is lost, every one is a version.
func TestUpdateResourceConcurrently(t *testing.T) {
	ctx := context.Background()
	s, pool := mustLicenceStore(t)
	actor := catalog.Actor{Subject: "user:alice", Dept: "licence"}
	if _, err := s.RegisterResource(ctx, actor, licence("licence.food-business")); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.UpdateResource(ctx, "licence.food-business", actor, func(r *catalog.Resource) error {
				r.Summary += fmt.Sprintf("[%d]", i)
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	r, err := s.Resource(ctx, "licence.food-business")
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != n+1 || strings.Count(r.Summary, "[") != n {
		t.Errorf("after %d concurrent updates: version %d, summary %q", n, r.Version, r.Summary)
	}
	if v := count(t, pool, `SELECT count(*) FROM catalog.resource_versions WHERE code = 'licence.food-business'`); v != n+1 {
		t.Errorf("%d versions, want %d", v, n+1)
	}
}

// A change whose audit row cannot be written leaves nothing behind: not
// the resource row, not its version.
func TestNothingHalfWritten(t *testing.T) {
	ctx := context.Background()
	s, pool := mustLicenceStore(t)
	if _, err := pool.Exec(ctx, `CREATE FUNCTION catalog.fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.subject = 'user:doomed' THEN RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER fail_audit BEFORE INSERT ON catalog.resource_audit FOR EACH ROW EXECUTE FUNCTION catalog.fail_audit();`); err != nil {
		t.Fatal(err)
	}
	doomed := catalog.Actor{Subject: "user:doomed", Dept: "licence"}
	if _, err := s.RegisterResource(ctx, doomed, licence("licence.food-business")); err == nil {
		t.Fatal("register succeeded though its audit row failed")
	}
	if n := count(t, pool, `SELECT count(*) FROM catalog.resources WHERE code = 'licence.food-business'`) +
		count(t, pool, `SELECT count(*) FROM catalog.resource_versions WHERE code = 'licence.food-business'`); n != 0 {
		t.Errorf("a failed register left %d rows", n)
	}

	alice := catalog.Actor{Subject: "user:alice", Dept: "licence"}
	if _, err := s.RegisterResource(ctx, alice, licence("licence.food-business")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateResource(ctx, "licence.food-business", doomed, func(r *catalog.Resource) error { r.Name = "doomed"; return nil }); err == nil {
		t.Fatal("update succeeded though its audit row failed")
	}
	r, err := s.Resource(ctx, "licence.food-business")
	if err != nil || r.Name != licence("").Name || r.Version != 1 {
		t.Errorf("after a failed update: %+v, %v", r, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM catalog.resource_versions WHERE code = 'licence.food-business'`); n != 1 {
		t.Errorf("%d versions after a failed update, want 1", n)
	}
}

func TestHistoryIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	_, pool := mustSeeded(t)
	for _, sql := range []string{
		`UPDATE catalog.resource_audit SET subject = 'someone else'`,
		`DELETE FROM catalog.resource_audit`,
		`TRUNCATE catalog.resource_audit`,
		`UPDATE catalog.resource_versions SET resource = '{}'`,
		`DELETE FROM catalog.resource_versions`,
		`TRUNCATE catalog.resource_versions CASCADE`,
	} {
		t.Run(sql, func(t *testing.T) {
			if _, err := pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want refused as append-only", sql, err)
			}
		})
	}
	if n := count(t, pool, `SELECT count(*) FROM catalog.resource_audit`); n != 2 {
		t.Errorf("%d audit rows, want the seed's 2 (population.identity, population.household)", n)
	}
}

func TestSearchResources(t *testing.T) {
	ctx := context.Background()
	s, _ := mustLicenceStore(t)
	actor := catalog.Actor{Subject: "user:alice", Dept: "licence"}
	for i, code := range []string{"licence.a-food", "licence.b-drugs", "licence.c-transport", "licence.d-building", "licence.e-pure"} {
		r := licence(code)
		r.Name = fmt.Sprintf("Licence %d", i)
		if i%2 == 1 {
			r.Sharing, r.Conditions, r.OpenClass = catalog.Conditional, "licensing cases", catalog.NotOpen
		}
		if i == 4 {
			r.Name = "Licence 100%_pure"
		}
		if i == 3 {
			r.Fields = append(r.Fields, catalog.Field{Name: "floor_area", Type: "double"})
		}
		if _, err := s.RegisterResource(ctx, actor, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateResource(ctx, "licence.c-transport", actor, func(r *catalog.Resource) error { r.Status = "retired"; return nil }); err != nil {
		t.Fatal(err)
	}
	codes := func(res *catalog.SearchResult) []string {
		var out []string
		for _, r := range res.Resources {
			out = append(out, r.Code)
		}
		return out
	}
	tests := []struct {
		name  string
		q     catalog.SearchQuery
		want  []string
		total int
	}{
		{"everything active", catalog.SearchQuery{}, []string{"licence.a-food", "licence.b-drugs", "licence.d-building", "licence.e-pure", "population.household", "population.identity"}, 6},
		{"by provider", catalog.SearchQuery{Provider: "population"}, []string{"population.household", "population.identity"}, 2},
		{"by field name", catalog.SearchQuery{Text: "FLOOR"}, []string{"licence.d-building"}, 1},
		{"by name", catalog.SearchQuery{Text: "居民身份"}, []string{"population.identity"}, 1},
		{"by summary", catalog.SearchQuery{Text: "as held in the household register"}, []string{"population.identity"}, 1},
		{"keyword with % and _ taken literally", catalog.SearchQuery{Text: "0%_p"}, []string{"licence.e-pure"}, 1},
		{"a lone % matches only a %", catalog.SearchQuery{Text: "%"}, []string{"licence.e-pure"}, 1},
		{"by sharing", catalog.SearchQuery{Sharing: catalog.Conditional}, []string{"licence.b-drugs", "licence.d-building", "population.household"}, 3},
		{"by open class", catalog.SearchQuery{OpenClass: catalog.Open, Provider: "licence"}, []string{"licence.a-food", "licence.e-pure"}, 2},
		{"retired", catalog.SearchQuery{Status: "retired"}, []string{"licence.c-transport"}, 1},
		{"all", catalog.SearchQuery{Status: "all", Text: "licence."}, []string{"licence.a-food", "licence.b-drugs", "licence.c-transport", "licence.d-building", "licence.e-pure"}, 5},
		{"nothing", catalog.SearchQuery{Text: "tax"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.SearchResources(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(res); !slices.Equal(got, tt.want) || res.Total != tt.total || res.Next != "" {
				t.Errorf("got %v total %d next %q, want %v total %d", got, res.Total, res.Next, tt.want, tt.total)
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		var all []string
		q := catalog.SearchQuery{Status: "all", Limit: 2}
		for page := 0; ; page++ {
			res, err := s.SearchResources(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != 7 || len(res.Resources) > 2 {
				t.Fatalf("page %d: %d resources, total %d", page, len(res.Resources), res.Total)
			}
			all = append(all, codes(res)...)
			if res.Next == "" {
				break
			}
			if page > 5 {
				t.Fatal("paging does not end")
			}
			q.Cursor = res.Next
		}
		want := []string{"licence.a-food", "licence.b-drugs", "licence.c-transport", "licence.d-building", "licence.e-pure", "population.household", "population.identity"}
		if !slices.Equal(all, want) {
			t.Errorf("pages = %v, want %v", all, want)
		}
	})

	for _, tt := range []struct {
		name string
		q    catalog.SearchQuery
		code string
	}{
		{"limit 0 is the default, negative is not", catalog.SearchQuery{Limit: -1}, "invalid_limit"},
		{"limit over 100", catalog.SearchQuery{Limit: 101}, "invalid_limit"},
		{"unknown sharing", catalog.SearchQuery{Sharing: "sometimes"}, "invalid_sharing"},
		{"unknown open class", catalog.SearchQuery{OpenClass: "public"}, "invalid_open_class"},
		{"unknown status", catalog.SearchQuery{Status: "deleted"}, "invalid_status"},
		{"provider of the wrong shape", catalog.SearchQuery{Provider: "'; DROP TABLE x"}, "invalid_provider"},
		{"unknown provider", catalog.SearchQuery{Provider: "tax"}, "unknown_provider"},
		{"NUL in keyword", catalog.SearchQuery{Text: "a\x00"}, "invalid_query"},
		{"keyword too long", catalog.SearchQuery{Text: strings.Repeat("x", 101)}, "invalid_query"},
		{"cursor not base64", catalog.SearchQuery{Cursor: "!!!"}, "invalid_cursor"},
		{"cursor not a code", catalog.SearchQuery{Cursor: "Tk9QRQ"}, "invalid_cursor"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.SearchResources(ctx, tt.q)
			wantErr(t, err, govx.KindInvalid, tt.code)
		})
	}
}

func TestSeedDemoMetadata(t *testing.T) {
	ctx := context.Background()
	s, pool := mustSeeded(t)
	if err := catalog.SeedDemo(ctx, s); err != nil {
		t.Fatal(err)
	}
	r, err := s.Resource(ctx, "population.identity")
	if err != nil {
		t.Fatal(err)
	}
	if r.Classification == "" || r.Format != "avro" || !slices.Equal(r.Methods, []string{"query", "subscribe"}) ||
		r.OpenClass != catalog.NotOpen || r.UpdateCycle != "real-time" || !strings.Contains(r.LegalBasis, "《中华人民共和国居民身份证法》") ||
		r.PublishedOn != "2025-01-01" || r.ProviderName == "" || r.Version != 1 {
		t.Errorf("population.identity = %+v; want its full catalogue metadata at version 1", r)
	}
	if err := r.Validate(); err != nil {
		t.Errorf("the seeded resource does not validate: %v", err)
	}
	// The data items' labels and the enumerations' come back from the store.
	for _, c := range []struct{ got, want string }{
		{r.FieldLabel("status", "zh"), "户籍状态"}, {r.FieldLabel("status", "en"), "Status"},
		{r.ValueLabel("status", "moved_out", "zh"), "已迁出"}, {r.ValueLabel("status", "moved_out", "en"), "Moved out"},
		{r.ValueLabel("sex", "female", "en"), "Female"},
		{r.ValueLabel("status", "unheard_of", "zh"), "unheard_of"}, // not listed: as it is
		{r.FieldLabel("no_such_item", "zh"), "no_such_item"},
	} {
		if c.got != c.want {
			t.Errorf("label %q, want %q", c.got, c.want)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM catalog.resource_versions`); n != 2 {
		t.Errorf("%d versions after seeding twice, want 2 (one per demo resource)", n)
	}
}

// A database migrated before versioning gets every resource's current state
// as its first version.
func TestMigrationBackfillsVersions(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewPool(t)
	all := catalog.MigrationSource()
	old := fstest.MapFS{}
	names, _ := fs.Glob(all.FS, "*.sql")
	for _, name := range names {
		if name < "005" {
			b, _ := fs.ReadFile(all.FS, name)
			old[name] = &fstest.MapFile{Data: b}
		}
	}
	if _, err := postgres.Migrate(ctx, pool, postgres.Source{Name: all.Name, FS: old}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO catalog.departments (code, name) VALUES ('population', 'Population');
		INSERT INTO catalog.resources (code, name, provider, key_type, fields, sharing, schema_subject, published_on, related)
		VALUES ('population.identity', 'Identity', 'population', 'id_number', '[{"name":"id_number","type":"string","personal":true}]',
			'unconditional', 'population.identity', '2024-05-06', '{population.households}')`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Migrate(ctx, pool, all); err != nil {
		t.Fatal(err)
	}
	s := catalog.NewStore(pool)
	vs, err := s.ResourceVersions(ctx, "population.identity")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := s.Resource(ctx, "population.identity")
	if err != nil {
		t.Fatal(err)
	}
	cur.ProviderName = ""
	if len(vs) != 1 || vs[0].Action != "register" || vs[0].Version != 1 {
		t.Fatalf("versions = %+v", vs)
	}
	if got := *vs[0].Resource; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", *cur) {
		t.Errorf("backfilled version\n got %+v\nwant %+v", got, *cur)
	}
}

// What a caller sends as a resource either validates into something the
// catalogue can store and serve, or is refused with a stable code; it never
// panics.
func FuzzResourceValidate(f *testing.F) {
	f.Add(`{"code":"licence.food","name":"x","provider":"licence","key_type":"uscc","fields":[{"name":"a","type":"string"}],"sharing":"unconditional"}`)
	f.Add(`{"code":"a.b","name":"x\u0000","provider":"p1","key_type":"holder","fields":[{"name":"a","type":"date"},{"name":"a","type":"date"}],"sharing":"conditional","published_on":"2024-02-29"}`)
	f.Add(`{"related":["a.b","a.b"],"methods":["bulk","fax"],"open_class":"open"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var r catalog.Resource
		if json.Unmarshal([]byte(body), &r) != nil {
			return
		}
		err := r.Validate()
		if err == nil {
			if !catalog.ValidCode(r.Code) || !catalog.ValidDepartmentCode(r.Provider) || len(r.Fields) == 0 ||
				strings.ContainsRune(r.Name+r.Summary+r.Conditions+r.LegalBasis, 0) {
				t.Errorf("Validate accepted %+v", r)
			}
			return
		}
		if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) == "internal" {
			t.Errorf("Validate(%s) = %v: not an Invalid error with a code", body, err)
		}
	})
}
