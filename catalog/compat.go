package catalog

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hamba/avro/v2"

	"govx"
)

// Compatibility is a schema registry compatibility mode: which earlier
// versions of a subject a new version must be compatible with, and in which
// direction. The names are Confluent Schema Registry's.
type Compatibility string

const (
	// Backward: readers of the new schema can read data written with the
	// latest version (consumers upgrade first).
	Backward Compatibility = "BACKWARD"
	// BackwardTransitive: as Backward, against every earlier version.
	BackwardTransitive Compatibility = "BACKWARD_TRANSITIVE"
	// Forward: readers of the latest version can read data written with
	// the new schema (producers upgrade first).
	Forward Compatibility = "FORWARD"
	// ForwardTransitive: as Forward, against every earlier version.
	ForwardTransitive Compatibility = "FORWARD_TRANSITIVE"
	// Full: both Backward and Forward against the latest version.
	Full Compatibility = "FULL"
	// FullTransitive: both directions against every earlier version.
	FullTransitive Compatibility = "FULL_TRANSITIVE"
	// None: no check.
	None Compatibility = "NONE"
)

// DefaultCompatibility applies where neither the subject nor the registry
// sets a mode.
const DefaultCompatibility = Backward

// Compatibilities lists every mode.
var Compatibilities = []Compatibility{Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive, None}

// ParseCompatibility parses a mode name. An unknown name is Invalid with
// code invalid_compatibility.
func ParseCompatibility(s string) (Compatibility, error) {
	c := Compatibility(strings.ToUpper(strings.TrimSpace(s)))
	if !slices.Contains(Compatibilities, c) {
		return "", govx.Errorf(govx.KindInvalid, "invalid_compatibility",
			"invalid compatibility level %q: want one of BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE", truncate(s, 40))
	}
	return c, nil
}

func (c Compatibility) transitive() bool {
	return c == BackwardTransitive || c == ForwardTransitive || c == FullTransitive
}

// backward: the new schema must read what earlier versions wrote.
func (c Compatibility) backward() bool {
	return c == Backward || c == BackwardTransitive || c == Full || c == FullTransitive
}

// forward: earlier versions must read what the new schema writes.
func (c Compatibility) forward() bool {
	return c == Forward || c == ForwardTransitive || c == Full || c == FullTransitive
}

// PriorVersion is an earlier version of a subject that a new schema is
// checked against.
type PriorVersion struct {
	Version int
	Schema  avro.Schema
}

// CheckCompatibility returns why next may not follow prior (the subject's
// live versions, oldest first) under mode, one message per broken rule
// naming the field and the rule; nil when it may. Non-transitive modes check
// against the latest version only.
func CheckCompatibility(mode Compatibility, next avro.Schema, prior []PriorVersion) []string {
	if mode == None || len(prior) == 0 {
		return nil
	}
	against := prior
	if !mode.transitive() {
		against = prior[len(prior)-1:]
	}
	var out []string
	// Newest first: the latest version's problems are the likeliest news.
	for i := len(against) - 1; i >= 0; i-- {
		p := against[i]
		if mode.backward() {
			for _, is := range resolve(next, p.Schema) {
				out = append(out, is.message(mode, true, p.Version))
			}
		}
		if mode.forward() {
			for _, is := range resolve(p.Schema, next) {
				out = append(out, is.message(mode, false, p.Version))
			}
		}
	}
	return out
}

type issueKind int

const (
	missingField issueKind = iota // the reader has a field without default the writer lacks
	typeChanged                   // the reader's type cannot read the writer's
	enumSymbol                    // the writer has a symbol the reader lacks, and no default
	unionBranch                   // a branch of the writer's union the reader cannot read
	fixedSize                     // fixed sizes differ
	nameChanged                   // named types whose full names do not match
)

// issue is one way a reader schema fails to resolve a writer schema, in the
// terms of the Avro specification's schema resolution.
type issue struct {
	kind           issueKind
	path           string // dotted field path; "" for the schema itself
	reader, writer string // type names (typeChanged, unionBranch, nameChanged)
	name           string // the enum or fixed concerned
	symbol         string // enum symbol
	rsize, wsize   int
}

func (i issue) where() string {
	if i.path == "" {
		return "the schema"
	}
	return "field `" + i.path + "`"
}

