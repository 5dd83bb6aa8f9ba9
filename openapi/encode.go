package openapi

import (
	"strconv"
	"unicode/utf8"
)

// The one encoding of a row in each export format. The loader uses it to
// record each distribution's byte size; the query and export paths use it
// to write. A value is its canonical text; nil is NULL.

// appendCSVRecord appends vals as one CSV line ending in "\n": NULL is an
// empty field, a value is quoted only when it holds a comma, a quote, a
// line break or leading or trailing space. A text value a spreadsheet
// would take for a formula is neutralised (csvFormula).
func appendCSVRecord(b []byte, cols []Column, vals [][]byte) []byte {
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		if cols[i].Type == Text && csvFormula(v) {
			b = appendCSVField(b, append([]byte{'\''}, v...))
			continue
		}
		b = appendCSVField(b, v)
	}
	return append(b, '\n')
}

// csvFormula reports whether v, a text cell, starts with a character that
// makes a spreadsheet evaluate it (=, +, -, @, TAB, CR). OWASP's advice is
// followed: such a cell is written with a single quote in front, which
// spreadsheets show as text. Only text columns are touched: a number
// column's -3.5 is a number, and its leading minus stays. JSON and NDJSON
// keep every value as it is.
func csvFormula(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

func appendCSVField(b, v []byte) []byte {
	if !csvNeedsQuotes(v) {
		return append(b, v...)
	}
	b = append(b, '"')
	for _, c := range v {
		if c == '"' {
			b = append(b, '"')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

func csvNeedsQuotes(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	if v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' {
		return true
	}
	for _, c := range v {
		switch c {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	return false
}

// appendCSVHeader appends the header line of cols.
func appendCSVHeader(b []byte, cols []Column) []byte {
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c.Name...)
	}
	return append(b, '\n')
}

// appendJSONObject appends one row as a JSON object in column order.
func appendJSONObject(b []byte, cols []Column, vals [][]byte) []byte {
	b = append(b, '{')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, c.Name...) // names are identifiers: nothing to escape
		b = append(b, '"', ':')
		v := vals[i]
		switch {
		case v == nil:
			b = append(b, "null"...)
		case c.Type.quoted():
			b = appendJSONString(b, v)
		default:
			b = append(b, v...)
		}
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping what JSON requires
// and <, >, & and U+2028/9 as encoding/json does not need to here: the
// answers are application/json, never HTML.
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// exportSizes accumulates the byte size of each full-dataset export while
// the loader streams rows.
type exportSizes struct {
	rows                 int64
	csv, objects, ndjson int64
	scratch              []byte
}

func (s *exportSizes) header(cols []Column) {
	s.scratch = appendCSVHeader(s.scratch[:0], cols)
	s.csv += int64(len(s.scratch))
}

func (s *exportSizes) add(cols []Column, vals [][]byte) {
	s.rows++
	s.scratch = appendCSVRecord(s.scratch[:0], cols, vals)
	s.csv += int64(len(s.scratch))
	s.scratch = appendJSONObject(s.scratch[:0], cols, vals)
	s.objects += int64(len(s.scratch))
	s.ndjson += int64(len(s.scratch)) + 1
}

// jsonBytes is the size of the JSON array export: "[" objects joined by
// ",\n" "]\n".
func (s *exportSizes) jsonBytes() int64 {
	if s.rows == 0 {
		return 3
	}
	return 1 + s.objects + 2*(s.rows-1) + 2
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
