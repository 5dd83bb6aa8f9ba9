package licence_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"govx"
	"govx/adapters/licence"
	"govx/catalog"
	"govx/internal/postgres/postgrestest"
)

func TestDefaultAuthority(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewMigrated(t, catalog.MigrationSource(), licence.MigrationSource())
	store := licence.NewStore(pool, nil)
	if code, err := store.DefaultAuthority(ctx); err != nil || code != "" {
		t.Fatalf("DefaultAuthority of an empty register = %q, %v; want none", code, err)
	}
	keys := mustGenerator(t).IssuerKeys()
	if err := store.PutIssuerKeys(ctx, keys); err != nil {
		t.Fatal(err)
	}
	var market, others []string
	for _, k := range keys {
		if strings.Contains(k.Authority.Name, "市场监督管理局") {
			market = append(market, k.Authority.Code)
		} else {
			others = append(others, k.Authority.Code)
		}
	}
	slices.Sort(market)
	slices.Sort(others)
	if len(market) < 2 || len(others) == 0 {
		t.Fatalf("the generator's authorities: %d market regulation, %d others", len(market), len(others))
	}
	// The market regulation bureau with the lowest code; once its key is
	// retired, the next; with none left, any authority with a key.
	for _, want := range []string{market[0], market[1]} {
		if code, err := store.DefaultAuthority(ctx); err != nil || code != want {
			t.Fatalf("DefaultAuthority = %q, %v; want %s", code, err, want)
		}
		if _, err := pool.Exec(ctx, `UPDATE licence.issuer_keys SET retired_at = now() WHERE authority_code = $1`, want); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE licence.issuer_keys SET retired_at = now() WHERE authority LIKE '%市场监督管理局%'`); err != nil {
		t.Fatal(err)
	}
	if code, err := store.DefaultAuthority(ctx); err != nil || code != others[0] {
		t.Fatalf("DefaultAuthority without market regulation keys = %q, %v; want %s", code, err, others[0])
	}
}

func TestOpenSources(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	sources := licence.OpenSources(e.pool)
	if len(sources) != len(licence.Types) {
		t.Fatalf("%d sources for %d licence types", len(sources), len(licence.Types))
	}
	src := sources[licence.ResourceFoodBusiness]
	if src == nil {
		t.Fatalf("no source for %s", licence.ResourceFoodBusiness)
	}
	var names []string
	for _, c := range src.Columns() {
		names = append(names, c.Name)
	}
	if want := []string{"number", "holder_name", "holder_code", "authority", "issue_date", "valid_from", "valid_until", "status"}; !slices.Equal(names, want) {
		t.Errorf("columns %v, want %v", names, want)
	}
	want := 0
	for i := range seeded {
		if l := e.gen.Licence(i); l.Type == licence.TypeFoodBusiness && govx.ValidateIDNumber(l.HolderCode) != nil {
			want++
		}
	}
	rows := 0
	err := src.Rows(ctx, func(row []string) error {
		rows++
		if len(row) != len(names) {
			t.Fatalf("row %v has %d values for %d columns", row, len(row), len(names))
		}
		if govx.ValidateIDNumber(row[2]) == nil || govx.ValidateUSCC(row[2]) != nil {
			t.Errorf("licence %s of a natural person or no company (%s) is open", row[0], row[2])
		}
		return nil
	})
	if err != nil || rows != want || rows == 0 {
		t.Errorf("Rows: %d rows, %v; want %d", rows, err, want)
	}
}
