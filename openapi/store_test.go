package openapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"govx"
	"govx/internal/postgres/postgrestest"
	"govx/openapi"
)

var testKey = []byte("cursor-key-for-tests")

func newStore(t testing.TB) *openapi.Store {
	t.Helper()
	return openapi.NewStore(postgrestest.NewMigrated(t, openapi.MigrationSource()))
}

func mustPut(t testing.TB, s *openapi.Store, dept, id string) {
	t.Helper()
	if _, err := s.PutDataset(context.Background(), dept, id, openapi.Meta{Title: "Test " + id, Theme: "economy", Keywords: []string{"food"}}); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t testing.TB, s *openapi.Store, dept, id, csv string) *openapi.Version {
	t.Helper()
	v, err := s.Load(context.Background(), dept, id, nil, strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const shops = `id,name,district,licensed_on,active,score
1,Noodle House,Futian,2025-01-03,true,4.5
2,"Tea, Coffee & Co",Nanshan,2025-02-11,false,3.75
3,Dumpling King,Futian,2025-03-01,true,
4,Bakery 24,Luohu,,true,4
5,"Say ""Cheese""",Nanshan,2025-05-30,yes,2.0
`

func TestLoadInfersTypesAndRecordsSizes(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "market-regulation", "shops")
	v := mustLoad(t, s, "market-regulation", "shops", shops)
	want := "id:integer,name:text,district:text,licensed_on:date,active:boolean,score:number"
	var got []string
	for _, c := range v.Columns {
		got = append(got, c.Name+":"+string(c.Type))
	}
	if strings.Join(got, ",") != want {
		t.Fatalf("columns = %s, want %s", strings.Join(got, ","), want)
	}
	if v.Number != 1 || v.Rows != 5 {
		t.Fatalf("version %d with %d rows, want 1 with 5", v.Number, v.Rows)
	}
	for _, f := range []openapi.Format{openapi.CSV, openapi.JSON, openapi.NDJSON} {
		var b strings.Builder
		q, err := openapi.ParseQuery(url.Values{}, v.Columns)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Export(context.Background(), v, q, f, &b, func() {}); err != nil {
			t.Fatal(err)
		}
		size := map[openapi.Format]int64{openapi.CSV: v.CSVBytes, openapi.JSON: v.JSONBytes, openapi.NDJSON: v.NDJSONBytes}[f]
		if int64(b.Len()) != size {
			t.Errorf("%s export is %d bytes, recorded size %d:\n%s", f, b.Len(), size, b.String())
		}
	}
}

func TestMalformedUploadKeepsPreviousVersion(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "market-regulation", "shops")
	mustLoad(t, s, "market-regulation", "shops", shops)
	cases := map[string]struct{ csv, msg string }{
		"wrong type":     {"id,licensed_on\n1,2025-01-01\n2,not-a-date\n", "line 3: column licensed_on"},
		"short row":      {"id,name\n1,a\n2\n", "line 3: 1 fields, the header has 2"},
		"bad quote":      {"id,name\n1,\"a\n", "line 2"},
		"empty":          {"", "line 1"},
		"bad header":     {"id,Name!\n1,a\n", "line 1"},
		"duplicate name": {"id,id\n1,2\n", "line 1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var cols []openapi.Column
			if name == "wrong type" {
				cols = []openapi.Column{{Name: "id", Type: openapi.Integer}, {Name: "licensed_on", Type: openapi.Date}}
			}
			_, err := s.Load(context.Background(), "market-regulation", "shops", cols, strings.NewReader(c.csv))
			if govx.ErrorCode(err) != "csv_invalid" || !strings.Contains(govx.ErrorMessage(err), c.msg) {
				t.Fatalf("err = %v (%s), want csv_invalid with %q", err, govx.ErrorCode(err), c.msg)
			}
			v, err := s.Version(context.Background(), "shops", 0)
			if err != nil || v.Number != 1 || v.Rows != 5 {
				t.Fatalf("latest after a failed upload = %+v, %v; want version 1 with 5 rows", v, err)
			}
		})
	}
	// The next good upload is version 2: failed ones used no number.
	if v := mustLoad(t, s, "market-regulation", "shops", shops); v.Number != 2 {
		t.Fatalf("next version = %d, want 2", v.Number)
	}
	if _, err := s.Load(context.Background(), "health", "shops", nil, strings.NewReader(shops)); govx.ErrorCode(err) != "not_publisher" {
		t.Fatalf("another department's upload: %v, want not_publisher", err)
	}
}

func records(t *testing.T, s *openapi.Store, id string, version int, q url.Values) (*openapi.Page, error) {
	t.Helper()
	v, err := s.Version(context.Background(), id, version)
	if err != nil {
		return nil, err
	}
	pq, err := openapi.ParseQuery(q, v.Columns)
	if err != nil {
		return nil, err
	}
	return s.Records(context.Background(), id, version, pq, testKey)
}

