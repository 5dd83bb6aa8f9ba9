package openapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

// inferSample is how many rows the loader reads ahead to infer column
// types when none are declared.
const inferSample = 1000

// Load publishes a new version of dataset id from CSV (UTF-8, header row)
// read from r, as department publisher. cols, when given, declares the
// columns (the header must name the same columns); otherwise types are
// inferred from the first rows. The rows are streamed into a new typed
// table by COPY in one transaction that also makes the version the latest,
// so a failed or malformed upload leaves the previous version serving. A
// malformed CSV is Invalid (csv_invalid) with "line N: reason"; a body
// over the caller's limit (http.MaxBytesReader) is TooLarge.
func (s *Store) Load(ctx context.Context, publisher, id string, cols []Column, r io.Reader) (*Version, error) {
	return s.LoadIndexed(ctx, publisher, id, cols, nil, r)
}

// LoadIndexed is Load with composite indexes the publisher declares on top
// of the one per column: each names two to four columns and gets the row
// number as its last key, so a page filtered by equality on the leading
// columns and sorted by the next is an index range that reads only the rows
// it serves (e.g. {"district","pm25"} for
// filter=district:eq:…&sort=-pm25).
func (s *Store) LoadIndexed(ctx context.Context, publisher, id string, cols []Column, indexes [][]string, r io.Reader) (*Version, error) {
	const op = "openapi.Store.Load"
	if err := checkIndexShape(indexes); err != nil {
		return nil, govx.E(op, err)
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1 // checked here, to say which line
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, govx.E(op, csvError(1, "the file is empty; the first line names the columns"))
		}
		return nil, govx.E(op, readError(err))
	}
	header = append([]string(nil), header...)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	src := &csvRows{cr: cr, width: len(header)}
	if cols == nil {
		for len(src.ahead) < inferSample {
			rec, _, err := src.read()
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, govx.E(op, err)
			}
			src.ahead = append(src.ahead, aheadRow{append([]string(nil), rec...), src.line})
		}
		sample := make([][]string, len(src.ahead))
		for i, a := range src.ahead {
			sample[i] = a.rec
		}
		cols = infer(header, sample)
		if err := validateColumns(cols); err != nil {
			return nil, govx.E(op, csvError(1, govx.ErrorMessage(err)))
		}
	} else {
		if err := validateColumns(cols); err != nil {
			return nil, govx.E(op, err)
		}
		if len(header) != len(cols) {
			return nil, govx.E(op, csvError(1, fmt.Sprintf("the header has %d columns, %d are declared", len(header), len(cols))))
		}
		for i, c := range cols {
			if header[i] != c.Name {
				return nil, govx.E(op, csvError(1, fmt.Sprintf("column %d is %q in the header but %q is declared", i+1, httpx.Truncate(header[i], 70), c.Name)))
			}
		}
	}
	if err := checkIndexColumns(indexes, cols); err != nil {
		return nil, govx.E(op, err)
	}
	return s.load(ctx, op, publisher, id, cols, indexes, src.next)
}

// Declared composite indexes per version.
const (
	maxIndexes       = 8
	maxIndexColumns  = 4
	indexInvalidCode = "index_invalid"
)

// ParseIndexes reads the index parameters of an upload: each a
// comma-separated list of column names.
func ParseIndexes(raw []string) ([][]string, error) {
	var out [][]string
	for _, r := range raw {
		var idx []string
		for name := range strings.SplitSeq(r, ",") {
			idx = append(idx, strings.TrimSpace(name))
		}
		out = append(out, idx)
	}
	return out, checkIndexShape(out)
}

func checkIndexShape(indexes [][]string) error {
	if len(indexes) > maxIndexes {
		return govx.Errorf(govx.KindInvalid, indexInvalidCode, "at most %d indexes may be declared", maxIndexes)
	}
	for _, idx := range indexes {
		if len(idx) < 2 || len(idx) > maxIndexColumns {
			return govx.Errorf(govx.KindInvalid, indexInvalidCode, "an index names 2 to %d columns, comma-separated; every column already has its own", maxIndexColumns)
		}
		seen := map[string]bool{}
		for _, name := range idx {
			if name == "" {
				return govx.Errorf(govx.KindInvalid, indexInvalidCode, "an index names no empty column")
			}
			if seen[name] {
				return govx.Errorf(govx.KindInvalid, indexInvalidCode, "index %q names %q twice", httpx.Truncate(strings.Join(idx, ","), 70), httpx.Truncate(name, 70))
			}
			seen[name] = true
		}
	}
	return nil
}

