package openapi

import (
	"context"
	"embed"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationSource is the open-data API's schema migrations.
func MigrationSource() postgres.Source {
	return postgres.SourceDir("openapi", migrations, "migrations")
}

// Meta is the DCAT-style description a publisher gives a dataset.
type Meta struct {
	Title         string   `json:"title"`
	Description   string   `json:"description,omitempty"`
	Theme         string   `json:"theme,omitempty"`
	Keywords      []string `json:"keywords,omitempty"`
	Licence       string   `json:"licence,omitempty"`   // e.g. "CC-BY-4.0"
	Frequency     string   `json:"frequency,omitempty"` // e.g. "daily", "monthly"
	TemporalStart string   `json:"temporal_start,omitempty"`
	TemporalEnd   string   `json:"temporal_end,omitempty"`
	Spatial       string   `json:"spatial,omitempty"` // e.g. "Shenzhen"
}

func (m *Meta) validate() error {
	bad := func(format string, args ...any) error {
		return govx.Errorf(govx.KindInvalid, "metadata_invalid", format, args...)
	}
	m.Title = strings.TrimSpace(m.Title)
	if m.Title == "" || len(m.Title) > 300 {
		return bad("title is required, at most 300 bytes")
	}
	if len(m.Description) > 10000 {
		return bad("description is at most 10000 bytes")
	}
	if len(m.Keywords) > 50 {
		return bad("at most 50 keywords")
	}
	for _, s := range append([]string{m.Theme, m.Licence, m.Frequency, m.Spatial}, m.Keywords...) {
		if len(s) > 200 {
			return bad("theme, licence, frequency, spatial and keywords are at most 200 bytes each")
		}
	}
	for _, d := range []string{m.TemporalStart, m.TemporalEnd} {
		if d == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return bad("temporal coverage dates are YYYY-MM-DD, not %q", httpx.Truncate(d, 30))
		}
	}
	if m.TemporalStart != "" && m.TemporalEnd != "" && m.TemporalEnd < m.TemporalStart {
		return bad("temporal_end is before temporal_start")
	}
	return nil
}

// Dataset is a published dataset: its description and the version served.
type Dataset struct {
	ID        string
	Meta      Meta
	Publisher string // department code
	Source    string // catalogue resource code when published from a Source
	Issued    time.Time
	Modified  time.Time
	Latest    *Version // nil until the first version is loaded
}

// Version is one immutable upload of a dataset.
type Version struct {
	Dataset     string
	Number      int
	Columns     []Column
	Rows        int64
	CSVBytes    int64
	JSONBytes   int64
	NDJSONBytes int64
	Created     time.Time
	table       string
}

