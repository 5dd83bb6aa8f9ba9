package population

import (
	"log/slog"
	"net/http"

	"govx"
	"govx/internal/httpx"
)

// DirectPath is where `govx up --baseline` serves NewDirectHandler.
const DirectPath = "/bench/direct/" + ResourceIdentity + "/query"

// directQuery is the body of a direct lookup: the exchange's query body.
type directQuery struct {
	Key     string   `json:"key"`
	Fields  []string `json:"fields"`
	Purpose string   `json:"purpose"`
}

// NewDirectHandler serves the population register directly, as a
// department's own lookup service would without the exchange: JSON over
// HTTP, the caller's EdDSA token verified (and cached) by verifier, the
// token's scope checked, one primary-key query, the fields asked for
// answered as {"record": {...}}. It takes the exchange's query body.
//
// It exists only as the baseline `govx bench --baseline` measures the
// exchange against: no grant, consent, audit or bus is involved, so it is
// mounted only when `govx up --baseline` asks for it, never by default.
func NewDirectHandler(store *Store, verifier httpx.Verifier, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := httpx.Authenticate(r, verifier)
		if err == nil && !claims.HasScope(ResourceIdentity) {
			err = govx.Errorf(govx.KindForbidden, "scope_missing", "the token's scope does not include %s", ResourceIdentity)
		}
		var q directQuery
		if err == nil {
			err = httpx.DecodeJSON(r, 64<<10, &q)
		}
		var res Resident
		if err == nil {
			res, err = store.Resident(r.Context(), q.Key)
		}
		if err != nil {
			httpx.WriteError(w, log, "", err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"record": identityRecord(res, q.Fields)})
	})
}
