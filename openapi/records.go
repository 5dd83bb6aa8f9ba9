package openapi

import (
	"bufio"
	"context"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/internal/postgres"
)

// Page is one page of records, already encoded.
type Page struct {
	Version *Version
	Fields  []Column
	Records []byte // a JSON array of objects
	N       int
	Cursor  string // of the next page; "" on the last
	Total   *int64 // only when asked for
}

// Records runs q against version v (0: the latest, or the version the
// cursor is pinned to). cursorKey signs and checks cursors.
func (s *Store) Records(ctx context.Context, id string, version int, q *Query, cursorKey []byte) (*Page, error) {
	const op = "openapi.Store.Records"
	var after *cursor
	if q.Cursor != "" {
		c, err := openCursor(cursorKey, q.Cursor)
		if err != nil {
			return nil, govx.E(op, err)
		}
		if version != 0 && version != c.Version {
			return nil, govx.E(op, cursorInvalid())
		}
		version = c.Version
		after = &c
	}
	v, err := s.Version(ctx, id, version)
	if err != nil {
		return nil, err
	}
	if err := q.bind(v); err != nil {
		return nil, govx.E(op, err)
	}
	digest := q.digest(id)
	if after != nil && (after.Query != digest || len(after.Keys) != len(q.Sort)) {
		return nil, govx.E(op, cursorInvalid())
	}
	table := pgx.Identifier{"opendata_rows", v.table}.Sanitize()
	sql, args := q.pageSQL(table, after)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	page := &Page{Version: v, Fields: q.Fields}
	buf := make([]byte, 0, 256*q.Limit)
	buf = append(buf, '[')
	nf, ns := len(q.Fields), len(q.Sort)
	// The last served row's sort keys and row number, copied into scratch
	// space reused row after row: only the extra row turns them into a
	// cursor.
	lastKeys := make([][]byte, ns+1)
	lastNull := make([]bool, ns)
	for rows.Next() {
		raw := rows.RawValues()
		if page.N == q.Limit {
			// The extra row: another page follows the last one served.
			last := cursor{Version: v.Number, Query: digest, Keys: make([]*string, ns), Row: parseInt(lastKeys[ns])}
			for i := range ns {
				if !lastNull[i] {
					s := string(lastKeys[i])
					last.Keys[i] = &s
				}
			}
			page.Cursor = sealCursor(cursorKey, last)
			break
		}
		if page.N > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONObject(buf, q.Fields, raw[:nf])
		page.N++
		for i := range ns {
			lastNull[i] = raw[nf+i] == nil
			lastKeys[i] = append(lastKeys[i][:0], raw[nf+i]...)
		}
		lastKeys[ns] = append(lastKeys[ns][:0], raw[nf+ns]...)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	page.Records = append(buf, ']')
	if q.Count {
		sql, args := q.countSQL(table)
		var n int64
		if err := s.pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		page.Total = &n
	}
	return page, nil
}

// bind checks q's columns against v's: a query parsed against one version
// may name a column another lacks.
func (q *Query) bind(v *Version) error {
	for _, c := range q.Fields {
		if have, ok := v.Column(c.Name); !ok || have.Type != c.Type {
			return unknownColumn(c.Name)
		}
	}
	for _, f := range q.Filters {
		if have, ok := v.Column(f.Column.Name); !ok || have.Type != f.Column.Type {
			return unknownColumn(f.Column.Name)
		}
	}
	for _, k := range q.Sort {
		if have, ok := v.Column(k.Column.Name); !ok || have.Type != k.Column.Type {
			return unknownColumn(k.Column.Name)
		}
	}
	return nil
}

// parseInt reads the row number, selected as text.
func parseInt(b []byte) int64 {
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return n
}

// Format is an export format.
type Format string

const (
	CSV    Format = "csv"
	JSON   Format = "json"
	NDJSON Format = "ndjson"
)

// ContentType is the format's media type.
func (f Format) ContentType() string {
	switch f {
	case JSON:
		return "application/json; charset=utf-8"
	case NDJSON:
		return "application/x-ndjson; charset=utf-8"
	default:
		return "text/csv; charset=utf-8"
	}
}

// Export streams every row of version v matching q's filters, in q's sort
// order, to w in format f: no row cap, one row in memory at a time. start
// is called once the query runs, before the first byte is written, so a
// caller can still answer an error with a status until then.
func (s *Store) Export(ctx context.Context, v *Version, q *Query, f Format, w io.Writer, start func()) error {
	const op = "openapi.Store.Export"
	if err := q.bind(v); err != nil {
		return govx.E(op, err)
	}
	table := pgx.Identifier{"opendata_rows", v.table}.Sanitize()
	sql, args := q.exportSQL(table)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return postgres.Translate(op, err, "")
	}
	defer rows.Close()
	start()
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 4096)
	switch f {
	case CSV:
		buf = appendCSVHeader(buf, q.Fields)
	case JSON:
		buf = append(buf, '[')
	}
	vals := make([][]byte, len(q.Fields))
	n := 0
	for rows.Next() {
		copy(vals, rows.RawValues())
		switch f {
		case CSV:
			buf = appendCSVRecord(buf, q.Fields, vals)
		case JSON:
			if n > 0 {
				buf = append(buf, ',', '\n')
			}
			buf = appendJSONObject(buf, q.Fields, vals)
		case NDJSON:
			buf = appendJSONObject(buf, q.Fields, vals)
			buf = append(buf, '\n')
		}
		n++
		if len(buf) > 32<<10 {
			if _, err := bw.Write(buf); err != nil {
				return govx.E(op, err)
			}
			buf = buf[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return postgres.Translate(op, err, "")
	}
	if f == JSON {
		buf = append(buf, ']', '\n')
	}
	if _, err := bw.Write(buf); err != nil {
		return govx.E(op, err)
	}
	return bw.Flush()
}
