package catalog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"govx"
	"govx/catalog"
)

// person is a record govx.test.Person with the given fields (JSON).
func person(fields ...string) string {
	return `{"type": "record", "name": "Person", "namespace": "govx.test", "fields": [` + strings.Join(fields, ", ") + `]}`
}

func mustParse(tb testing.TB, text string) avro.Schema {
	tb.Helper()
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		tb.Fatalf("parse %s: %v", text, err)
	}
	return s
}

const (
	fName       = `{"name": "name", "type": "string"}`
	fAgeInt     = `{"name": "age", "type": "int"}`
	fAgeInt0    = `{"name": "age", "type": "int", "default": 0}`
	fAgeString  = `{"name": "age", "type": "string"}`
	fAgeLong    = `{"name": "age", "type": "long"}`
	fAgeFloat   = `{"name": "age", "type": "float"}`
	fAgeDouble  = `{"name": "age", "type": "double"}`
	fStatus     = `{"name": "status", "type": "string"}`
	fStatusDef  = `{"name": "status", "type": "string", "default": "normal"}`
	fNoteString = `{"name": "note", "type": "string"}`
	fNoteBytes  = `{"name": "note", "type": "bytes"}`
	fNoteOpt    = `{"name": "note", "type": ["null", "string"], "default": null}`
	fNoteOptInt = `{"name": "note", "type": ["null", "string", "int"], "default": null}`
	fTagsInt    = `{"name": "tags", "type": {"type": "array", "items": "int"}}`
	fTagsLong   = `{"name": "tags", "type": {"type": "array", "items": "long"}}`
	fAttrsStr   = `{"name": "attrs", "type": {"type": "map", "values": "string"}}`
	fAttrsInt   = `{"name": "attrs", "type": {"type": "map", "values": "int"}}`
	fHash16     = `{"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 16}}`
	fHash32     = `{"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 32}}`
	fFullName   = `{"name": "full_name", "type": "string", "aliases": ["name"]}`
)

func fSex(symbols string, def string) string {
	d := ""
	if def != "" {
		d = fmt.Sprintf(`, "default": %q`, def)
	}
	return `{"name": "sex", "type": {"type": "enum", "name": "Sex", "symbols": [` + symbols + `]` + d + `}}`
}

func fSender(extra string) string {
	f := `{"name": "name", "type": "string"}`
	if extra != "" {
		f += ", " + extra
	}
	return `{"name": "sender", "type": {"type": "record", "name": "Party", "fields": [` + f + `]}}`
}

