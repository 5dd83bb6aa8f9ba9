package catalog

import (
	_ "embed"
	"log/slog"
	"net/http"
	"strconv"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/refusal"
)

//go:embed grants.openapi.json
var grantsOpenAPI []byte

// GrantsOpenAPI is the OpenAPI 3.1 document of the grants API.
func GrantsOpenAPI() []byte { return grantsOpenAPI }

// Roles that may see every grant and the overdue list.
const (
	RoleSupervisor = "supervisor"
	// RoleAdmin also writes the schema registry's bus envelope subjects
	// (govx.*) and its registry-wide mode.
	RoleAdmin = "admin"
	// RoleSteward is a department's data steward: with the scope for it,
	// it registers and changes its department's resources and decides the
	// grants of them.
	RoleSteward = "steward"
)

// Scopes the catalogue's writes need, besides role steward or admin.
const (
	ScopeCatalogWrite = "catalog:write" // register, update, retire a resource
	ScopeGrantDecide  = "grant:decide"  // approve, reject, revoke a grant
)

// mayWrite is the one rule for who may write the catalogue on behalf of a
// department: role steward or admin, and scope. A department's other
// tokens (a clerk's, a reviewer's, a service's) read only. Which
// department may write what is checked after, against the resource.
func mayWrite(c *auth.Claims, scope string) error {
	if c.Role != RoleSteward && c.Role != RoleAdmin {
		return govx.Errorf(govx.KindForbidden, "role_required",
			"this change needs role %s or %s; the token has role %q", RoleSteward, RoleAdmin, httpx.Truncate(c.Role, 32))
	}
	if !c.HasScope(scope) {
		return govx.Errorf(govx.KindForbidden, "scope_missing", "this change needs scope %s", scope)
	}
	return nil
}

const grantsMaxBody = 16 << 10

type grantsHandler struct {
	grants   *GrantStore
	verifier httpx.Verifier
	log      *slog.Logger
	mux      *http.ServeMux
	refusals *refusal.Log
}

// GrantsHandlerConfig is what the grants API needs.
type GrantsHandlerConfig struct {
	Grants   *GrantStore
	Verifier httpx.Verifier
	Logger   *slog.Logger // default slog.Default()
	// Refusals, which may be nil, records refused applications and
	// decisions.
	Refusals *refusal.Log
}

func (c *GrantsHandlerConfig) Validate() error {
	if c.Grants == nil || c.Verifier == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "catalog: a grants handler needs Grants and a Verifier")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// NewGrantsHandler serves the grants API under /v1/catalog/grants: apply,
// list, read, approve, reject, revoke, and the overdue list for
// supervision. Every call needs a bearer token naming a department.
func NewGrantsHandler(cfg GrantsHandlerConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	h := &grantsHandler{grants: cfg.Grants, verifier: cfg.Verifier, log: log, mux: http.NewServeMux(), refusals: cfg.Refusals}
	h.mux.HandleFunc("POST /v1/catalog/grants", h.apply)
	h.mux.HandleFunc("GET /v1/catalog/grants", h.list)
	h.mux.HandleFunc("GET /v1/catalog/grants/overdue", h.overdue)
	h.mux.HandleFunc("GET /v1/catalog/grants/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(grantsOpenAPI)
	})
	h.mux.HandleFunc("GET /v1/catalog/grants/{id}", h.get)
	h.mux.HandleFunc("POST /v1/catalog/grants/{id}/approve", h.approve)
	h.mux.HandleFunc("POST /v1/catalog/grants/{id}/reject", h.reject)
	h.mux.HandleFunc("POST /v1/catalog/grants/{id}/revoke", h.revoke)
	h.mux.HandleFunc("/", httpx.NotFound(log))
	return h, nil
}

func (h *grantsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *grantsHandler) fail(w http.ResponseWriter, err error) { httpx.WriteError(w, h.log, "", err) }

// refuse answers err to a write, recording it when it is a refusal of an
// authenticated caller c.
func (h *grantsHandler) refuse(w http.ResponseWriter, r *http.Request, c *auth.Claims, action, target string, err error) {
	if c != nil {
		h.refusals.Record(r.Context(), c, action, target, err)
	}
	h.fail(w, err)
}

// caller authenticates r and insists on a department: every grant action
// is a department's. Claims without one come back with the error, to be
// recorded.
func (h *grantsHandler) caller(r *http.Request) (*auth.Claims, error) {
	c, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		return nil, err
	}
	if c.Dept == "" {
		return c, govx.Errorf(govx.KindForbidden, "department_missing", "the token names no department (dept claim)")
	}
	return c, nil
}

func supervises(c *auth.Claims) bool { return c.Role == RoleSupervisor || c.Role == RoleAdmin }

func actor(c *auth.Claims) Actor { return Actor{Subject: c.Subject, Dept: c.Dept} }

func grantID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, govx.Errorf(govx.KindNotFound, "grant_not_found", "no grant %q", httpx.Truncate(r.PathValue("id"), 32))
	}
	return id, nil
}

