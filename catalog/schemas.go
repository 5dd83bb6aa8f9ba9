package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
	"github.com/jackc/pgx/v5"

	"govx"
	"govx/internal/postgres"
)

// SchemaVersion is one version of a subject in the schema store.
type SchemaVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema  string `json:"schema"`
}

// LatestVersion asks SchemaVersion and CheckSchema for a subject's newest
// live version.
const LatestVersion = -1

// MaxSubjectLength bounds a subject name.
const MaxSubjectLength = 255

// ValidateSubject checks a subject name: 1 to 255 bytes of UTF-8 without
// control characters. Errors are Invalid with code invalid_subject.
func ValidateSubject(subject string) error {
	bad := func(why string) error {
		return govx.Errorf(govx.KindInvalid, "invalid_subject", "invalid subject %q: %s", truncate(subject, 60), why)
	}
	switch {
	case subject == "":
		return bad("it is empty")
	case len(subject) > MaxSubjectLength:
		return bad(fmt.Sprintf("longer than %d bytes", MaxSubjectLength))
	case !utf8.ValidString(subject):
		return bad("not UTF-8")
	case strings.IndexFunc(subject, unicode.IsControl) >= 0:
		return bad("it holds a control character")
	}
	return nil
}

// parseSchema parses schema text with a name cache of its own: two versions
// of one record must not resolve each other's named types.
func parseSchema(op, text string) (avro.Schema, error) {
	parsed, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		return nil, &govx.Error{Kind: govx.KindInvalid, Code: "invalid_schema", Op: op,
			Message: fmt.Sprintf("schema does not parse: %v", err), Err: err}
	}
	return parsed, nil
}