// One change from an old schema to a new one, and what each direction of
// Avro schema resolution makes of it: backward is the new schema reading
// data of the old, forward the old reading data of the new. A want is a
// substring of the one message expected; "" means compatible.
var changes = []struct {
	name          string
	old, new      string
	backward, fwd string
}{
	{name: "field added with default", old: person(fName), new: person(fName, fAgeInt0)},
	{name: "field added without default", old: person(fName), new: person(fName, fAgeInt),
		backward: "field `age` added without default (BACKWARD: this schema cannot read data written with version 1, which lacks it)"},
	{name: "field removed without default", old: person(fName, fStatus), new: person(fName),
		fwd: "field `status` removed without default (FORWARD: readers of version 1 need it)"},
	{name: "field removed with default", old: person(fName, fStatusDef), new: person(fName)},
	{name: "field changed type", old: person(fName, fAgeString), new: person(fName, fAgeInt),
		backward: "field `age` changed type from string to int (BACKWARD: int cannot read string written with version 1)",
		fwd:      "field `age` changed type from string to int (FORWARD: readers of version 1 expect string and cannot read int)"},
	{name: "int promoted to long", old: person(fAgeInt), new: person(fAgeLong),
		fwd: "field `age` changed type from int to long"},
	{name: "int promoted to float", old: person(fAgeInt), new: person(fAgeFloat),
		fwd: "field `age` changed type from int to float"},
	{name: "long promoted to double", old: person(fAgeLong), new: person(fAgeDouble),
		fwd: "field `age` changed type from long to double"},
	{name: "float promoted to double", old: person(fAgeFloat), new: person(fAgeDouble),
		fwd: "field `age` changed type from float to double"},
	{name: "double narrowed to int", old: person(fAgeDouble), new: person(fAgeInt),
		backward: "field `age` changed type from double to int", fwd: ""},
	{name: "string and bytes", old: person(fNoteString), new: person(fNoteBytes)},
	{name: "enum symbol added", old: person(fSex(`"MALE", "FEMALE"`, "")), new: person(fSex(`"MALE", "FEMALE", "UNKNOWN"`, "")),
		fwd: "enum `govx.test.Sex` at field `sex`: symbol `UNKNOWN` added and version 1 has no enum default"},
	{name: "enum symbol added, old reader has a default", old: person(fSex(`"MALE", "FEMALE", "UNKNOWN"`, "UNKNOWN")),
		new: person(fSex(`"MALE", "FEMALE", "UNKNOWN", "OTHER"`, "UNKNOWN"))},
	{name: "enum symbol removed", old: person(fSex(`"MALE", "FEMALE", "UNKNOWN"`, "")), new: person(fSex(`"MALE", "FEMALE"`, "")),
		backward: "enum `govx.test.Sex` at field `sex`: symbol `UNKNOWN` removed and no enum default"},
	{name: "made optional", old: person(fNoteString), new: person(fNoteOpt),
		fwd: "field `note`: null may now be written, which version 1 reads as string and cannot read"},
	{name: "union branch added", old: person(fNoteOpt), new: person(fNoteOptInt),
		fwd: "field `note`: int may now be written"},
	{name: "union branch removed", old: person(fNoteOptInt), new: person(fNoteOpt),
		backward: "field `note`: int, which version 1 may write, can no longer be read by [null, string]"},
	{name: "array items promoted", old: person(fTagsInt), new: person(fTagsLong),
		fwd: "field `tags[]` changed type from int to long"},
	{name: "map values changed", old: person(fAttrsStr), new: person(fAttrsInt),
		backward: "field `attrs{}` changed type from string to int", fwd: "field `attrs{}` changed type from string to int"},
	{name: "fixed size changed", old: person(fHash16), new: person(fHash32),
		backward: "fixed `govx.test.Hash` at field `hash` changed size from 16 to 32",
		fwd:      "fixed `govx.test.Hash` at field `hash` changed size from 16 to 32"},
	{name: "record renamed", old: person(fName), new: strings.Replace(person(fName), `"Person"`, `"Citizen"`, 1),
		backward: "the schema: named type renamed from `govx.test.Person` to `govx.test.Citizen`",
		fwd:      "the schema: named type renamed from `govx.test.Person` to `govx.test.Citizen`"},
	{name: "record renamed with the old name as alias", old: person(fName),
		new: strings.Replace(person(fName), `"Person"`, `"Citizen", "aliases": ["govx.test.Person"]`, 1),
		fwd: "named type renamed from `govx.test.Person` to `govx.test.Citizen`"},
	{name: "field renamed with alias", old: person(fName), new: person(fFullName),
		fwd: "field `name` removed without default"},
	{name: "nested field added without default", old: person(fSender("")), new: person(fSender(`{"name": "phone", "type": "string"}`)),
		backward: "field `sender.phone` added without default"},
	{name: "recursive record", old: `{"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}`,
		new: `{"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}, {"name": "v", "type": "int", "default": 0}]}`},
	{name: "top-level type changed", old: `"string"`, new: `"int"`,
		backward: "the schema changed type from string to int", fwd: "the schema changed type from string to int"},
}

