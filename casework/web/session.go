package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"govx"
	"govx/internal/auth"
)

// Cookies. All are HttpOnly, SameSite=Strict and scoped to the prefix.
const (
	sessionCookie = "govx_session" // the user's govx JWT
	preCookie     = "govx_pre"     // a random nonce keying the forms of a visitor not signed in
	flashCookie   = "govx_flash"   // one message for the page after a redirect
)

// Hidden form fields every POST form carries ({{formFields}}).
const (
	csrfField   = "_csrf"
	formIDField = "_form_id"
)

// Error codes of the UI's own refusals (token codes come from internal/auth).
const (
	CodeCSRFInvalid   = "csrf_invalid"
	CodeRoleForbidden = "role_forbidden"
	CodeFormIDInvalid = "form_id_invalid"
	CodePageNotFound  = "page_not_found"
	CodeDemoUnknown   = "demo_user_unknown"
	CodeDemoLoopback  = "demo_loopback_only"
)

// session is what a request carries about its visitor.
type session struct {
	lang   string
	token  string       // the session cookie's token, valid or not; "" without one
	claims *auth.Claims // nil unless token verified
	err    error        // why token was refused
	pre    string       // the preCookie nonce; "" until a form needs one
}

type sessionKey struct{}

func withSession(ctx context.Context, s *session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// sessionOf returns r's session; a request that did not pass through
// ServeHTTP (a handler called directly in a test) gets an empty one.
func sessionOf(r *http.Request) *session {
	if s, ok := r.Context().Value(sessionKey{}).(*session); ok {
		return s
	}
	return &session{lang: LangZh}
}

// user returns the signed-in user of r, nil for a visitor.
func (ui *UI) user(r *http.Request) *auth.Claims { return sessionOf(r).claims }

// lang returns the language r is answered in.
func (ui *UI) lang(r *http.Request) string { return sessionOf(r).lang }

// readSession verifies the session cookie. A refused token's cookie is
// deleted, so the browser stops sending it; the reason stays on the session
// for the login page to show.
func (ui *UI) readSession(w http.ResponseWriter, r *http.Request) *session {
	s := &session{}
	if c, err := r.Cookie(preCookie); err == nil && validNonce(c.Value) {
		s.pre = c.Value
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return s
	}
	s.token = c.Value
	if s.claims, s.err = ui.cfg.Verifier.Verify(c.Value); s.err != nil {
		http.SetCookie(w, ui.cookie(sessionCookie, "", -1))
	}
	return s
}

// startSession stores token, already verified as claims, in the session
// cookie for as long as the token lives.
func (ui *UI) startSession(w http.ResponseWriter, token string, claims *auth.Claims) {
	maxAge := 1
	if claims.ExpiresAt != nil {
		maxAge = max(1, int(time.Until(claims.ExpiresAt.Time).Seconds()))
	}
	http.SetCookie(w, ui.cookie(sessionCookie, token, maxAge))
}

// requireRole lets a request through only for a signed-in user whose role
// is one of roles (any role when roles is empty). A visitor, or a user
// whose token expired, is sent to the login page, which says why; a user
// with another role gets a 403 page.
func (ui *UI) requireRole(roles ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := sessionOf(r)
			if s.claims == nil {
				ui.toLogin(w, r, s)
				return
			}
			if len(roles) > 0 && !slices.Contains(roles, s.claims.Role) {
				ui.renderError(w, r, http.StatusForbidden, govx.Errorf(govx.KindForbidden, CodeRoleForbidden,
					"this page is for the roles %s; you are signed in as %q", strings.Join(roles, ", "), s.claims.Role))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// toLogin redirects to the login page with the reason and, for a GET, the
// page to come back to.
func (ui *UI) toLogin(w http.ResponseWriter, r *http.Request, s *session) {
	reason := auth.CodeTokenMissing
	if s.err != nil {
		reason = govx.ErrorCode(s.err)
	}
	q := url.Values{"reason": {reason}}
	next := r.URL.Path
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	q.Set("next", next)
	ui.redirect(w, r, ui.url("login")+"?"+q.Encode())
}

// redirect answers a POST (or anything) with 303 See Other to path.
func (ui *UI) redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// localNext returns next when it is a page of the UI, and the home page
// otherwise: the login form must not become an open redirect.
func (ui *UI) localNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil ||
		strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") ||
		!strings.HasPrefix(u.Path, ui.cfg.Prefix) || strings.Contains(u.Path, "/../") ||
		strings.HasPrefix(u.Path, ui.url("login")) {
		return ui.cfg.Prefix
	}
	return next
}

// csrfToken is the form token of s: an HMAC over the session token, or,
// for a visitor, over a random nonce kept in a cookie and set here when
// missing.
func (ui *UI) csrfToken(w http.ResponseWriter, s *session) string {
	if s.claims != nil {
		return ui.mac(s.token)
	}
	if s.pre == "" {
		s.pre = newNonce()
		http.SetCookie(w, ui.cookie(preCookie, s.pre, 0))
	}
	return ui.mac(s.pre)
}

func (ui *UI) mac(basis string) string {
	m := hmac.New(sha256.New, ui.cfg.CSRFKey)
	m.Write([]byte("govx-ui-csrf\x00"))
	m.Write([]byte(basis))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF refuses an unsafe request whose form does not carry the token
// of its session. The token of the session cookie counts even when that
// token has expired meanwhile: the request then still gets as far as the
// page, which sends the user to log in again instead of showing a 403.
func (ui *UI) checkCSRF(r *http.Request, s *session) error {
	refuse := func(msg string) error {
		return govx.Errorf(govx.KindForbidden, CodeCSRFInvalid, "%s", msg)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		return refuse("the form was sent from another site")
	}
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(ui.cfg.MaxBodyBytes)
	} else {
		err = r.ParseForm()
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return govx.Errorf(govx.KindTooLarge, "body_too_large", "the form is larger than %d bytes", ui.cfg.MaxBodyBytes)
	case err != nil:
		return govx.Errorf(govx.KindInvalid, "form_invalid", "the form could not be read")
	}
	got := r.PostFormValue(csrfField)
	if got == "" {
		return refuse("the form has no security token; reload the page and try again")
	}
	for _, basis := range []string{s.token, s.pre} {
		if basis != "" && hmac.Equal([]byte(got), []byte(ui.mac(basis))) {
			return nil
		}
	}
	return refuse("the form's security token does not match your session; reload the page and try again")
}

// formFields renders the hidden inputs every POST form carries: the CSRF
// token and a fresh one-time form id.
func (ui *UI) formFields(w http.ResponseWriter, s *session) template.HTML {
	return template.HTML(`<input type="hidden" name="` + csrfField + `" value="` + template.HTMLEscapeString(ui.csrfToken(w, s)) +
		`"><input type="hidden" name="` + formIDField + `" value="` + newNonce() + `">`)
}

// formID returns the one-time id of the posted form, which pages use as
// the idempotency key of what the form does: a form sent twice (a double
// click, a reload of the POST) carries the same id.
func (ui *UI) formID(r *http.Request) (string, error) {
	id := r.PostFormValue(formIDField)
	if !validNonce(id) {
		return "", govx.Errorf(govx.KindInvalid, CodeFormIDInvalid, "the form has no valid form id; reload the page and try again")
	}
	return id, nil
}

// newNonce returns 128 random bits in hex.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func validNonce(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// flash is one message shown on the page after a redirect (POST, redirect,
// GET). Key names a "flash." message; Args fill its verbs.
type flash struct {
	Kind string   `json:"k"` // "ok" or "error"
	Key  string   `json:"m"`
	Args []string `json:"a,omitempty"`
}

func (ui *UI) setFlash(w http.ResponseWriter, f flash) {
	data, _ := json.Marshal(f)
	http.SetCookie(w, ui.cookie(flashCookie, base64.RawURLEncoding.EncodeToString(data), 120))
}

// takeFlash reads and deletes the flash of r. A cookie that does not
// decode to a known message is dropped: the browser is the user's, but the
// page shows only texts of the catalogue.
func (ui *UI) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, ui.cookie(flashCookie, "", -1))
	data, err := base64.RawURLEncoding.DecodeString(c.Value)
	var f flash
	if err != nil || json.Unmarshal(data, &f) != nil || !strings.HasPrefix(f.Key, "flash.") ||
		!ui.msgs.has(LangZh, f.Key) || (f.Kind != "ok" && f.Kind != "error") || len(f.Args) > 8 {
		return nil
	}
	return &f
}