// fingerprint identifies a schema whatever its layout: the SHA-256 of its
// full JSON form as the parser writes it back, where attributes come in a
// fixed order and whitespace is gone. Not the Parsing Canonical Form: that
// drops defaults, aliases and docs, and two versions that differ only in a
// default are different versions. The "j:" prefix keeps these apart from
// canonical-form fingerprints stored before, which identity checks no
// longer read (they compare in Go, see liveVersions).
func fingerprint(s avro.Schema) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "j:" + hex.EncodeToString(sum[:]), nil
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// RegisterSchema stores schema as the next version of subject, or returns
// the id it already has there. A schema has one id wherever it is stored:
// registered under another subject, or again after a deletion, it keeps the
// id it was first given. A new version must be compatible with the
// subject's live versions under its compatibility mode: if not, the error
// is Conflict with code incompatible_schema and a message naming each
// change and the rule it breaks. A subject (or registry) in READONLY mode
// takes no new version (Conflict, operation_not_permitted); a schema it
// already holds is still answered with its id. Registrations of one subject
// are serialised so versions never collide; version numbers continue after
// a deletion.
func (s *Store) RegisterSchema(ctx context.Context, subject, schema string) (int, error) {
	const op = "catalog.RegisterSchema"
	if err := ValidateSubject(subject); err != nil {
		return 0, govx.E(op, err)
	}
	parsed, err := parseSchema(op, schema)
	if err != nil {
		return 0, err
	}
	fp, err := fingerprint(parsed)
	if err != nil {
		return 0, govx.E(op, err)
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	if err := lockSubject(ctx, tx, subject); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	live, err := liveVersions(ctx, tx, subject, 0)
	if err != nil {
		return 0, govx.E(op, err)
	}
	for _, v := range live {
		if v.fingerprint == fp {
			return v.ID, nil
		}
	}
	if err := writable(ctx, tx, op, subject); err != nil {
		return 0, err
	}
	mode, err := compatibility(ctx, tx, subject)
	if err != nil {
		return 0, govx.E(op, err)
	}
	if problems := CheckCompatibility(mode, parsed, priors(live)); len(problems) > 0 {
		return 0, incompatible(op, subject, mode, problems)
	}
	// Two subjects taking one new schema at once must agree on its id.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('catalog.schemas.id:' || $1))`, fp); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	known, err := schemaIDOf(ctx, tx, fp)
	if err != nil {
		return 0, govx.E(op, err)
	}
	var id int
	err = tx.QueryRow(ctx, `INSERT INTO catalog.schemas (subject, version, schema, fingerprint, schema_id)
		SELECT $1, coalesce(max(version), 0) + 1, $2, $3, nullif($4::int, 0) FROM catalog.schemas WHERE subject = $1
		RETURNING schema_id`, subject, schema, fp, known).Scan(&id)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	return id, nil
}

// schemaIDOf returns the id of the schema with fingerprint fp wherever it
// is stored, deleted versions included, or 0. Rows stored before the
// fingerprint took its present form are fingerprinted again here, once,
// and updated, so the lookup stays one indexed query.
func schemaIDOf(ctx context.Context, tx pgx.Tx, fp string) (int, error) {
	const op = "catalog.schemaIDOf"
	type legacy struct {
		id, schemaID int
		subject      string
		schema       string
	}
	rows, err := tx.Query(ctx, `SELECT id, schema_id, subject, schema FROM catalog.schemas
		WHERE fingerprint NOT LIKE 'j:%' ORDER BY schema_id`)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	var old []legacy
	for rows.Next() {
		var l legacy
		if err := rows.Scan(&l.id, &l.schemaID, &l.subject, &l.schema); err != nil {
			rows.Close()
			return 0, postgres.Translate(op, err, "")
		}
		old = append(old, l)
	}
	if err := rows.Err(); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	for _, l := range old {
		parsed, err := parseSchema(op, l.schema)
		if err != nil {
			continue // not ours to repair; it never matches
		}
		lfp, err := fingerprint(parsed)
		if err != nil {
			continue
		}
		// A live version takes the new form only where no other live
		// version of its subject has it (the unique index).
		if _, err := tx.Exec(ctx, `UPDATE catalog.schemas s SET fingerprint = $2 WHERE id = $1
			AND (deleted OR NOT EXISTS (SELECT 1 FROM catalog.schemas o
				WHERE o.subject = $3 AND o.fingerprint = $2 AND NOT o.deleted))`, l.id, lfp, l.subject); err != nil {
			return 0, postgres.Translate(op, err, "")
		}
	}
	var id *int
	if err := tx.QueryRow(ctx, `SELECT min(schema_id) FROM catalog.schemas WHERE fingerprint = $1`, fp).Scan(&id); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// maxProblems bounds how many broken rules one message lists.
const maxProblems = 20

func incompatible(op, subject string, mode Compatibility, problems []string) error {
	more := ""
	if len(problems) > maxProblems {
		more = fmt.Sprintf("; and %d more", len(problems)-maxProblems)
		problems = problems[:maxProblems]
	}
	return &govx.Error{Kind: govx.KindConflict, Code: "incompatible_schema", Op: op,
		Message: fmt.Sprintf("schema is incompatible with subject %q under %s: %s%s", truncate(subject, 100), mode, strings.Join(problems, "; "), more)}
}

func lockSubject(ctx context.Context, tx pgx.Tx, subject string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('catalog.schemas:' || $1))`, subject)
	return err
}

// storedVersion is a live version as read back, parsed.
type storedVersion struct {
	SchemaVersion
	parsed      avro.Schema
	fingerprint string
}

func priors(vs []storedVersion) []PriorVersion {
	out := make([]PriorVersion, len(vs))
	for i, v := range vs {
		out[i] = PriorVersion{Version: v.Version, Schema: v.parsed}
	}
	return out
}

// liveVersions returns the subject's versions that are not deleted, oldest
// first, parsed and fingerprinted; only the given one when version is not 0
// (LatestVersion for the newest). A subject has few versions, so identity
// is decided here rather than by the stored fingerprint, which older rows
// computed differently.
func liveVersions(ctx context.Context, q querier, subject string, version int) ([]storedVersion, error) {
	return parsedVersions(ctx, q, subject, version, false)
}

// parsedVersions is liveVersions, soft-deleted versions too when deleted.
func parsedVersions(ctx context.Context, q querier, subject string, version int, deleted bool) ([]storedVersion, error) {
	const op = "catalog.liveVersions"
	rows, err := q.Query(ctx, `SELECT schema_id, version, schema FROM catalog.schemas
		WHERE subject = $1 AND (NOT deleted OR $2) ORDER BY version`, subject, deleted)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	var all []storedVersion
	for rows.Next() {
		v := storedVersion{SchemaVersion: SchemaVersion{Subject: subject}}
		if err := rows.Scan(&v.ID, &v.Version, &v.Schema); err != nil {
			rows.Close()
			return nil, postgres.Translate(op, err, "")
		}
		all = append(all, v)
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	switch {
	case version == LatestVersion && len(all) > 0:
		all = all[len(all)-1:]
	case version > 0:
		var one []storedVersion
		for _, v := range all {
			if v.Version == version {
				one = append(one, v)
			}
		}
		all = one
	}
	for i := range all {
		v := &all[i]
		if v.parsed, err = parseSchema(op, v.Schema); err == nil {
			v.fingerprint, err = fingerprint(v.parsed)
		}
		if err != nil {
			// Stored schemas parsed when they were registered.
			return nil, &govx.Error{Kind: govx.KindInternal, Code: "internal", Op: op,
				Message: fmt.Sprintf("stored version %d of %q does not parse", v.Version, subject), Err: err}
		}
	}
	return all, nil
}

// Deleted says which versions a listing takes: live ones (the zero value),
// soft-deleted ones too, or only soft-deleted ones. These are Confluent's
// ?deleted=true and ?deletedOnly=true.
type Deleted uint8

const (
	LiveOnly Deleted = iota
	WithDeleted
	DeletedOnly
)

func (d Deleted) takes(deleted bool) bool {
	switch d {
	case WithDeleted:
		return true
	case DeletedOnly:
		return deleted
	}
	return !deleted
}

// SubjectVersion names one version of a subject.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func schemaNotFound(op string, id int) error {
	return &govx.Error{Kind: govx.KindNotFound, Code: "schema_not_found", Op: op,
		Message: fmt.Sprintf("no schema with id %d", id)}
}

// SchemaByID returns the text of the schema with a global id, deleted
// versions included: messages on the bus still carry their ids. Only a
// schema whose every version was deleted permanently is gone.
func (s *Store) SchemaByID(ctx context.Context, id int) (string, error) {
	const op = "catalog.SchemaByID"
	var text string
	err := pgx.ErrNoRows
	// Ids are int4; a larger one, which a message from outside may carry,
	// cannot even be bound as a parameter and simply does not exist.
	if id > 0 && id <= math.MaxInt32 {
		err = s.pool.QueryRow(ctx, `SELECT schema FROM catalog.schemas WHERE schema_id = $1 LIMIT 1`, id).Scan(&text)
	}
	if err != nil {
		err = postgres.Translate(op, err, "schema_not_found")
		if govx.ErrorKind(err) == govx.KindNotFound {
			return "", schemaNotFound(op, id)
		}
		return "", err
	}
	return text, nil
}

// SchemaVersionsByID lists the subject versions that hold the schema with
// id, by subject and version; which ones as d says. An id no version holds
// any more is NotFound (schema_not_found); one whose versions d leaves out
// answers an empty list.
func (s *Store) SchemaVersionsByID(ctx context.Context, id int, d Deleted) ([]SubjectVersion, error) {
	const op = "catalog.SchemaVersionsByID"
	if id < 1 || id > math.MaxInt32 {
		return nil, schemaNotFound(op, id)
	}
	rows, err := s.pool.Query(ctx, `SELECT subject, version, deleted FROM catalog.schemas
		WHERE schema_id = $1 ORDER BY subject, version`, id)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out := []SubjectVersion{}
	found := false
	for rows.Next() {
		var sv SubjectVersion
		var deleted bool
		if err := rows.Scan(&sv.Subject, &sv.Version, &deleted); err != nil {
			rows.Close()
			return nil, postgres.Translate(op, err, "")
		}
		found = true
		if d.takes(deleted) {
			out = append(out, sv)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if !found {
		return nil, schemaNotFound(op, id)
	}
	return out, nil
}

// Subjects lists, by name, the subjects starting with prefix ("" for all)
// that have a version d takes.
func (s *Store) Subjects(ctx context.Context, prefix string, d Deleted) ([]string, error) {
	const op = "catalog.Subjects"
	rows, err := s.pool.Query(ctx, `SELECT subject FROM catalog.schemas WHERE starts_with(subject, $1)
		GROUP BY subject
		HAVING CASE $2::int WHEN 1 THEN true WHEN 2 THEN bool_or(deleted) ELSE bool_or(NOT deleted) END
		ORDER BY subject`, prefix, int(d))
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func subjectNotFound(op, subject string) error {
	return &govx.Error{Kind: govx.KindNotFound, Code: "subject_not_found", Op: op,
		Message: fmt.Sprintf("subject %q not found", truncate(subject, 100))}
}

// versionRow is one stored version, live or soft-deleted.
type versionRow struct {
	SchemaVersion
	deleted bool
}

// allVersions returns every stored version of subject, oldest first.
func allVersions(ctx context.Context, q querier, subject string) ([]versionRow, error) {
	const op = "catalog.allVersions"
	rows, err := q.Query(ctx, `SELECT schema_id, version, schema, deleted FROM catalog.schemas
		WHERE subject = $1 ORDER BY version`, subject)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	var out []versionRow
	for rows.Next() {
		v := versionRow{SchemaVersion: SchemaVersion{Subject: subject}}
		if err := rows.Scan(&v.ID, &v.Version, &v.Schema, &v.deleted); err != nil {
			rows.Close()
			return nil, postgres.Translate(op, err, "")
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	return out, nil
}

// SchemaVersions lists the version numbers of subject that d takes,
// ascending. A subject without live versions is NotFound
// (subject_not_found), unless d takes deleted ones and it has some.
func (s *Store) SchemaVersions(ctx context.Context, subject string, d Deleted) ([]int, error) {
	const op = "catalog.SchemaVersions"
	all, err := allVersions(ctx, s.pool, subject)
	if err != nil {
		return nil, govx.E(op, err)
	}
	out := []int{}
	exists := false
	for _, v := range all {
		exists = exists || !v.deleted || d != LiveOnly
		if d.takes(v.deleted) {
			out = append(out, v.Version)
		}
	}
	if !exists {
		return nil, subjectNotFound(op, subject)
	}
	return out, nil
}

// SchemaVersion returns one live version of subject, or its newest with
// LatestVersion; with deleted, soft-deleted versions count too. Errors:
// NotFound subject_not_found or version_not_found.
func (s *Store) SchemaVersion(ctx context.Context, subject string, version int, deleted bool) (*SchemaVersion, error) {
	const op = "catalog.SchemaVersion"
	all, err := allVersions(ctx, s.pool, subject)
	if err != nil {
		return nil, govx.E(op, err)
	}
	v, ok := pickVersion(all, version, deleted)
	if ok {
		return &v.SchemaVersion, nil
	}
	if !slices.ContainsFunc(all, func(v versionRow) bool { return deleted || !v.deleted }) {
		return nil, subjectNotFound(op, subject)
	}
	return nil, versionNotFound(op, subject, version)
}

func versionNotFound(op, subject string, version int) error {
	return &govx.Error{Kind: govx.KindNotFound, Code: "version_not_found", Op: op,
		Message: fmt.Sprintf("subject %q has no version %d", truncate(subject, 100), version)}
}

// pickVersion finds version (LatestVersion: the newest) among all, live
// ones only unless deleted.
func pickVersion(all []versionRow, version int, deleted bool) (versionRow, bool) {
	for i := len(all) - 1; i >= 0; i-- {
		v := all[i]
		if (deleted || !v.deleted) && (version == LatestVersion || v.Version == version) {
			return v, true
		}
	}
	return versionRow{}, false
}

// MaxSchemasPage bounds one page of Schemas, as Confluent's
// schema.search.max.limit does.
const MaxSchemasPage = 1000

// SchemaFilter picks the versions Schemas lists.
type SchemaFilter struct {
	Prefix     string // subjects starting with it; "" for all
	Deleted    bool   // soft-deleted versions too
	LatestOnly bool   // only each subject's newest
	Offset     int
	Limit      int // 0 or less, or over MaxSchemasPage: MaxSchemasPage
}

// Schemas lists versions by subject and version, as f picks them.
func (s *Store) Schemas(ctx context.Context, f SchemaFilter) ([]SchemaVersion, error) {
	const op = "catalog.Schemas"
	if f.Limit <= 0 || f.Limit > MaxSchemasPage {
		f.Limit = MaxSchemasPage
	}
	f.Offset = max(f.Offset, 0)
	rows, err := s.pool.Query(ctx, `SELECT subject, version, schema_id, schema FROM (
			SELECT subject, version, schema_id, schema,
				row_number() OVER (PARTITION BY subject ORDER BY version DESC) AS newest
			FROM catalog.schemas WHERE starts_with(subject, $1) AND ($2 OR NOT deleted)) v
		WHERE NOT $3 OR newest = 1
		ORDER BY subject, version OFFSET $4 LIMIT $5`, f.Prefix, f.Deleted, f.LatestOnly, f.Offset, f.Limit)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[SchemaVersion])
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if out == nil {
		out = []SchemaVersion{}
	}
	return out, nil
}

// LookupSchema finds schema among the live versions of subject, however it
// is laid out; with deleted, among its soft-deleted versions too (the
// newest that holds it). Errors: Invalid invalid_schema, NotFound
// subject_not_found or schema_not_found.
func (s *Store) LookupSchema(ctx context.Context, subject, schema string, deleted bool) (*SchemaVersion, error) {
	const op = "catalog.LookupSchema"
	parsed, err := parseSchema(op, schema)
	if err != nil {
		return nil, err
	}
	fp, err := fingerprint(parsed)
	if err != nil {
		return nil, govx.E(op, err)
	}
	versions, err := parsedVersions(ctx, s.pool, subject, 0, deleted)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if len(versions) == 0 {
		return nil, subjectNotFound(op, subject)
	}
	for i := len(versions) - 1; i >= 0; i-- {
		if versions[i].fingerprint == fp {
			return &versions[i].SchemaVersion, nil
		}
	}
	return nil, &govx.Error{Kind: govx.KindNotFound, Code: "schema_not_found", Op: op,
		Message: fmt.Sprintf("schema not found under subject %q", truncate(subject, 100))}
}

// DeleteSubject deletes every version of subject and returns their
// numbers, as Confluent does. A soft delete marks the live versions
// deleted: the schemas stay resolvable by id, and registering under the
// subject again continues its version numbers. A permanent delete removes
// versions already soft-deleted, and the subject's own compatibility and
// mode with them; an id no other version holds then resolves no more.
// Errors (NotFound): subject_not_found when the subject has no version at
// all, subject_soft_deleted for a soft delete of a subject without live
// versions, subject_not_soft_deleted for a permanent delete of one with
// live versions; Conflict operation_not_permitted in READONLY mode.
func (s *Store) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	const op = "catalog.DeleteSubject"
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	if err := lockSubject(ctx, tx, subject); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	all, err := allVersions(ctx, tx, subject)
	if err != nil {
		return nil, govx.E(op, err)
	}
	live := slices.ContainsFunc(all, func(v versionRow) bool { return !v.deleted })
	switch {
	case len(all) == 0:
		return nil, subjectNotFound(op, subject)
	case !permanent && !live:
		return nil, &govx.Error{Kind: govx.KindNotFound, Code: "subject_soft_deleted", Op: op,
			Message: fmt.Sprintf("subject %q was soft deleted; set permanent=true to delete it permanently", truncate(subject, 100))}
	}
	if err := writable(ctx, tx, op, subject); err != nil {
		return nil, err
	}
	if permanent && live {
		return nil, &govx.Error{Kind: govx.KindNotFound, Code: "subject_not_soft_deleted", Op: op,
			Message: fmt.Sprintf("subject %q was not deleted first before being permanently deleted", truncate(subject, 100))}
	}
	q := `UPDATE catalog.schemas SET deleted = true WHERE subject = $1 AND NOT deleted RETURNING version`
	if permanent {
		q = `DELETE FROM catalog.schemas WHERE subject = $1 RETURNING version`
	}
	rows, err := tx.Query(ctx, q, subject)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if permanent {
		if err := forgetSubject(ctx, tx, subject); err != nil {
			return nil, govx.E(op, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	slices.Sort(versions)
	return versions, nil
}

// forgetSubject drops the compatibility and mode of a subject that no
// longer has any version, as Confluent does.
func forgetSubject(ctx context.Context, tx pgx.Tx, subject string) error {
	const op = "catalog.forgetSubject"
	_, err := tx.Exec(ctx, `DELETE FROM catalog.schema_config WHERE subject = $1`, subject)
	if err == nil {
		_, err = tx.Exec(ctx, `DELETE FROM catalog.schema_mode WHERE subject = $1`, subject)
	}
	return postgres.Translate(op, err, "")
}

// DeleteSchemaVersion deletes one version of subject (LatestVersion: its
// newest) and returns its number, as Confluent does: a soft delete marks a
// live version deleted, its id stays resolvable; a permanent delete removes
// a version soft-deleted before (LatestVersion then names the newest of
// all), and with the subject's last version its compatibility and mode.
// Errors (NotFound): subject_not_found, version_not_found,
// version_soft_deleted for a soft delete of a deleted version,
// version_not_soft_deleted for a permanent delete of a live one; Conflict
// operation_not_permitted in READONLY mode.
func (s *Store) DeleteSchemaVersion(ctx context.Context, subject string, version int, permanent bool) (int, error) {
	const op = "catalog.DeleteSchemaVersion"
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	if err := lockSubject(ctx, tx, subject); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	all, err := allVersions(ctx, tx, subject)
	if err != nil {
		return 0, govx.E(op, err)
	}
	if len(all) == 0 {
		return 0, subjectNotFound(op, subject)
	}
	v, ok := pickVersion(all, version, permanent || version != LatestVersion)
	switch {
	case !ok:
		return 0, versionNotFound(op, subject, version)
	case !permanent && v.deleted:
		return 0, &govx.Error{Kind: govx.KindNotFound, Code: "version_soft_deleted", Op: op,
			Message: fmt.Sprintf("subject %q version %d was soft deleted; set permanent=true to delete it permanently", truncate(subject, 100), v.Version)}
	}
	if err := writable(ctx, tx, op, subject); err != nil {
		return 0, err
	}
	if permanent && !v.deleted {
		return 0, &govx.Error{Kind: govx.KindNotFound, Code: "version_not_soft_deleted", Op: op,
			Message: fmt.Sprintf("subject %q version %d was not deleted first before being permanently deleted", truncate(subject, 100), v.Version)}
	}
	if permanent {
		_, err = tx.Exec(ctx, `DELETE FROM catalog.schemas WHERE subject = $1 AND version = $2`, subject, v.Version)
		if err == nil && len(all) == 1 {
			err = forgetSubject(ctx, tx, subject)
		}
	} else {
		_, err = tx.Exec(ctx, `UPDATE catalog.schemas SET deleted = true WHERE subject = $1 AND version = $2`, subject, v.Version)
	}
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	return v.Version, nil
}

// CheckSchema reports why schema could not be registered as the next
// version of subject: against the versions its compatibility mode names
// when version is 0, or against that one version (LatestVersion for the
// newest) in the mode's direction. An empty answer means compatible. Errors:
// Invalid invalid_schema, NotFound subject_not_found or version_not_found
// (only when a version is named).
func (s *Store) CheckSchema(ctx context.Context, subject, schema string, version int) ([]string, error) {
	const op = "catalog.CheckSchema"
	parsed, err := parseSchema(op, schema)
	if err != nil {
		return nil, err
	}
	mode, err := compatibility(ctx, s.pool, subject)
	if err != nil {
		return nil, govx.E(op, err)
	}
	prior, err := liveVersions(ctx, s.pool, subject, version)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if version != 0 && len(prior) == 0 {
		if _, err := s.SchemaVersion(ctx, subject, version, false); err != nil {
			return nil, govx.E(op, err)
		}
	}
	return CheckCompatibility(mode, parsed, priors(prior)), nil
}

// Compatibility returns the mode in force for subject: its own, else the
// registry's, else DefaultCompatibility. The subject "" asks for the
// registry's.
func (s *Store) Compatibility(ctx context.Context, subject string) (Compatibility, error) {
	return compatibility(ctx, s.pool, subject)
}

// OwnCompatibility returns the compatibility set on subject itself ("" for
// the registry's); ok is false when none is.
func (s *Store) OwnCompatibility(ctx context.Context, subject string) (c Compatibility, ok bool, err error) {
	const op = "catalog.OwnCompatibility"
	var text string
	err = s.pool.QueryRow(ctx, `SELECT compatibility FROM catalog.schema_config WHERE subject = $1`, subject).Scan(&text)
	if err == nil {
		return Compatibility(text), true, nil
	}
	if err = postgres.Translate(op, err, ""); govx.ErrorKind(err) == govx.KindNotFound {
		return "", false, nil
	}
	return "", false, err
}

func compatibility(ctx context.Context, q querier, subject string) (Compatibility, error) {
	c, err := inherited(ctx, q, "catalog.Compatibility", `SELECT compatibility FROM catalog.schema_config
		WHERE subject IN ($1, '') ORDER BY subject = '' LIMIT 1`, subject, string(DefaultCompatibility))
	return Compatibility(c), err
}

// inherited reads a per-subject registry setting with query, which selects
// the subject's own row before the registry's (the row whose subject is
// the empty string); def when neither is set.
func inherited(ctx context.Context, q querier, op, query, subject, def string) (string, error) {
	var v string
	err := q.QueryRow(ctx, query, subject).Scan(&v)
	if err == nil {
		return v, nil
	}
	if err = postgres.Translate(op, err, ""); govx.ErrorKind(err) != govx.KindNotFound {
		return "", err
	}
	return def, nil
}

// SetCompatibility sets the mode of subject, or of the whole registry when
// subject is "". It applies to versions registered from then on. In
// READONLY mode it is Conflict operation_not_permitted.
func (s *Store) SetCompatibility(ctx context.Context, subject string, c Compatibility) error {
	const op = "catalog.SetCompatibility"
	if _, err := ParseCompatibility(string(c)); err != nil {
		return govx.E(op, err)
	}
	if subject != "" {
		if err := ValidateSubject(subject); err != nil {
			return govx.E(op, err)
		}
	}
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := writable(ctx, tx, op, subject); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO catalog.schema_config (subject, compatibility) VALUES ($1, $2)
			ON CONFLICT (subject) DO UPDATE SET compatibility = EXCLUDED.compatibility, updated_at = now()`, subject, string(c))
		return postgres.Translate(op, err, "")
	})
}

