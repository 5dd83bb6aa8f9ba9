package openapi

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var fuzzCols = []Column{{"id", Integer}, {"name", Text}, {"price", Number}, {"open", Boolean}, {"day", Date}, {"at", Timestamp}}

var quotedIdent = regexp.MustCompile(`"([^"]*)"`)

// FuzzParseFilter: whatever a client sends, the parser either refuses it
// or yields a query whose SQL names only declared columns and carries every
// value as a parameter.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"id:eq:1", "name:in:a\\,b,c", "price:gte:1e3", "day:lt:2025-01-01", "at:gt:2025-01-01T00:00:00Z",
		"name:prefix:Fo", "open:eq:yes", `name:eq:x"; DROP TABLE t; --`, "id::", ":eq:1", "name:in:\\"} {
		f.Add(s, "-price,name", "id,name")
	}
	f.Fuzz(func(t *testing.T, filter, sort, fields string) {
		q, err := ParseQuery(url.Values{"filter": {filter}, "sort": {sort}, "fields": {fields}}, fuzzCols)
		if err != nil {
			return
		}
		key := "k"
		last := "v"
		for _, s := range []string{mustSQL(q, nil), mustSQL(q, &cursor{Version: 1, Keys: make([]*string, len(q.Sort)), Row: 3}),
			mustSQL(q, &cursor{Version: 1, Keys: repeat(&last, len(q.Sort)), Row: 3})} {
			for _, m := range quotedIdent.FindAllStringSubmatch(s, -1) {
				name := m[1]
				if name == "opendata_rows" || name == key || strings.HasPrefix(name, "YYYY") || name == "T" || name == "Z" {
					continue
				}
				if _, err := lookup(fuzzCols, name); err != nil {
					t.Fatalf("SQL names %q, not a declared column: %s", name, s)
				}
			}
			for _, f := range q.Filters {
				for _, v := range f.Values {
					if len(v) > 3 && strings.Contains(s, v) && f.Column.Type == Text {
						t.Fatalf("value %q inlined in SQL: %s", v, s)
					}
				}
			}
		}
	})
}

func repeat(s *string, n int) []*string {
	out := make([]*string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func mustSQL(q *Query, c *cursor) string {
	s, _ := q.pageSQL(`"opendata_rows"."k"`, c)
	return s
}
