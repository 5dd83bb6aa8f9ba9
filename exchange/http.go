package exchange

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"govx"
	"govx/bus"
	"govx/exchange/ledger"
	"govx/internal/auth"
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
	var ans *Answer
	claims, err := httpx.Authenticate(r, h.verifier)
	if err == nil {
		entry.Caller, entry.Consumer = claims.Subject, claims.Dept
		var q Query
		if q, err = decodeQuery(r, h.maxBody); err == nil {
			q.Resource = code
			ans, _, err = h.Answer(r.Context(), requestID, claims, q) // recorded there
		} else if aerr := h.record(r.Context(), entry, err, false); aerr != nil {
			err = aerr
		}
	} else if aerr := h.record(r.Context(), entry, err, false); aerr != nil {
		// Refused before the query was decided, and recorded all the same.
		err = aerr
	}
	status := http.StatusOK
	if err != nil {
		status = httpx.WriteError(w, h.log, requestID, err)
	} else {
		httpx.WriteJSON(w, http.StatusOK, ans)
	}
	h.metrics.observe(status, time.Since(start))
}

// Answer decides and brokers q for caller as the query API does and
// records the outcome in the audit ledger under requestID before it
// returns: no answer leaves unrecorded, and if the ledger cannot take the
// entry the caller gets that error instead of the data. The node link of a
// federation calls it for the queries of other nodes' departments.
func (h *Handler) Answer(ctx context.Context, requestID string, caller *auth.Claims, q Query) (*Answer, *Decision, error) {
	entry := ledger.Entry{RequestID: requestID, Resource: httpx.Truncate(q.Resource, 100),
		Caller: caller.Subject, Consumer: caller.Dept,
		SubjectKey: httpx.Truncate(q.Key, 64), Purpose: httpx.Truncate(q.Purpose, 200)}
	var d Decision
	ans, err := h.svc.Query(ctx, requestID, caller, q, &d)
	entry.Provider, entry.Fields, entry.Rule = d.Provider, d.Fields, d.Rule
	entry.ConsentID, entry.DataSubject = d.Consent, httpx.Truncate(d.Subject, 64)
	entry.ProviderKeyID, entry.ProviderSignature, entry.ReplyDigest = d.Reply.KeyID, d.Reply.Signature, d.Reply.Digest
	if aerr := h.record(ctx, entry, err, d.Sent); aerr != nil {
		return nil, &d, aerr
	}
	return ans, &d, err
}

// record appends entry with the outcome err (nil: released) to the ledger.
func (h *Handler) record(ctx context.Context, entry ledger.Entry, err error, sent bool) error {
	entry.Outcome, entry.Code, entry.Status = Outcome(err, sent)
	return h.audit.Append(context.WithoutCancel(ctx), entry)
}

// Outcome is what the ledger records of a query that ended with err (nil:
// answered), sent or not to its provider: the outcome, the code and the
// HTTP status answered.
func Outcome(err error, sent bool) (outcome, code string, status int) {
	if err == nil {
		return ledger.Released, "ok", http.StatusOK
	}
	outcome = ledger.Refused
	if k := govx.ErrorKind(err); k != govx.KindForbidden && (sent || k == govx.KindUnavailable || k == govx.KindInternal) {
		outcome = ledger.Failed
	}
	return outcome, govx.ErrorCode(err), httpx.StatusOf(err)
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
