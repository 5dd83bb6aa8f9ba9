package catalog

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"govx"
	"govx/internal/httpx"
)

// Resource statuses.
const (
	StatusActive  = "active"
	StatusRetired = "retired"
)

// Actions recorded in the catalogue's audit.
const (
	ActionRegister = "register"
	ActionUpdate   = "update"
	ActionRetire   = "retire"
)

// Actor is who changes the catalogue: a token's subject and department.
type Actor struct {
	Subject string `json:"subject"`
	Dept    string `json:"dept"`
}

// SystemActor is the actor of changes govx makes itself (the demo seed,
// PutResource).
var SystemActor = Actor{Subject: "system:govx"}

// Limits on what a resource may hold.
const (
	MaxFields  = 256
	MaxRelated = 64
	MaxValues  = 100 // codes of one enumerated data item
	MaxLabel   = 100 // characters of a label
)

// FieldTypes are the data types a field may have.
var FieldTypes = []string{"string", "boolean", "int", "long", "float", "double", "decimal", "date", "datetime", "timestamp",
	"bytes", "array", "record", "map"}

// KeyTypes are the key types a resource may be looked up by.
var KeyTypes = []string{KeyIDNumber, KeyUSCC, KeyLicenceNumber, KeyHolder, KeyDivisionCode, KeyReference}

var (
	fieldName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	deptCode  = regexp.MustCompile(`^([a-z][a-z0-9-]{1,62}/)?[a-z][a-z0-9-]{1,62}$`)
)

// ValidDepartmentCode reports whether s has the shape of a department code:
// one of this node's ("population", "market-regulation") or, qualified by
// its node, one of another node of the federation
// ("dongguan/market-regulation").
func ValidDepartmentCode(s string) bool { return deptCode.MatchString(s) }

// ValidLocalDepartmentCode reports whether s has the shape of one of this
// node's own department codes: providers and the departments registered
// through the catalogue API are local; remote ones come from the
// federation's links.
func ValidLocalDepartmentCode(s string) bool {
	return deptCode.MatchString(s) && !strings.Contains(s, "/")
}

// RemoteDepartment returns the code by which this node knows department
// dept of federation node node.
func RemoteDepartment(node, dept string) string { return node + "/" + dept }

// ValidSharing reports whether s is a sharing class.
func ValidSharing(s string) bool {
	switch Sharing(s) {
	case Unconditional, Conditional, NotShareable:
		return true
	}
	return false
}

// ValidOpenClass reports whether s is an open-data class.
func ValidOpenClass(s string) bool {
	switch OpenClass(s) {
	case Open, ConditionallyOpen, NotOpen:
		return true
	}
	return false
}

func invalid(code, format string, args ...any) error {
	return govx.Errorf(govx.KindInvalid, code, format, args...)
}

// checkText refuses text that is too long, not UTF-8 or holds control
// characters (a NUL cannot even be stored). multiline admits line breaks
// and tabs.
func checkText(attr, s string, max int, required, multiline bool) error {
	code := "invalid_" + attr
	switch {
	case required && strings.TrimSpace(s) == "":
		return invalid(code, "%s is required", attr)
	case utf8.RuneCountInString(s) > max:
		return invalid(code, "%s is longer than %d characters", attr, max)
	case !utf8.ValidString(s):
		return invalid(code, "%s is not valid UTF-8", attr)
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r'))
	}) >= 0 {
		return invalid(code, "%s holds control characters", attr)
	}
	return nil
}

// normalize fills in the defaults of what a register or update left out:
// format avro, sharing method query, open class not_open, schema subject
// the resource code, status active.
func (r *Resource) normalize() {
	if r.Format == "" {
		r.Format = "avro"
	}
	if len(r.Methods) == 0 {
		r.Methods = []string{MethodQuery}
	}
	if r.OpenClass == "" {
		r.OpenClass = NotOpen
	}
	if r.SchemaSubject == "" {
		r.SchemaSubject = r.Code
	}
	if r.Status == "" {
		r.Status = StatusActive
	}
	if len(r.Related) == 0 {
		r.Related = nil
	}
	r.ConsentRequired = slices.ContainsFunc(r.Fields, func(f Field) bool { return f.Personal })
}

