// Package idp is a demo OpenID Connect provider: just enough of one for
// `govx up` to sign residents and companies in to the online service hall
// the way the government's identity provider would, with the standard
// authorization code flow.
//
// It is a demo and nothing else. Whoever opens its authorization page
// picks any demo resident or company and is signed in as them, without a
// password; the page is served only to visitors on the machine itself (a
// loopback address). It keeps its authorization codes in memory, so a
// code does not survive a restart and is good on this process only. A
// deployment points the hall (and the exchange's token verifier) at the
// government's provider instead (GOVX_OIDC_ISSUER), and runs no idp.
//
// What it serves, under its issuer URL:
//
//	GET  /.well-known/openid-configuration   discovery (OpenID Connect Discovery 1.0)
//	GET  /jwks                               its public key (Ed25519, EdDSA)
//	GET  /authorize                          the page to pick a demo user
//	POST /authorize                          the pick: redirects back with a code
//	POST /token                              code + PKCE verifier → ID token
//
// Clients are public (no secret): the code is bound to the client, its
// redirect URI and a PKCE S256 challenge, used once and good for a minute.
// The ID token carries iss, sub (an ID number or a credit code), aud (the
// client id), exp, iat, auth_time, nonce, and role (citizen or
// legal_person) and name, which govx's default claim mapping reads.
//
// Who may import it: the node's wiring (package node) and tests.
package idp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx"
	"govx/internal/auth"
)

// Roles of the users it signs in, as govx's tokens name them.
const (
	RoleCitizen     = auth.RoleCitizen
	RoleLegalPerson = auth.RoleLegalPerson
)

// Defaults of Config.
const (
	DefaultCodeTTL  = time.Minute
	DefaultTokenTTL = 2 * time.Hour
	maxCodes        = 10000
)

// User is someone the demo provider signs in.
type User struct {
	Subject string // an ID number (a resident) or a credit code (a company)
	Role    string // RoleCitizen or RoleLegalPerson
	Name    string // the resident's or the company's name
	Note    string // shown beside the name: what the demo user is good for
}

// Client is an application that may ask the provider to sign users in.
type Client struct {
	ID           string
	RedirectURIs []string // exact matches only
}

// Config configures the provider.
type Config struct {
	// Issuer is the provider's URL as clients reach it, e.g.
	// http://127.0.0.1:8080/idp; its endpoints are beneath it.
	Issuer  string
	Key     *auth.Key // signs the ID tokens; Ed25519
	Users   []User
	Clients []Client
	// CodeTTL is how long a code may wait for the token request
	// (default one minute); TokenTTL how long an ID token lives (default
	// two hours).
	CodeTTL, TokenTTL time.Duration
	Now               func() time.Time
	Logger            *slog.Logger
}

// Provider is the demo OpenID Connect provider, an http.Handler for the
// path of its issuer URL. It is safe for concurrent use.
type Provider struct {
	cfg    Config
	prefix string // the issuer URL's path, with a trailing slash
	mux    *http.ServeMux
	jwks   []byte

	mu    sync.Mutex
	codes map[string]*grant
}

// grant is what a code stands for until it is redeemed.
type grant struct {
	client, redirect, nonce, challenge string
	user                               User
	expires                            time.Time
}

// New returns a provider for cfg.
func New(cfg Config) (*Provider, error) {
	invalid := func(msg string) error {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "idp: %s", msg)
	}
	u, err := url.Parse(cfg.Issuer)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || strings.HasSuffix(cfg.Issuer, "/"):
		return nil, invalid("Issuer must be an absolute http(s) URL without a trailing slash")
	case cfg.Key == nil || cfg.Key.Private == nil:
		return nil, invalid("a signing key is required")
	case len(cfg.Users) == 0 || len(cfg.Clients) == 0:
		return nil, invalid("users and clients are required")
	}
	for _, us := range cfg.Users {
		if us.Subject == "" || (us.Role != RoleCitizen && us.Role != RoleLegalPerson) {
			return nil, invalid("a user needs a subject and the role citizen or legal_person")
		}
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	jwks, err := cfg.Key.JWKS()
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, prefix: strings.TrimSuffix(u.Path, "/") + "/", mux: http.NewServeMux(), jwks: jwks,
		codes: make(map[string]*grant)}
	p.mux.HandleFunc("GET "+p.prefix+".well-known/openid-configuration", p.discovery)
	p.mux.HandleFunc("GET "+p.prefix+"jwks", p.keys)
	p.mux.HandleFunc("GET "+p.prefix+"authorize", p.authorizePage)
	p.mux.HandleFunc("POST "+p.prefix+"authorize", p.authorize)
	p.mux.HandleFunc("POST "+p.prefix+"token", p.token)
	return p, nil
}

