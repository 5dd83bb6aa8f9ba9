package exchange

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"govx"
	"govx/bus"
	"govx/exchange/ledger"
	"govx/internal/httpx"
)

// Handler serves the exchange's query API: POST
// /v1/resources/{code}/query. The node's router mounts it under that
// pattern (it reads the {code} path value) and serves OpenAPI() beside it.
type Handler struct {
	svc      *Service
	verifier httpx.Verifier
	audit    AuditLog
	log      *slog.Logger
	maxBody  int64
	metrics  *Metrics
}

// HandlerConfig is what the query handler needs.
type HandlerConfig struct {
	Service  *Service
	Verifier httpx.Verifier
	// Audit records every answer and refusal before it is written.
	Audit   AuditLog
	Metrics *Metrics // nil counts nothing
}

func (c *HandlerConfig) Validate() error {
	if c.Service == nil || c.Verifier == nil || c.Audit == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "exchange: a handler needs a Service, a Verifier and an Audit log")
	}
	return nil
}

// NewHandler returns the query handler. It logs and limits bodies as its
// Service is configured to.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	svc := cfg.Service
	return &Handler{svc: svc, verifier: cfg.Verifier, audit: cfg.Audit, log: svc.cfg.Logger,
		maxBody: svc.cfg.MaxBody, metrics: cfg.Metrics}, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.query(w, r) }

func (h *Handler) query(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := bus.NewRequestID()
	w.Header().Set("X-Request-Id", requestID)
	code := r.PathValue("code")
	entry := ledger.Entry{RequestID: requestID, Resource: httpx.Truncate(code, 100)}
	var sent bool
	ans, err := h.serveQuery(r, requestID, code, &entry, &sent)

	// No answer leaves unrecorded: if the ledger cannot take the entry the
	// caller gets an error instead of the data.
	entry.Outcome, entry.Code, entry.Status = ledger.Released, "ok", http.StatusOK
	if err != nil {
		entry.Code, entry.Status = govx.ErrorCode(err), httpx.StatusOf(err)
		entry.Outcome = ledger.Refused
		if k := govx.ErrorKind(err); k != govx.KindForbidden && (sent || k == govx.KindUnavailable || k == govx.KindInternal) {
			entry.Outcome = ledger.Failed
		}
	}
	if aerr := h.audit.Append(context.WithoutCancel(r.Context()), entry); aerr != nil {
		ans, err = nil, aerr
	}
	status := http.StatusOK
	if err != nil {
		status = httpx.WriteError(w, h.log, requestID, err)
	} else {
		httpx.WriteJSON(w, http.StatusOK, ans)
	}
	h.metrics.observe(status, time.Since(start))
}

func (h *Handler) serveQuery(r *http.Request, requestID, code string, entry *ledger.Entry, sent *bool) (*Answer, error) {
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
	entry.ProviderKeyID, entry.ProviderSignature, entry.ReplyDigest = d.Reply.KeyID, d.Reply.Signature, d.Reply.Digest
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