// DeleteCompatibility removes the compatibility set on subject, which then
// follows the registry's, and returns it. Errors: NotFound
// subject_not_found when the subject sets none; Conflict
// operation_not_permitted in READONLY mode.
func (s *Store) DeleteCompatibility(ctx context.Context, subject string) (Compatibility, error) {
	const op = "catalog.DeleteCompatibility"
	var old string
	err := s.inTx(ctx, op, func(tx pgx.Tx) error {
		if err := writable(ctx, tx, op, subject); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `DELETE FROM catalog.schema_config WHERE subject = $1 RETURNING compatibility`, subject).Scan(&old)
		if err = postgres.Translate(op, err, ""); govx.ErrorKind(err) == govx.KindNotFound {
			return subjectNotFound(op, subject)
		}
		return err
	})
	return Compatibility(old), err
}

// SchemaMode says whether a subject, or the whole registry, takes changes.
// The names are Confluent Schema Registry's.
type SchemaMode string

const (
	// ReadWrite: registrations, deletions and compatibility changes are
	// allowed.
	ReadWrite SchemaMode = "READWRITE"
	// ReadOnly: they are refused with operation_not_permitted; reads and
	// mode changes still work.
	ReadOnly SchemaMode = "READONLY"
)

// DefaultSchemaMode applies where neither the subject nor the registry
// sets a mode.
const DefaultSchemaMode = ReadWrite

