package refusal

import (
	_ "embed"
	"log/slog"
	"net/http"

	"govx"
	"govx/internal/httpx"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI is the OpenAPI 3.1 document of GET /v1/refusals.
func OpenAPI() []byte { return openAPIDoc }

// Roles that may read the log.
const (
	RoleSupervisor = "supervisor"
	RoleOperator   = "operator"
)

// Page is the answer of GET /v1/refusals.
type Page struct {
	Refusals []Entry `json:"refusals"`
	// NextBefore is the cursor of the next (older) page; nil on the last.
	NextBefore *int64 `json:"next_before"`
}

// Handler serves GET /v1/refusals (roles supervisor and operator; newest
// first, ?action=, ?since=, ?limit=, paged with ?before=<id>) and its
// document at GET /v1/refusals/openapi.json.
func (l *Log) Handler(v httpx.Verifier, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/refusals", func(w http.ResponseWriter, r *http.Request) {
		c, err := httpx.Authenticate(r, v)
		if err == nil && c.Role != RoleSupervisor && c.Role != RoleOperator {
			err = govx.Errorf(govx.KindForbidden, "role_required", "the refusal log is for roles %s and %s", RoleSupervisor, RoleOperator)
		}
		var f Filter
		if err == nil {
			f, err = parseQuery(r.URL.RawQuery)
		}
		var es []Entry
		if err == nil {
			es, err = l.List(r.Context(), f)
		}
		if err != nil {
			httpx.WriteError(w, logger, "", err)
			return
		}
		page := Page{Refusals: es}
		if len(es) == f.Limit {
			next := es[len(es)-1].ID
			page.NextBefore = &next
		}
		httpx.WriteJSON(w, http.StatusOK, page)
	})
	mux.HandleFunc("GET /v1/refusals/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDoc)
	})
	mux.HandleFunc("/", httpx.NotFound(logger))
	return mux
}

func parseQuery(raw string) (Filter, error) {
	p, got, err := httpx.ParseListQuery(raw, "invalid_query_string", MaxLimit, "action")
	if err != nil {
		return Filter{}, err
	}
	f := Filter{Action: got["action"], Since: p.Since, Before: p.Before, Limit: p.Limit}
	return f, f.Validate()
}
