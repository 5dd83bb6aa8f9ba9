package catalog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

// changeHooks are the functions OnChange registered.
type changeHooks struct {
	mu sync.RWMutex
	fs []func(ctx context.Context, code string)
}

// OnChange registers f to be called after every committed change of a
// resource (register, update, retire), with the resource's code. Hooks run
// synchronously, in registration order, on the goroutine that made the
// change (and after a department is put, with DepartmentChange and its
// code), with a context that is not cancelled when the caller's is: a
// cache must be invalidated even if the client went away. A hook must not
// block for long; it cannot undo the change.
func (s *Store) OnChange(f func(ctx context.Context, code string)) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.fs = append(s.hooks.fs, f)
}

func (s *Store) changed(ctx context.Context, code string) {
	s.hooks.mu.RLock()
	hooks := slices.Clone(s.hooks.fs)
	s.hooks.mu.RUnlock()
	ctx = context.WithoutCancel(ctx)
	for _, f := range hooks {
		f(ctx, code)
	}
}

// checkRefs checks, inside tx, that r's provider and related resources
// exist, and fills in the provider's name.
func checkRefs(ctx context.Context, tx pgx.Tx, op string, r *Resource) error {
	var providerName *string
	var missing []string
	err := tx.QueryRow(ctx, `SELECT (SELECT name FROM catalog.departments WHERE code = $1),
		coalesce((SELECT array_agg(c ORDER BY c) FROM unnest($2::text[]) c
			WHERE NOT EXISTS (SELECT 1 FROM catalog.resources WHERE code = c)), '{}')`,
		r.Provider, r.Related).Scan(&providerName, &missing)
	if err != nil {
		return postgres.Translate(op, err, "")
	}
	if providerName == nil {
		return departmentNotFound(op, r.Provider)
	}
	if len(missing) > 0 {
		return &govx.Error{Kind: govx.KindInvalid, Code: "related_not_found", Op: op,
			Message: fmt.Sprintf("related resource %q is not in the catalogue", missing[0])}
	}
	r.ProviderName = *providerName
	return nil
}