// Each rule of schema resolution, in both directions, with the message
// naming the field and the rule; hamba/avro's own checker agrees on the
// verdict.
func TestResolutionRules(t *testing.T) {
	for _, tc := range changes {
		t.Run(tc.name, func(t *testing.T) {
			old, next := mustParse(t, tc.old), mustParse(t, tc.new)
			prior := []catalog.PriorVersion{{Version: 1, Schema: old}}
			for _, dir := range []struct {
				mode   catalog.Compatibility
				want   string
				reader avro.Schema
				writer avro.Schema
			}{
				{catalog.Backward, tc.backward, next, old},
				{catalog.Forward, tc.fwd, old, next},
			} {
				got := catalog.CheckCompatibility(dir.mode, next, prior)
				switch {
				case dir.want == "" && len(got) > 0:
					t.Errorf("%s: refused: %q", dir.mode, got)
				case dir.want != "" && len(got) != 1:
					t.Errorf("%s: %d messages %q, want one holding %q", dir.mode, len(got), got, dir.want)
				case dir.want != "" && !strings.Contains(got[0], dir.want):
					t.Errorf("%s:\n got %q\nwant %q", dir.mode, got[0], dir.want)
				}
				// A checker per call: hamba/avro caches verdicts by the
				// Parsing Canonical Form, which has no defaults, so two
				// cases differing only in a default would share one.
				herr := avro.NewSchemaCompatibility().Compatible(dir.reader, dir.writer)
				if (herr == nil) != (len(got) == 0) {
					t.Errorf("%s: hamba/avro says %v, we say %q", dir.mode, herr, got)
				}
			}
		})
	}
}

// Every mode against a history of versions: transitive modes see all of
// them, the others only the latest. The same cases run through the store,
// where a refused registration is a Conflict and stores nothing.
var modeCases = []struct {
	name    string
	mode    catalog.Compatibility
	history []string
	next    string
	want    string // substring of the refusal; "" means accepted
}{
	{"BACKWARD accepts what only the latest can be read with", catalog.Backward,
		[]string{person(fName), person(fName, fAgeInt0)}, person(fName, fAgeInt), ""},
	{"BACKWARD_TRANSITIVE checks the first version too", catalog.BackwardTransitive,
		[]string{person(fName), person(fName, fAgeInt0)}, person(fName, fAgeInt),
		"field `age` added without default (BACKWARD_TRANSITIVE: this schema cannot read data written with version 1, which lacks it)"},
	{"BACKWARD refuses a new field without default", catalog.Backward,
		[]string{person(fName)}, person(fName, fAgeInt), "field `age` added without default (BACKWARD"},
	{"BACKWARD accepts a removed field", catalog.Backward,
		[]string{person(fName, fStatus)}, person(fName), ""},
	{"FORWARD refuses a removed field without default", catalog.Forward,
		[]string{person(fName, fStatus)}, person(fName), "field `status` removed without default (FORWARD: readers of version 1 need it)"},
	{"FORWARD accepts what only the latest can read", catalog.Forward,
		[]string{person(fName, fStatus), person(fName, fStatusDef)}, person(fName), ""},
	{"FORWARD_TRANSITIVE checks the first version too", catalog.ForwardTransitive,
		[]string{person(fName, fStatus), person(fName, fStatusDef)}, person(fName),
		"field `status` removed without default (FORWARD_TRANSITIVE: readers of version 1 need it)"},
	{"FULL accepts an optional field", catalog.Full,
		[]string{person(fName)}, person(fName, fAgeInt0), ""},
	{"FULL refuses a promotion", catalog.Full,
		[]string{person(fAgeInt)}, person(fAgeLong), "field `age` changed type from int to long (FULL: readers of version 1 expect int"},
	{"FULL accepts what only the latest is compatible with", catalog.Full,
		[]string{person(fName, `{"name": "b", "type": "int", "default": 0}`), person(fName)},
		person(fName, `{"name": "b", "type": "string", "default": ""}`), ""},
	{"FULL_TRANSITIVE checks the first version too", catalog.FullTransitive,
		[]string{person(fName, `{"name": "b", "type": "int", "default": 0}`), person(fName)},
		person(fName, `{"name": "b", "type": "string", "default": ""}`),
		"field `b` changed type from int to string (FULL_TRANSITIVE"},
	{"NONE accepts anything", catalog.None,
		[]string{person(fAgeString)}, person(fAgeInt), ""},
}