// Prefix is the path the provider is mounted under, with a trailing slash.
func (p *Provider) Prefix() string { return p.prefix }

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	p.mux.ServeHTTP(w, r)
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	iss := p.cfg.Issuer
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"jwks_uri":                              iss + "/jwks",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"EdDSA"},
		"scopes_supported":                      []string{"openid"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"code_challenge_methods_supported":      []string{"S256"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "role", "name"},
	})
}

func (p *Provider) keys(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(p.jwks)
}

// authRequest is an authorization request, as the client sent it.
type authRequest struct {
	ClientID, RedirectURI, State, Nonce, Challenge, Method, ResponseType, Scope string
}

func readAuthRequest(v url.Values) authRequest {
	return authRequest{ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"), State: v.Get("state"),
		Nonce: v.Get("nonce"), Challenge: v.Get("code_challenge"), Method: v.Get("code_challenge_method"),
		ResponseType: v.Get("response_type"), Scope: v.Get("scope")}
}

// check validates a request. A request whose client or redirect URI is
// not registered is answered here (redirect false: never send the browser
// to an unregistered address); other faults go back to the client.
func (p *Provider) check(a authRequest) (code, msg string, redirect bool) {
	known := false
	for _, c := range p.cfg.Clients {
		if c.ID == a.ClientID {
			for _, u := range c.RedirectURIs {
				known = known || u == a.RedirectURI
			}
		}
	}
	if !known {
		return "invalid_request", "unknown client or redirect_uri", false
	}
	switch {
	case a.ResponseType != "code":
		return "unsupported_response_type", "only response_type=code", true
	case !hasScope(a.Scope, "openid"):
		return "invalid_scope", "scope must include openid", true
	case a.Method != "S256" || len(a.Challenge) != 43:
		return "invalid_request", "PKCE with code_challenge_method=S256 is required", true
	case a.Nonce == "" || len(a.Nonce) > 256 || len(a.State) > 512:
		return "invalid_request", "a nonce (at most 256 characters) is required", true
	}
	return "", "", true
}

func hasScope(scope, s string) bool {
	for f := range strings.FieldsSeq(scope) {
		if f == s {
			return true
		}
	}
	return false
}

func (p *Provider) back(w http.ResponseWriter, r *http.Request, a authRequest, q url.Values) {
	if a.State != "" {
		q.Set("state", a.State)
	}
	sep := "?"
	if strings.Contains(a.RedirectURI, "?") {
		sep = "&"
	}
	http.Redirect(w, r, a.RedirectURI+sep+q.Encode(), http.StatusFound)
}

// loopbackOnly refuses a visitor from the network: picking a user signs
// in as them without a password.
func loopbackOnly(w http.ResponseWriter, r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Unmap().IsLoopback() {
		return true
	}
	http.Error(w, "the demo identity provider signs in only visitors on the machine running it", http.StatusForbidden)
	return false
}

func (p *Provider) authorizePage(w http.ResponseWriter, r *http.Request) {
	if !loopbackOnly(w, r) {
		return
	}
	a := readAuthRequest(r.URL.Query())
	code, msg, redirect := p.check(a)
	if code != "" {
		if !redirect {
			http.Error(w, "invalid authorization request: "+msg, http.StatusBadRequest)
			return
		}
		p.back(w, r, a, url.Values{"error": {code}, "error_description": {msg}})
		return
	}
	nonce := rand.Text()
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Type", "text/html; charset=utf-8")
	en := strings.HasPrefix(r.URL.Query().Get("ui_locales"), "en")
	var people, companies []indexedUser
	for i, u := range p.cfg.Users {
		if u.Role == RoleCitizen {
			people = append(people, indexedUser{i, u})
		} else {
			companies = append(companies, indexedUser{i, u})
		}
	}
	page.Execute(w, pageData{Nonce: nonce, Req: a, EN: en, People: people, Companies: companies})
}

type indexedUser struct {
	Index int
	User
}

type pageData struct {
	Nonce             string
	Req               authRequest
	EN                bool
	People, Companies []indexedUser
}

// authorize takes the visitor's pick and sends the browser back to the
// client with a code.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	if !loopbackOnly(w, r) {
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		http.Error(w, "the pick must come from the provider's own page", http.StatusForbidden)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	a := readAuthRequest(r.PostForm)
	code, msg, redirect := p.check(a)
	if code != "" {
		if !redirect {
			http.Error(w, "invalid authorization request: "+msg, http.StatusBadRequest)
			return
		}
		p.back(w, r, a, url.Values{"error": {code}, "error_description": {msg}})
		return
	}
	if r.PostForm.Get("cancel") != "" {
		p.back(w, r, a, url.Values{"error": {"access_denied"}, "error_description": {"the user cancelled"}})
		return
	}
	i, err := strconv.Atoi(r.PostForm.Get("user"))
	if err != nil || i < 0 || i >= len(p.cfg.Users) {
		http.Error(w, "no such demo user", http.StatusBadRequest)
		return
	}
	c := rand.Text()
	now := p.cfg.Now()
	p.mu.Lock()
	for k, g := range p.codes {
		if now.After(g.expires) {
			delete(p.codes, k)
		}
	}
	if len(p.codes) >= maxCodes {
		p.mu.Unlock()
		p.back(w, r, a, url.Values{"error": {"temporarily_unavailable"}})
		return
	}
	p.codes[c] = &grant{client: a.ClientID, redirect: a.RedirectURI, nonce: a.Nonce, challenge: a.Challenge,
		user: p.cfg.Users[i], expires: now.Add(p.cfg.CodeTTL)}
	p.mu.Unlock()
	p.back(w, r, a, url.Values{"code": {c}})
}