func (h *grantsHandler) apply(w http.ResponseWriter, r *http.Request) {
	const action = "grant.apply"
	c, err := h.caller(r)
	if err != nil {
		h.refuse(w, r, c, action, "", err)
		return
	}
	var a Application
	if err := httpx.DecodeJSON(r, grantsMaxBody, &a); err != nil {
		h.refuse(w, r, c, action, "", err)
		return
	}
	g, err := h.grants.Apply(r.Context(), actor(c), a)
	if err != nil {
		h.refuse(w, r, c, action, a.Resource, err)
		return
	}
	w.Header().Set("Location", "/v1/catalog/grants/"+strconv.FormatInt(g.ID, 10))
	httpx.WriteJSON(w, http.StatusCreated, g)
}

func (h *grantsHandler) list(w http.ResponseWriter, r *http.Request) {
	c, err := h.caller(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	q := r.URL.Query()
	f := GrantFilter{Status: GrantStatus(q.Get("status")), Resource: q.Get("resource"), Consumer: q.Get("consumer"), Visible: c.Dept}
	switch f.Status {
	case "", GrantPending, GrantApproved, GrantRejected, GrantRevoked, GrantExpired:
	default:
		h.fail(w, govx.Errorf(govx.KindInvalid, "invalid_status", "status must be pending, approved, rejected, revoked or expired"))
		return
	}
	if supervises(c) {
		f.Visible = ""
	}
	gs, err := h.grants.Grants(r.Context(), f)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"grants": gs})
}

func (h *grantsHandler) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.caller(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	id, err := grantID(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	g, err := h.grants.Grant(r.Context(), id)
	if err != nil {
		h.fail(w, err)
		return
	}
	if c.Dept != g.Consumer && c.Dept != g.Provider && !supervises(c) {
		h.fail(w, govx.Errorf(govx.KindForbidden, "not_your_grant", "grant %d is between %s and %s", g.ID, g.Consumer, g.Provider))
		return
	}
	if g.Events, err = h.grants.Events(r.Context(), id); err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, g)
}

func (h *grantsHandler) overdue(w http.ResponseWriter, r *http.Request) {
	c, err := h.caller(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	if !supervises(c) {
		h.fail(w, govx.Errorf(govx.KindForbidden, "role_required", "the overdue list is for the supervisor or admin role"))
		return
	}
	gs, err := h.grants.Overdue(r.Context(), h.grants.Now())
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"grants": gs})
}

type reasonBody struct {
	Reason string `json:"reason"`
}

func (h *grantsHandler) approve(w http.ResponseWriter, r *http.Request) {
	const action = "grant.approve"
	c, err := h.caller(r)
	if err == nil {
		err = mayWrite(c, ScopeGrantDecide)
	}
	if err != nil {
		h.refuse(w, r, c, action, r.PathValue("id"), err)
		return
	}
	var t Terms
	// An empty body grants what was applied for.
	if r.ContentLength != 0 {
		if err = httpx.DecodeJSON(r, grantsMaxBody, &t); err != nil {
			h.refuse(w, r, c, action, r.PathValue("id"), err)
			return
		}
	}
	h.transition(w, r, c, action, func(by Actor, g *Grant) error { return g.Approve(by, t, h.grants.Now()) })
}

func (h *grantsHandler) reject(w http.ResponseWriter, r *http.Request) {
	const action = "grant.reject"
	c, err := h.caller(r)
	if err == nil {
		err = mayWrite(c, ScopeGrantDecide)
	}
	if err != nil {
		h.refuse(w, r, c, action, r.PathValue("id"), err)
		return
	}
	var b reasonBody
	if err = httpx.DecodeJSON(r, grantsMaxBody, &b); err != nil {
		h.refuse(w, r, c, action, r.PathValue("id"), err)
		return
	}
	h.transition(w, r, c, action, func(by Actor, g *Grant) error { return g.Reject(by, b.Reason, h.grants.Now()) })
}

func (h *grantsHandler) revoke(w http.ResponseWriter, r *http.Request) {
	const action = "grant.revoke"
	c, err := h.caller(r)
	if err == nil {
		err = mayWrite(c, ScopeGrantDecide)
	}
	if err != nil {
		h.refuse(w, r, c, action, r.PathValue("id"), err)
		return
	}
	var b reasonBody
	if err = httpx.DecodeJSON(r, grantsMaxBody, &b); err != nil {
		h.refuse(w, r, c, action, r.PathValue("id"), err)
		return
	}
	h.transition(w, r, c, action, func(by Actor, g *Grant) error { return g.Revoke(by, b.Reason, h.grants.Now()) })
}

// transition applies fn to the grant under
// its row lock (the body was read before: no client holds a lock).
func (h *grantsHandler) transition(w http.ResponseWriter, r *http.Request, c *auth.Claims, action string, fn func(Actor, *Grant) error) {
	id, err := grantID(r)
	if err != nil {
		h.refuse(w, r, c, action, r.PathValue("id"), err)
		return
	}
	g, err := h.grants.UpdateGrant(r.Context(), id, func(g *Grant) error { return fn(actor(c), g) })
	if err != nil {
		h.refuse(w, r, c, action, r.PathValue("id"), err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, g)
}