// message words the issue as a change from version (the older schema) to
// the new one. readerIsNew says which side read: true for the backward
// check, false for the forward one.
func (i issue) message(mode Compatibility, readerIsNew bool, version int) string {
	v := fmt.Sprintf("version %d", version)
	switch i.kind {
	case missingField:
		if readerIsNew {
			return fmt.Sprintf("%s added without default (%s: this schema cannot read data written with %s, which lacks it)", i.where(), mode, v)
		}
		return fmt.Sprintf("%s removed without default (%s: readers of %s need it)", i.where(), mode, v)
	case typeChanged:
		if readerIsNew {
			return fmt.Sprintf("%s changed type from %s to %s (%s: %s cannot read %s written with %s)", i.where(), i.writer, i.reader, mode, i.reader, i.writer, v)
		}
		return fmt.Sprintf("%s changed type from %s to %s (%s: readers of %s expect %s and cannot read %s)", i.where(), i.reader, i.writer, mode, v, i.reader, i.writer)
	case enumSymbol:
		if readerIsNew {
			return fmt.Sprintf("enum `%s` at %s: symbol `%s` removed and no enum default (%s: data written with %s may hold it)", i.name, i.where(), i.symbol, mode, v)
		}
		return fmt.Sprintf("enum `%s` at %s: symbol `%s` added and %s has no enum default (%s: readers of %s cannot read it)", i.name, i.where(), i.symbol, v, mode, v)
	case unionBranch:
		if readerIsNew {
			return fmt.Sprintf("%s: %s, which %s may write, can no longer be read by %s (%s: data written with %s may hold it)", i.where(), i.writer, v, i.reader, mode, v)
		}
		return fmt.Sprintf("%s: %s may now be written, which %s reads as %s and cannot read (%s: readers of %s cannot read it)", i.where(), i.writer, v, i.reader, mode, v)
	case fixedSize:
		from, to := i.wsize, i.rsize
		if !readerIsNew {
			from, to = to, from
		}
		return fmt.Sprintf("fixed `%s` at %s changed size from %d to %d (%s: fixed sizes must match %s)", i.name, i.where(), from, to, mode, v)
	case nameChanged:
		from, to := i.writer, i.reader
		if !readerIsNew {
			from, to = to, from
		}
		return fmt.Sprintf("%s: named type renamed from `%s` to `%s` (%s: named types are matched by full name with %s; keep the name or add the old one as an alias)", i.where(), from, to, mode, v)
	}
	return fmt.Sprintf("%s is incompatible (%s, %s)", i.where(), mode, v)
}

// resolve follows the Avro specification's schema resolution of reader
// against writer and reports every place it would fail.
func resolve(reader, writer avro.Schema) []issue {
	r := &resolver{seen: map[string]bool{}}
	r.resolve(reader, writer, "")
	return r.issues
}

type resolver struct {
	issues []issue
	seen   map[string]bool // record pairs being or already resolved: schemas may recurse
}

func deref(s avro.Schema) avro.Schema {
	for {
		ref, ok := s.(*avro.RefSchema)
		if !ok {
			return s
		}
		s = ref.Schema()
	}
}

