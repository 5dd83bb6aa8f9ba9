package openapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/internal/httpx"
)

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
	maxFilters   = 20
	maxInValues  = 100
)

// Op is a filter operator.
type Op string

const (
	OpEq     Op = "eq"
	OpNe     Op = "ne"
	OpLt     Op = "lt"
	OpLte    Op = "lte"
	OpGt     Op = "gt"
	OpGte    Op = "gte"
	OpIn     Op = "in"
	OpPrefix Op = "prefix"
)

var compare = map[Op]string{OpEq: "=", OpNe: "<>", OpLt: "<", OpLte: "<=", OpGt: ">", OpGte: ">="}

// Filter is one condition on a declared column; Values are canonical.
type Filter struct {
	Column Column
	Op     Op
	Values []string
}

// SortKey orders by a declared column.
type SortKey struct {
	Column Column
	Desc   bool
}

// Query is a parsed records or export request against one version's
// columns. Every identifier in it comes from the declared columns.
type Query struct {
	Fields  []Column // selected columns, in the order asked; all when none asked
	Filters []Filter
	Sort    []SortKey
	Limit   int
	Cursor  string
	Count   bool
}

func filterInvalid(format string, args ...any) error {
	return govx.Errorf(govx.KindInvalid, "filter_invalid", format, args...)
}

func unknownColumn(name string) error {
	return govx.Errorf(govx.KindInvalid, "unknown_column", "no column %q in this dataset", httpx.Truncate(name, 70))
}

func lookup(cols []Column, name string) (Column, error) {
	for _, c := range cols {
		if c.Name == name {
			return c, nil
		}
	}
	return Column{}, unknownColumn(name)
}

// ParseQuery reads fields, filter, sort, limit, cursor and count from q
// against cols. Filters are "column:op:value", repeated (all must hold); in
// takes comma-separated values with "\," for a comma inside a value and
// "\\" for a backslash; prefix applies to text columns.
func ParseQuery(q url.Values, cols []Column) (*Query, error) {
	out := &Query{Limit: DefaultLimit}
	if f := q.Get("fields"); f != "" {
		seen := map[string]bool{}
		for name := range strings.SplitSeq(f, ",") {
			name = strings.TrimSpace(name)
			c, err := lookup(cols, name)
			if err != nil {
				return nil, err
			}
			if !seen[name] {
				seen[name] = true
				out.Fields = append(out.Fields, c)
			}
		}
	} else {
		out.Fields = cols
	}
	if len(q["filter"]) > maxFilters {
		return nil, filterInvalid("at most %d filters", maxFilters)
	}
	for _, raw := range q["filter"] {
		f, err := ParseFilter(raw, cols)
		if err != nil {
			return nil, err
		}
		out.Filters = append(out.Filters, f)
	}
	if s := q.Get("sort"); s != "" {
		var err error
		if out.Sort, err = ParseSort(s, cols); err != nil {
			return nil, err
		}
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		switch {
		case err != nil || n < 1:
			return nil, govx.Errorf(govx.KindInvalid, "limit_invalid", "limit is a whole number from 1 to %d", MaxLimit)
		case n > MaxLimit:
			return nil, govx.Errorf(govx.KindInvalid, "limit_too_large", "limit is at most %d; page on with the cursor", MaxLimit)
		}
		out.Limit = n
	}
	out.Cursor = q.Get("cursor")
	switch q.Get("count") {
	case "", "false":
	case "true":
		out.Count = true
	default:
		return nil, govx.Errorf(govx.KindInvalid, "count_invalid", "count is true or false")
	}
	return out, nil
}

