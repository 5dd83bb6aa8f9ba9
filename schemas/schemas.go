// Package schemas embeds the Avro schemas (.avsc) of every message on the
// bus and of every shared resource record. The catalog registers them in its
// schema store at start-up, which assigns the ids that travel in the
// Confluent wire format.
package schemas

import (
	"embed"
	"fmt"
)

//go:embed *.avsc
var FS embed.FS

// Subjects of the embedded schemas. Bus envelopes are named after their
// record; resource records after the resource code they carry.
const (
	Request            = "govx.exchange.Request"
	Reply              = "govx.exchange.Reply"
	PopulationIdentity = "population.identity"
)

var files = map[string]string{
	Request:            "exchange_request.avsc",
	Reply:              "exchange_reply.avsc",
	PopulationIdentity: "population_identity.avsc",
}

// Subjects lists every embedded subject.
func Subjects() []string {
	return []string{Request, Reply, PopulationIdentity}
}

// Text returns the schema text of an embedded subject.
func Text(subject string) (string, error) {
	name, ok := files[subject]
	if !ok {
		return "", fmt.Errorf("schemas: no embedded schema for subject %q", subject)
	}
	b, err := FS.ReadFile(name)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