func TestModes(t *testing.T) {
	for _, tc := range modeCases {
		t.Run(tc.name, func(t *testing.T) {
			var prior []catalog.PriorVersion
			for i, h := range tc.history {
				prior = append(prior, catalog.PriorVersion{Version: i + 1, Schema: mustParse(t, h)})
			}
			got := catalog.CheckCompatibility(tc.mode, mustParse(t, tc.next), prior)
			if tc.want == "" && len(got) > 0 {
				t.Fatalf("refused: %q", got)
			}
			if tc.want != "" && !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Fatalf("messages %q, want one holding %q", got, tc.want)
			}
		})
	}

	ctx := context.Background()
	s, pool := mustStore(t)
	for i, tc := range modeCases {
		t.Run("store/"+tc.name, func(t *testing.T) {
			subject := fmt.Sprintf("test.modes-%d", i)
			if err := s.SetCompatibility(ctx, subject, catalog.None); err != nil {
				t.Fatal(err)
			}
			for _, h := range tc.history {
				if _, err := s.RegisterSchema(ctx, subject, h); err != nil {
					t.Fatalf("history: %v", err)
				}
			}
			if err := s.SetCompatibility(ctx, subject, tc.mode); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Compatibility(ctx, subject); err != nil || got != tc.mode {
				t.Fatalf("Compatibility = %v, %v; want %v", got, err, tc.mode)
			}
			_, err := s.RegisterSchema(ctx, subject, tc.next)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("RegisterSchema: %v", err)
				}
				return
			}
			wantErr(t, err, govx.KindConflict, "incompatible_schema")
			if !strings.Contains(govx.ErrorMessage(err), tc.want) {
				t.Errorf("message %q, want it to hold %q", govx.ErrorMessage(err), tc.want)
			}
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM catalog.schemas WHERE subject = $1`, subject).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != len(tc.history) {
				t.Errorf("subject holds %d versions after a refusal, want %d", n, len(tc.history))
			}
		})
	}
}

// The registry-wide mode applies to subjects without their own; the
// default is BACKWARD.
func TestCompatibilityConfig(t *testing.T) {
	ctx := context.Background()
	s, _ := mustStore(t)
	check := func(subject string, want catalog.Compatibility) {
		t.Helper()
		if got, err := s.Compatibility(ctx, subject); err != nil || got != want {
			t.Errorf("Compatibility(%q) = %v, %v; want %v", subject, got, err, want)
		}
	}
	check("", catalog.Backward)
	check("test.a", catalog.Backward)
	if err := s.SetCompatibility(ctx, "", catalog.Full); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCompatibility(ctx, "test.b", catalog.None); err != nil {
		t.Fatal(err)
	}
	check("", catalog.Full)
	check("test.a", catalog.Full)
	check("test.b", catalog.None)

	// The global mode is enforced: FULL refuses a new field without default.
	if _, err := s.RegisterSchema(ctx, "test.a", person(fName)); err != nil {
		t.Fatal(err)
	}
	_, err := s.RegisterSchema(ctx, "test.a", person(fName, fAgeInt))
	wantErr(t, err, govx.KindConflict, "incompatible_schema")

	err = s.SetCompatibility(ctx, "test.a", "SIDEWAYS")
	wantErr(t, err, govx.KindInvalid, "invalid_compatibility")
	for _, in := range []string{"full_transitive", " NONE "} {
		if _, err := catalog.ParseCompatibility(in); err != nil {
			t.Errorf("ParseCompatibility(%q): %v", in, err)
		}
	}
}