func checkIndexColumns(indexes [][]string, cols []Column) error {
	for _, idx := range indexes {
		for _, name := range idx {
			if !slices.ContainsFunc(cols, func(c Column) bool { return c.Name == name }) {
				return govx.Errorf(govx.KindInvalid, indexInvalidCode, "index %q: no column %q in this upload", httpx.Truncate(strings.Join(idx, ","), 70), httpx.Truncate(name, 70))
			}
		}
	}
	return nil
}

// csvError is a malformed upload, answered 422 with the line.
func csvError(line int, reason string) error {
	return govx.Errorf(govx.KindInvalid, "csv_invalid", "line %d: %s", line, reason)
}

func readError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return govx.Errorf(govx.KindTooLarge, "body_too_large", "the upload is larger than %d bytes", mb.Limit)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return csvError(pe.Line, pe.Err.Error())
	}
	return &govx.Error{Kind: govx.KindInvalid, Code: "upload_failed", Message: "the upload could not be read", Err: err}
}

type aheadRow struct {
	rec  []string
	line int
}

// csvRows reads records, first those read ahead for inference.
type csvRows struct {
	cr    *csv.Reader
	width int
	ahead []aheadRow
	line  int
}

func (c *csvRows) read() ([]string, int, error) {
	rec, err := c.cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, io.EOF
		}
		return nil, 0, readError(err)
	}
	c.line, _ = c.cr.FieldPos(0)
	if len(rec) != c.width {
		return nil, 0, csvError(c.line, fmt.Sprintf("%d fields, the header has %d", len(rec), c.width))
	}
	return rec, c.line, nil
}

func (c *csvRows) next() ([]string, int, error) {
	if len(c.ahead) > 0 {
		a := c.ahead[0]
		c.ahead = c.ahead[1:]
		return a.rec, a.line, nil
	}
	return c.read()
}

// rowFunc yields the next row's raw values and its line number, io.EOF at
// the end.
type rowFunc func() ([]string, int, error)

func versionTable(id string, n int) string {
	return strings.ReplaceAll(id, "-", "_") + "_v" + itoa(int64(n))
}

