package licence

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx/openapi"
)

// OpenSources are the register's open-data sources (许可信息公示), one per
// licence type, by catalogue resource (Resource).
func OpenSources(pool *pgxpool.Pool) map[string]openapi.Source {
	store := NewStore(pool, nil)
	out := map[string]openapi.Source{}
	for _, typ := range Types {
		out[Resource(typ)] = openSource{store: store, typ: typ}
	}
	return out
}

// openSource opens a licence type's register as open data: each licence
// held by a company, with its holder, issuer, dates and effective status —
// never the seal, the face items or a natural person's licence
// (Store.EachPublic).
type openSource struct {
	store *Store
	typ   string
}

func (s openSource) Columns() []openapi.Column {
	return []openapi.Column{{Name: "number", Type: openapi.Text}, {Name: "holder_name", Type: openapi.Text},
		{Name: "holder_code", Type: openapi.Text}, {Name: "authority", Type: openapi.Text},
		{Name: "issue_date", Type: openapi.Date}, {Name: "valid_from", Type: openapi.Date},
		{Name: "valid_until", Type: openapi.Date}, {Name: "status", Type: openapi.Text}}
}

func (s openSource) Rows(ctx context.Context, yield func([]string) error) error {
	return s.store.EachPublic(ctx, s.typ, func(l Licence) error {
		return yield([]string{l.Number, l.HolderName, l.HolderCode, l.Authority, l.IssueDate.Format(time.DateOnly),
			l.ValidFrom.Format(time.DateOnly), l.ValidUntil.Format(time.DateOnly), l.Status})
	})
}