func (r *resolver) resolve(reader, writer avro.Schema, path string) {
	reader, writer = deref(reader), deref(writer)
	if wu, ok := writer.(*avro.UnionSchema); ok {
		// Every branch the writer may pick must resolve against the reader.
		for _, wb := range wu.Types() {
			wb = deref(wb)
			rb := reader
			if ru, ok := reader.(*avro.UnionSchema); ok {
				rb = matchBranch(ru, wb)
			} else if !matches(reader, wb) {
				rb = nil
			}
			if rb == nil {
				r.issues = append(r.issues, issue{kind: unionBranch, path: path, reader: typeName(reader), writer: typeName(wb)})
				continue
			}
			r.resolve(rb, wb, path)
		}
		return
	}
	if ru, ok := reader.(*avro.UnionSchema); ok {
		rb := matchBranch(ru, writer)
		if rb == nil {
			r.issues = append(r.issues, issue{kind: typeChanged, path: path, reader: typeName(reader), writer: typeName(writer)})
			return
		}
		r.resolve(rb, writer, path)
		return
	}
	if reader.Type() != writer.Type() {
		if !promotes(writer.Type(), reader.Type()) {
			r.issues = append(r.issues, issue{kind: typeChanged, path: path, reader: typeName(reader), writer: typeName(writer)})
		}
		return
	}
	if rn, ok := reader.(avro.NamedSchema); ok {
		if !namesMatch(rn, writer.(avro.NamedSchema)) {
			r.issues = append(r.issues, issue{kind: nameChanged, path: path, reader: rn.FullName(), writer: writer.(avro.NamedSchema).FullName()})
			return
		}
	}
	switch rs := reader.(type) {
	case *avro.RecordSchema:
		ws := writer.(*avro.RecordSchema)
		key := rs.FullName() + "\x00" + ws.FullName()
		if r.seen[key] {
			return
		}
		r.seen[key] = true
		for _, rf := range rs.Fields() {
			wf := writerField(ws, rf)
			p := joinPath(path, rf.Name())
			if wf == nil {
				if !rf.HasDefault() {
					r.issues = append(r.issues, issue{kind: missingField, path: p})
				}
				continue
			}
			r.resolve(rf.Type(), wf.Type(), p)
		}
	case *avro.EnumSchema:
		ws := writer.(*avro.EnumSchema)
		if rs.HasDefault() {
			return
		}
		for _, sym := range ws.Symbols() {
			if !slices.Contains(rs.Symbols(), sym) {
				r.issues = append(r.issues, issue{kind: enumSymbol, path: path, name: rs.FullName(), symbol: sym})
			}
		}
	case *avro.FixedSchema:
		ws := writer.(*avro.FixedSchema)
		if rs.Size() != ws.Size() {
			r.issues = append(r.issues, issue{kind: fixedSize, path: path, name: rs.FullName(), rsize: rs.Size(), wsize: ws.Size()})
		}
	case *avro.ArraySchema:
		r.resolve(rs.Items(), writer.(*avro.ArraySchema).Items(), path+"[]")
	case *avro.MapSchema:
		r.resolve(rs.Values(), writer.(*avro.MapSchema).Values(), path+"{}")
	}
}

// writerField finds the writer's field for a reader field, by name or by
// one of the reader field's aliases.
func writerField(w *avro.RecordSchema, rf *avro.Field) *avro.Field {
	for _, wf := range w.Fields() {
		if wf.Name() == rf.Name() || slices.Contains(rf.Aliases(), wf.Name()) {
			return wf
		}
	}
	return nil
}

func namesMatch(r, w avro.NamedSchema) bool {
	return r.FullName() == w.FullName() || slices.Contains(r.Aliases(), w.FullName())
}

// matches reports whether reader can be the schema a writer's value
// resolves to: the same kind (and name, for named types) or a promotion.
// Deeper mismatches are then reported by resolve.
func matches(reader, writer avro.Schema) bool {
	reader, writer = deref(reader), deref(writer)
	if reader.Type() != writer.Type() {
		return promotes(writer.Type(), reader.Type())
	}
	if rn, ok := reader.(avro.NamedSchema); ok {
		return namesMatch(rn, writer.(avro.NamedSchema))
	}
	return true
}

// matchBranch picks the reader union's branch for a writer type: the first
// that matches without promotion, else the first that matches with one.
func matchBranch(u *avro.UnionSchema, writer avro.Schema) avro.Schema {
	writer = deref(writer)
	for _, b := range u.Types() {
		b = deref(b)
		if b.Type() == writer.Type() && matches(b, writer) {
			return b
		}
	}
	for _, b := range u.Types() {
		if matches(b, writer) {
			return deref(b)
		}
	}
	return nil
}

// promotes reports whether a writer's primitive type may be read as the
// reader's, by the specification's promotions.
func promotes(writer, reader avro.Type) bool {
	switch writer {
	case avro.Int:
		return reader == avro.Long || reader == avro.Float || reader == avro.Double
	case avro.Long:
		return reader == avro.Float || reader == avro.Double
	case avro.Float:
		return reader == avro.Double
	case avro.String:
		return reader == avro.Bytes
	case avro.Bytes:
		return reader == avro.String
	}
	return false
}

// typeName is how a message names a type: primitives by name, named types
// by full name, arrays, maps and unions by their parts.
func typeName(s avro.Schema) string {
	s = deref(s)
	switch t := s.(type) {
	case avro.NamedSchema:
		return t.FullName()
	case *avro.ArraySchema:
		return "array<" + typeName(t.Items()) + ">"
	case *avro.MapSchema:
		return "map<" + typeName(t.Values()) + ">"
	case *avro.UnionSchema:
		parts := make([]string, len(t.Types()))
		for i, b := range t.Types() {
			parts[i] = typeName(b)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return string(s.Type())
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