func TestFiltersReturnExactlyTheMatchingRows(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "market-regulation", "shops")
	mustLoad(t, s, "market-regulation", "shops", shops)
	cases := []struct {
		filters []string
		sort    string
		want    string
	}{
		{[]string{"district:eq:Futian"}, "", `[{"id":1},{"id":3}]`},
		{[]string{"district:ne:Futian"}, "", `[{"id":2},{"id":4},{"id":5}]`},
		{[]string{"score:gte:3.75"}, "-score", `[{"id":1},{"id":4},{"id":2}]`},
		{[]string{"score:lt:4"}, "", `[{"id":2},{"id":5}]`},
		{[]string{"score:lte:4", "active:eq:true"}, "", `[{"id":4},{"id":5}]`},
		{[]string{"licensed_on:gt:2025-02-11"}, "", `[{"id":3},{"id":5}]`},
		{[]string{"id:in:1,4,9"}, "-id", `[{"id":4},{"id":1}]`},
		{[]string{`name:in:Tea\, Coffee & Co,Bakery 24`}, "", `[{"id":2},{"id":4}]`},
		{[]string{"name:prefix:D"}, "", `[{"id":3}]`},
		{[]string{"active:eq:false"}, "", `[{"id":2}]`},
		{nil, "district,-id", `[{"id":3},{"id":1},{"id":4},{"id":5},{"id":2}]`},
		{nil, "licensed_on", `[{"id":1},{"id":2},{"id":3},{"id":5},{"id":4}]`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.filters, "&")+" sort "+c.sort, func(t *testing.T) {
			q := url.Values{"fields": {"id"}, "filter": c.filters, "count": {"true"}}
			if c.sort != "" {
				q.Set("sort", c.sort)
			}
			p, err := records(t, s, "shops", 0, q)
			if err != nil {
				t.Fatal(err)
			}
			if string(p.Records) != c.want {
				t.Fatalf("records = %s, want %s", p.Records, c.want)
			}
			if *p.Total != int64(p.N) {
				t.Fatalf("total = %d, served %d", *p.Total, p.N)
			}
		})
	}
	bad := map[string]url.Values{
		"unknown_column":  {"filter": {"nope:eq:1"}},
		"filter_invalid":  {"filter": {"id:eq:abc"}},
		"limit_too_large": {"limit": {"1001"}},
	}
	for code, q := range bad {
		if _, err := records(t, s, "shops", 0, q); govx.ErrorCode(err) != code {
			t.Errorf("%v: err = %v, want %s", q, err, code)
		}
	}
}

// Keyset paging while new versions are published serves every row of the
// version the first page came from exactly once.
func TestPagingWhilePublishingServesEveryRowOnce(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "statistics", "readings")
	var b strings.Builder
	b.WriteString("seq,station,value,note\n")
	for i := range 250 {
		note := ""
		if i%7 != 0 {
			note = fmt.Sprint("n", i%13)
		}
		fmt.Fprintf(&b, "%d,s%d,%d,%s\n", i, i%9, i%17, note)
	}
	for _, sort := range []string{"", "station,-value", "-note,value", "note", "-value", "-note", "-note,-seq"} {
		t.Run("sort="+sort, func(t *testing.T) {
			mustLoad(t, s, "statistics", "readings", b.String())
			seen := map[string]int{}
			q := url.Values{"limit": {"17"}, "filter": {"value:gte:2"}}
			if sort != "" {
				q.Set("sort", sort)
			}
			pages := 0
			for {
				p, err := records(t, s, "readings", 0, q)
				if err != nil {
					t.Fatal(err)
				}
				if pages == 0 {
					// A new version with other rows appears mid-paging.
					mustLoad(t, s, "statistics", "readings", "seq,station,value,note\n999,X,99,zz\n")
				}
				pages++
				for _, r := range strings.Split(strings.Trim(string(p.Records), "[]"), "},{") {
					seen[r]++
				}
				if p.Cursor == "" {
					break
				}
				q.Set("cursor", p.Cursor)
			}
			want := 0
			for i := range 250 {
				if i%17 >= 2 {
					want++
				}
			}
			if len(seen) != want {
				t.Fatalf("%d distinct rows, want %d", len(seen), want)
			}
			for r, n := range seen {
				if n != 1 || strings.Contains(r, `"seq":999`) {
					t.Fatalf("row %s served %d times", r, n)
				}
			}
		})
	}
}

func TestTamperedCursorIsRefused(t *testing.T) {
	s := newStore(t)
	mustPut(t, s, "market-regulation", "shops")
	mustLoad(t, s, "market-regulation", "shops", shops)
	p, err := records(t, s, "shops", 0, url.Values{"limit": {"2"}})
	if err != nil || p.Cursor == "" {
		t.Fatalf("first page: %v, cursor %q", err, p.Cursor)
	}
	tampered := []byte(p.Cursor)
	tampered[3] ^= 1
	for name, q := range map[string]url.Values{
		"tampered":      {"limit": {"2"}, "cursor": {string(tampered)}},
		"garbage":       {"cursor": {"not-a-cursor"}},
		"other filters": {"limit": {"2"}, "cursor": {p.Cursor}, "filter": {"id:gt:0"}},
		"other sort":    {"limit": {"2"}, "cursor": {p.Cursor}, "sort": {"id"}},
	} {
		if _, err := records(t, s, "shops", 0, q); govx.ErrorCode(err) != "cursor_invalid" {
			t.Errorf("%s: err = %v, want cursor_invalid", name, err)
		}
	}
}
