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
// the id it already has there. A new version must be compatible with the
// subject's live versions under its compatibility mode: if not, the error is
// Conflict with code incompatible_schema and a message naming each change
// and the rule it breaks. Registrations of one subject are serialised so
// versions never collide; version numbers continue after a deletion.
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
	mode, err := compatibility(ctx, tx, subject)
	if err != nil {
		return 0, govx.E(op, err)
	}
	if problems := CheckCompatibility(mode, parsed, priors(live)); len(problems) > 0 {
		return 0, incompatible(op, subject, mode, problems)
	}
	var id int
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
	const op = "catalog.liveVersions"
	rows, err := q.Query(ctx, `SELECT id, version, schema FROM catalog.schemas
		WHERE subject = $1 AND NOT deleted ORDER BY version`, subject)
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

// SchemaByID returns the text of the schema with a global id, deleted
// versions included: messages on the bus still carry their ids.
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

// Subjects lists the subjects with at least one live version, by name.
func (s *Store) Subjects(ctx context.Context) ([]string, error) {
	const op = "catalog.Subjects"
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT subject FROM catalog.schemas WHERE NOT deleted ORDER BY subject`)
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

// SchemaVersions lists the live version numbers of subject, ascending. A
// subject without live versions is NotFound (subject_not_found).
func (s *Store) SchemaVersions(ctx context.Context, subject string) ([]int, error) {
	const op = "catalog.SchemaVersions"
	rows, err := s.pool.Query(ctx, `SELECT version FROM catalog.schemas WHERE subject = $1 AND NOT deleted ORDER BY version`, subject)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if len(out) == 0 {
		return nil, subjectNotFound(op, subject)
	}
	return out, nil
}

// SchemaVersion returns one live version of subject, or its newest with
// LatestVersion. Errors: NotFound subject_not_found or version_not_found.
func (s *Store) SchemaVersion(ctx context.Context, subject string, version int) (*SchemaVersion, error) {
	const op = "catalog.SchemaVersion"
	v := SchemaVersion{Subject: subject}
	var err error
	if version == LatestVersion {
		err = s.pool.QueryRow(ctx, `SELECT id, version, schema FROM catalog.schemas
			WHERE subject = $1 AND NOT deleted ORDER BY version DESC LIMIT 1`, subject).Scan(&v.ID, &v.Version, &v.Schema)
	} else if version > 0 && version <= math.MaxInt32 {
		err = s.pool.QueryRow(ctx, `SELECT id, version, schema FROM catalog.schemas
			WHERE subject = $1 AND version = $2 AND NOT deleted`, subject, version).Scan(&v.ID, &v.Version, &v.Schema)
	} else {
		err = pgx.ErrNoRows
	}
	if err == nil {
		return &v, nil
	}
	if err = postgres.Translate(op, err, ""); govx.ErrorKind(err) != govx.KindNotFound {
		return nil, err
	}
	if _, err := s.SchemaVersions(ctx, subject); err != nil {
		return nil, govx.E(op, err)
	}
	return nil, &govx.Error{Kind: govx.KindNotFound, Code: "version_not_found", Op: op,
		Message: fmt.Sprintf("subject %q has no version %d", truncate(subject, 100), version)}
}

// LookupSchema finds schema among the live versions of subject, however it
// is laid out. Errors: Invalid invalid_schema, NotFound subject_not_found or
// schema_not_found.
func (s *Store) LookupSchema(ctx context.Context, subject, schema string) (*SchemaVersion, error) {
	const op = "catalog.LookupSchema"
	parsed, err := parseSchema(op, schema)
	if err != nil {
		return nil, err
	}
	fp, err := fingerprint(parsed)
	if err != nil {
		return nil, govx.E(op, err)
	}
	live, err := liveVersions(ctx, s.pool, subject, 0)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if len(live) == 0 {
		return nil, subjectNotFound(op, subject)
	}
	for _, v := range live {
		if v.fingerprint == fp {
			return &v.SchemaVersion, nil
		}
	}
	return nil, &govx.Error{Kind: govx.KindNotFound, Code: "schema_not_found", Op: op,
		Message: fmt.Sprintf("schema not found under subject %q", truncate(subject, 100))}
}

// DeleteSubject soft-deletes every live version of subject and returns
// their numbers. The schemas stay resolvable by id, and registering under
// the subject again continues its version numbers. A subject without live
// versions is NotFound (subject_not_found).
func (s *Store) DeleteSubject(ctx context.Context, subject string) ([]int, error) {
	const op = "catalog.DeleteSubject"
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	if err := lockSubject(ctx, tx, subject); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	rows, err := tx.Query(ctx, `UPDATE catalog.schemas SET deleted = true
		WHERE subject = $1 AND NOT deleted RETURNING version`, subject)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if len(versions) == 0 {
		return nil, subjectNotFound(op, subject)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	slices.Sort(versions)
	return versions, nil
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
		if _, err := s.SchemaVersion(ctx, subject, version); err != nil {
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

func compatibility(ctx context.Context, q querier, subject string) (Compatibility, error) {
	const op = "catalog.Compatibility"
	var c string
	err := q.QueryRow(ctx, `SELECT compatibility FROM catalog.schema_config
		WHERE subject IN ($1, '') ORDER BY subject = '' LIMIT 1`, subject).Scan(&c)
	if err == nil {
		return Compatibility(c), nil
	}
	if err = postgres.Translate(op, err, ""); govx.ErrorKind(err) != govx.KindNotFound {
		return "", err
	}
	return DefaultCompatibility, nil
}

// SetCompatibility sets the mode of subject, or of the whole registry when
// subject is "". It applies to versions registered from then on.
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
	_, err := s.pool.Exec(ctx, `INSERT INTO catalog.schema_config (subject, compatibility) VALUES ($1, $2)
		ON CONFLICT (subject) DO UPDATE SET compatibility = EXCLUDED.compatibility, updated_at = now()`, subject, string(c))
	return postgres.Translate(op, err, "")
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
