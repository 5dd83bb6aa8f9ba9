package openapi

import (
	"context"
	"slices"
	"strings"

	"govx"
	"govx/internal/postgres"
)

// SearchQuery finds datasets. Empty fields match everything.
type SearchQuery struct {
	Text      string // in title, description or keywords, case-insensitive
	Publisher string
	Theme     string
	Format    Format // datasets with a version offer every format
	Limit     int    // 1..100, default 20
	Offset    int
}

// Facet is one value of a facet and how many matching datasets have it.
type Facet struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// SearchResult is one page of matching datasets, the total, and facet
// counts over every match.
type SearchResult struct {
	Datasets []*Dataset
	Total    int
	Facets   map[string][]Facet // publisher, theme, format
}

// Search lists datasets matching q, newest modified first.
func (s *Store) Search(ctx context.Context, q SearchQuery) (*SearchResult, error) {
	const op = "openapi.Store.Search"
	if q.Limit == 0 {
		q.Limit = 20
	}
	if q.Limit < 1 || q.Limit > 100 || q.Offset < 0 {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "paging_invalid", "limit is 1 to 100 and offset 0 or more"))
	}
	if q.Format != "" && q.Format != CSV && q.Format != JSON && q.Format != NDJSON {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "format_invalid", "format is csv, json or ndjson"))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+datasetColumns+` FROM opendata.datasets d
		WHERE ($1 = '' OR d.title ILIKE '%'||$1||'%' OR d.description ILIKE '%'||$1||'%'
		       OR EXISTS (SELECT 1 FROM unnest(d.keywords) k WHERE k ILIKE $1))
		  AND ($2 = '' OR d.publisher = $2) AND ($3 = '' OR d.theme = $3) AND ($4 = '' OR d.latest IS NOT NULL)
		ORDER BY d.modified DESC, d.id LIMIT 10000`, likeEscape(q.Text), q.Publisher, q.Theme, string(q.Format))
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	type row struct {
		d      Dataset
		latest *int
	}
	var all []row
	for rows.Next() {
		var r row
		d := &r.d
		if err := rows.Scan(&d.ID, &d.Meta.Title, &d.Meta.Description, &d.Publisher, &d.Meta.Theme, &d.Meta.Keywords,
			&d.Meta.Licence, &d.Meta.Frequency, &d.Meta.TemporalStart, &d.Meta.TemporalEnd, &d.Meta.Spatial, &d.Source,
			&d.Issued, &d.Modified, &r.latest); err != nil {
			rows.Close()
			return nil, postgres.Translate(op, err, "")
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	res := &SearchResult{Total: len(all), Datasets: []*Dataset{}, Facets: map[string][]Facet{}}
	counts := map[string]map[string]int{"publisher": {}, "theme": {}, "format": {}}
	for _, r := range all {
		counts["publisher"][r.d.Publisher]++
		if r.d.Meta.Theme != "" {
			counts["theme"][r.d.Meta.Theme]++
		}
		if r.latest != nil {
			for _, f := range []Format{CSV, JSON, NDJSON} {
				counts["format"][string(f)]++
			}
		}
	}
	for name, c := range counts {
		fs := []Facet{}
		for v, n := range c {
			fs = append(fs, Facet{v, n})
		}
		slices.SortFunc(fs, func(a, b Facet) int {
			if a.Count != b.Count {
				return b.Count - a.Count
			}
			return strings.Compare(a.Value, b.Value)
		})
		res.Facets[name] = fs
	}
	for i := q.Offset; i < len(all) && i < q.Offset+q.Limit; i++ {
		d := all[i].d
		if all[i].latest != nil {
			v, err := s.Version(ctx, d.ID, *all[i].latest)
			if err != nil {
				return nil, err
			}
			d.Latest = v
		}
		res.Datasets = append(res.Datasets, &d)
	}
	return res, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.TrimSpace(s))
}
