// Package schemas embeds the Avro schemas (.avsc) of every message on the
// bus and of every shared resource record. The catalog registers them in its
// schema store at start-up, which assigns the ids that travel in the
// Confluent wire format.
//
// A file is named after its subject: "<subject>.avsc". Bus envelopes are
// named after their record ("govx.exchange.Request"), resource records after
// the resource code they carry ("population.identity"). Adding a schema is
// adding a file.
package schemas

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.avsc
var FS embed.FS

// Subjects of the bus envelopes; resource subjects are the resource codes.
const (
	Request            = "govx.exchange.Request"
	Reply              = "govx.exchange.Reply"
	Event              = "govx.exchange.Event"
	PopulationIdentity = "population.identity"
)

// Subjects lists every embedded subject: the request and reply envelopes
// first, in that order, so that their ids are stable from one deployment to
// the next, then the rest by name.
func Subjects() []string {
	entries, _ := fs.Glob(FS, "*.avsc")
	out := []string{Request, Reply}
	for _, e := range entries {
		if s := strings.TrimSuffix(e, ".avsc"); s != Request && s != Reply {
			out = append(out, s)
		}
	}
	sort.Strings(out[2:])
	return out
}

// Registrar takes a schema under a subject. *avro.Codec satisfies it.
type Registrar interface {
	Register(ctx context.Context, subject, schema string) (int, error)
}

// RegisterAll registers every embedded schema with r, in Subjects order.
func RegisterAll(ctx context.Context, r Registrar) error {
	for _, s := range Subjects() {
		text, err := Text(s)
		if err != nil {
			return err
		}
		if _, err := r.Register(ctx, s, text); err != nil {
			return err
		}
	}
	return nil
}

// Text returns the schema text of an embedded subject.
func Text(subject string) (string, error) {
	if strings.ContainsAny(subject, "/\\") {
		return "", fmt.Errorf("schemas: no embedded schema for subject %q", subject)
	}
	b, err := FS.ReadFile(subject + ".avsc")
	if err != nil {
		return "", fmt.Errorf("schemas: no embedded schema for subject %q", subject)
	}
	return string(b), nil
}