// Sign-in and sign-out.

type loginData struct {
	Reason    string // a code of internal/auth or "" when the user came here on purpose
	Err       error  // a refused pasted token
	Next      string
	DemoUsers []DemoUser
}

func (ui *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	reason := r.URL.Query().Get("reason")
	switch reason {
	case auth.CodeTokenMissing, auth.CodeTokenExpired, auth.CodeTokenInvalid:
	default:
		reason = ""
	}
	ui.render(w, r, http.StatusOK, "login", loginData{
		Reason: reason, Next: ui.localNext(r.URL.Query().Get("next")), DemoUsers: ui.demoUsers(r),
	})
}

// demoUsers are the demo users offered to r's visitor: none unless the
// visitor is on this computer (a loopback address). A demo login hands
// out staff tokens to whoever clicks, so it is never offered to the
// network, whatever the listen address.
func (ui *UI) demoUsers(r *http.Request) []DemoUser {
	if len(ui.cfg.DemoUsers) == 0 || !loopback(r) {
		return nil
	}
	return ui.cfg.DemoUsers
}

// loopback reports whether r's connection comes from a loopback address.
// The connection's address, not a header: a header can be forged.
func loopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (ui *UI) loginToken(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if scheme, rest, ok := strings.Cut(tok, " "); ok && strings.EqualFold(scheme, "Bearer") {
		tok = strings.TrimSpace(rest)
	}
	claims, err := ui.cfg.Verifier.Verify(tok)
	if err != nil {
		ui.render(w, r, http.StatusUnauthorized, "login", loginData{
			Err: err, Next: ui.localNext(r.PostFormValue("next")), DemoUsers: ui.demoUsers(r),
		})
		return
	}
	ui.signedIn(w, r, tok, claims)
}

