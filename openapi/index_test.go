package openapi_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"govx"
	"govx/internal/postgres/postgrestest"
	"govx/openapi"
)

func TestDeclaredIndexIsBuiltAndServesFilteredSortedPages(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewMigrated(t, openapi.MigrationSource())
	s := openapi.NewStore(pool)
	mustPut(t, s, "market-regulation", "shops")
	v, err := s.LoadIndexed(ctx, "market-regulation", "shops", nil, [][]string{{"district", "score"}}, strings.NewReader(shops))
	if err != nil {
		t.Fatal(err)
	}
	var defs []string
	rows, err := pool.Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname='opendata_rows' AND tablename='shops_v1'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		defs = append(defs, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(defs, "\n"), "(district, score, _row)") {
		t.Fatalf("no (district, score, _row) index among:\n%s", strings.Join(defs, "\n"))
	}
	q, err := openapi.ParseQuery(url.Values{"filter": {"district:eq:Futian"}, "sort": {"-score"}, "fields": {"id"}}, v.Columns)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Records(ctx, "shops", 0, q, testKey)
	if err != nil {
		t.Fatal(err)
	}
	// Descending puts NULL first, as without the index.
	if got := string(p.Records); got != `[{"id":3},{"id":1}]` {
		t.Fatalf("records = %s", got)
	}
}

func TestBadDeclaredIndexIsRefusedBeforeAnythingIsWritten(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	mustPut(t, s, "market-regulation", "shops")
	for name, idx := range map[string][][]string{
		"unknown column": {{"district", "nope"}},
		"one column":     {{"district"}},
		"five columns":   {{"id", "name", "district", "score", "active"}},
		"twice":          {{"district", "district"}},
		"empty name":     {{"district", ""}},
		"nine indexes":   {{"id", "name"}, {"id", "name"}, {"id", "name"}, {"id", "name"}, {"id", "name"}, {"id", "name"}, {"id", "name"}, {"id", "name"}, {"id", "name"}},
	} {
		_, err := s.LoadIndexed(ctx, "market-regulation", "shops", nil, idx, strings.NewReader(shops))
		if govx.ErrorCode(err) != "index_invalid" || govx.ErrorKind(err) != govx.KindInvalid {
			t.Errorf("%s: err = %v, want index_invalid", name, err)
		}
	}
	if d, err := s.Dataset(ctx, "shops"); err != nil || d.Latest != nil {
		t.Fatalf("after refused uploads: latest %v, err %v", d.Latest, err)
	}
	if _, err := openapi.ParseIndexes([]string{"district, score", "id,name"}); err != nil {
		t.Fatalf("ParseIndexes: %v", err)
	}
	if _, err := openapi.ParseIndexes([]string{"district"}); govx.ErrorCode(err) != "index_invalid" {
		t.Fatalf("ParseIndexes of one column: %v", err)
	}
}
