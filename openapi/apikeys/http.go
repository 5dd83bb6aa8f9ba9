package apikeys

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"govx"
	"govx/internal/httpx"
	"govx/internal/ratelimit"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the OpenAPI 3.1 fragment of the key and token endpoints, for
// the open-data API's document to merge.
func OpenAPI() []byte { return openAPI }

const maxBody = 8 << 10

// Mount registers the key and token endpoints on mux:
//
//	POST   /open/v1/keys              register, answers the secret once
//	GET    /open/v1/keys              list (operator)
//	GET    /open/v1/keys/{id}         read (holder or operator)
//	DELETE /open/v1/keys/{id}         revoke (holder or operator)
//	PUT    /open/v1/keys/{id}/limit   set tier and limit (operator)
//	POST   /open/v1/token             client credentials → bearer token
//
// The handlers take the caller from the context Middleware sets, so mount
// them behind it; without it they identify the caller themselves.
func (s *Service) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST /open/v1/keys", s.create)
	mux.HandleFunc("GET /open/v1/keys", s.list)
	mux.HandleFunc("GET /open/v1/keys/{id}", s.get)
	mux.HandleFunc("DELETE /open/v1/keys/{id}", s.revoke)
	mux.HandleFunc("PUT /open/v1/keys/{id}/limit", s.setLimit)
	mux.HandleFunc("POST /open/v1/token", s.token)
}

func (s *Service) fail(w http.ResponseWriter, err error) { httpx.WriteError(w, s.cfg.Logger, "", err) }

func (s *Service) caller(r *http.Request) (Caller, error) {
	if c, ok := CallerFrom(r.Context()); ok {
		return c, nil
	}
	return s.Identify(r)
}

// limitView is a limit on the wire.
type limitView struct {
	Rate     int   `json:"rate"`
	PeriodMS int64 `json:"period_ms"`
	Burst    int   `json:"burst"`
}

func viewLimit(l ratelimit.Limit) limitView {
	return limitView{Rate: l.Rate, PeriodMS: l.Period.Milliseconds(), Burst: l.Burst}
}

type keyView struct {
	*Key
	Limit         limitView `json:"limit"`
	LimitOverride bool      `json:"limit_override"`
}

func (s *Service) view(k *Key) keyView {
	return keyView{Key: k, Limit: viewLimit(s.LimitOf(k)), LimitOverride: k.Limit != nil}
}

func (s *Service) create(w http.ResponseWriter, r *http.Request) {
	var reg Registration
	if err := httpx.DecodeJSON(r, maxBody, &reg); err != nil {
		s.fail(w, err)
		return
	}
	if err := reg.validate(); err != nil {
		s.fail(w, err)
		return
	}
	c, err := s.caller(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	if c.Kind != CallerOperator {
		if retry, ok := s.allowRegistration(r.Context(), c.Addr, reg.Email); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, ratelimit.Seconds(retry))))
			httpx.WriteErrorStatus(w, s.cfg.Logger, "", http.StatusTooManyRequests, govx.Errorf(govx.KindUnavailable, CodeRegistrationLimited,
				"too many keys registered lately from this address or for this e-mail address; retry after %s, or ask the operators", retry.Round(time.Second)))
			return
		}
	}
	k, secret, err := s.store.Create(r.Context(), reg)
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Location", "/open/v1/keys/"+k.ID)
	httpx.WriteJSON(w, http.StatusCreated, struct {
		keyView
		Secret string `json:"secret"`
		APIKey string `json:"api_key"`
	}{s.view(k), secret, k.ID + "." + secret})
}

// allowRegistration charges one registration to the client address and to
// the e-mail address (lower-cased, without a +tag), each against its own
// limit; it says how long to wait when either is spent.
func (s *Service) allowRegistration(ctx context.Context, addr netip.Addr, email string) (time.Duration, bool) {
	if res := s.limiter.Allow(ctx, "register:ip:"+addrBucket(addr), s.cfg.RegistrationsPerAddress); !res.Allowed {
		return res.RetryAfter, false
	}
	sum := sha256.Sum256([]byte(normalEmail(email)))
	if res := s.limiter.Allow(ctx, "register:email:"+hex.EncodeToString(sum[:16]), s.cfg.RegistrationsPerEmail); !res.Allowed {
		return res.RetryAfter, false
	}
	return 0, true
}

// normalEmail is the mailbox an address reaches, as far as most providers
// go: case does not matter, nor does a +tag in the local part.
func normalEmail(email string) string {
	email = strings.ToLower(email)
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return email
	}
	local, _, _ := strings.Cut(email[:at], "+")
	return local + email[at:]
}

func (s *Service) operator(r *http.Request) (Caller, error) {
	c, err := s.caller(r)
	if err != nil {
		return c, err
	}
	switch c.Kind {
	case CallerOperator:
		return c, nil
	case CallerAnonymous:
		return c, govx.Errorf(govx.KindUnauthenticated, CodeNeedsOperator, "this needs an operator's bearer token")
	}
	return c, govx.Errorf(govx.KindForbidden, CodeNeedsOperator, "this needs an operator's bearer token")
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	if _, err := s.operator(r); err != nil {
		s.fail(w, err)
		return
	}
	q := r.URL.Query()
	ks, err := s.store.Keys(r.Context(), Filter{Status: Status(q.Get("status")), Email: q.Get("email")})
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]keyView, len(ks))
	for i := range ks {
		out[i] = s.view(&ks[i])
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"keys": out})
}