// ParseSchemaMode parses a mode name. An unknown name is Invalid with code
// invalid_mode.
func ParseSchemaMode(s string) (SchemaMode, error) {
	m := SchemaMode(strings.ToUpper(strings.TrimSpace(s)))
	if m != ReadWrite && m != ReadOnly {
		return "", govx.Errorf(govx.KindInvalid, "invalid_mode",
			"invalid mode %q: want READWRITE or READONLY (IMPORT and FORWARD are not supported)", truncate(s, 40))
	}
	return m, nil
}

// Mode returns the mode in force for subject: its own, else the
// registry's, else DefaultSchemaMode. The subject "" asks for the
// registry's.
func (s *Store) Mode(ctx context.Context, subject string) (SchemaMode, error) {
	return schemaMode(ctx, s.pool, subject)
}

func schemaMode(ctx context.Context, q querier, subject string) (SchemaMode, error) {
	m, err := inherited(ctx, q, "catalog.Mode", `SELECT mode FROM catalog.schema_mode
		WHERE subject IN ($1, '') ORDER BY subject = '' LIMIT 1`, subject, string(DefaultSchemaMode))
	return SchemaMode(m), err
}

// OwnMode returns the mode set on subject itself ("" for the registry's);
// ok is false when none is.
func (s *Store) OwnMode(ctx context.Context, subject string) (m SchemaMode, ok bool, err error) {
	const op = "catalog.OwnMode"
	var text string
	err = s.pool.QueryRow(ctx, `SELECT mode FROM catalog.schema_mode WHERE subject = $1`, subject).Scan(&text)
	if err == nil {
		return SchemaMode(text), true, nil
	}
	if err = postgres.Translate(op, err, ""); govx.ErrorKind(err) == govx.KindNotFound {
		return "", false, nil
	}
	return "", false, err
}