func (ui *UI) loginDemo(w http.ResponseWriter, r *http.Request) {
	if len(ui.cfg.DemoUsers) > 0 && !loopback(r) {
		ui.renderError(w, r, http.StatusForbidden, govx.Errorf(govx.KindForbidden, CodeDemoLoopback,
			"the demo sign-in is offered only on the computer running the demo (a loopback address); sign in with a token"))
		return
	}
	i, err := strconv.Atoi(r.PostFormValue("user"))
	if err != nil || i < 0 || i >= len(ui.cfg.DemoUsers) {
		ui.renderError(w, r, http.StatusBadRequest, govx.Errorf(govx.KindInvalid, CodeDemoUnknown, "there is no such demo user"))
		return
	}
	tok, err := ui.cfg.Mint(ui.cfg.DemoUsers[i])
	if err != nil {
		ui.renderError(w, r, http.StatusInternalServerError, govx.E("web.loginDemo", err))
		return
	}
	claims, err := ui.cfg.Verifier.Verify(tok)
	if err != nil {
		// Mint and Verifier disagree: a wiring fault, not the visitor's.
		ui.renderError(w, r, http.StatusInternalServerError, &govx.Error{Kind: govx.KindInternal, Code: "internal", Op: "web.loginDemo", Err: err})
		return
	}
	ui.signedIn(w, r, tok, claims)
}

func (ui *UI) signedIn(w http.ResponseWriter, r *http.Request, tok string, claims *auth.Claims) {
	ui.startSession(w, tok, claims)
	ui.setFlash(w, flash{Kind: "ok", Key: "flash.signed_in", Args: []string{claims.Subject}})
	ui.redirect(w, r, ui.localNext(r.PostFormValue("next")))
}

func (ui *UI) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, ui.cookie(sessionCookie, "", -1))
	ui.setFlash(w, flash{Kind: "ok", Key: "flash.signed_out"})
	if ui.isHall() {
		// The hall's sign-in page would send the applicant straight back
		// to the identity provider.
		ui.redirect(w, r, ui.cfg.Prefix)
		return
	}
	ui.redirect(w, r, ui.url("login"))
}