// ParseFilter reads one "column:op:value" filter.
func ParseFilter(raw string, cols []Column) (Filter, error) {
	name, rest, ok := strings.Cut(raw, ":")
	if !ok {
		return Filter{}, filterInvalid("filter %q is not column:op:value", httpx.Truncate(raw, 70))
	}
	opName, value, ok := strings.Cut(rest, ":")
	if !ok {
		return Filter{}, filterInvalid("filter %q is not column:op:value", httpx.Truncate(raw, 70))
	}
	c, err := lookup(cols, name)
	if err != nil {
		return Filter{}, err
	}
	f := Filter{Column: c, Op: Op(opName)}
	switch f.Op {
	case OpEq, OpNe, OpLt, OpLte, OpGt, OpGte:
		v, err := filterValue(c, value)
		if err != nil {
			return Filter{}, err
		}
		f.Values = []string{v}
	case OpIn:
		vals, err := splitIn(value)
		if err != nil {
			return Filter{}, err
		}
		for _, raw := range vals {
			v, err := filterValue(c, raw)
			if err != nil {
				return Filter{}, err
			}
			f.Values = append(f.Values, v)
		}
	case OpPrefix:
		if c.Type != Text {
			return Filter{}, filterInvalid("prefix applies to text columns; %s is %s", c.Name, c.Type)
		}
		if value == "" {
			return Filter{}, filterInvalid("prefix needs a value")
		}
		v, err := filterValue(c, value)
		if err != nil {
			return Filter{}, err
		}
		f.Values = []string{v}
	default:
		return Filter{}, filterInvalid("unknown operator %q; use eq, ne, lt, lte, gt, gte, in or prefix", httpx.Truncate(opName, 20))
	}
	return f, nil
}

func filterValue(c Column, raw string) (string, error) {
	if raw == "" {
		return "", filterInvalid("filter on %s has an empty value", c.Name)
	}
	v, err := canonical(c.Type, raw)
	if err != nil {
		return "", filterInvalid("filter on %s: %v", c.Name, err)
	}
	return v, nil
}

func splitIn(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) || (s[i+1] != ',' && s[i+1] != '\\') {
				return nil, filterInvalid(`in values escape only "\," and "\\"`)
			}
			i++
			cur.WriteByte(s[i])
		case ',':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	out = append(out, cur.String())
	if len(out) > maxInValues {
		return nil, filterInvalid("in takes at most %d values", maxInValues)
	}
	return out, nil
}

// ParseSort reads "col,-col": a leading "-" sorts descending.
func ParseSort(s string, cols []Column) ([]SortKey, error) {
	var out []SortKey
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		k := SortKey{}
		name := strings.TrimSpace(part)
		if strings.HasPrefix(name, "-") {
			k.Desc, name = true, name[1:]
		}
		c, err := lookup(cols, name)
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, govx.Errorf(govx.KindInvalid, "sort_invalid", "column %q is sorted on twice", name)
		}
		seen[name] = true
		k.Column = c
		out = append(out, k)
	}
	if len(out) > 5 {
		return nil, govx.Errorf(govx.KindInvalid, "sort_invalid", "sort on at most 5 columns")
	}
	return out, nil
}

