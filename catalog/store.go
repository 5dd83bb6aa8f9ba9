package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/httpx"
	"govx/internal/postgres"
	"govx/schemas"
)

// Store keeps the catalogue in PostgreSQL.
type Store struct {
	pool  *pgxpool.Pool
	hooks changeHooks
}

func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// PutDepartment creates or updates a department.
func (s *Store) PutDepartment(ctx context.Context, d Department) error {
	const op = "catalog.PutDepartment"
	if err := d.Validate(); err != nil {
		return govx.E(op, err)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO catalog.departments (code, name, contact) VALUES ($1,$2,$3)
		ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, contact = EXCLUDED.contact`,
		d.Code, d.Name, d.Contact)
	if err != nil {
		return postgres.Translate(op, err, "department_not_found")
	}
	// Caches of the department list (PolicyCache) reread it.
	s.changed(ctx, DepartmentChange+d.Code)
	return nil
}

// DepartmentChange prefixes the code a change hook (OnChange) is called
// with when a department, not a resource, changed.
const DepartmentChange = "department:"

func departmentNotFound(op, code string) error {
	return &govx.Error{Kind: govx.KindNotFound, Code: "department_not_found", Op: op,
		Message: fmt.Sprintf("no department %q in the catalogue", httpx.Truncate(code, 64))}
}

// Department returns the department with the given code, NotFound
// department_not_found if there is none.
func (s *Store) Department(ctx context.Context, code string) (*Department, error) {
	const op = "catalog.Department"
	if !ValidDepartmentCode(code) {
		return nil, departmentNotFound(op, code)
	}
	var d Department
	err := s.pool.QueryRow(ctx, `SELECT code, name, contact FROM catalog.departments WHERE code = $1`, code).
		Scan(&d.Code, &d.Name, &d.Contact)
	if err != nil {
		err = postgres.Translate(op, err, "department_not_found")
		if govx.ErrorKind(err) == govx.KindNotFound {
			return nil, departmentNotFound(op, code)
		}
		return nil, err
	}
	return &d, nil
}

// Departments lists every department by code.
func (s *Store) Departments(ctx context.Context) ([]Department, error) {
	const op = "catalog.Departments"
	rows, err := s.pool.Query(ctx, `SELECT code, name, contact FROM catalog.departments ORDER BY code`)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Department, error) {
		var d Department
		err := row.Scan(&d.Code, &d.Name, &d.Contact)
		return d, err
	})
	if out == nil {
		out = []Department{}
	}
	return out, postgres.Translate(op, err, "")
}

// PutResource creates r, or makes the resource of r's code what r says, as
// SystemActor: every change is versioned and audited like any other, and
// putting what is already there changes nothing (so seeding is idempotent).
func (s *Store) PutResource(ctx context.Context, r Resource) error {
	const op = "catalog.PutResource"
	for range 2 {
		_, err := s.UpdateResource(ctx, r.Code, SystemActor, func(cur *Resource) error {
			*cur = *r.clone()
			return nil
		})
		if govx.ErrorCode(err) != "resource_not_found" {
			return govx.E(op, err)
		}
		_, err = s.RegisterResource(ctx, SystemActor, r)
		if govx.ErrorCode(err) != "resource_exists" { // else registered meanwhile: update it
			return govx.E(op, err)
		}
	}
	return &govx.Error{Kind: govx.KindConflict, Code: "retry", Op: op, Message: "concurrent change, retry"}
}

// PutResources puts a set of resources that may name each other as
// related (legal-entity.basic and legal-entity.status, say), in order. A new
// one that names one of the set not in yet goes in first without its
// relations and gets them once all are in; every other goes in whole, once. Each put is
// its own versioned change, as with PutResource.
func (s *Store) PutResources(ctx context.Context, rs ...Resource) error {
	const op = "catalog.PutResources"
	fresh := map[string]bool{}
	for _, r := range rs {
		if _, err := s.ResourceAnyStatus(ctx, r.Code); govx.ErrorCode(err) == "resource_not_found" {
			fresh[r.Code] = true
		} else if err != nil {
			return govx.E(op, err)
		}
	}
	var later []Resource
	for _, r := range rs {
		if fresh[r.Code] && slices.ContainsFunc(r.Related, func(c string) bool { return fresh[c] }) {
			bare := *r.clone()
			bare.Related = nil
			r, later = bare, append(later, r)
		}
		if err := s.PutResource(ctx, r); err != nil {
			return govx.E(op, err)
		}
		fresh[r.Code] = false
	}
	for _, r := range later {
		if err := s.PutResource(ctx, r); err != nil {
			return govx.E(op, err)
		}
	}
	return nil
}

// Publish registers a department (unless dept.Code is empty), the embedded
// schema (schemas/) of each of its resources and the resources themselves,
// which may name each other as related. It is idempotent: what a reference
// department publishes into the catalogue at start-up.
func (s *Store) Publish(ctx context.Context, dept Department, resources ...Resource) error {
	const op = "catalog.Publish"
	if dept.Code != "" {
		if err := s.PutDepartment(ctx, dept); err != nil {
			return govx.E(op, err)
		}
	}
	for _, r := range resources {
		text, err := schemas.Text(r.SchemaSubject)
		if err != nil {
			return govx.E(op, err)
		}
		if _, err := s.RegisterSchema(ctx, r.SchemaSubject, text); err != nil {
			return govx.E(op, err)
		}
	}
	return govx.E(op, s.PutResources(ctx, resources...))
}

// resourceColumns and resourceFrom read a whole resource, with its
// provider's name; scanResource takes them apart.
const (
	resourceColumns = `r.code, r.name, r.classification, r.provider, d.name, r.summary, r.format, r.key_type,
		r.fields, r.sharing, r.conditions, r.methods, r.open_class, r.update_cycle, r.legal_basis,
		coalesce(to_char(r.published_on, 'YYYY-MM-DD'), ''), r.related, r.schema_subject, r.status, r.version`
	resourceFrom = `catalog.resources r JOIN catalog.departments d ON d.code = r.provider`
)

func resourceNotFound(op, code string) error {
	return &govx.Error{Kind: govx.KindNotFound, Code: "resource_not_found", Op: op,
		Message: fmt.Sprintf("no resource %q in the catalogue", httpx.Truncate(code, 64))}
}

func (s *Store) resource(ctx context.Context, op, code string, activeOnly bool) (*Resource, error) {
	if !ValidCode(code) {
		return nil, resourceNotFound(op, code) // cannot be there, and may not even be storable text
	}
	r, err := scanResource(op, s.pool.QueryRow(ctx, `SELECT `+resourceColumns+` FROM `+resourceFrom+`
		WHERE r.code = $1 AND (r.status = 'active' OR NOT $2)`, code, activeOnly))
	if err != nil {
		err = postgres.Translate(op, err, "resource_not_found")
		if govx.ErrorKind(err) == govx.KindNotFound {
			return nil, resourceNotFound(op, code)
		}
		return nil, err
	}
	return r, nil
}

// Resource returns the active resource with the given code and all its
// metadata. A retired or unknown resource is NotFound with code
// resource_not_found: this is the exchange's lookup.
func (s *Store) Resource(ctx context.Context, code string) (*Resource, error) {
	return s.resource(ctx, "catalog.Resource", code, true)
}

// ResourceAnyStatus returns the resource with the given code whether it is
// active or retired: the catalogue's own view.
func (s *Store) ResourceAnyStatus(ctx context.Context, code string) (*Resource, error) {
	return s.resource(ctx, "catalog.ResourceAnyStatus", code, false)
}

func scanResource(op string, row pgx.Row) (*Resource, error) {
	var r Resource
	var fields []byte
	var sharing, openClass string
	err := row.Scan(&r.Code, &r.Name, &r.Classification, &r.Provider, &r.ProviderName, &r.Summary, &r.Format, &r.KeyType,
		&fields, &sharing, &r.Conditions, &r.Methods, &openClass, &r.UpdateCycle, &r.LegalBasis,
		&r.PublishedOn, &r.Related, &r.SchemaSubject, &r.Status, &r.Version)
	if err != nil {
		return nil, err
	}
	r.OpenClass = OpenClass(openClass)
	if len(r.Related) == 0 {
		r.Related = nil
	}
	r.Sharing = Sharing(sharing)
	if err := json.Unmarshal(fields, &r.Fields); err != nil {
		return nil, govx.E(op, err)
	}
	r.ConsentRequired = slices.ContainsFunc(r.Fields, func(f Field) bool { return f.Personal })
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

// PutRemoteDepartment makes sure the catalogue knows department dept of
// federation node node, as catalog.RemoteDepartment(node, dept), so that
// grants can be given to it and data subjects can consent to it. It
// returns that code. Only the federation's authenticated node links call
// it: a remote department is named by the node that vouches for it.
func (s *Store) PutRemoteDepartment(ctx context.Context, node, dept string) (string, error) {
	const op = "catalog.PutRemoteDepartment"
	code := RemoteDepartment(node, dept)
	if !ValidLocalDepartmentCode(node) || !ValidLocalDepartmentCode(dept) {
		return "", invalid("invalid_department_code", "remote department %q is not node/department", httpx.Truncate(code, 128))
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO catalog.departments (code, name, node) VALUES ($1, $1, $2)
		ON CONFLICT (code) DO NOTHING`, code, node)
	if err != nil {
		return "", postgres.Translate(op, err, "")
	}
	if tag.RowsAffected() > 0 {
		s.changed(ctx, DepartmentChange+code)
	}
	return code, nil
}