// Column returns the declared column called name.
func (v *Version) Column(name string) (Column, bool) {
	for _, c := range v.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// ETag is the validator of everything served from this version.
func (v *Version) ETag() string {
	return `W/"` + v.Dataset + "." + itoa(int64(v.Number)) + "." + itoa(v.Created.UnixMicro()) + `"`
}

var datasetID = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,47}$`)

func validID(id string) error {
	if !datasetID.MatchString(id) {
		return govx.Errorf(govx.KindInvalid, "dataset_id_invalid",
			"dataset id %q is not 1-48 characters of a-z, 0-9 and -, starting with a letter or digit", httpx.Truncate(id, 60))
	}
	return nil
}

func notFound(id string) error {
	return govx.Errorf(govx.KindNotFound, "dataset_not_found", "no dataset %q", httpx.Truncate(id, 60))
}

// Store keeps datasets and their versions in PostgreSQL. Versions are
// immutable, so the store caches them; only which one is latest is read
// each time. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool

	mu       sync.Mutex
	versions map[versionKey]*Version
	// latest remembers which version is the latest of a dataset for
	// LatestTTL, sparing every page a round trip for it. A version this
	// store publishes is the latest at once; one another instance
	// publishes is within LatestTTL.
	latest map[string]latestEntry

	uploads uploads // the loads running now, for Upload
}

// LatestTTL is how long a store trusts the latest version it read.
const LatestTTL = time.Second

type latestEntry struct {
	n  int
	at time.Time
}

func (s *Store) cachedLatest(id string) (int, bool) {
	s.mu.Lock()
	e, ok := s.latest[id]
	s.mu.Unlock()
	return e.n, ok && time.Since(e.at) < LatestTTL
}

func (s *Store) setLatest(id string, n int) {
	s.mu.Lock()
	if len(s.latest) > 10000 {
		clear(s.latest)
	}
	if e, ok := s.latest[id]; !ok || e.n <= n {
		s.latest[id] = latestEntry{n: n, at: time.Now()}
	}
	s.mu.Unlock()
}

type versionKey struct {
	dataset string
	number  int
}

// NewStore returns a store on pool, which must be migrated with
// MigrationSource.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, versions: map[versionKey]*Version{}, latest: map[string]latestEntry{}}
}

// PutDataset creates the dataset id published by department publisher, or
// updates its description. Only its publisher may change it.
func (s *Store) PutDataset(ctx context.Context, publisher, id string, m Meta) (*Dataset, error) {
	const op = "openapi.Store.PutDataset"
	if err := validID(id); err != nil {
		return nil, govx.E(op, err)
	}
	if err := m.validate(); err != nil {
		return nil, govx.E(op, err)
	}
	if publisher == "" {
		return nil, govx.E(op, govx.Errorf(govx.KindForbidden, "department_required", "only a department may publish open data"))
	}
	return s.putDataset(ctx, op, publisher, id, "", m)
}

func (s *Store) putDataset(ctx context.Context, op, publisher, id, source string, m Meta) (*Dataset, error) {
	if m.Keywords == nil {
		m.Keywords = []string{}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	var have string
	err = tx.QueryRow(ctx, `SELECT publisher FROM opendata.datasets WHERE id=$1 FOR UPDATE`, id).Scan(&have)
	switch {
	case err == nil && have != publisher:
		return nil, govx.E(op, notPublisher(id, have))
	case err == nil:
		_, err = tx.Exec(ctx, `UPDATE opendata.datasets SET title=$2, description=$3, theme=$4, keywords=$5, licence=$6,
			frequency=$7, temporal_start=NULLIF($8,'')::date, temporal_end=NULLIF($9,'')::date, spatial=$10, modified=now()
			WHERE id=$1`, id, m.Title, m.Description, m.Theme, m.Keywords, m.Licence, m.Frequency, m.TemporalStart, m.TemporalEnd, m.Spatial)
	case govx.ErrorKind(postgres.Translate(op, err, "")) == govx.KindNotFound:
		_, err = tx.Exec(ctx, `INSERT INTO opendata.datasets (id, title, description, publisher, theme, keywords, licence,
			frequency, temporal_start, temporal_end, spatial, source)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,NULLIF($9,'')::date,NULLIF($10,'')::date,$11,$12)`,
			id, m.Title, m.Description, publisher, m.Theme, m.Keywords, m.Licence, m.Frequency, m.TemporalStart, m.TemporalEnd, m.Spatial, source)
	}
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	return s.Dataset(ctx, id)
}

func notPublisher(id, publisher string) error {
	return govx.Errorf(govx.KindForbidden, "not_publisher", "dataset %q is published by department %q", id, publisher)
}

const datasetColumns = `d.id, d.title, d.description, d.publisher, d.theme, d.keywords, d.licence, d.frequency,
	coalesce(to_char(d.temporal_start,'YYYY-MM-DD'),''), coalesce(to_char(d.temporal_end,'YYYY-MM-DD'),''),
	d.spatial, d.source, d.issued, d.modified, d.latest`

func (s *Store) scanDataset(ctx context.Context, row pgx.Row) (*Dataset, error) {
	var d Dataset
	var latest *int
	if err := row.Scan(&d.ID, &d.Meta.Title, &d.Meta.Description, &d.Publisher, &d.Meta.Theme, &d.Meta.Keywords,
		&d.Meta.Licence, &d.Meta.Frequency, &d.Meta.TemporalStart, &d.Meta.TemporalEnd, &d.Meta.Spatial, &d.Source,
		&d.Issued, &d.Modified, &latest); err != nil {
		return nil, err
	}
	if latest != nil {
		v, err := s.Version(ctx, d.ID, *latest)
		if err != nil {
			return nil, err
		}
		d.Latest = v
	}
	return &d, nil
}

// Dataset returns dataset id with its latest version.
func (s *Store) Dataset(ctx context.Context, id string) (*Dataset, error) {
	const op = "openapi.Store.Dataset"
	d, err := s.scanDataset(ctx, s.pool.QueryRow(ctx, `SELECT `+datasetColumns+` FROM opendata.datasets d WHERE d.id=$1`, id))
	if err != nil {
		if govx.ErrorKind(postgres.Translate(op, err, "")) == govx.KindNotFound {
			return nil, govx.E(op, notFound(id))
		}
		return nil, postgres.Translate(op, err, "dataset_not_found")
	}
	return d, nil
}

// Version returns version n of dataset id; n 0 is the latest. A dataset
// with no version yet is NotFound (dataset_empty).
func (s *Store) Version(ctx context.Context, id string, n int) (*Version, error) {
	const op = "openapi.Store.Version"
	if n < 0 {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "version_invalid", "a version is a positive number"))
	}
	if n == 0 {
		if c, ok := s.cachedLatest(id); ok {
			n = c
		}
	}
	if n == 0 {
		var latest *int
		if err := s.pool.QueryRow(ctx, `SELECT latest FROM opendata.datasets WHERE id=$1`, id).Scan(&latest); err != nil {
			if govx.ErrorKind(postgres.Translate(op, err, "")) == govx.KindNotFound {
				return nil, govx.E(op, notFound(id))
			}
			return nil, postgres.Translate(op, err, "")
		}
		if latest == nil {
			return nil, govx.E(op, govx.Errorf(govx.KindNotFound, "dataset_empty", "dataset %q has no version yet", id))
		}
		n = *latest
		s.setLatest(id, n)
	}
	key := versionKey{id, n}
	s.mu.Lock()
	v := s.versions[key]
	s.mu.Unlock()
	if v != nil {
		return v, nil
	}
	v = &Version{Dataset: id, Number: n}
	var cols []byte
	err := s.pool.QueryRow(ctx, `SELECT columns, row_count, csv_bytes, json_bytes, ndjson_bytes, created_at, table_name
		FROM opendata.versions WHERE dataset=$1 AND version=$2`, id, n).
		Scan(&cols, &v.Rows, &v.CSVBytes, &v.JSONBytes, &v.NDJSONBytes, &v.Created, &v.table)
	if err != nil {
		if govx.ErrorKind(postgres.Translate(op, err, "")) == govx.KindNotFound {
			if _, err := s.Dataset(ctx, id); err != nil {
				return nil, err
			}
			return nil, govx.E(op, govx.Errorf(govx.KindNotFound, "version_not_found", "dataset %q has no version %d", id, n))
		}
		return nil, postgres.Translate(op, err, "")
	}
	if err := json.Unmarshal(cols, &v.Columns); err != nil {
		return nil, govx.E(op, err)
	}
	s.mu.Lock()
	if len(s.versions) > 10000 {
		clear(s.versions)
	}
	s.versions[key] = v
	s.mu.Unlock()
	return v, nil
}

// Versions lists every version of dataset id, newest first.
func (s *Store) Versions(ctx context.Context, id string) ([]*Version, error) {
	const op = "openapi.Store.Versions"
	if _, err := s.Dataset(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT version FROM opendata.versions WHERE dataset=$1 ORDER BY version DESC`, id)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out := make([]*Version, 0, len(ns))
	for _, n := range ns {
		v, err := s.Version(ctx, id, n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
