// Package registry serves the catalogue's schema store as Confluent Schema
// Registry's REST API, AVRO only and without references, so Kafka tools
// (kcat, Kafka UI, Confluent's serdes, hamba/avro's and KafkaJS's registry
// clients) decode the bus with it. Answers and error codes are Confluent's:
// where the two differ, Confluent's documented behaviour is the reference.
// The schemas, their ids and versions, the compatibility rules and modes
// are the catalogue's (catalog.Store); this package is their HTTP face.
package registry

import (
	_ "embed"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"govx"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/refusal"
)

// ContentType is the media type of every registry answer.
const ContentType = "application/vnd.schemaregistry.v1+json"

// ScopeWrite is the scope a token needs to register schemas, delete
// subjects or change compatibility modes.
const ScopeWrite = "registry:write"

// DefaultMaxBody bounds a request body.
const DefaultMaxBody = 1 << 20

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 document of the registry API.
func OpenAPI() []byte { return openAPIDoc }

// Config configures the registry's HTTP handler.
type Config struct {
	Store    *catalog.Store
	Verifier httpx.Verifier // checks the bearer tokens of writes
	Logger   *slog.Logger   // nil means slog.Default()
	// Prefix is the path the handler is mounted under ("/registry"), which
	// it strips; "" serves at the root.
	Prefix  string
	MaxBody int64 // 0 means DefaultMaxBody
	// Refusals, which may be nil, records refused writes.
	Refusals *refusal.Log
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	invalid := func(msg string) error {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "registry: %s", msg)
	}
	switch {
	case c.Store == nil:
		return invalid("Store is required")
	case c.Verifier == nil:
		return invalid("Verifier is required")
	case c.Prefix != "" && (!strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/")):
		return invalid("Prefix must start with / and not end with it")
	case c.MaxBody < 0:
		return invalid("MaxBody is negative")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	return nil
}

type handler struct {
	cfg Config
	log *slog.Logger
}

// NewHandler serves the schema registry. Reads are open, as Kafka
// tools expect; writes (registering, deleting, setting a level or a mode)
// need a bearer token with scope registry:write, and for a subject that is
// a catalogue resource's code a token of the resource's provider
// department, for a bus envelope (govx.*), any other subject and the
// registry-wide settings role admin.
func NewHandler(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &handler{cfg: cfg, log: cfg.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { g.ok(w, struct{}{}) })
	mux.HandleFunc("GET /schemas", g.schemas)
	mux.HandleFunc("GET /schemas/types", func(w http.ResponseWriter, r *http.Request) { g.ok(w, []string{"AVRO"}) })
	mux.HandleFunc("GET /schemas/ids/{id}", g.schemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/schema", g.schemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/subjects", g.idSubjects)
	mux.HandleFunc("GET /schemas/ids/{id}/versions", g.idVersions)
	mux.HandleFunc("GET /subjects", g.subjects)
	mux.HandleFunc("GET /subjects/{subject}/versions", g.versions)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", g.version)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", g.version)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", g.referencedBy)
	mux.HandleFunc("POST /subjects/{subject}/versions", g.register)
	mux.HandleFunc("POST /subjects/{subject}", g.lookup)
	mux.HandleFunc("DELETE /subjects/{subject}", g.deleteSubject)
	mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", g.deleteVersion)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", g.compatibility)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", g.compatibility)
	mux.HandleFunc("GET /config", g.getConfig)
	mux.HandleFunc("PUT /config", g.putConfig)
	mux.HandleFunc("GET /config/{subject}", g.getConfig)
	mux.HandleFunc("PUT /config/{subject}", g.putConfig)
	mux.HandleFunc("DELETE /config/{subject}", g.deleteConfig)
	mux.HandleFunc("GET /mode", g.getMode)
	mux.HandleFunc("PUT /mode", g.putMode)
	mux.HandleFunc("GET /mode/{subject}", g.getMode)
	mux.HandleFunc("PUT /mode/{subject}", g.putMode)
	mux.HandleFunc("DELETE /mode/{subject}", g.deleteMode)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDoc)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		g.fail(w, govx.Errorf(govx.KindNotFound, "route_not_found", "no such endpoint: %s %s", r.Method, httpx.Truncate(r.URL.Path, 100)))
	})
	var h http.Handler = mux
	if cfg.Prefix != "" {
		h = http.StripPrefix(cfg.Prefix, mux)
	}
	return h, nil
}