// Validate checks a resource's metadata on its own, without the catalogue:
// shapes, classes, field names, dates. Whether the provider and related
// resources exist is the Store's to check. Errors are Invalid with a stable
// code (invalid_code, invalid_sharing, conditions_required, duplicate_field,
// invalid_date, …).
func (r *Resource) Validate() error {
	if !ValidCode(r.Code) {
		return invalid("invalid_code", "resource code %q is not lower-case words joined by dots (population.identity)", httpx.Truncate(r.Code, 64))
	}
	if err := checkText("name", r.Name, 200, true, false); err != nil {
		return err
	}
	if err := checkText("classification", r.Classification, 200, false, false); err != nil {
		return err
	}
	if !ValidLocalDepartmentCode(r.Provider) {
		return invalid("invalid_provider", "provider %q is not a department code", httpx.Truncate(r.Provider, 64))
	}
	if err := checkText("summary", r.Summary, 4000, false, true); err != nil {
		return err
	}
	if err := checkText("format", r.Format, 50, false, false); err != nil {
		return err
	}
	if !slices.Contains(KeyTypes, r.KeyType) {
		return invalid("invalid_key_type", "key type %q is not one of %s", httpx.Truncate(r.KeyType, 64), strings.Join(KeyTypes, ", "))
	}
	if err := validateFields(r.Fields); err != nil {
		return err
	}
	if err := validateSubject(r); err != nil {
		return err
	}
	if !ValidSharing(string(r.Sharing)) {
		return invalid("invalid_sharing", "sharing %q is not one of unconditional, conditional, not_shareable", httpx.Truncate(string(r.Sharing), 64))
	}
	if err := checkText("conditions", r.Conditions, 4000, false, true); err != nil {
		return err
	}
	switch {
	case r.Sharing == Conditional && strings.TrimSpace(r.Conditions) == "":
		return invalid("conditions_required", "a conditionally shared resource states the conditions of sharing")
	case r.Sharing != Conditional && r.Conditions != "":
		return invalid("invalid_conditions", "only a conditionally shared resource has conditions of sharing")
	}
	for i, m := range r.Methods {
		if m != MethodQuery && m != MethodSubscribe && m != MethodBulk && m != MethodCommand {
			return invalid("invalid_method", "sharing method %q is not one of query, subscribe, bulk, command", httpx.Truncate(m, 64))
		}
		if slices.Contains(r.Methods[:i], m) {
			return invalid("invalid_method", "sharing method %q is listed twice", m)
		}
	}
	if r.OpenClass != "" && !ValidOpenClass(string(r.OpenClass)) {
		return invalid("invalid_open_class", "open class %q is not one of open, conditionally_open, not_open", httpx.Truncate(string(r.OpenClass), 64))
	}
	if err := checkText("update_cycle", r.UpdateCycle, 50, false, false); err != nil {
		return err
	}
	if err := checkText("legal_basis", r.LegalBasis, 2000, false, true); err != nil {
		return err
	}
	if r.PublishedOn != "" {
		if d, err := time.Parse(time.DateOnly, r.PublishedOn); err != nil || d.Format(time.DateOnly) != r.PublishedOn {
			return invalid("invalid_date", "published_on %q is not a date YYYY-MM-DD", httpx.Truncate(r.PublishedOn, 64))
		}
	}
	if len(r.Related) > MaxRelated {
		return invalid("invalid_related", "at most %d related resources", MaxRelated)
	}
	for i, c := range r.Related {
		switch {
		case !ValidCode(c):
			return invalid("invalid_related", "related resource %q is not a resource code", httpx.Truncate(c, 64))
		case c == r.Code:
			return invalid("invalid_related", "a resource is not related to itself")
		case slices.Contains(r.Related[:i], c):
			return invalid("invalid_related", "related resource %s is listed twice", c)
		}
	}
	if err := checkText("schema_subject", r.SchemaSubject, 200, false, false); err != nil {
		return err
	}
	if r.Status != "" && r.Status != StatusActive && r.Status != StatusRetired {
		return invalid("invalid_status", "status %q is not active or retired", httpx.Truncate(r.Status, 64))
	}
	if r.Version < 0 {
		return invalid("invalid_version", "version %d is negative", r.Version)
	}
	return nil
}

