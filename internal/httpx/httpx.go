// Package httpx holds what every govx HTTP API shares: the one table from
// error kind to status, the JSON error shape, strict JSON body decoding with
// a size limit, and bearer-token authentication.
package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"govx"
	"govx/internal/auth"
)

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
// error". It returns the status written.
func WriteError(w http.ResponseWriter, log *slog.Logger, requestID string, err error) int {
	return WriteErrorStatus(w, log, requestID, StatusOf(err), err)
}

// WriteErrorStatus is WriteError with a status other than the kind's own
// (422 for a schema that does not parse, say).
func WriteErrorStatus(w http.ResponseWriter, log *slog.Logger, requestID string, status int, err error) int {
	var body ErrorBody
	body.Error.Code = govx.ErrorCode(err)
	body.Error.Message = govx.ErrorMessage(err)
	body.Error.RequestID = requestID
	if status >= 500 && status != http.StatusGatewayTimeout && log != nil {
		log.Error("request failed", "request_id", requestID, "code", body.Error.Code, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="govx"`)
	}
	WriteJSON(w, status, body)
	return status
}

// WriteJSON answers v as JSON with status. Answers are never cached: they
// carry access-controlled data.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	WriteJSONType(w, "application/json; charset=utf-8", status, v)
}

// WriteJSONType is WriteJSON with another JSON media type.
func WriteJSONType(w http.ResponseWriter, contentType string, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// DecodeJSON reads one JSON value of at most max bytes from r's body into
// v, refusing unknown fields, trailing data, multipart bodies and strings
// CheckText refuses. Errors are Invalid (invalid_json, invalid_text,
// unsupported_media_type) or TooLarge (body_too_large).
func DecodeJSON(r *http.Request, max int64, v any) error {
	// Any type is read as JSON (curl -d sends form-urlencoded), except
	// multipart bodies, which are surely not JSON.
	if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/") {
		return govx.Errorf(govx.KindInvalid, "unsupported_media_type", "send the body as application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return govx.Errorf(govx.KindInvalid, "invalid_body", "could not read the request body")
	}
	if int64(len(body)) > max {
		return govx.Errorf(govx.KindTooLarge, "body_too_large", "the request body is larger than %d bytes", max)
	}
	return Unmarshal(body, v, false)
}

// Unmarshal decodes body, which must hold exactly one JSON value, into v,
// then checks every string in it with CheckText (invalid UTF-8 and NUL are
// refused with invalid_text). Unknown members are refused unless
// unknownOK. It is DecodeJSON for a handler that reads its body itself.
func Unmarshal(body []byte, v any, unknownOK bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if !unknownOK {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return govx.Errorf(govx.KindInvalid, "invalid_json", "the request body is not valid JSON")
		case errors.As(err, &te):
			return govx.Errorf(govx.KindInvalid, "invalid_json", "field %q has the wrong type", te.Field)
		default:
			return govx.Errorf(govx.KindInvalid, "invalid_json", "%s", Truncate(err.Error(), 120))
		}
	}
	// dec.More reports false for a stray '}' or ']', so read one more
	// token: only the end of the body may follow the value.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return govx.Errorf(govx.KindInvalid, "invalid_json", "the request body holds more than one JSON value")
	}
	// encoding/json turns invalid UTF-8 into U+FFFD silently; refuse it
	// instead, and NUL (\u0000), which PostgreSQL text cannot hold.
	if !utf8.Valid(body) {
		return govx.Errorf(govx.KindInvalid, CodeInvalidText, "the request body is not valid UTF-8")
	}
	return checkStrings(reflect.ValueOf(v), "")
}

// Verifier checks bearer tokens. *auth.Verifier satisfies it.
type Verifier interface {
	Verify(token string) (*auth.Claims, error)
}

var _ Verifier = (*auth.Verifier)(nil)

// ContextVerifier is a Verifier that may fetch keys (an OpenID Connect
// provider's) within the request's context.
type ContextVerifier interface {
	VerifyContext(ctx context.Context, token string) (*auth.Claims, error)
}

var _ ContextVerifier = (*auth.Verifier)(nil)

// Authenticate returns the verified claims of r's bearer token.
func Authenticate(r *http.Request, v Verifier) (*auth.Claims, error) {
	tok, err := auth.BearerToken(r)
	if err != nil {
		return nil, err
	}
	if cv, ok := v.(ContextVerifier); ok {
		return cv.VerifyContext(r.Context(), tok)
	}
	return v.Verify(tok)
}

// NotFound answers every request no route matched.
func NotFound(log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, log, "", govx.Errorf(govx.KindNotFound, "route_not_found", "no such endpoint: %s %s", r.Method, Truncate(r.URL.Path, 100)))
	}
}

// Truncate cuts s to at most n bytes, at a character boundary, for an
// error message or a record, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// StartEventStream answers 200 with the headers of a server-sent event
// stream (not cached, not buffered by a proxy) and lifts the server's read
// and write deadlines, which a stream outlives by design. It returns the
// controller to flush each event with.
func StartEventStream(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return rc
}
