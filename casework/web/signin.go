package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"govx"
	"govx/internal/auth"
)

// Signing in to the hall through an OpenID Connect provider: the standard
// authorization code flow with state, nonce and PKCE (S256). The hall is
// a client of the provider; the ID token it gets back is verified by
// Config.Verifier (its OIDC provider support), its nonce checked here, and
// kept as the session. In a deployment, SignIn names the government's
// identity provider; `govx up` points it at the demo provider it runs
// (internal/idp).

// Error codes of the sign-in.
const (
	CodeSignInState      = "signin_state_invalid" // the callback's state is not the one this browser started with
	CodeSignInRefused    = "signin_refused"       // the provider answered with an error (the user cancelled, …)
	CodeSignInFailed     = "signin_failed"        // the provider could not be reached or answered nonsense
	CodeSignInNonce      = "signin_nonce_invalid" // the ID token's nonce is not this sign-in's
	CodeApplicantsOnly   = "hall_applicants_only" // the token is not a resident's or a company's
	oidcCookie           = "govx_oidc"            // state and the page to return to, during a sign-in
	discoveryPath        = "/.well-known/openid-configuration"
	maxProviderDocument  = 1 << 20
	signInCookieLifetime = 600 // seconds a sign-in may take at the provider
)

// SignIn is the OpenID Connect provider the hall's applicants sign in
// through, and the hall's registration there.
type SignIn struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID is the hall's client id at the provider, the audience of
	// the ID tokens it issues for the hall.
	ClientID string
	// ClientSecret, when the provider registered the hall as a
	// confidential client, is sent with the code (HTTP Basic); "" for a
	// public client, which PKCE protects.
	ClientSecret string
	// RedirectURL is the absolute URL of the hall's callback
	// (<prefix>callback) as browsers reach it, registered at the provider.
	RedirectURL string
	// Scopes asked for beyond "openid".
	Scopes []string
	// HTTPClient reaches the provider's discovery document and token
	// endpoint; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
}

func (s *SignIn) validate() error {
	invalid := func(msg string) error {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "web: hall sign-in: %s", msg)
	}
	if s == nil {
		return invalid("SignIn (the identity provider) is required")
	}
	if s.Issuer == "" || s.ClientID == "" {
		return invalid("the provider's issuer and the hall's client id are required")
	}
	u, err := url.Parse(s.RedirectURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return invalid("RedirectURL must be an absolute http(s) URL")
	}
	return nil
}

// signIn is the hall's client of the provider.
type signIn struct {
	cfg    SignIn
	client *http.Client

	mu  sync.Mutex
	doc *providerDoc // nil until fetched
}

type providerDoc struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

func newSignIn(cfg *SignIn) *signIn {
	s := &signIn{cfg: *cfg, client: cfg.HTTPClient}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	return s
}

// discover returns the provider's endpoints, fetched once; a failed fetch
// is tried again on the next sign-in.
func (s *signIn) discover(ctx context.Context) (*providerDoc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.doc != nil {
		return s.doc, nil
	}
	var doc providerDoc
	if err := s.getJSON(ctx, strings.TrimSuffix(s.cfg.Issuer, "/")+discoveryPath, &doc); err != nil {
		return nil, err
	}
	switch {
	case doc.Issuer != s.cfg.Issuer:
		return nil, fmt.Errorf("discovery document names issuer %q, not %q", doc.Issuer, s.cfg.Issuer)
	case doc.AuthorizationEndpoint == "" || doc.TokenEndpoint == "":
		return nil, fmt.Errorf("discovery document names no authorization or token endpoint")
	}
	s.doc = &doc
	return s.doc, nil
}

func (s *signIn) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	return s.do(req, v)
}

func (s *signIn) do(req *http.Request, v any) error {
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxProviderDocument))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		json.Unmarshal(b, &e)
		return fmt.Errorf("%s %s: %s %s %s", req.Method, req.URL.Redacted(), resp.Status, e.Error, e.Description)
	}
	return json.Unmarshal(b, v)
}

// exchange trades the code for the provider's tokens and returns the ID
// token.
func (s *signIn) exchange(ctx context.Context, doc *providerDoc, code, verifier string) (string, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.cfg.RedirectURL},
		"client_id": {s.cfg.ClientID}, "code_verifier": {verifier}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, doc.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if s.cfg.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.ClientSecret))
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := s.do(req, &tok); err != nil {
		return "", err
	}
	if tok.IDToken == "" {
		return "", fmt.Errorf("the token endpoint answered without an ID token")
	}
	return tok.IDToken, nil
}