// token redeems a code for an ID token (RFC 6749 §4.1.3, RFC 7636 §4.6).
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the form could not be read")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
		return
	}
	p.mu.Lock()
	g, ok := p.codes[f.Get("code")]
	delete(p.codes, f.Get("code")) // used once, whatever happens next
	p.mu.Unlock()
	now := p.cfg.Now()
	verifier := f.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	switch {
	case !ok || now.After(g.expires):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the code is unknown, used or expired")
		return
	case g.client != f.Get("client_id") || g.redirect != f.Get("redirect_uri"):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the code was issued to another client or redirect_uri")
		return
	case len(verifier) < 43 || len(verifier) > 128 ||
		subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the code_verifier does not match the code_challenge")
		return
	}
	claims := jwt.MapClaims{
		"iss": p.cfg.Issuer, "sub": g.user.Subject, "aud": g.client,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(p.cfg.TokenTTL).Unix(), "auth_time": now.Unix(),
		"nonce": g.nonce, "role": g.user.Role, "name": g.user.Name, "jti": rand.Text(),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = p.cfg.Key.ID
	idToken, err := t.SignedString(p.cfg.Key.Private)
	if err != nil {
		p.cfg.Logger.Error("idp: signing an ID token", "err", err)
		oauthError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": rand.Text(), "token_type": "Bearer",
		"expires_in": int(p.cfg.TokenTTL.Seconds()), "id_token": idToken})
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

var page = template.Must(template.New("authorize").Parse(`<!doctype html>
<html lang="{{if .EN}}en{{else}}zh-CN{{end}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .EN}}Demo identity provider{{else}}统一身份认证（演示）{{end}}</title>
<style nonce="{{.Nonce}}">
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f6f7f9;color:#1b1f24;overflow-wrap:anywhere}
header{background:#1d3f72;color:#fff;padding:.75rem 1rem}main{max-width:40rem;margin:0 auto;padding:1rem}
.warn{background:#fff4d6;border:1px solid #e8c766;padding:.75rem;border-radius:6px}
ul{list-style:none;padding:0}li{margin:.5rem 0}
button{width:100%;text-align:left;font:inherit;padding:.6rem .8rem;border:1px solid #c5ccd6;border-radius:6px;background:#fff;cursor:pointer}
button span{display:block;color:#5b6470;font-size:.9rem}button.cancel{text-align:center;background:none}
</style></head>
<body><header><strong>{{if .EN}}Demo identity provider{{else}}统一身份认证平台（演示）{{end}}</strong></header>
<main>
<p class="warn">{{if .EN}}Demo only: pick anyone below and you are signed in as them, without a password. A deployment uses the government's identity provider.{{else}}仅供演示：选择下列任一人员即以其身份登录，无需密码。正式部署使用政府统一身份认证平台。{{end}}</p>
<form method="post">
{{with .Req}}<input type="hidden" name="client_id" value="{{.ClientID}}"><input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="state" value="{{.State}}"><input type="hidden" name="nonce" value="{{.Nonce}}">
<input type="hidden" name="code_challenge" value="{{.Challenge}}"><input type="hidden" name="code_challenge_method" value="{{.Method}}">
<input type="hidden" name="response_type" value="{{.ResponseType}}"><input type="hidden" name="scope" value="{{.Scope}}">{{end}}
<h2>{{if .EN}}Residents{{else}}个人{{end}}</h2>
<ul>{{range .People}}<li><button type="submit" name="user" value="{{.Index}}" data-subject="{{.Subject}}" data-role="{{.Role}}">{{.Name}}<span>{{.Subject}} · {{.Note}}</span></button></li>{{end}}</ul>
<h2>{{if .EN}}Companies (legal persons){{else}}法人{{end}}</h2>
<ul>{{range .Companies}}<li><button type="submit" name="user" value="{{.Index}}" data-subject="{{.Subject}}" data-role="{{.Role}}">{{.Name}}<span>{{.Subject}} · {{.Note}}</span></button></li>{{end}}</ul>
<p><button type="submit" name="cancel" value="1" class="cancel" id="cancel">{{if .EN}}Cancel{{else}}取消{{end}}</button></p>
</form></main></body></html>
`))