// writeHistory records version r.Version of r in full and the audit entry
// of the change, inside tx.
func writeHistory(ctx context.Context, tx pgx.Tx, op string, r *Resource, actor Actor, action string) error {
	snap := *r
	snap.ProviderName = "" // a department's name is not the resource's
	b, err := json.Marshal(snap)
	if err != nil {
		return govx.E(op, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO catalog.resource_versions (code, version, resource) VALUES ($1, $2, $3)`,
		r.Code, r.Version, b); err != nil {
		return postgres.Translate(op, err, "")
	}
	_, err = tx.Exec(ctx, `INSERT INTO catalog.resource_audit (subject, dept, action, code, version) VALUES ($1, $2, $3, $4, $5)`,
		storable(actor.Subject, 200), storable(actor.Dept, 100), action, r.Code, r.Version)
	return postgres.Translate(op, err, "")
}

// storable makes a token's claim storable text: valid UTF-8, no NUL, at
// most max bytes. A hostile claim must not make a change fail.
func storable(s string, max int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	for len(s) > max {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

func checkActor(op string, a Actor) error {
	if a.Subject == "" {
		return &govx.Error{Kind: govx.KindInvalid, Code: "actor_missing", Op: op, Message: "a catalogue change names who makes it"}
	}
	return nil
}

// RegisterResource adds a new resource as version 1, with its version and
// audit rows, in one transaction. Defaults: format avro, method query, open
// class not_open, schema subject the code, status active. Errors: Invalid
// from Validate, related_not_found (Invalid) for a related resource not in
// the catalogue, department_not_found (NotFound) for an unknown provider,
// resource_exists (Conflict) for a code already taken.
func (s *Store) RegisterResource(ctx context.Context, actor Actor, r Resource) (*Resource, error) {
	const op = "catalog.RegisterResource"
	if err := checkActor(op, actor); err != nil {
		return nil, err
	}
	r.normalize()
	r.Version, r.ProviderName = 1, ""
	if err := r.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	fields, err := json.Marshal(r.Fields)
	if err != nil {
		return nil, govx.E(op, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	if err := checkRefs(ctx, tx, op, &r); err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO catalog.resources
		(code, name, classification, provider, summary, format, key_type, fields, sharing, conditions,
		 methods, open_class, update_cycle, legal_basis, published_on, related, schema_subject, status, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
			nullif($15, '')::date, coalesce($16::text[], '{}'), $17, $18, $19)
		ON CONFLICT (code) DO NOTHING`,
		r.Code, r.Name, r.Classification, r.Provider, r.Summary, r.Format, r.KeyType, fields, string(r.Sharing), r.Conditions,
		r.Methods, string(r.OpenClass), r.UpdateCycle, r.LegalBasis, r.PublishedOn, r.Related, r.SchemaSubject, r.Status, r.Version)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if tag.RowsAffected() == 0 {
		return nil, &govx.Error{Kind: govx.KindConflict, Code: "resource_exists", Op: op,
			Message: fmt.Sprintf("resource %s is already in the catalogue", r.Code)}
	}
	if err := writeHistory(ctx, tx, op, &r, actor, ActionRegister); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	s.changed(ctx, r.Code)
	return &r, nil
}

func (r *Resource) clone() *Resource {
	out := *r
	out.Fields = slices.Clone(r.Fields)
	out.Methods = slices.Clone(r.Methods)
	out.Related = slices.Clone(r.Related)
	return &out
}

// UpdateResource changes the resource with the given code, active or
// retired, under a row lock: fn gets the current resource and changes it in
// place, or returns an error to change nothing (the domain's rules — who
// may change it, which version the caller saw — live in fn). The store
// fills in the defaults, validates the result, checks the provider and
// related resources, bumps the version and writes the resource, its new
// version and the audit entry in one transaction. The action is retire
// when the change retires an active resource, update otherwise. A change
// that changes nothing writes nothing and returns the resource as it is.
// The code never changes (code_immutable).
func (s *Store) UpdateResource(ctx context.Context, code string, actor Actor, fn func(*Resource) error) (*Resource, error) {
	const op = "catalog.UpdateResource"
	if err := checkActor(op, actor); err != nil {
		return nil, err
	}
	if !ValidCode(code) {
		return nil, resourceNotFound(op, code)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	cur, err := scanResource(op, tx.QueryRow(ctx, `SELECT `+resourceColumns+` FROM `+resourceFrom+`
		WHERE r.code = $1 FOR UPDATE OF r`, code))
	if err != nil {
		err = postgres.Translate(op, err, "resource_not_found")
		if govx.ErrorKind(err) == govx.KindNotFound {
			return nil, resourceNotFound(op, code)
		}
		return nil, err
	}
	next := cur.clone()
	if err := fn(next); err != nil {
		return nil, govx.E(op, err)
	}
	if next.Code != cur.Code {
		return nil, &govx.Error{Kind: govx.KindInvalid, Code: "code_immutable", Op: op,
			Message: fmt.Sprintf("the code of %s cannot change", cur.Code)}
	}
	next.normalize()
	next.Version = cur.Version
	if err := next.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	if next.equal(cur) {
		return cur, nil
	}
	next.Version = cur.Version + 1
	if err := checkRefs(ctx, tx, op, next); err != nil {
		return nil, err
	}
	fields, err := json.Marshal(next.Fields)
	if err != nil {
		return nil, govx.E(op, err)
	}
	_, err = tx.Exec(ctx, `UPDATE catalog.resources SET name = $2, classification = $3, provider = $4, summary = $5,
		format = $6, key_type = $7, fields = $8, sharing = $9, conditions = $10, methods = $11, open_class = $12,
		update_cycle = $13, legal_basis = $14, published_on = nullif($15, '')::date, related = coalesce($16::text[], '{}'),
		schema_subject = $17, status = $18, version = $19, updated_at = now()
		WHERE code = $1`,
		next.Code, next.Name, next.Classification, next.Provider, next.Summary, next.Format, next.KeyType, fields,
		string(next.Sharing), next.Conditions, next.Methods, string(next.OpenClass), next.UpdateCycle, next.LegalBasis,
		next.PublishedOn, next.Related, next.SchemaSubject, next.Status, next.Version)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	action := ActionUpdate
	if cur.Status == StatusActive && next.Status == StatusRetired {
		action = ActionRetire
	}
	if err := writeHistory(ctx, tx, op, next, actor, action); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	s.changed(ctx, code)
	return next, nil
}

// ResourceVersion is one version of a resource, as it was, with who made
// it, when and how.
type ResourceVersion struct {
	Version  int       `json:"version"`
	Action   string    `json:"action"`
	Actor    Actor     `json:"actor"`
	At       time.Time `json:"at"`
	Resource *Resource `json:"resource"`
}

// ResourceVersions returns every version of a resource, active or retired,
// oldest first.
func (s *Store) ResourceVersions(ctx context.Context, code string) ([]ResourceVersion, error) {
	const op = "catalog.ResourceVersions"
	if !ValidCode(code) {
		return nil, resourceNotFound(op, code)
	}
	rows, err := s.pool.Query(ctx, `SELECT v.version, a.action, a.subject, a.dept, a.at, v.resource
		FROM catalog.resource_versions v JOIN catalog.resource_audit a USING (code, version)
		WHERE v.code = $1 ORDER BY v.version`, code)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ResourceVersion, error) {
		var v ResourceVersion
		var b []byte
		if err := row.Scan(&v.Version, &v.Action, &v.Actor.Subject, &v.Actor.Dept, &v.At, &b); err != nil {
			return v, err
		}
		v.At = v.At.UTC()
		v.Resource = new(Resource)
		err := json.Unmarshal(b, v.Resource)
		// Versions written before consent_required existed derive it too.
		v.Resource.ConsentRequired = slices.ContainsFunc(v.Resource.Fields, func(f Field) bool { return f.Personal })
		return v, err
	})
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if len(out) == 0 {
		return nil, resourceNotFound(op, code)
	}
	return out, nil
}