// holderOrOperator lets through the holder of key id and operators.
func (s *Service) holderOrOperator(r *http.Request, id string) (Caller, error) {
	c, err := s.caller(r)
	if err != nil {
		return c, err
	}
	switch {
	case c.Kind == CallerOperator, c.Kind == CallerKey && c.KeyID == id:
		return c, nil
	case c.Kind == CallerAnonymous:
		return c, govx.Errorf(govx.KindUnauthenticated, "credentials_required", "present the key (X-API-Key or its bearer token) or an operator's token")
	}
	return c, govx.Errorf(govx.KindForbidden, "not_your_key", "only the holder of key %s or an operator may do this", truncate(id, 40))
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.holderOrOperator(r, id); err != nil {
		s.fail(w, err)
		return
	}
	k, err := s.store.Key(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.view(k))
}

func (s *Service) revoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := s.holderOrOperator(r, id)
	if err != nil {
		s.fail(w, err)
		return
	}
	by := "holder"
	if c.Kind == CallerOperator {
		by = "operator:" + c.Subject
	}
	k, err := s.Revoke(r.Context(), id, by)
	if err != nil {
		s.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.view(k))
}

// LimitChange is the body of PUT /open/v1/keys/{id}/limit.
type LimitChange struct {
	Tier  string     `json:"tier"`
	Limit *limitView `json:"limit,omitempty"`
}

func (s *Service) setLimit(w http.ResponseWriter, r *http.Request) {
	if _, err := s.operator(r); err != nil {
		s.fail(w, err)
		return
	}
	var ch LimitChange
	if err := httpx.DecodeJSON(r, maxBody, &ch); err != nil {
		s.fail(w, err)
		return
	}
	var lim *ratelimit.Limit
	if ch.Limit != nil {
		lim = &ratelimit.Limit{Rate: ch.Limit.Rate, Period: time.Duration(ch.Limit.PeriodMS) * time.Millisecond, Burst: ch.Limit.Burst}
	}
	k, err := s.SetLimit(r.Context(), r.PathValue("id"), ch.Tier, lim)
	if err != nil {
		s.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.view(k))
}

// oauthError is an RFC 6749 §5.2 error answer.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func oauthFail(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="govx-open"`)
	}
	w.Header().Set("Pragma", "no-cache")
	httpx.WriteJSON(w, status, oauthError{Error: code, Description: desc})
}

// token is the client-credentials grant (RFC 6749 §4.4): the key id is the
// client_id and its secret the client_secret, sent in HTTP Basic auth
// (§2.3.1, form-encoded then base64) or in the form body.
func (s *Service) token(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		oauthFail(w, http.StatusBadRequest, "invalid_request", "send the request as application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		oauthFail(w, http.StatusBadRequest, "invalid_request", "the form body cannot be read")
		return
	}
	form := r.PostForm
	for _, p := range []string{"grant_type", "client_id", "client_secret", "scope"} {
		if len(form[p]) > 1 {
			oauthFail(w, http.StatusBadRequest, "invalid_request", p+" is repeated")
			return
		}
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		oauthFail(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
		return
	default:
		oauthFail(w, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=client_credentials is supported")
		return
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if authz := r.Header.Get("Authorization"); authz != "" {
		if form.Has("client_secret") {
			oauthFail(w, http.StatusBadRequest, "invalid_request", "send the client credentials in one place: Basic auth or the form")
			return
		}
		bid, bsecret, ok := basicAuth(authz)
		if !ok || (id != "" && id != bid) {
			oauthFail(w, http.StatusUnauthorized, "invalid_client", "the Authorization header is not valid Basic client authentication")
			return
		}
		id, secret = bid, bsecret
	}
	if id == "" || secret == "" {
		oauthFail(w, http.StatusUnauthorized, "invalid_client", "client_id and client_secret are required")
		return
	}
	tok, ttl, err := s.IssueToken(r.Context(), id, secret)
	switch {
	case err == nil:
	case govx.ErrorKind(err) == govx.KindUnauthenticated:
		oauthFail(w, http.StatusUnauthorized, "invalid_client", govx.ErrorMessage(err))
		return
	default:
		status := httpx.StatusOf(err)
		if status >= 500 {
			s.cfg.Logger.Error("token request failed", "err", err)
		}
		oauthFail(w, status, "server_error", govx.ErrorMessage(err))
		return
	}
	w.Header().Set("Pragma", "no-cache")
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "token_type": "Bearer", "expires_in": int(ttl / time.Second),
	})
}

// basicAuth decodes RFC 6749 §2.3.1 client authentication: Basic over the
// form-urlencoded id and secret.
func basicAuth(h string) (id, secret string, ok bool) {
	scheme, enc, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	u, p, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if u, err = url.QueryUnescape(u); err != nil {
		return "", "", false
	}
	if p, err = url.QueryUnescape(p); err != nil {
		return "", "", false
	}
	return u, p, true
}