func (s *Store) load(ctx context.Context, op, publisher, id string, cols []Column, indexes [][]string, next rowFunc) (*Version, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	var have string
	if err := tx.QueryRow(ctx, `SELECT publisher FROM opendata.datasets WHERE id=$1 FOR UPDATE`, id).Scan(&have); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, govx.E(op, notFound(id))
		}
		return nil, postgres.Translate(op, err, "")
	}
	if have != publisher {
		return nil, govx.E(op, notPublisher(id, have))
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version),0)+1 FROM opendata.versions WHERE dataset=$1`, id).Scan(&n); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	table := versionTable(id, n)
	qt := pgx.Identifier{"opendata_rows", table}.Sanitize()
	var ddl strings.Builder
	ddl.WriteString("CREATE TABLE " + qt + " (" + rowColumn + " bigint NOT NULL")
	for _, c := range cols {
		ddl.WriteString(", " + pgx.Identifier{c.Name}.Sanitize() + " " + c.Type.sqlType())
	}
	ddl.WriteString(")")
	if _, err := tx.Exec(ctx, ddl.String()); err != nil {
		return nil, postgres.Translate(op, err, "")
	}

	// The dataset's row lock is held: this is its only load now.
	up := s.uploads.start(id, publisher)
	defer s.uploads.end(id, up)
	sizes := &exportSizes{}
	sizes.header(cols)
	feed := &copyFeed{cols: cols, next: next, sizes: sizes, vals: make([][]byte, len(cols)), rows: &up.rows}
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, feed, "COPY "+qt+" FROM STDIN (FORMAT csv)"); err != nil {
		if feed.err != nil {
			return nil, govx.E(op, feed.err)
		}
		return nil, postgres.Translate(op, err, "")
	}
	// Indexes after the rows are in: one build per column is far cheaper
	// than maintaining them row by row. Each ends in the row number, the
	// sort's final key, so a page sorted on one column is an index range
	// scan that stops after limit+1 rows instead of a sort of every match.
	up.phase.Store(PhaseIndexing)
	stmts := []string{"ALTER TABLE " + qt + " ADD PRIMARY KEY (" + rowColumn + ")"}
	for _, c := range cols {
		stmts = append(stmts, "CREATE INDEX ON "+qt+" ("+pgx.Identifier{c.Name}.Sanitize()+", "+rowColumn+")")
	}
	for _, idx := range indexes {
		var keys strings.Builder
		for _, name := range idx {
			keys.WriteString(pgx.Identifier{name}.Sanitize() + ", ")
		}
		stmts = append(stmts, "CREATE INDEX ON "+qt+" ("+keys.String()+rowColumn+")")
	}
	stmts = append(stmts, "ANALYZE "+qt)
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, st); err != nil {
			return nil, postgres.Translate(op, err, "")
		}
	}
	colsJSON, _ := json.Marshal(cols)
	if _, err := tx.Exec(ctx, `INSERT INTO opendata.versions (dataset, version, columns, row_count, csv_bytes, json_bytes, ndjson_bytes, table_name)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, id, n, colsJSON, sizes.rows, sizes.csv, sizes.jsonBytes(), sizes.ndjson, table); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if _, err := tx.Exec(ctx, `UPDATE opendata.datasets SET latest=$2, modified=now() WHERE id=$1`, id, n); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	s.setLatest(id, n)
	return s.Version(ctx, id, n)
}

// copyFeed is the COPY input: each row checked against its column types,
// turned into canonical values and written as CSV with its line number as
// the hidden row column. It reads one row at a time: an upload of any size
// passes through in constant memory.
type copyFeed struct {
	cols  []Column
	next  rowFunc
	sizes *exportSizes
	vals  [][]byte
	buf   bytes.Buffer
	row   []byte
	err   error
	done  bool
	rows  *atomic.Int64 // rows encoded so far, for the load's progress
}

func (f *copyFeed) Read(p []byte) (int, error) {
	for f.buf.Len() == 0 {
		if f.done {
			return 0, io.EOF
		}
		if err := f.fill(); err != nil {
			if errors.Is(err, io.EOF) {
				f.done = true
				continue
			}
			f.err = err
			return 0, err
		}
	}
	return f.buf.Read(p)
}

// fill encodes up to 64 KiB of rows into buf.
func (f *copyFeed) fill() error {
	f.buf.Reset()
	for f.buf.Len() < 64<<10 {
		rec, line, err := f.next()
		if err != nil {
			return err
		}
		f.row = f.row[:0]
		for i, c := range f.cols {
			raw := rec[i]
			if raw == "" {
				f.vals[i] = nil
				continue
			}
			v, err := canonical(c.Type, raw)
			if err != nil {
				return csvError(line, fmt.Sprintf("column %s: %v", c.Name, err))
			}
			start := len(f.row)
			f.row = append(f.row, v...)
			f.vals[i] = f.row[start:len(f.row):len(f.row)]
		}
		// vals point into row, which is not appended to again until the next row.
		f.sizes.add(f.cols, f.vals)
		f.buf.WriteString(itoa(int64(line)))
		for i, c := range f.cols {
			f.buf.WriteByte(',')
			v := f.vals[i]
			if v == nil {
				continue // unquoted empty: NULL
			}
			if c.Type.quoted() {
				f.buf.WriteByte('"')
				for _, b := range v {
					if b == '"' {
						f.buf.WriteByte('"')
					}
					f.buf.WriteByte(b)
				}
				f.buf.WriteByte('"')
			} else {
				f.buf.Write(v)
			}
		}
		f.buf.WriteByte('\n')
		f.rows.Add(1)
	}
	return nil
}
