package openapi

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"govx"
	"govx/internal/httpx"
)

// Type is a column's data type. Every value of a column is held and served
// in one canonical text form per type, so the byte sizes recorded at load
// time are the sizes of what the exports send.
type Type string

const (
	Integer   Type = "integer"   // 64-bit signed; canonical "-12"
	Number    Type = "number"    // decimal, exact; canonical "-12.50" (no exponent, no leading zeros)
	Boolean   Type = "boolean"   // canonical "true" / "false"; accepts true/false/t/f/yes/no/1/0
	Date      Type = "date"      // canonical "2026-01-31"
	Timestamp Type = "timestamp" // canonical UTC, microseconds: "2026-01-31T08:00:00.000000Z"
	Text      Type = "text"      // UTF-8, no NUL
)

// Types lists every column type, in the order inference tries them.
var Types = []Type{Integer, Number, Boolean, Date, Timestamp, Text}

func (t Type) valid() bool {
	switch t {
	case Integer, Number, Boolean, Date, Timestamp, Text:
		return true
	}
	return false
}

// sqlType is the column's PostgreSQL type in a version table. Text is
// collated "C" so that ordering is byte order everywhere and a btree index
// serves prefix filters.
func (t Type) sqlType() string {
	switch t {
	case Integer:
		return "bigint"
	case Number:
		return "numeric"
	case Boolean:
		return "boolean"
	case Date:
		return "date"
	case Timestamp:
		return "timestamptz"
	default:
		return `text COLLATE "C"`
	}
}

// quoted reports whether JSON renders the type's values as strings.
func (t Type) quoted() bool { return t == Date || t == Timestamp || t == Text }

// Column is one declared column of a dataset version.
type Column struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
}

var columnName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// validateColumns checks names (lower-case identifiers, unique, not
// reserved) and types.
func validateColumns(cols []Column) error {
	if len(cols) == 0 {
		return govx.Errorf(govx.KindInvalid, "columns_invalid", "a dataset needs at least one column")
	}
	if len(cols) > 200 {
		return govx.Errorf(govx.KindInvalid, "columns_invalid", "a dataset has at most 200 columns")
	}
	seen := map[string]bool{}
	for _, c := range cols {
		if !columnName.MatchString(c.Name) || c.Name == rowColumn {
			return govx.Errorf(govx.KindInvalid, "columns_invalid",
				"column name %q is not a lower-case identifier (a-z, 0-9, _; at most 63 characters; not %q)", httpx.Truncate(c.Name, 70), rowColumn)
		}
		if seen[c.Name] {
			return govx.Errorf(govx.KindInvalid, "columns_invalid", "column %q is declared twice", c.Name)
		}
		seen[c.Name] = true
		if !c.Type.valid() {
			return govx.Errorf(govx.KindInvalid, "columns_invalid",
				"column %q has type %q; use integer, number, boolean, date, timestamp or text", c.Name, httpx.Truncate(string(c.Type), 30))
		}
	}
	return nil
}

// ParseColumns reads a column declaration "name:type,name:type".
func ParseColumns(s string) ([]Column, error) {
	var cols []Column
	for part := range strings.SplitSeq(s, ",") {
		name, typ, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, govx.Errorf(govx.KindInvalid, "columns_invalid", "column declaration %q is not name:type", httpx.Truncate(part, 70))
		}
		cols = append(cols, Column{Name: name, Type: Type(typ)})
	}
	return cols, validateColumns(cols)
}

// rowColumn is the hidden column holding each row's line order: the final
// tiebreaker of every sort, so keyset paging is total.
const rowColumn = "_row"

// canonical checks that s is a value of type t and returns its canonical
// text form. Empty strings are NULL and never reach here.
func canonical(t Type, s string) (string, error) {
	switch t {
	case Integer:
		n, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", httpx.Truncate(s, 40))
		}
		return strconv.FormatInt(n, 10), nil
	case Number:
		return canonicalNumber(s)
	case Boolean:
		switch strings.ToLower(s) {
		case "true", "t", "yes", "y", "1":
			return "true", nil
		case "false", "f", "no", "n", "0":
			return "false", nil
		}
		return "", fmt.Errorf("%q is not a boolean", httpx.Truncate(s, 40))
	case Date:
		d, err := time.Parse(time.DateOnly, s)
		if err != nil || d.Year() < 1 {
			return "", fmt.Errorf("%q is not a date (YYYY-MM-DD)", httpx.Truncate(s, 40))
		}
		return d.Format(time.DateOnly), nil
	case Timestamp:
		var ts time.Time
		var err error
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
			if ts, err = time.Parse(layout, s); err == nil {
				break
			}
		}
		if err != nil || ts.UTC().Year() < 1 || ts.UTC().Year() > 9999 {
			return "", fmt.Errorf("%q is not a timestamp (RFC 3339, e.g. 2026-01-31T08:00:00Z; no zone means UTC)", httpx.Truncate(s, 40))
		}
		return ts.UTC().Truncate(time.Microsecond).Format(timestampLayout), nil
	default:
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("text is not valid UTF-8")
		}
		if strings.IndexByte(s, 0) >= 0 {
			return "", fmt.Errorf("text holds a NUL character")
		}
		return s, nil
	}
}

const timestampLayout = "2006-01-02T15:04:05.000000Z"

// canonicalNumber accepts [+-]digits[.digits][e[+-]digits] and returns the
// plain decimal form PostgreSQL's numeric prints for it.
func canonicalNumber(s string) (string, error) {
	bad := fmt.Errorf("%q is not a number", httpx.Truncate(s, 40))
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return "", bad
		}
		mant, exp = s[:i], e
	}
	neg := false
	switch {
	case strings.HasPrefix(mant, "-"):
		neg, mant = true, mant[1:]
	case strings.HasPrefix(mant, "+"):
		mant = mant[1:]
	}
	ip, fp, _ := strings.Cut(mant, ".")
	if ip == "" && fp == "" || !digits(ip) || !digits(fp) || strings.Count(mant, ".") > 1 {
		return "", bad
	}
	if mant == "." {
		return "", bad
	}
	// Shift the decimal point by the exponent.
	all := ip + fp
	point := len(ip) + exp
	if point < 0 {
		all = strings.Repeat("0", -point) + all
		point = 0
	}
	if point > len(all) {
		all += strings.Repeat("0", point-len(all))
	}
	ip, fp = strings.TrimLeft(all[:point], "0"), all[point:]
	if ip == "" {
		ip = "0"
	}
	if len(ip)+len(fp) > 1000 {
		return "", bad
	}
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// infer picks, for each column, the narrowest type every sampled non-empty
// value fits: integer, number, boolean, date, timestamp, then text. A
// column with no values in the sample is text.
func infer(header []string, sample [][]string) []Column {
	cols := make([]Column, len(header))
	for i, name := range header {
		cols[i] = Column{Name: name, Type: Text}
		seen := false
		for _, t := range Types[:len(Types)-1] {
			fits := true
			for _, row := range sample {
				if i >= len(row) || row[i] == "" {
					continue
				}
				seen = true
				if _, err := canonical(t, row[i]); err != nil {
					fits = false
					break
				}
			}
			if fits && seen {
				cols[i].Type = t
				break
			}
		}
	}
	return cols
}
