package refusal

import (
	_ "embed"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

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
	var f Filter
	q, err := url.ParseQuery(raw)
	if err != nil {
		return f, govx.Errorf(govx.KindInvalid, "invalid_query_string", "the query string does not parse")
	}
	for name, vs := range q {
		if len(vs) > 1 {
			return f, govx.Errorf(govx.KindInvalid, "invalid_parameter", "parameter %q is given more than once", httpx.Truncate(name, 32))
		}
		v := vs[0]
		switch name {
		case "action":
			f.Action = v
		case "since":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, govx.Errorf(govx.KindInvalid, "invalid_since", "since must be an RFC 3339 time, e.g. 2026-11-21T08:00:00Z")
			}
			f.Since = t
		case "before":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return f, govx.Errorf(govx.KindInvalid, "invalid_before", "before must be a positive entry id")
			}
			f.Before = n
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > MaxLimit {
				return f, govx.Errorf(govx.KindInvalid, "invalid_limit", "limit must be 1 to %d", MaxLimit)
			}
			f.Limit = n
		default:
			return f, govx.Errorf(govx.KindInvalid, "unknown_parameter", "unknown parameter %q (have action, since, before, limit)", httpx.Truncate(name, 32))
		}
	}
	return f, f.Validate()
}
