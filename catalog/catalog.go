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

// Key types: what a resource is looked up by. The exchange checks a key's
// shape (length, check digit or character) before anything else sees it.
const (
	KeyIDNumber      = "id_number"      // 18-character resident ID number, GB 11643
	KeyUSCC          = "uscc"           // 18-character unified social credit code, GB 32100
	KeyLicenceNumber = "licence_number" // licence number as printed on the licence
	KeyHolder        = "holder"         // a USCC or an ID number: lists what the holder has
	KeyDivisionCode  = "division_code"  // 6-digit GB/T 2260 administrative division code
	KeyReference     = "reference"      // the ordering side's reference of a command, e.g. a case number
)

// OpenClass is a resource's open-data class, decided separately from its
// sharing class.
type OpenClass string

const (
	Open              OpenClass = "open"
	ConditionallyOpen OpenClass = "conditionally_open"
	NotOpen           OpenClass = "not_open"
)

// Sharing methods: how consumers receive a resource.
const (
	MethodQuery     = "query"     // one record per request, through the exchange
	MethodSubscribe = "subscribe" // change events on the resource's event topic
	MethodBulk      = "bulk"      // whole-dataset transfer
	// MethodCommand: the resource is an order to the provider (licence.issue),
	// sent through the exchange with a payload, answered with the record the
	// order made. It is authorised and audited as a query is.
	MethodCommand = "command"
)

// Field is one data item of a resource.
type Field struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Personal    bool   `json:"personal"`
	// Subject marks the field that names the data subject (an ID number
	// or USCC) when the key does not, e.g. a licence's holder code: the
	// exchange checks consent against its value.
	Subject bool `json:"subject,omitempty"`
	// Label and LabelEN are the data item's name as people read it (数据项
	// 名称), in Chinese and in English; pages show them instead of Name.
	Label   string `json:"label,omitempty"`
	LabelEN string `json:"label_en,omitempty"`
	// Values, for an enumerated item, are the codes it takes with their
	// labels; a code not listed is shown as it is.
	Values []Value `json:"values,omitempty"`
}

// Value is one code of an enumerated data item and what it means.
type Value struct {
	Code    string `json:"code"`
	Label   string `json:"label"`
	LabelEN string `json:"label_en,omitempty"`
}

// FieldLabel is the label of data item name in language lang ("zh" or
// "en"), or name itself when the catalogue has none.
func (r *Resource) FieldLabel(name, lang string) string {
	for _, f := range r.Fields {
		if f.Name == name {
			return pickLabel(lang, f.Label, f.LabelEN, name)
		}
	}
	return name
}

// ValueLabel is the label of code among the values of data item name in
// language lang, or code itself when the item is not enumerated or the
// code not listed.
func (r *Resource) ValueLabel(name, code, lang string) string {
	for _, f := range r.Fields {
		if f.Name != name {
			continue
		}
		for _, v := range f.Values {
			if v.Code == code {
				return pickLabel(lang, v.Label, v.LabelEN, code)
			}
		}
	}
	return code
}

// pickLabel is en in English when there is one, else zh, else fallback.
func pickLabel(lang, zh, en, fallback string) string {
	switch {
	case lang == "en" && en != "":
		return en
	case zh != "":
		return zh
	case en != "":
		return en
	}
	return fallback
}

// Resource is a data resource in the catalogue, with the metadata a
// government resource catalogue requires.
type Resource struct {
	Code           string    `json:"code"`
	Name           string    `json:"name"`
	Classification string    `json:"classification,omitempty"` // e.g. "base/population"
	Provider       string    `json:"provider"`                 // department code
	ProviderName   string    `json:"provider_name,omitempty"`  // filled in on read
	Summary        string    `json:"summary,omitempty"`
	Format         string    `json:"format,omitempty"` // e.g. "avro"
	KeyType        string    `json:"key_type"`
	Fields         []Field   `json:"fields"`
	Sharing        Sharing   `json:"sharing"`
	Conditions     string    `json:"conditions,omitempty"` // for conditional sharing
	Methods        []string  `json:"methods,omitempty"`    // MethodQuery, MethodSubscribe, MethodBulk, MethodCommand
	OpenClass      OpenClass `json:"open_class,omitempty"`
	UpdateCycle    string    `json:"update_cycle,omitempty"` // e.g. "real-time", "daily"
	LegalBasis     string    `json:"legal_basis,omitempty"`
	PublishedOn    string    `json:"published_on,omitempty"` // YYYY-MM-DD
	Related        []string  `json:"related,omitempty"`      // resource codes
	SchemaSubject  string    `json:"schema_subject"`
	// ConsentRequired is true when the resource has personal fields:
	// asking for any of them needs the data subject's consent. Derived
	// from the fields.
	ConsentRequired bool   `json:"consent_required"`
	Status          string `json:"status"`            // active or retired
	Version         int    `json:"version,omitempty"` // bumped by every change
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

// Personal reports whether any of fields is a personal field of the
// resource: then the data subject's consent is needed to receive them.
func (r *Resource) Personal(fields []string) bool {
	for _, f := range r.Fields {
		if f.Personal && slices.Contains(fields, f.Name) {
			return true
		}
	}
	return false
}

// SubjectField returns the field that names the data subject, or "" when
// the key itself does (see KeyNamesSubject).
func (r *Resource) SubjectField() string {
	if KeyNamesSubject(r.KeyType) {
		return ""
	}
	for _, f := range r.Fields {
		if f.Subject {
			return f.Name
		}
	}
	return ""
}

// KeyNamesSubject reports whether a key of this type is itself the data
// subject: a person's ID number, a company's code, a holder.
func KeyNamesSubject(keyType string) bool {
	return keyType == KeyIDNumber || keyType == KeyUSCC || keyType == KeyHolder
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

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationSource is the catalogue's schema migrations.
func MigrationSource() postgres.Source {
	return postgres.SourceDir("catalog", migrations, "migrations")
}
