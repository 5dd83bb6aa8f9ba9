package web

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"govx"
	"govx/casework"
	"govx/casework/wallet"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/refusal"
)

// Roles the pages check. The token's role claim carries them.
const (
	RoleClerk      = "clerk"      // the one-stop window: intake
	RoleReviewer   = "reviewer"   // a back-office department: review
	RoleSupervisor = "supervisor" // deadlines, warnings, supervision
)

// staff are the roles that work cases; any of them may use the tools every
// clerk needs, such as the check page.
var staff = []string{RoleClerk, RoleReviewer, RoleSupervisor}

// DefaultPrefix is where the UI is mounted when Config.Prefix is empty.
const DefaultPrefix = "/ui/"

// DefaultMaxBodyBytes bounds a form's body when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// DemoUser is someone a demo visitor may sign in as with one click.
type DemoUser struct {
	Label   string // shown on the login page, e.g. "窗口受理员 Clerk, service center"
	Role    string
	Dept    string
	Subject string
}

// DefaultDemoUsers are the users of the demo: one of each kind of desk the
// case workflow has.
func DefaultDemoUsers() []DemoUser {
	return []DemoUser{
		{Label: "窗口受理员 · 政务服务中心 (Clerk, service center)", Role: RoleClerk, Dept: "service-center", Subject: "clerk:window-1"},
		{Label: "审查员 · 市场监管 (Reviewer, market regulation)", Role: RoleReviewer, Dept: "market-regulation", Subject: "reviewer:market-regulation"},
		{Label: "审查员 · 公安人口管理 (Reviewer, population)", Role: RoleReviewer, Dept: "population", Subject: "reviewer:population"},
		{Label: "审查员 · 消防救援 (Reviewer, fire and rescue)", Role: RoleReviewer, Dept: "fire-rescue", Subject: "reviewer:fire-rescue"},
		{Label: "审查员 · 城市管理 (Reviewer, urban management)", Role: RoleReviewer, Dept: "urban-management", Subject: "reviewer:urban-management"},
		{Label: "督查员 · 政务服务中心 (Supervisor, service center)", Role: RoleSupervisor, Dept: "service-center", Subject: "supervisor:service-center"},
	}
}

// Config configures the UI.
type Config struct {
	// Verifier checks the session's token on every request. Required.
	Verifier *auth.Verifier
	Logger   *slog.Logger // nil discards
	// Prefix is the path the UI is mounted under, with leading and trailing
	// slash. Empty means DefaultPrefix.
	Prefix string
	// SecureCookies marks the cookies Secure; set it whenever the UI is
	// reached over HTTPS, which is everywhere but a developer's machine.
	SecureCookies bool
	// CSRFKey keys the form tokens. Instances behind one load balancer must
	// share it; nil means a random key per process.
	CSRFKey []byte
	// MaxBodyBytes bounds a posted form. 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// DemoUsers and Mint are set in demo mode only: the login page then
	// offers to sign in as each DemoUser, with a token Mint makes.
	DemoUsers []DemoUser
	Mint      func(DemoUser) (string, error)

	// Cases is the case workflow the intake, case, review, supervision
	// and progress pages work through; nil leaves those pages out.
	Cases *casework.Service
	// Resources, which may be nil, is the catalogue the case page reads
	// the labels of register records' data items and codes from; without
	// it the page shows the field names and codes as the register sends
	// them.
	Resources Resources
	// Accesses, which may be nil, is the audit ledger's view of the data
	// subject: with it, a resident or a company signed in as themselves
	// sees who accessed their data (the page accesses).
	Accesses Accesses
	// Refusals, which may be nil, records refused case actions, as the
	// case API does.
	Refusals *refusal.Log
	// SignIn is the identity provider the hall's applicants sign in
	// through (NewHall); the window does not use it.
	SignIn *SignIn
	// Progress limits the public progress lookup and rating; pass the one
	// the case API spends from, so that both ways to guess draw on one
	// budget. nil means a limiter of this UI alone.
	Progress *casework.ProgressGuard

	// Wallet, which may be nil, is the applicants' wallet: with it the
	// hall has the wallet page and the public verification page
	// (wallet.go). With Proofs, Consents and Accesses too, it has My data.
	Wallet   Wallet
	Proofs   Proofs
	Consents Consents
	// VerifyGuard limits the public verification; pass the one the wallet
	// API spends from. nil means a limiter of this UI alone.
	VerifyGuard VerifyGuard
}

// Resources finds a resource in the catalogue; *catalog.Store is one.
type Resources interface {
	Resource(ctx context.Context, code string) (*catalog.Resource, error)
}

var _ Resources = (*catalog.Store)(nil)