// SetMode sets the mode of subject, or of the whole registry when subject
// is "".
func (s *Store) SetMode(ctx context.Context, subject string, m SchemaMode) error {
	const op = "catalog.SetMode"
	if _, err := ParseSchemaMode(string(m)); err != nil {
		return govx.E(op, err)
	}
	if subject != "" {
		if err := ValidateSubject(subject); err != nil {
			return govx.E(op, err)
		}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO catalog.schema_mode (subject, mode) VALUES ($1, $2)
		ON CONFLICT (subject) DO UPDATE SET mode = EXCLUDED.mode, updated_at = now()`, subject, string(m))
	return postgres.Translate(op, err, "")
}

// DeleteMode removes the mode set on subject, which then follows the
// registry's, and returns it. A subject that sets none is NotFound
// (subject_not_found).
func (s *Store) DeleteMode(ctx context.Context, subject string) (SchemaMode, error) {
	const op = "catalog.DeleteMode"
	var old string
	err := s.pool.QueryRow(ctx, `DELETE FROM catalog.schema_mode WHERE subject = $1 RETURNING mode`, subject).Scan(&old)
	if err = postgres.Translate(op, err, ""); govx.ErrorKind(err) == govx.KindNotFound {
		return "", subjectNotFound(op, subject)
	}
	return SchemaMode(old), err
}

// writable refuses a change to subject ("" for the registry-wide settings)
// while the mode in force is READONLY.
func writable(ctx context.Context, q querier, op, subject string) error {
	m, err := schemaMode(ctx, q, subject)
	if err != nil {
		return govx.E(op, err)
	}
	if m != ReadOnly {
		return nil
	}
	what := "the registry is"
	if subject != "" {
		what = fmt.Sprintf("subject %q is", truncate(subject, 100))
	}
	return &govx.Error{Kind: govx.KindConflict, Code: "operation_not_permitted", Op: op,
		Message: what + " in read-only mode"}
}

func (s *Store) inTx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return postgres.Translate(op, tx.Commit(ctx), "")
}

// ResourceProvider returns the provider department of the catalogue
// resource with code, whatever its status; ok is false when no resource
// has that code.
func (s *Store) ResourceProvider(ctx context.Context, code string) (provider string, ok bool, err error) {
	const op = "catalog.ResourceProvider"
	err = s.pool.QueryRow(ctx, `SELECT provider FROM catalog.resources WHERE code = $1`, code).Scan(&provider)
	if err == nil {
		return provider, true, nil
	}
	if err = postgres.Translate(op, err, ""); govx.ErrorKind(err) == govx.KindNotFound {
		return "", false, nil
	}
	return "", false, err
}