func validateFields(fields []Field) error {
	if len(fields) == 0 {
		return invalid("no_fields", "a resource has at least one data item")
	}
	if len(fields) > MaxFields {
		return invalid("too_many_fields", "a resource has at most %d data items", MaxFields)
	}
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if !fieldName.MatchString(f.Name) {
			return invalid("invalid_field", "field name %q is not snake_case of at most 63 characters", httpx.Truncate(f.Name, 64))
		}
		if seen[f.Name] {
			return invalid("duplicate_field", "field %s is listed twice", f.Name)
		}
		seen[f.Name] = true
		if !slices.Contains(FieldTypes, f.Type) {
			return invalid("invalid_field_type", "field %s has type %q, not one of %s", f.Name, httpx.Truncate(f.Type, 64), strings.Join(FieldTypes, ", "))
		}
		if err := checkText("field_description", f.Description, 500, false, false); err != nil {
			return err
		}
		if err := checkText("field_label", f.Label, MaxLabel, false, false); err != nil {
			return err
		}
		if err := checkText("field_label", f.LabelEN, MaxLabel, false, false); err != nil {
			return err
		}
		if err := validateValues(f); err != nil {
			return err
		}
	}
	return nil
}

// validateValues checks the codes of an enumerated data item: each
// labelled, none twice.
func validateValues(f Field) error {
	if len(f.Values) > MaxValues {
		return invalid("too_many_values", "field %s lists more than %d values", f.Name, MaxValues)
	}
	seen := make(map[string]bool, len(f.Values))
	for _, v := range f.Values {
		if err := checkText("field_value", v.Code, 64, true, false); err != nil {
			return err
		}
		if seen[v.Code] {
			return invalid("duplicate_value", "field %s lists value %q twice", f.Name, httpx.Truncate(v.Code, 64))
		}
		seen[v.Code] = true
		if err := checkText("field_value_label", v.Label, MaxLabel, true, false); err != nil {
			return err
		}
		if err := checkText("field_value_label", v.LabelEN, MaxLabel, false, false); err != nil {
			return err
		}
	}
	return nil
}

// validateSubject checks that consent can be checked: a resource with
// personal fields is keyed by its data subject, or marks the one field
// that names the subject.
func validateSubject(r *Resource) error {
	var subjects []string
	for _, f := range r.Fields {
		if f.Subject {
			subjects = append(subjects, f.Name)
		}
	}
	switch {
	case len(subjects) > 1:
		return invalid("subject_field_ambiguous", "fields %s are all marked subject; at most one names the data subject", strings.Join(subjects, ", "))
	case len(subjects) == 1 && KeyNamesSubject(r.KeyType):
		return invalid("subject_field_ambiguous", "field %s is marked subject, but the key (%s) already names the data subject", subjects[0], r.KeyType)
	case len(subjects) == 0 && !KeyNamesSubject(r.KeyType) && slices.ContainsFunc(r.Fields, func(f Field) bool { return f.Personal }):
		return invalid("subject_field_required", "a resource with personal fields keyed by %s marks the field that names the data subject (\"subject\": true), so consent can be checked", r.KeyType)
	}
	return nil
}

// Validate checks a department's code, name and contact.
func (d *Department) Validate() error {
	if !ValidLocalDepartmentCode(d.Code) {
		return invalid("invalid_department_code", "department code %q is not lower-case letters, digits and dashes (2–63)", httpx.Truncate(d.Code, 64))
	}
	if err := checkText("name", d.Name, 200, true, false); err != nil {
		return err
	}
	return checkText("contact", d.Contact, 200, false, false)
}

// equal reports whether two resources hold the same metadata, ignoring
// what the Store fills in (version, provider name).
func (r *Resource) equal(o *Resource) bool {
	a, b := *r, *o
	a.Version, b.Version = 0, 0
	a.ProviderName, b.ProviderName = "", ""
	a.normalize()
	b.normalize()
	return reflect.DeepEqual(a, b)
}