// registryError is Confluent's error shape.
type registryError struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// confluentCode maps a govx error to Confluent's HTTP status and
// error_code.
func confluentCode(err error) (status, code int) {
	switch govx.ErrorCode(err) {
	case "subject_not_found":
		return http.StatusNotFound, 40401
	case "subject_soft_deleted":
		return http.StatusNotFound, 40404
	case "subject_not_soft_deleted":
		return http.StatusNotFound, 40405
	case "version_soft_deleted":
		return http.StatusNotFound, 40406
	case "version_not_soft_deleted":
		return http.StatusNotFound, 40407
	case "compatibility_not_configured":
		return http.StatusNotFound, 40408
	case "mode_not_configured":
		return http.StatusNotFound, 40409
	case "invalid_mode":
		return http.StatusUnprocessableEntity, 42204
	case "operation_not_permitted":
		return http.StatusUnprocessableEntity, 42205
	case "version_not_found":
		return http.StatusNotFound, 40402
	case "schema_not_found":
		return http.StatusNotFound, 40403
	case "invalid_schema":
		return http.StatusUnprocessableEntity, 42201
	case "invalid_version":
		return http.StatusUnprocessableEntity, 42202
	case "invalid_compatibility":
		return http.StatusUnprocessableEntity, 42203
	case "invalid_subject":
		return http.StatusUnprocessableEntity, 42208
	case "incompatible_schema":
		return http.StatusConflict, 409
	case "unsupported_media_type":
		return http.StatusUnsupportedMediaType, 415
	}
	switch govx.ErrorKind(err) {
	case govx.KindUnauthenticated:
		return http.StatusUnauthorized, 40101
	case govx.KindForbidden:
		return http.StatusForbidden, 40301
	case govx.KindNotFound:
		return http.StatusNotFound, 404
	case govx.KindInvalid:
		return http.StatusBadRequest, 400
	case govx.KindTooLarge:
		return http.StatusRequestEntityTooLarge, 413
	}
	return httpx.StatusOf(err), 50001
}

