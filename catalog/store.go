package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"

	"github.com/hamba/avro/v2"
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

// RegisterSchema stores schema as the next version of subject, or returns
// the id it already has there. Registrations of one subject are serialised
// so versions never collide.
func (s *Store) RegisterSchema(ctx context.Context, subject, schema string) (int, error) {
	const op = "catalog.RegisterSchema"
	parsed, err := avro.ParseWithCache(schema, "", &avro.SchemaCache{})
	if err != nil {
		return 0, &govx.Error{Kind: govx.KindInvalid, Code: "invalid_schema", Op: op,
			Message: fmt.Sprintf("schema does not parse: %v", err), Err: err}
	}
	// The canonical form makes whitespace and attribute order irrelevant.
	sum := sha256.Sum256([]byte(parsed.String()))
	fp := hex.EncodeToString(sum[:])

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('catalog.schemas:' || $1))`, subject); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	var id int
	err = tx.QueryRow(ctx, `SELECT id FROM catalog.schemas WHERE subject = $1 AND fingerprint = $2`, subject, fp).Scan(&id)
	if err == nil {
		return id, nil
	}
	if e := postgres.Translate(op, err, ""); govx.ErrorKind(e) != govx.KindNotFound {
		return 0, e
	}
	err = tx.QueryRow(ctx, `INSERT INTO catalog.schemas (subject, version, schema, fingerprint)
		SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM catalog.schemas WHERE subject = $1
		RETURNING id`, subject, schema, fp).Scan(&id)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	return id, nil
}

// SchemaByID returns the text of the schema with a global id.
func (s *Store) SchemaByID(ctx context.Context, id int) (string, error) {
	var text string
	err := pgx.ErrNoRows
	// Ids are serial (int4); a larger one, which a message from outside may
	// carry, cannot even be bound as a parameter and simply does not exist.
	if id > 0 && id <= math.MaxInt32 {
		err = s.pool.QueryRow(ctx, `SELECT schema FROM catalog.schemas WHERE id = $1`, id).Scan(&text)
	}
	if err != nil {
		err = postgres.Translate("catalog.SchemaByID", err, "schema_not_found")
		if govx.ErrorKind(err) == govx.KindNotFound {
			return "", &govx.Error{Kind: govx.KindNotFound, Code: "schema_not_found", Op: "catalog.SchemaByID",
				Message: fmt.Sprintf("no schema with id %d", id)}
		}
		return "", err
	}
	return text, nil
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
