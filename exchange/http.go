package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"govx"
	"govx/internal/auth"
)

// Verifier checks bearer tokens. *auth.Verifier satisfies it.
type Verifier interface {
	Verify(token string) (*auth.Claims, error)
}

var _ Verifier = (*auth.Verifier)(nil)

// statusOf is the one table from error kind to HTTP status.
var statusOf = map[govx.Kind]int{
	govx.KindInternal:        http.StatusInternalServerError,
	govx.KindNotFound:        http.StatusNotFound,
	govx.KindInvalid:         http.StatusBadRequest,
	govx.KindForbidden:       http.StatusForbidden,
	govx.KindConflict:        http.StatusConflict,
	govx.KindUnavailable:     http.StatusServiceUnavailable,
	govx.KindTimeout:         http.StatusGatewayTimeout,
	govx.KindUnauthenticated: http.StatusUnauthorized,
	govx.KindTooLarge:        http.StatusRequestEntityTooLarge,
}

// StatusOf maps an error to its HTTP status.
func StatusOf(err error) int {
	if s, ok := statusOf[govx.ErrorKind(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

// WriteError answers err as JSON with its status and stable code. Internal
// errors are logged here, once, and shown to the caller only as "internal
// error".
func WriteError(w http.ResponseWriter, log *slog.Logger, requestID string, err error) int {
	status := StatusOf(err)
	var body ErrorBody
	body.Error.Code = govx.ErrorCode(err)
	body.Error.Message = govx.ErrorMessage(err)
	body.Error.RequestID = requestID
	if status >= 500 && status != http.StatusGatewayTimeout {
		log.Error("request failed", "request_id", requestID, "code", body.Error.Code, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="govx"`)
	}
	writeJSON(w, status, body)
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

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
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, h.log, "", govx.Errorf(govx.KindNotFound, "route_not_found", "no such endpoint: %s %s", r.Method, truncate(r.URL.Path, 100)))
	})
	return h
}

// Handle mounts another handler on the API's mux.
func (h *Handler) Handle(pattern string, handler http.Handler) { h.mux.Handle(pattern, handler) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) query(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := NewRequestID()
	w.Header().Set("X-Request-Id", requestID)
	code := r.PathValue("code")
	entry := AuditEntry{RequestID: requestID, Resource: truncate(code, 100)}
	var sent bool
	ans, err := h.serveQuery(r, requestID, code, &entry, &sent)

	// No answer leaves unrecorded: if the ledger cannot take the entry the
	// caller gets an error instead of the data.
	entry.Outcome, entry.Code, entry.Status = Answered, "ok", http.StatusOK
	if err != nil {
		entry.Code, entry.Status = govx.ErrorCode(err), StatusOf(err)
		entry.Outcome = Refused
		if k := govx.ErrorKind(err); sent || k == govx.KindUnavailable || k == govx.KindInternal {
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
	tok, err := auth.BearerToken(r)
	if err != nil {
		return nil, err
	}
	claims, err := h.verifier.Verify(tok)
	if err != nil {
		return nil, err
	}
	entry.Caller, entry.Consumer = claims.Subject, claims.Dept

	q, err := decodeQuery(r, h.maxBody)
	if err != nil {
		return nil, err
	}
	q.Resource = code
	entry.SubjectKey = truncate(q.Key, 64)
	entry.Purpose = truncate(q.Purpose, 200)
	var d Decision
	ans, err := h.svc.Query(r.Context(), requestID, claims, q, &d)
	entry.Provider, entry.Fields, *sent = d.Provider, d.Fields, d.Sent
	return ans, err
}

func decodeQuery(r *http.Request, max int64) (Query, error) {
	var q Query
	// Any type is read as JSON (curl -d sends form-urlencoded), except
	// multipart bodies, which are surely not a query.
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/") {
		return q, govx.Errorf(govx.KindInvalid, "unsupported_media_type", "send the query as application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return q, govx.Errorf(govx.KindInvalid, "invalid_body", "could not read the request body")
	}
	if int64(len(body)) > max {
		return q, govx.Errorf(govx.KindTooLarge, "body_too_large", "the request body is larger than %d bytes", max)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return q, govx.Errorf(govx.KindInvalid, "invalid_json", "the request body is not valid JSON")
		case errors.As(err, &te):
			return q, govx.Errorf(govx.KindInvalid, "invalid_json", "field %q has the wrong type", te.Field)
		default:
			return q, govx.Errorf(govx.KindInvalid, "invalid_json", "%s", truncate(err.Error(), 120))
		}
	}
	if dec.More() {
		return q, govx.Errorf(govx.KindInvalid, "invalid_json", "the request body holds more than one JSON value")
	}
	if len(q.Fields) > 64 {
		return q, govx.Errorf(govx.KindInvalid, "too_many_fields", "at most 64 fields may be asked for")
	}
	return q, nil
}
