package exchange

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"govx"
	"govx/bus"
	"govx/internal/httpx"
)

// Verifier checks bearer tokens. *auth.Verifier satisfies it.
type Verifier = httpx.Verifier

// StatusOf maps an error to its HTTP status.
func StatusOf(err error) int { return httpx.StatusOf(err) }

// WriteError answers err as JSON with its status and stable code.
func WriteError(w http.ResponseWriter, log *slog.Logger, requestID string, err error) int {
	return httpx.WriteError(w, log, requestID, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpx.WriteJSON(w, status, v) }

// Handler is the exchange's HTTP API.
type Handler struct {
	svc      *Service
	verifier Verifier
	audit    AuditLog
	log      *slog.Logger
	maxBody  int64
	mux      *http.ServeMux
	metrics  *Metrics
}

// NewHandler wires the routes. extra routes (JWKS, health, metrics) are
// mounted by the caller on the returned mux through Handle.
func NewHandler(svc *Service, verifier Verifier, audit AuditLog, metrics *Metrics) *Handler {
	h := &Handler{svc: svc, verifier: verifier, audit: audit, log: svc.cfg.Logger,
		maxBody: svc.cfg.MaxBody, mux: http.NewServeMux(), metrics: metrics}
	h.mux.HandleFunc("POST /v1/resources/{code}/query", h.query)
	h.mux.HandleFunc("GET /v1/openapi.json", serveOpenAPI)
	h.mux.HandleFunc("/", httpx.NotFound(h.log))
	return h
}

// Handle mounts another handler on the API's mux.
func (h *Handler) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) query(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := bus.NewRequestID()
	w.Header().Set("X-Request-Id", requestID)
	code := r.PathValue("code")
	entry := AuditEntry{RequestID: requestID, Resource: httpx.Truncate(code, 100)}
	var sent bool
	ans, err := h.serveQuery(r, requestID, code, &entry, &sent)

	// No answer leaves unrecorded: if the ledger cannot take the entry the
	// caller gets an error instead of the data.
	entry.Outcome, entry.Code, entry.Status = Answered, "ok", http.StatusOK
	if err != nil {
		entry.Code, entry.Status = govx.ErrorCode(err), StatusOf(err)
		entry.Outcome = Refused
		if k := govx.ErrorKind(err); k != govx.KindForbidden && (sent || k == govx.KindUnavailable || k == govx.KindInternal) {
			entry.Outcome = Failed
		}
	}
	if aerr := h.audit.Append(context.WithoutCancel(r.Context()), entry); aerr != nil {
		ans, err = nil, aerr
	}
	status := http.StatusOK
	if err != nil {
		status = WriteError(w, h.log, requestID, err)
	} else {
		writeJSON(w, http.StatusOK, ans)
	}
	h.metrics.observe(status, time.Since(start))
}

func (h *Handler) serveQuery(r *http.Request, requestID, code string, entry *AuditEntry, sent *bool) (*Answer, error) {
	claims, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		return nil, err
	}
	entry.Caller, entry.Consumer = claims.Subject, claims.Dept

	q, err := decodeQuery(r, h.maxBody)
	if err != nil {
		return nil, err
	}
	q.Resource = code
	entry.SubjectKey = httpx.Truncate(q.Key, 64)
	entry.Purpose = httpx.Truncate(q.Purpose, 200)
	var d Decision
	ans, err := h.svc.Query(r.Context(), requestID, claims, q, &d)
	entry.Provider, entry.Fields, entry.Rule, *sent = d.Provider, d.Fields, d.Rule, d.Sent
	entry.ConsentID, entry.DataSubject = d.Consent, httpx.Truncate(d.Subject, 64)
	return ans, err
}

func decodeQuery(r *http.Request, max int64) (Query, error) {
	var q Query
	if err := httpx.DecodeJSON(r, max, &q); err != nil {
		return q, err
	}
	if len(q.Fields) > 64 {
		return q, govx.Errorf(govx.KindInvalid, "too_many_fields", "at most 64 fields may be asked for")
	}
	return q, nil
}