// ident quotes a declared column name.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// textExpr selects a column as its canonical text.
func textExpr(c Column) string {
	q := ident(c.Name)
	switch c.Type {
	case Text:
		return q
	case Date:
		return "to_char(" + q + ",'YYYY-MM-DD')"
	case Timestamp:
		return "to_char(" + q + ` AT TIME ZONE 'UTC','YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
	default:
		return q + "::text"
	}
}

// param casts a text parameter to the column's type.
func param(c Column, n int) string {
	t := c.Type.sqlType()
	if c.Type == Text {
		t = "text"
	}
	return "$" + strconv.Itoa(n) + "::text::" + t
}

// sqlBuilder collects SQL text and its arguments.
type sqlBuilder struct {
	sql  strings.Builder
	args []any
}

func (b *sqlBuilder) arg(v any) int {
	b.args = append(b.args, v)
	return len(b.args)
}

func (b *sqlBuilder) where(filters []Filter) {
	for _, f := range filters {
		b.sql.WriteString(" AND ")
		q := ident(f.Column.Name)
		switch f.Op {
		case OpIn:
			t := f.Column.Type.sqlType()
			if f.Column.Type == Text {
				t = "text"
			}
			n := b.arg(f.Values)
			b.sql.WriteString(q + " = ANY($" + strconv.Itoa(n) + "::text[]::" + t + "[])")
		case OpPrefix:
			lo := b.arg(f.Values[0])
			hi := b.arg(f.Values[0] + "\U0010FFFF")
			b.sql.WriteString("(" + q + " >= $" + strconv.Itoa(lo) + "::text AND " + q + " < $" + strconv.Itoa(hi) +
				"::text AND starts_with(" + q + ", $" + strconv.Itoa(lo) + "::text))")
		default:
			n := b.arg(f.Values[0])
			b.sql.WriteString(q + " " + compare[f.Op] + " " + param(f.Column, n))
		}
	}
}

// cursor is what a next-page cursor carries: the version it is pinned to,
// a digest of the filters and sort it continues, and the sort key of the
// last row served.
type cursor struct {
	Version int       `json:"v"`
	Query   string    `json:"q"`
	Keys    []*string `json:"k,omitempty"`
	Row     int64     `json:"r"`
}

func cursorInvalid() error {
	return govx.Errorf(govx.KindInvalid, "cursor_invalid", "the cursor is not one this API issued for this dataset and query")
}

// digest identifies the dataset, filters and sort a cursor belongs to.
func (q *Query) digest(dataset string) string {
	h := sha256.New()
	// "k2": the row number follows the last sort key's direction; cursors
	// issued under the old, always ascending, order are refused rather
	// than continued in a different order.
	h.Write([]byte("k2\x00" + dataset))
	for _, f := range q.Filters {
		h.Write([]byte{0})
		h.Write([]byte(f.Column.Name + "\x00" + string(f.Op)))
		for _, v := range f.Values {
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(len(v)))
			h.Write(n[:])
			h.Write([]byte(v))
		}
	}
	h.Write([]byte{1})
	for _, k := range q.Sort {
		h.Write([]byte(k.Column.Name))
		if k.Desc {
			h.Write([]byte{'-'})
		}
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

func sealCursor(key []byte, c cursor) string {
	payload, _ := json.Marshal(c)
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func openCursor(key []byte, s string) (cursor, error) {
	var c cursor
	p, sig, ok := strings.Cut(s, ".")
	if !ok || len(s) > 8192 {
		return c, cursorInvalid()
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return c, cursorInvalid()
	}
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	if !hmac.Equal(mac, m.Sum(nil)[:16]) {
		return c, cursorInvalid()
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Version < 1 {
		return c, cursorInvalid()
	}
	return c, nil
}

// pageSQL builds the records query of one page: the selected fields as
// canonical text, then the sort keys and the row number, limit+1 rows to
// know whether another page follows.
func (q *Query) pageSQL(table string, after *cursor) (string, []any) {
	b := &sqlBuilder{}
	b.sql.WriteString("SELECT ")
	for _, c := range q.Fields {
		b.sql.WriteString(textExpr(c) + ", ")
	}
	for _, k := range q.Sort {
		b.sql.WriteString(textExpr(k.Column) + ", ")
	}
	b.sql.WriteString(rowColumn + "::text FROM " + table + " t WHERE true")
	b.where(q.Filters)
	if after != nil {
		b.sql.WriteString(" AND (")
		b.keyset(q.Sort, after)
		b.sql.WriteString(")")
		b.keysetBound(q.Sort, after)
	}
	b.orderBy(q.Sort)
	b.sql.WriteString(" LIMIT " + strconv.Itoa(q.Limit+1))
	return b.sql.String(), b.args
}

// rowDesc says whether the row number, the final sort key, runs
// descending: it follows the last declared key, so that "ORDER BY a DESC"
// becomes "a DESC, _row DESC", which an index on (a, _row) serves read
// backwards, where "a DESC, _row" would need a sort of every matching row.
func rowDesc(sort []SortKey) bool { return len(sort) > 0 && sort[len(sort)-1].Desc }

func (b *sqlBuilder) orderBy(sort []SortKey) {
	// Qualified: a bare name would be the select list's text rendering of
	// the column, which orders as text.
	b.sql.WriteString(" ORDER BY ")
	for _, k := range sort {
		b.sql.WriteString("t." + ident(k.Column.Name))
		if k.Desc {
			b.sql.WriteString(" DESC")
		}
		b.sql.WriteString(", ")
	}
	b.sql.WriteString("t." + rowColumn)
	if rowDesc(sort) {
		b.sql.WriteString(" DESC")
	}
}

// keyset writes the condition "comes after the cursor's row" under
// PostgreSQL's default null order (NULLS LAST ascending, NULLS FIRST
// descending), with the row number as the final ascending key.
func (b *sqlBuilder) keyset(sort []SortKey, after *cursor) {
	var eqs []string
	first := true
	or := func(cond string) {
		if cond == "" {
			return
		}
		if !first {
			b.sql.WriteString(" OR ")
		}
		first = false
		b.sql.WriteString("(")
		for _, e := range eqs {
			b.sql.WriteString(e + " AND ")
		}
		b.sql.WriteString(cond + ")")
	}
	for i, k := range sort {
		q := ident(k.Column.Name)
		v := after.Keys[i]
		var gt, eq string
		if v == nil {
			eq = q + " IS NULL"
			if k.Desc {
				gt = q + " IS NOT NULL"
			}
		} else {
			p := param(k.Column, b.arg(*v))
			eq = q + " = " + p
			if k.Desc {
				gt = q + " < " + p
			} else {
				gt = "(" + q + " > " + p + " OR " + q + " IS NULL)"
			}
		}
		or(gt)
		eqs = append(eqs, eq)
	}
	cmp := " > $"
	if rowDesc(sort) {
		cmp = " < $"
	}
	or(rowColumn + cmp + strconv.Itoa(b.arg(after.Row)))
}

// keysetBound writes a range condition on the first sort key that the
// keyset condition implies, so the planner can start the index scan at the
// cursor instead of filtering every earlier row: descending, NULLs come
// first, so every later row is non-null and at most the cursor's value.
// Ascending (NULLs last) has no such single range, nor has a NULL key.
func (b *sqlBuilder) keysetBound(sort []SortKey, after *cursor) {
	if len(sort) == 0 || !sort[0].Desc || after.Keys[0] == nil {
		return
	}
	k := sort[0]
	b.sql.WriteString(" AND " + ident(k.Column.Name) + " <= " + param(k.Column, b.arg(*after.Keys[0])))
}

// countSQL counts the rows the filters match.
func (q *Query) countSQL(table string) (string, []any) {
	b := &sqlBuilder{}
	b.sql.WriteString("SELECT count(*) FROM " + table + " WHERE true")
	b.where(q.Filters)
	return b.sql.String(), b.args
}

// exportSQL selects every matching row's fields as canonical text.
func (q *Query) exportSQL(table string) (string, []any) {
	b := &sqlBuilder{}
	b.sql.WriteString("SELECT ")
	for i, c := range q.Fields {
		if i > 0 {
			b.sql.WriteString(", ")
		}
		b.sql.WriteString(textExpr(c))
	}
	b.sql.WriteString(" FROM " + table + " t WHERE true")
	b.where(q.Filters)
	b.orderBy(q.Sort)
	return b.sql.String(), b.args
}

// nextURL is the path and query of the page after this one.
func nextURL(path string, in url.Values, cursor string) string {
	v := url.Values{}
	for k, vs := range in {
		if k != "cursor" && k != "count" {
			v[k] = vs
		}
	}
	v.Set("cursor", cursor)
	return path + "?" + v.Encode()
}
