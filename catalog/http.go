package catalog

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/refusal"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3.1 document of the catalogue API.
func OpenAPI() []byte { return openAPIDoc }

// roleAdmin is the token role that may create and change departments.
const roleAdmin = "admin"

// DefaultMaxBody is the largest request body the catalogue API reads.
const DefaultMaxBody = 256 << 10

// HandlerConfig is what the catalogue API needs.
type HandlerConfig struct {
	Store    *Store
	Verifier httpx.Verifier
	Logger   *slog.Logger // default slog.Default()
	MaxBody  int64        // default DefaultMaxBody
	// Refusals, which may be nil, records refused writes.
	Refusals *refusal.Log
}

func (c *HandlerConfig) Validate() error {
	if c.Store == nil || c.Verifier == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "catalog: a handler needs a Store and a Verifier")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	return nil
}

type handler struct {
	cfg HandlerConfig
	mux *http.ServeMux
}

// NewHandler returns the catalogue's HTTP API under /v1/catalog/. Every
// route but the OpenAPI document needs a valid bearer token. Only a
// resource's provider department (the token's dept claim) may register,
// update or retire it; only role admin may create or change departments.
func NewHandler(cfg HandlerConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/catalog/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDoc)
	})
	h.mux.HandleFunc("GET /v1/catalog/resources", h.authed("", h.search))
	h.mux.HandleFunc("POST /v1/catalog/resources", h.authed("catalog.register", h.register))
	h.mux.HandleFunc("GET /v1/catalog/resources/{code}", h.authed("", h.show))
	h.mux.HandleFunc("PUT /v1/catalog/resources/{code}", h.authed("catalog.update", h.update))
	h.mux.HandleFunc("GET /v1/catalog/resources/{code}/versions", h.authed("", h.versions))
	h.mux.HandleFunc("POST /v1/catalog/resources/{code}/retire", h.authed("catalog.retire", h.retire))
	h.mux.HandleFunc("GET /v1/catalog/departments", h.authed("", h.departments))
	h.mux.HandleFunc("GET /v1/catalog/departments/{code}", h.authed("", h.department))
	h.mux.HandleFunc("PUT /v1/catalog/departments/{code}", h.authed("catalog.department", h.putDepartment))
	h.mux.HandleFunc("/", httpx.NotFound(cfg.Logger))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type authedFunc func(w http.ResponseWriter, r *http.Request, c *auth.Claims) error

// authed authenticates the request, runs f and answers its error, with a
// request id on every answer. A write names its action, and its refusals
// are recorded, with the {code} of the path as the target.
func (h *handler) authed(action string, f authedFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var b [16]byte
		rand.Read(b[:])
		requestID := hex.EncodeToString(b[:])
		w.Header().Set("X-Request-Id", requestID)
		claims, err := httpx.Authenticate(r, h.cfg.Verifier)
		if err == nil {
			err = f(w, r, claims)
		}
		if err != nil {
			if action != "" && claims != nil {
				h.cfg.Refusals.Record(r.Context(), claims, action, r.PathValue("code"), err)
			}
			httpx.WriteError(w, h.cfg.Logger, requestID, err)
		}
	}
}

func actorOf(c *auth.Claims) Actor { return Actor{Subject: c.Subject, Dept: c.Dept} }

func writeResource(w http.ResponseWriter, status int, r *Resource) {
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(r.Version)))
	httpx.WriteJSON(w, status, r)
}

// searchParams are the query parameters a search understands.
var searchParams = map[string]bool{"q": true, "provider": true, "sharing": true, "open_class": true,
	"status": true, "limit": true, "cursor": true}

func (h *handler) search(w http.ResponseWriter, r *http.Request, _ *auth.Claims) error {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return invalid("invalid_query_string", "the query string does not parse")
	}
	for k, v := range vals {
		if !searchParams[k] {
			return invalid("unknown_parameter", "unknown parameter %q; use q, provider, sharing, open_class, status, limit, cursor", httpx.Truncate(k, 40))
		}
		if len(v) > 1 {
			return invalid("repeated_parameter", "parameter %s is given more than once", k)
		}
	}
	q := SearchQuery{Text: vals.Get("q"), Provider: vals.Get("provider"), Sharing: Sharing(vals.Get("sharing")),
		OpenClass: OpenClass(vals.Get("open_class")), Status: vals.Get("status"), Cursor: vals.Get("cursor")}
	if vals.Has("limit") {
		n, err := strconv.Atoi(vals.Get("limit"))
		if err != nil || n < 1 || n > MaxSearchLimit {
			return invalid("invalid_limit", "limit %q is not a number between 1 and %d", httpx.Truncate(vals.Get("limit"), 20), MaxSearchLimit)
		}
		q.Limit = n
	}
	res, err := h.cfg.Store.SearchResources(r.Context(), q)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (h *handler) show(w http.ResponseWriter, r *http.Request, _ *auth.Claims) error {
	res, err := h.cfg.Store.ResourceAnyStatus(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	writeResource(w, http.StatusOK, res)
	return nil
}

func (h *handler) versions(w http.ResponseWriter, r *http.Request, _ *auth.Claims) error {
	code := r.PathValue("code")
	vs, err := h.cfg.Store.ResourceVersions(r.Context(), code)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"code": code, "versions": vs})
	return nil
}

func notProvider(c *auth.Claims, provider string) error {
	return govx.Errorf(govx.KindForbidden, "not_provider",
		"only the provider department %s may change its resources; the token is of department %q", provider, c.Dept)
}

