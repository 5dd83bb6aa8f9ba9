package catalog

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/postgres"
)

// Store keeps the catalogue in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// PutDepartment creates or updates a department.
func (s *Store) PutDepartment(ctx context.Context, d Department) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO catalog.departments (code, name, contact) VALUES ($1,$2,$3)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, contact = EXCLUDED.contact`,
		d.Code, d.Name, d.Contact)
	return postgres.Translate("catalog.PutDepartment", err, "department_not_found")
}

// PutResource creates or updates a resource.
func (s *Store) PutResource(ctx context.Context, r Resource) error {
	if r.Status == "" {
		r.Status = "active"
	}
	fields, err := json.Marshal(r.Fields)
	if err != nil {
		return govx.E("catalog.PutResource", err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO catalog.resources
		(code, name, provider, summary, key_type, fields, sharing, schema_subject, status)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, provider = EXCLUDED.provider,
			summary = EXCLUDED.summary, key_type = EXCLUDED.key_type, fields = EXCLUDED.fields,
			sharing = EXCLUDED.sharing, schema_subject = EXCLUDED.schema_subject,
			status = EXCLUDED.status, updated_at = now()`,
		r.Code, r.Name, r.Provider, r.Summary, r.KeyType, fields, string(r.Sharing), r.SchemaSubject, r.Status)
	return postgres.Translate("catalog.PutResource", err, "resource_not_found")
}

// Resource returns the resource with the given code. A retired or unknown
// resource is NotFound with code resource_not_found.
func (s *Store) Resource(ctx context.Context, code string) (*Resource, error) {
	const op = "catalog.Resource"
	var r Resource
	var fields []byte
	var sharing string
	err := s.pool.QueryRow(ctx, `SELECT code, name, provider, summary, key_type, fields, sharing, schema_subject, status
		FROM catalog.resources WHERE code = $1 AND status = 'active'`, code).
		Scan(&r.Code, &r.Name, &r.Provider, &r.Summary, &r.KeyType, &fields, &sharing, &r.SchemaSubject, &r.Status)
	if err != nil {
		err = postgres.Translate(op, err, "resource_not_found")
		if govx.ErrorKind(err) == govx.KindNotFound {
			return nil, &govx.Error{Kind: govx.KindNotFound, Code: "resource_not_found", Op: op,
				Message: fmt.Sprintf("no resource %q in the catalogue", code)}
		}
		return nil, err
	}
	r.Sharing = Sharing(sharing)
	if err := json.Unmarshal(fields, &r.Fields); err != nil {
		return nil, govx.E(op, err)
	}
	return &r, nil
}

// Providers lists the departments that provide at least one active resource.
func (s *Store) Providers(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT provider FROM catalog.resources WHERE status = 'active' ORDER BY provider`)
	if err != nil {
		return nil, postgres.Translate("catalog.Providers", err, "")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, postgres.Translate("catalog.Providers", err, "")
}