// Status filters of a search.
const (
	SearchActive  = StatusActive
	SearchRetired = StatusRetired
	SearchAll     = "all"
)

// Search limits.
const (
	DefaultSearchLimit = 20
	MaxSearchLimit     = 100
)

// SearchQuery selects resources of the catalogue. Results are ordered by
// code, which makes paging stable: Cursor is the Next of the page before.
type SearchQuery struct {
	Text      string    // keyword, case-insensitive, in code, name, summary or a field name
	Provider  string    // department code
	Sharing   Sharing   // sharing class
	OpenClass OpenClass // open-data class
	Status    string    // active (the default), retired or all
	Limit     int       // 1..100; 0 means 20
	Cursor    string    // opaque; from SearchResult.Next
}

// SearchResult is one page of a search.
type SearchResult struct {
	Resources []*Resource `json:"resources"`
	Total     int         `json:"total"`          // matches over all pages
	Next      string      `json:"next,omitempty"` // cursor of the next page; empty on the last
}

// Validate checks the query's values and fills in the defaults. Errors are
// Invalid: invalid_query, invalid_provider, invalid_sharing,
// invalid_open_class, invalid_status, invalid_limit, invalid_cursor.
func (q *SearchQuery) Validate() error {
	if err := checkText("query", q.Text, 100, false, false); err != nil {
		return err
	}
	if q.Provider != "" && !ValidDepartmentCode(q.Provider) {
		return invalid("invalid_provider", "provider %q is not a department code", httpx.Truncate(q.Provider, 64))
	}
	if q.Sharing != "" && !ValidSharing(string(q.Sharing)) {
		return invalid("invalid_sharing", "sharing %q is not one of unconditional, conditional, not_shareable", httpx.Truncate(string(q.Sharing), 64))
	}
	if q.OpenClass != "" && !ValidOpenClass(string(q.OpenClass)) {
		return invalid("invalid_open_class", "open class %q is not one of open, conditionally_open, not_open", httpx.Truncate(string(q.OpenClass), 64))
	}
	switch q.Status {
	case "":
		q.Status = SearchActive
	case SearchActive, SearchRetired, SearchAll:
	default:
		return invalid("invalid_status", "status %q is not one of active, retired, all", httpx.Truncate(q.Status, 64))
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultSearchLimit
	case q.Limit < 1 || q.Limit > MaxSearchLimit:
		return invalid("invalid_limit", "limit %d is not between 1 and %d", q.Limit, MaxSearchLimit)
	}
	if _, err := decodeCursor(q.Cursor); err != nil {
		return err
	}
	return nil
}

func encodeCursor(code string) string { return base64.RawURLEncoding.EncodeToString([]byte(code)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !ValidCode(string(b)) {
		return "", invalid("invalid_cursor", "cursor is not one this API gave out")
	}
	return string(b), nil
}

// SearchResources returns one page of the resources q selects, and how
// many there are in all. The total and the page come from one snapshot.
func (s *Store) SearchResources(ctx context.Context, q SearchQuery) (*SearchResult, error) {
	const op = "catalog.SearchResources"
	if err := q.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	after, _ := decodeCursor(q.Cursor)
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	if q.Provider != "" {
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM catalog.departments WHERE code = $1)`, q.Provider).Scan(&known); err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		if !known {
			return nil, &govx.Error{Kind: govx.KindInvalid, Code: "unknown_provider", Op: op,
				Message: fmt.Sprintf("no department %q in the catalogue", q.Provider)}
		}
	}
	// strpos, not LIKE: the keyword is matched as it is, % and _ included.
	const where = `
		($1 = '' OR strpos(lower(r.code), lower($1)) > 0 OR strpos(lower(r.name), lower($1)) > 0
			OR strpos(lower(r.summary), lower($1)) > 0
			OR EXISTS (SELECT 1 FROM jsonb_array_elements(r.fields) f WHERE strpos(lower(f->>'name'), lower($1)) > 0))
		AND ($2 = '' OR r.provider = $2) AND ($3 = '' OR r.sharing = $3) AND ($4 = '' OR r.open_class = $4)
		AND ($5 = 'all' OR r.status = $5)`
	args := []any{q.Text, q.Provider, string(q.Sharing), string(q.OpenClass), q.Status}
	res := &SearchResult{Resources: []*Resource{}}
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM catalog.resources r WHERE`+where, args...).Scan(&res.Total); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	rows, err := tx.Query(ctx, `SELECT `+resourceColumns+` FROM `+resourceFrom+` WHERE`+where+`
		AND r.code > $6 ORDER BY r.code LIMIT $7`, append(args, after, q.Limit+1)...)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanResource(op, rows)
		if err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		res.Resources = append(res.Resources, r)
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if len(res.Resources) > q.Limit {
		res.Resources = res.Resources[:q.Limit]
		res.Next = encodeCursor(res.Resources[q.Limit-1].Code)
	}
	return res, nil
}