func (g *handler) fail(w http.ResponseWriter, err error) {
	status, code := confluentCode(err)
	msg := govx.ErrorMessage(err)
	if code == 50001 {
		g.log.Error("registry request failed", "err", err)
		msg = "internal error"
		if status == http.StatusServiceUnavailable {
			msg = "the schema store is unavailable"
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="govx"`)
	}
	httpx.WriteJSONType(w, ContentType, status, registryError{ErrorCode: code, Message: msg})
}

func (g *handler) ok(w http.ResponseWriter, v any) {
	httpx.WriteJSONType(w, ContentType, http.StatusOK, v)
}

// subject returns the {subject} path value, validated.
func subjectOf(r *http.Request) (string, error) {
	s := r.PathValue("subject")
	return s, catalog.ValidateSubject(s)
}

// versionOf parses {version}: "latest", -1 (Confluent's latest) or a
// positive number.
func versionOf(r *http.Request) (int, error) {
	v := r.PathValue("version")
	if v == "latest" || v == "-1" {
		return catalog.LatestVersion, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1<<31-1 {
		return 0, govx.Errorf(govx.KindInvalid, "invalid_version",
			"the version must be a positive number or \"latest\", not %q", httpx.Truncate(v, 30))
	}
	return n, nil
}

// schemaRequest is the body of register, lookup and compatibility calls.
type schemaRequest struct {
	Schema     string            `json:"schema"`
	SchemaType string            `json:"schemaType"`
	References []json.RawMessage `json:"references"`
}

// accepted are the request media types Confluent reads as JSON: its
// clients' own, plain JSON, and application/octet-stream, which some HTTP
// clients send by default.
var accepted = []string{"application/json", "application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/octet-stream"}

// readJSON decodes a bounded JSON body. Unknown members are ignored, as
// clients of newer registries send more than this subset reads.
func (g *handler) readJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !slices.Contains(accepted, mt) {
			return &govx.Error{Kind: govx.KindInvalid, Code: "unsupported_media_type",
				Message: "send the body as application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json or application/octet-stream"}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxBody+1))
	if err != nil {
		return govx.Errorf(govx.KindInvalid, "invalid_body", "could not read the request body")
	}
	if int64(len(body)) > g.cfg.MaxBody {
		return govx.Errorf(govx.KindTooLarge, "body_too_large", "the request body is larger than %d bytes", g.cfg.MaxBody)
	}
	return httpx.Unmarshal(body, v, true)
}

func (g *handler) readSchema(r *http.Request) (string, error) {
	var req schemaRequest
	if err := g.readJSON(r, &req); err != nil {
		return "", err
	}
	switch {
	case req.SchemaType != "" && req.SchemaType != "AVRO":
		return "", govx.Errorf(govx.KindInvalid, "invalid_schema", "schema type %q is not supported: this registry holds AVRO only", httpx.Truncate(req.SchemaType, 20))
	case len(req.References) > 0:
		return "", govx.Errorf(govx.KindInvalid, "invalid_schema", "schema references are not supported: inline the referenced types")
	case req.Schema == "":
		return "", govx.Errorf(govx.KindInvalid, "invalid_schema", "the request has no schema")
	}
	return req.Schema, nil
}

// authorize checks a write to subject ("" for the registry-wide config).
// The claims come back with a refusal, for the record.
func (g *handler) authorize(r *http.Request, subject string) (*auth.Claims, error) {
	claims, err := httpx.Authenticate(r, g.cfg.Verifier)
	if err != nil {
		return nil, err
	}
	if !claims.HasScope(ScopeWrite) {
		return claims, govx.Errorf(govx.KindForbidden, "scope_missing", "the token lacks scope %s", ScopeWrite)
	}
	return claims, g.mayWrite(r, claims, subject)
}

// failWrite answers err to a write of action on subject, recording it
// when it is a refusal of an authenticated caller.
func (g *handler) failWrite(w http.ResponseWriter, r *http.Request, claims *auth.Claims, action, subject string, err error) {
	if claims != nil {
		g.cfg.Refusals.Record(r.Context(), claims, action, subject, err)
	}
	g.fail(w, err)
}

func (g *handler) mayWrite(r *http.Request, claims *auth.Claims, subject string) error {
	if subject == "" || strings.HasPrefix(subject, "govx.") {
		if claims.Role != catalog.RoleAdmin {
			what := "the registry-wide configuration"
			if subject != "" {
				what = "bus envelope subjects (govx.*)"
			}
			return govx.Errorf(govx.KindForbidden, "forbidden", "only role %s may change %s", catalog.RoleAdmin, what)
		}
		return nil
	}
	provider, ok, err := g.cfg.Store.ResourceProvider(r.Context(), subject)
	if err != nil {
		return err
	}
	switch {
	case !ok && claims.Role != catalog.RoleAdmin:
		// Order envelopes (licence.issue-order) and any other subject no
		// resource owns belong to the bus, as govx.* does.
		return govx.Errorf(govx.KindForbidden, "forbidden",
			"subject %q is the record of no catalogue resource; only role %s may change it", httpx.Truncate(subject, 100), catalog.RoleAdmin)
	case ok && claims.Dept != provider:
		return govx.Errorf(govx.KindForbidden, "forbidden",
			"subject %q is the record of a resource provided by %s; only that department may change it", httpx.Truncate(subject, 100), provider)
	}
	return nil
}

// flag reads a boolean query parameter as Confluent does: "true", in any
// case, is true, anything else false.
func flag(r *http.Request, name string) bool {
	return strings.EqualFold(r.URL.Query().Get(name), "true")
}

// deletedOf reads ?deleted=true and ?deletedOnly=true.
func deletedOf(r *http.Request) catalog.Deleted {
	switch {
	case flag(r, "deletedOnly"):
		return catalog.DeletedOnly
	case flag(r, "deleted"):
		return catalog.WithDeleted
	}
	return catalog.LiveOnly
}

// intParam reads an integer query parameter, def when absent.
func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < -1 {
		return 0, govx.Errorf(govx.KindInvalid, "invalid_parameter", "%s must be a number, not %q", name, httpx.Truncate(v, 30))
	}
	return n, nil
}

// schemaID parses {id}. Not a number names no schema: Confluent answers
// 40403 here too.
func schemaID(r *http.Request) (int, error) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return 0, govx.Errorf(govx.KindNotFound, "schema_not_found", "no schema with id %q", httpx.Truncate(r.PathValue("id"), 30))
	}
	return id, nil
}

// raw answers a schema's own text, as Confluent's …/schema endpoints do.
func (g *handler) raw(w http.ResponseWriter, schema string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, schema)
}

// schemaByID answers GET /schemas/ids/{id} and, the text alone,
// …/{id}/schema.
func (g *handler) schemaByID(w http.ResponseWriter, r *http.Request) {
	id, err := schemaID(r)
	var text string
	if err == nil {
		text, err = g.cfg.Store.SchemaByID(r.Context(), id)
	}
	if err != nil {
		g.fail(w, err)
		return
	}
	if strings.HasSuffix(r.Pattern, "/schema") {
		g.raw(w, text)
		return
	}
	g.ok(w, map[string]string{"schema": text})
}

func (g *handler) idVersionList(r *http.Request) ([]catalog.SubjectVersion, error) {
	id, err := schemaID(r)
	if err != nil {
		return nil, err
	}
	out, err := g.cfg.Store.SchemaVersionsByID(r.Context(), id, deletedOf(r))
	if err != nil {
		return nil, err
	}
	if s := r.URL.Query().Get("subject"); s != "" {
		out = slices.DeleteFunc(out, func(v catalog.SubjectVersion) bool { return v.Subject != s })
	}
	return out, nil
}

func (g *handler) idVersions(w http.ResponseWriter, r *http.Request) {
	out, err := g.idVersionList(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	g.ok(w, out)
}

func (g *handler) idSubjects(w http.ResponseWriter, r *http.Request) {
	vs, err := g.idVersionList(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	out := []string{}
	for _, v := range vs {
		if !slices.Contains(out, v.Subject) {
			out = append(out, v.Subject)
		}
	}
	g.ok(w, out)
}

func (g *handler) schemas(w http.ResponseWriter, r *http.Request) {
	f := catalog.SchemaFilter{Prefix: r.URL.Query().Get("subjectPrefix"), Deleted: flag(r, "deleted"), LatestOnly: flag(r, "latestOnly")}
	var err error
	f.Offset, err = intParam(r, "offset", 0)
	if err == nil {
		f.Limit, err = intParam(r, "limit", -1)
	}
	var out []catalog.SchemaVersion
	if err == nil {
		out, err = g.cfg.Store.Schemas(r.Context(), f)
	}
	if err != nil {
		g.fail(w, err)
		return
	}
	g.ok(w, out)
}

func (g *handler) subjects(w http.ResponseWriter, r *http.Request) {
	out, err := g.cfg.Store.Subjects(r.Context(), r.URL.Query().Get("subjectPrefix"), deletedOf(r))
	if err != nil {
		g.fail(w, err)
		return
	}
	g.ok(w, out)
}

func (g *handler) versions(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectOf(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	out, err := g.cfg.Store.SchemaVersions(r.Context(), subject, deletedOf(r))
	if err != nil {
		g.fail(w, err)
		return
	}
	g.ok(w, out)
}

func (g *handler) subjectVersion(r *http.Request) (*catalog.SchemaVersion, error) {
	subject, err := subjectOf(r)
	if err != nil {
		return nil, err
	}
	v, err := versionOf(r)
	if err != nil {
		return nil, err
	}
	return g.cfg.Store.SchemaVersion(r.Context(), subject, v, flag(r, "deleted"))
}

// version answers GET /subjects/{subject}/versions/{version} and, the
// text alone, …/schema.
func (g *handler) version(w http.ResponseWriter, r *http.Request) {
	sv, err := g.subjectVersion(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	if strings.HasSuffix(r.Pattern, "/schema") {
		g.raw(w, sv.Schema)
		return
	}
	g.ok(w, sv)
}

// referencedBy lists the schemas that reference a version: none, as this
// registry takes no references.
func (g *handler) referencedBy(w http.ResponseWriter, r *http.Request) {
	if _, err := g.subjectVersion(r); err != nil {
		g.fail(w, err)
		return
	}
	g.ok(w, []int{})
}

func (g *handler) register(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectOf(r)
	var claims *auth.Claims
	if err == nil {
		claims, err = g.authorize(r, subject)
	}
	var schema string
	if err == nil {
		schema, err = g.readSchema(r)
	}
	var id int
	if err == nil {
		id, err = g.cfg.Store.RegisterSchema(r.Context(), subject, schema)
	}
	if err != nil {
		g.failWrite(w, r, claims, "registry.register", subject, err)
		return
	}
	g.ok(w, map[string]int{"id": id})
}

func (g *handler) lookup(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectOf(r)
	var schema string
	if err == nil {
		schema, err = g.readSchema(r)
	}
	var sv *catalog.SchemaVersion
	if err == nil {
		sv, err = g.cfg.Store.LookupSchema(r.Context(), subject, schema, flag(r, "deleted"))
	}
	if err != nil {
		g.fail(w, err)
		return
	}
	g.ok(w, sv)
}

// deleteSubject deletes a subject's versions: softly, or with
// ?permanent=true those soft-deleted before, as Confluent does.
func (g *handler) deleteSubject(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectOf(r)
	var claims *auth.Claims
	if err == nil {
		claims, err = g.authorize(r, subject)
	}
	var versions []int
	if err == nil {
		versions, err = g.cfg.Store.DeleteSubject(r.Context(), subject, flag(r, "permanent"))
	}
	if err != nil {
		g.failWrite(w, r, claims, "registry.delete", subject, err)
		return
	}
	g.ok(w, versions)
}

// deleteVersion deletes one version: softly, or with ?permanent=true one
// soft-deleted before, as Confluent does.
func (g *handler) deleteVersion(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectOf(r)
	var claims *auth.Claims
	if err == nil {
		claims, err = g.authorize(r, subject)
	}
	var v int
	if err == nil {
		v, err = versionOf(r)
	}
	if err == nil {
		v, err = g.cfg.Store.DeleteSchemaVersion(r.Context(), subject, v, flag(r, "permanent"))
	}
	if err != nil {
		g.failWrite(w, r, claims, "registry.delete", subject, err)
		return
	}
	g.ok(w, v)
}

// compatibilityAnswer is Confluent's answer to a compatibility check;
// messages name each broken rule (Confluent gives them with ?verbose=true,
// govx always).
type compatibilityAnswer struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages,omitempty"`
}

func (g *handler) compatibility(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectOf(r)
	version := 0
	if err == nil && r.PathValue("version") != "" {
		version, err = versionOf(r)
	}
	var schema string
	if err == nil {
		schema, err = g.readSchema(r)
	}
	var problems []string
	if err == nil {
		problems, err = g.cfg.Store.CheckSchema(r.Context(), subject, schema, version)
	}
	if err != nil {
		g.fail(w, err)
		return
	}
	g.ok(w, compatibilityAnswer{IsCompatible: len(problems) == 0, Messages: problems})
}

// configAnswer carries the level under both names clients read: Confluent
// answers GET with compatibilityLevel and PUT with compatibility.
type configAnswer struct {
	Compatibility      catalog.Compatibility `json:"compatibility"`
	CompatibilityLevel catalog.Compatibility `json:"compatibilityLevel"`
}

// optionalSubject returns the {subject} path value, validated, or "" on
// the registry-wide routes.
func optionalSubject(r *http.Request) (string, error) {
	if r.PathValue("subject") == "" {
		return "", nil
	}
	return subjectOf(r)
}

// getConfig answers the registry's level, or a subject's own. A subject
// without one is 40408, unless ?defaultToGlobal=true asks for the level in
// force, as Confluent does (clients register with a level only when the
// subject has none).
func (g *handler) getConfig(w http.ResponseWriter, r *http.Request) {
	subject, err := optionalSubject(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	var c catalog.Compatibility
	if subject == "" || flag(r, "defaultToGlobal") {
		c, err = g.cfg.Store.Compatibility(r.Context(), subject)
	} else {
		var ok bool
		c, ok, err = g.cfg.Store.OwnCompatibility(r.Context(), subject)
		if err == nil && !ok {
			err = govx.Errorf(govx.KindNotFound, "compatibility_not_configured",
				"subject %q does not have subject-level compatibility configured", httpx.Truncate(subject, 100))
		}
	}
	if err != nil {
		g.fail(w, err)
		return
	}
	g.ok(w, configAnswer{c, c})
}

func (g *handler) putConfig(w http.ResponseWriter, r *http.Request) {
	subject, err := optionalSubject(r)
	var claims *auth.Claims
	if err == nil {
		claims, err = g.authorize(r, subject)
	}
	var req struct {
		Compatibility      string `json:"compatibility"`
		CompatibilityLevel string `json:"compatibilityLevel"`
	}
	if err == nil {
		err = g.readJSON(r, &req)
	}
	var c catalog.Compatibility
	if err == nil {
		if req.Compatibility == "" {
			req.Compatibility = req.CompatibilityLevel
		}
		c, err = catalog.ParseCompatibility(req.Compatibility)
	}
	if err == nil {
		err = g.cfg.Store.SetCompatibility(r.Context(), subject, c)
	}
	if err != nil {
		g.failWrite(w, r, claims, "registry.config", subject, err)
		return
	}
	g.ok(w, configAnswer{c, c})
}

// deleteConfig removes a subject's own level and answers it.
func (g *handler) deleteConfig(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectOf(r)
	var claims *auth.Claims
	if err == nil {
		claims, err = g.authorize(r, subject)
	}
	var c catalog.Compatibility
	if err == nil {
		c, err = g.cfg.Store.DeleteCompatibility(r.Context(), subject)
	}
	if err != nil {
		g.failWrite(w, r, claims, "registry.config", subject, err)
		return
	}
	g.ok(w, configAnswer{c, c})
}

// modeAnswer is Confluent's mode shape.
type modeAnswer struct {
	Mode catalog.SchemaMode `json:"mode"`
}

// getMode answers the registry's mode, or a subject's own. A subject
// without one is 40409, unless ?defaultToGlobal=true asks for the mode in
// force.
func (g *handler) getMode(w http.ResponseWriter, r *http.Request) {
	subject, err := optionalSubject(r)
	if err != nil {
		g.fail(w, err)
		return
	}
	var m catalog.SchemaMode
	if subject == "" || flag(r, "defaultToGlobal") {
		m, err = g.cfg.Store.Mode(r.Context(), subject)
	} else {
		var ok bool
		m, ok, err = g.cfg.Store.OwnMode(r.Context(), subject)
		if err == nil && !ok {
			err = govx.Errorf(govx.KindNotFound, "mode_not_configured",
				"subject %q does not have subject-level mode configured", httpx.Truncate(subject, 100))
		}
	}
	if err != nil {
		g.fail(w, err)
		return
	}
	g.ok(w, modeAnswer{m})
}

func (g *handler) putMode(w http.ResponseWriter, r *http.Request) {
	subject, err := optionalSubject(r)
	var claims *auth.Claims
	if err == nil {
		claims, err = g.authorize(r, subject)
	}
	var req struct {
		Mode string `json:"mode"`
	}
	if err == nil {
		err = g.readJSON(r, &req)
	}
	var m catalog.SchemaMode
	if err == nil {
		m, err = catalog.ParseSchemaMode(req.Mode)
	}
	if err == nil {
		err = g.cfg.Store.SetMode(r.Context(), subject, m)
	}
	if err != nil {
		g.failWrite(w, r, claims, "registry.mode", subject, err)
		return
	}
	g.ok(w, modeAnswer{m})
}

// deleteMode removes a subject's own mode and answers it.
func (g *handler) deleteMode(w http.ResponseWriter, r *http.Request) {
	subject, err := subjectOf(r)
	var claims *auth.Claims
	if err == nil {
		claims, err = g.authorize(r, subject)
	}
	var m catalog.SchemaMode
	if err == nil {
		m, err = g.cfg.Store.DeleteMode(r.Context(), subject)
	}
	if err != nil {
		g.failWrite(w, r, claims, "registry.mode", subject, err)
		return
	}
	g.ok(w, modeAnswer{m})
}