func (h *handler) register(w http.ResponseWriter, r *http.Request, c *auth.Claims) error {
	if err := ActAs(r.Context(), h.cfg.Store, c); err != nil {
		return err
	}
	if err := mayWrite(c, ScopeCatalogWrite); err != nil {
		return err
	}
	var res Resource
	if err := httpx.DecodeJSON(r, h.cfg.MaxBody, &res); err != nil {
		return err
	}
	if res.Status != "" && res.Status != StatusActive {
		return invalid("invalid_status", "a resource is registered active")
	}
	if res.Provider != c.Dept {
		return notProvider(c, res.Provider)
	}
	out, err := h.cfg.Store.RegisterResource(r.Context(), actorOf(c), res)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/catalog/resources/"+out.Code)
	writeResource(w, http.StatusCreated, out)
	return nil
}

// expectedVersion is the version the caller last saw, from If-Match ("3",
// W/"3" or 3); 0 when the caller sent none.
func expectedVersion(r *http.Request) (int, error) {
	m := strings.TrimSpace(r.Header.Get("If-Match"))
	if m == "" {
		return 0, nil
	}
	m = strings.Trim(strings.TrimPrefix(m, "W/"), `"`)
	n, err := strconv.Atoi(m)
	if err != nil || n < 1 {
		return 0, invalid("invalid_if_match", "If-Match is not a resource version")
	}
	return n, nil
}

// checkChange holds what every change of a resource must satisfy: the
// caller's department provides it and the caller saw its current version.
func checkChange(c *auth.Claims, cur *Resource, expected int) error {
	if cur.Provider != c.Dept {
		return notProvider(c, cur.Provider)
	}
	if expected != 0 && expected != cur.Version {
		return govx.Errorf(govx.KindConflict, "version_conflict",
			"%s is at version %d, not %d: read it again and repeat the change", cur.Code, cur.Version, expected)
	}
	if cur.Status == StatusRetired {
		return govx.Errorf(govx.KindConflict, "resource_retired", "%s is retired and can no longer change", cur.Code)
	}
	return nil
}

func (h *handler) update(w http.ResponseWriter, r *http.Request, c *auth.Claims) error {
	if err := ActAs(r.Context(), h.cfg.Store, c); err != nil {
		return err
	}
	if err := mayWrite(c, ScopeCatalogWrite); err != nil {
		return err
	}
	code := r.PathValue("code")
	expected, err := expectedVersion(r)
	if err != nil {
		return err
	}
	var body Resource
	if err := httpx.DecodeJSON(r, h.cfg.MaxBody, &body); err != nil {
		return err
	}
	if body.Code != "" && body.Code != code {
		return invalid("code_mismatch", "the body is resource %q, the path %q", httpx.Truncate(body.Code, 64), httpx.Truncate(code, 64))
	}
	if expected == 0 {
		expected = body.Version // a resource as GET returned it carries its version
	}
	out, err := h.cfg.Store.UpdateResource(r.Context(), code, actorOf(c), func(cur *Resource) error {
		if err := checkChange(c, cur, expected); err != nil {
			return err
		}
		switch {
		case body.Provider != "" && body.Provider != cur.Provider:
			return invalid("provider_immutable", "the provider of %s cannot change", cur.Code)
		case body.Status != "" && body.Status != cur.Status:
			return invalid("invalid_status", "status changes through POST /v1/catalog/resources/%s/retire", cur.Code)
		}
		next := body
		next.Code, next.Provider, next.Status = cur.Code, cur.Provider, cur.Status
		*cur = next
		return nil
	})
	if err != nil {
		return err
	}
	writeResource(w, http.StatusOK, out)
	return nil
}

func (h *handler) retire(w http.ResponseWriter, r *http.Request, c *auth.Claims) error {
	if err := ActAs(r.Context(), h.cfg.Store, c); err != nil {
		return err
	}
	if err := mayWrite(c, ScopeCatalogWrite); err != nil {
		return err
	}
	expected, err := expectedVersion(r)
	if err != nil {
		return err
	}
	out, err := h.cfg.Store.UpdateResource(r.Context(), r.PathValue("code"), actorOf(c), func(cur *Resource) error {
		if err := checkChange(c, cur, expected); err != nil {
			return err
		}
		cur.Status = StatusRetired
		return nil
	})
	if err != nil {
		return err
	}
	writeResource(w, http.StatusOK, out)
	return nil
}

func (h *handler) departments(w http.ResponseWriter, r *http.Request, _ *auth.Claims) error {
	ds, err := h.cfg.Store.Departments(r.Context())
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"departments": ds})
	return nil
}

func (h *handler) department(w http.ResponseWriter, r *http.Request, _ *auth.Claims) error {
	d, err := h.cfg.Store.Department(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (h *handler) putDepartment(w http.ResponseWriter, r *http.Request, c *auth.Claims) error {
	if c.Role != roleAdmin {
		return govx.Errorf(govx.KindForbidden, "admin_required", "only role %s may create or change departments", roleAdmin)
	}
	code := r.PathValue("code")
	var d Department
	if err := httpx.DecodeJSON(r, h.cfg.MaxBody, &d); err != nil {
		return err
	}
	if d.Code != "" && d.Code != code {
		return invalid("code_mismatch", "the body is department %q, the path %q", httpx.Truncate(d.Code, 64), httpx.Truncate(code, 64))
	}
	d.Code = code
	if err := h.cfg.Store.PutDepartment(r.Context(), d); err != nil {
		return err
	}
	out, err := h.cfg.Store.Department(r.Context(), code)
	if err != nil {
		return fmt.Errorf("reading department %s back: %w", code, err)
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}