// flowSecret derives a secret of the sign-in started with state: the
// nonce the ID token must carry, and the PKCE code verifier. Only the
// state travels in the cookie; the secrets are recomputed from it with
// the UI's key, so the cookie alone is not enough to forge them.
func (ui *UI) flowSecret(label, state string) string {
	m := hmac.New(sha256.New, ui.cfg.CSRFKey)
	m.Write([]byte("govx-hall-oidc\x00" + label + "\x00" + state))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// onRedirectHost reports whether r came to the host of the redirect URL;
// when not, it redirects there first, so that the cookie of the sign-in is
// set where the provider will send the browser back.
func (ui *UI) onRedirectHost(w http.ResponseWriter, r *http.Request) bool {
	u, _ := url.Parse(ui.signIn.cfg.RedirectURL)
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	to := *u
	to.Path, to.RawQuery = r.URL.Path, r.URL.RawQuery
	http.Redirect(w, r, to.String(), http.StatusFound)
	return false
}

type hallLoginData struct {
	Reason string
	Next   string
	Err    error
}

// hallLogin is the sign-in page: why the applicant is here and the button
// that goes to the identity provider.
func (ui *UI) hallLogin(w http.ResponseWriter, r *http.Request) {
	if !ui.onRedirectHost(w, r) {
		return
	}
	next := ui.localNext(r.URL.Query().Get("next"))
	if ui.user(r) != nil && ui.user(r).Person() {
		ui.redirect(w, r, next)
		return
	}
	reason := r.URL.Query().Get("reason")
	switch reason {
	case auth.CodeTokenMissing, auth.CodeTokenExpired, auth.CodeTokenInvalid:
	default:
		reason = ""
	}
	ui.render(w, r, http.StatusOK, "login", hallLoginData{Reason: reason, Next: next})
}

// hallLoginStart sends the browser to the provider's authorization
// endpoint.
func (ui *UI) hallLoginStart(w http.ResponseWriter, r *http.Request) {
	if !ui.onRedirectHost(w, r) {
		return
	}
	doc, err := ui.signIn.discover(r.Context())
	if err != nil {
		ui.signInFailed(w, r, err)
		return
	}
	state := newNonce()
	next := ui.localNext(r.URL.Query().Get("next"))
	// SameSite=Lax: the provider sends the browser back with a top-level
	// GET from its own site, which a Strict cookie would not join.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: state + "." + base64.RawURLEncoding.EncodeToString([]byte(next)),
		Path: ui.cfg.Prefix, MaxAge: signInCookieLifetime, HttpOnly: true, Secure: ui.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	challenge := sha256.Sum256([]byte(ui.flowSecret("pkce", state)))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {ui.signIn.cfg.ClientID},
		"redirect_uri":          {ui.signIn.cfg.RedirectURL},
		"scope":                 {strings.Join(append([]string{"openid"}, ui.signIn.cfg.Scopes...), " ")},
		"state":                 {state},
		"nonce":                 {ui.flowSecret("nonce", state)},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
		"ui_locales":            {map[string]string{LangZh: "zh-CN", LangEn: "en"}[ui.lang(r)]},
	}
	sep := "?"
	if strings.Contains(doc.AuthorizationEndpoint, "?") {
		sep = "&"
	}
	http.Redirect(w, r, doc.AuthorizationEndpoint+sep+q.Encode(), http.StatusFound)
}

// hallCallback finishes the sign-in: the state must be this browser's,
// the code is traded for the ID token, which must verify, carry this
// sign-in's nonce and be a resident's or a company's.
func (ui *UI) hallCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, cerr := r.Cookie(oidcCookie)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: ui.cfg.Prefix, MaxAge: -1, HttpOnly: true,
		Secure: ui.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	var state, next string
	if cerr == nil {
		s, n, _ := strings.Cut(c.Value, ".")
		if b, err := base64.RawURLEncoding.DecodeString(n); err == nil && validNonce(s) {
			state, next = s, ui.localNext(string(b))
		}
	}
	if state == "" || !hmac.Equal([]byte(q.Get("state")), []byte(state)) {
		ui.renderError(w, r, http.StatusBadRequest, govx.Errorf(govx.KindInvalid, CodeSignInState,
			"this sign-in was not started in this browser, or took too long; sign in again"))
		return
	}
	if e := q.Get("error"); e != "" {
		ui.render(w, r, http.StatusUnauthorized, "login", hallLoginData{Next: next,
			Err: govx.Errorf(govx.KindUnauthenticated, CodeSignInRefused, "the identity provider did not sign you in (%s)", truncate(e, 64))})
		return
	}
	doc, err := ui.signIn.discover(r.Context())
	if err != nil {
		ui.signInFailed(w, r, err)
		return
	}
	idToken, err := ui.signIn.exchange(r.Context(), doc, q.Get("code"), ui.flowSecret("pkce", state))
	if err != nil {
		ui.signInFailed(w, r, err)
		return
	}
	claims, err := ui.cfg.Verifier.Verify(idToken)
	if err == nil && claims.Issuer != ui.signIn.cfg.Issuer {
		err = govx.Errorf(govx.KindUnauthenticated, auth.CodeTokenInvalid, "the ID token is not the identity provider's")
	}
	if err == nil && !hmac.Equal([]byte(tokenNonce(idToken)), []byte(ui.flowSecret("nonce", state))) {
		err = govx.Errorf(govx.KindUnauthenticated, CodeSignInNonce, "the ID token was not issued for this sign-in")
	}
	if err != nil {
		ui.render(w, r, http.StatusUnauthorized, "login", hallLoginData{Next: next, Err: err})
		return
	}
	if !claims.Person() {
		ui.renderError(w, r, http.StatusForbidden, govx.Errorf(govx.KindForbidden, CodeApplicantsOnly,
			"the online service hall is for residents and companies; staff work at the window"))
		return
	}
	ui.startSession(w, idToken, claims)
	ui.setFlash(w, flash{Kind: "ok", Key: "flash.signed_in", Args: []string{govx.MaskSubject(claims.Subject)}})
	// A page, not a redirect: after the provider's cross-site redirect
	// the browser would not send the Strict session cookie along a
	// redirect chain; a navigation from this page is same-site.
	ui.render(w, r, http.StatusOK, "signedin", next)
}

// tokenNonce reads the nonce claim of a token Verify has accepted.
func tokenNonce(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Nonce string `json:"nonce"`
	}
	json.Unmarshal(b, &c)
	return c.Nonce
}

func (ui *UI) signInFailed(w http.ResponseWriter, r *http.Request, err error) {
	ui.renderError(w, r, http.StatusBadGateway, &govx.Error{Kind: govx.KindUnavailable, Code: CodeSignInFailed, Op: "web.signIn",
		Message: "the identity provider could not be reached or did not sign you in; try again later", Err: err})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
