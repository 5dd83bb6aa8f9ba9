// Package catalog is the shared catalogue of government data resources:
// the departments that provide data, the resources they publish (fields,
// sharing class, key type, Avro schema) and the schema store that assigns
// the ids every bus message carries.
package catalog

import (
	"embed"
	"slices"

	"govx/internal/postgres"
)

// Department is a government department that provides or consumes data.
type Department struct {
	Code    string `json:"code"`
	Name    string `json:"name"`
	Contact string `json:"contact,omitempty"`
}

// Sharing is a resource's sharing class.
type Sharing string

const (
	// Unconditional resources may be read by any department holding the scope.
	Unconditional Sharing = "unconditional"
	// Conditional resources need an approved grant from the provider.
	Conditional Sharing = "conditional"
	// NotShareable resources never leave the provider.
	NotShareable Sharing = "not_shareable"
)

// KeyIDNumber says a resource is keyed by the 18-character resident ID number.
const KeyIDNumber = "id_number"

// Field is one data item of a resource.
type Field struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Personal    bool   `json:"personal"`
}

// Resource is a data resource in the catalogue.
type Resource struct {
	Code          string  `json:"code"`
	Name          string  `json:"name"`
	Provider      string  `json:"provider"`
	Summary       string  `json:"summary,omitempty"`
	KeyType       string  `json:"key_type"`
	Fields        []Field `json:"fields"`
	Sharing       Sharing `json:"sharing"`
	SchemaSubject string  `json:"schema_subject"`
	Status        string  `json:"status"`
}

// FieldNames lists the resource's fields in catalogue order.
func (r *Resource) FieldNames() []string {
	out := make([]string, len(r.Fields))
	for i, f := range r.Fields {
		out[i] = f.Name
	}
	return out
}

// HasField reports whether the resource has a field called name.
func (r *Resource) HasField(name string) bool {
	return slices.ContainsFunc(r.Fields, func(f Field) bool { return f.Name == name })
}

// ValidCode reports whether s has the shape of a resource code
// ("population.identity"): lower-case words joined by dots, at most 100
// bytes. Anything else cannot be in the catalogue and is not looked up.
func ValidCode(s string) bool {
	if len(s) < 3 || len(s) > 100 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	dot := false
	prev := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c == '.':
			if prev == '.' || i == len(s)-1 {
				return false
			}
			dot = true
		default:
			return false
		}
		prev = c
	}
	return dot
}

// RequestTopic is the Kafka topic on which a provider department receives
// requests.
func RequestTopic(department string) string { return "govx.requests." + department }

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationSource is the catalogue's schema migrations.
func MigrationSource() postgres.Source {
	return postgres.SourceDir("catalog", migrations, "migrations")
}