// Validate checks c and fills in its defaults.
func (c *Config) Validate() error {
	invalid := func(msg string) error {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "web: %s", msg)
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	switch {
	case c.Verifier == nil:
		return invalid("Verifier is required")
	case !strings.HasPrefix(c.Prefix, "/") || !strings.HasSuffix(c.Prefix, "/"):
		return invalid("Prefix must start and end with a slash")
	case len(c.DemoUsers) > 0 && c.Mint == nil:
		return invalid("DemoUsers need Mint")
	case c.CSRFKey != nil && len(c.CSRFKey) < 32:
		return invalid("CSRFKey must have at least 32 bytes")
	case c.MaxBodyBytes < 0:
		return invalid("MaxBodyBytes must not be negative")
	}
	for i, u := range c.DemoUsers {
		if u.Label == "" || u.Role == "" || u.Subject == "" {
			return invalid("DemoUsers[" + strconv.Itoa(i) + "] needs a label, a role and a subject")
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Progress == nil {
		c.Progress = casework.NewProgressGuard(nil)
	}
	if c.CSRFKey == nil {
		c.CSRFKey = make([]byte, 32)
		rand.Read(c.CSRFKey) // never fails (crypto/rand since Go 1.24)
	}
	return nil
}

// UI is the clerks' web UI: an http.Handler for everything under the
// prefix. It is safe for concurrent use.
type UI struct {
	cfg    Config
	site   site
	log    *slog.Logger
	mux    *http.ServeMux
	msgs   catalogue
	pages  *pages
	assets *assets
	// signIn is the hall's client of the identity provider; nil in the
	// window.
	signIn *signIn
	// routes holds the paths (under the prefix) with a page and the roles
	// that may open it; the navigation shows only those.
	routes map[string][]string
	// localVerifyGuard limits verifications when Config.VerifyGuard is nil.
	localVerifyGuard VerifyGuard
}

// New builds the UI.
func New(cfg Config) (*UI, error) {
	const op = "web.New"
	if err := cfg.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	ui, err := build(cfg, window)
	if err != nil {
		return nil, govx.E(op, err)
	}
	ui.routeAll()
	return ui, nil
}

// build makes a UI of site st, without routes.
func build(cfg Config, st site) (*UI, error) {
	msgs, err := loadCatalogue(messagesJSON)
	if err != nil {
		return nil, err
	}
	as, err := loadAssets()
	if err != nil {
		return nil, err
	}
	ui := &UI{
		cfg:    cfg,
		site:   st,
		log:    cfg.Logger,
		mux:    http.NewServeMux(),
		msgs:   msgs,
		assets: as,
		routes: make(map[string][]string),

		localVerifyGuard: wallet.NewGuard(nil),
	}
	if ui.pages, err = parsePages(ui.baseFuncs(), st); err != nil {
		return nil, err
	}
	return ui, nil
}

// Prefix is the path the UI is mounted under.
func (ui *UI) Prefix() string { return ui.cfg.Prefix }

// routeAll registers every page. A new page adds its line here.
func (ui *UI) routeAll() {
	ui.handle("GET /static/", nil, http.HandlerFunc(ui.serveStatic))
	ui.handle("GET /login", nil, http.HandlerFunc(ui.loginPage))
	ui.handle("POST /login", nil, http.HandlerFunc(ui.loginToken))
	ui.handle("POST /login/demo", nil, http.HandlerFunc(ui.loginDemo))
	ui.handle("POST /logout", nil, http.HandlerFunc(ui.logout))
	ui.handle("GET /{$}", []string{}, http.HandlerFunc(ui.home))
	ui.handle("GET /check", staff, http.HandlerFunc(ui.checkPage))
	ui.handle("POST /check", staff, http.HandlerFunc(ui.checkSubmit))
	if ui.cfg.Cases != nil {
		ui.routeCases()
	}
	if ui.cfg.Accesses != nil {
		ui.routeAccesses()
	}
	ui.handle("/", nil, http.HandlerFunc(ui.notFound))
}

// handle registers h for pattern ("METHOD /path", the path relative to the
// prefix). roles nil means a public page; an empty, non-nil slice means
// any signed-in user; otherwise the user's role must be one of roles.
func (ui *UI) handle(pattern string, roles []string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	full := ui.cfg.Prefix + strings.TrimPrefix(path, "/")
	if roles != nil {
		h = ui.requireRole(roles...)(h)
		if method == http.MethodGet {
			ui.routes[strings.TrimSuffix(full, "{$}")] = roles
		}
	} else if method == http.MethodGet {
		ui.routes[strings.TrimSuffix(full, "{$}")] = nil
	}
	if method != "" {
		full = method + " " + full
	}
	ui.mux.Handle(full, h)
}

// ServeHTTP sets the headers every answer carries, negotiates the
// language, reads the session, refuses unsafe requests without a valid form
// token, and hands the request to its page.
func (ui *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")

	lang, chosen := negotiate(r)
	if chosen {
		http.SetCookie(w, ui.cookie(langCookie, lang, 365*24*3600))
	}
	h.Add("Vary", "Accept-Language, Cookie")
	s := ui.readSession(w, r)
	s.lang = lang
	r = r.WithContext(withSession(r.Context(), s))

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		r.Body = http.MaxBytesReader(w, r.Body, ui.cfg.MaxBodyBytes)
		if err := ui.checkCSRF(r, s); err != nil {
			ui.renderError(w, r, httpx.StatusOf(err), err)
			return
		}
	}
	ui.mux.ServeHTTP(w, r)
}

// cookie builds one of the UI's cookies: scoped to the prefix, HttpOnly,
// SameSite=Strict. maxAge < 0 deletes it.
func (ui *UI) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: ui.cfg.Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: ui.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
	}
}

// url is the absolute path of a page given relative to the prefix.
func (ui *UI) url(path string) string {
	return ui.cfg.Prefix + strings.TrimPrefix(path, "/")
}
