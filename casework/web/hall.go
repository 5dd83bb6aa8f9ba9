package web

import (
	"net/http"

	"govx"
	"govx/casework"
	"govx/consent"
)

// The online service hall (网上办事大厅): the applicants' own pages, mounted
// at /hall/ beside the clerks' window. It is a UI of this package like the
// window (same sessions, form tokens, messages, rendering and static
// files), with a site of its own: templates/hall/, its layout and its menu.
//
// # Who is signed in
//
// Applicants sign in through the identity provider (Config.SignIn, see
// signin.go); the session cookie then holds the provider's ID token,
// verified on every request by Config.Verifier like any govx token. A page
// of the hall reads the applicant with ui.user(r), an *auth.Claims:
//
//   - Role is auth.RoleCitizen (a resident) or auth.RoleLegalPerson (a
//     company, through its representative);
//   - Subject is the resident's ID number (GB 11643) or the company's
//     unified social credit code (GB 32100): the data subject the
//     ledger, the consents and the cases know the applicant by.
//
// Routes registered with the roles applicants get only these two roles;
// a clerk's token opens no page of the hall that needs a user.
//
// # Adding a page to the hall
//
// As for the window (doc.go), with three differences: the template is
// templates/hall/<name>.html (its own "title" and "content"; the layout is
// templates/hall/layout.html), the route is one line in routeHall, and a
// page that belongs in the menu has its path in hall.nav.

// applicants are the roles of the hall's signed-in pages.
var applicants = []string{consent.RoleCitizen, consent.RoleLegalPerson}

// DefaultHallPrefix is where the hall is mounted when Config.Prefix is
// empty.
const DefaultHallPrefix = "/hall/"

// hall is the applicants' site. Its menu lists the wallet and "my data"
// whether or not this build routes them; an entry shows once its page is
// routed.
var hall = site{
	layout: []string{"templates/hall/layout.html", "templates/partials.html"},
	pages:  "templates/hall/*.html",
	nav: []navEntry{
		{"hall.nav.guides", "guides"},
		{"hall.nav.apply", "apply"},
		{"hall.nav.cases", "cases"},
		{"hall.nav.wallet", "wallet"},
		{"hall.nav.mydata", "mydata"},
	},
}

// NewHall builds the online service hall. cfg.SignIn names the identity
// provider applicants sign in through, and cfg.Verifier must accept its ID
// tokens (auth.Config.OIDC with the provider's issuer and, as audience,
// the hall's client id). cfg.Cases is required; DemoUsers and Mint are
// not used (the demo signs in through the demo identity provider).
func NewHall(cfg Config) (*UI, error) {
	const op = "web.NewHall"
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultHallPrefix
	}
	cfg.DemoUsers, cfg.Mint = nil, nil
	if cfg.MaxBodyBytes == 0 {
		// An upload's form: a file up to the case workflow's limit and
		// some room, so that a file just over it is refused by the case
		// workflow (file_too_large) on the applicant's page.
		cfg.MaxBodyBytes = casework.DefaultMaxUpload + 1<<20
	}
	if err := cfg.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	if cfg.Cases == nil {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "config_invalid", "web: the hall needs Cases"))
	}
	if err := cfg.SignIn.validate(); err != nil {
		return nil, govx.E(op, err)
	}
	ui, err := build(cfg, hall)
	if err != nil {
		return nil, govx.E(op, err)
	}
	ui.signIn = newSignIn(cfg.SignIn)
	ui.routeHall()
	return ui, nil
}

// routeHall registers every page of the hall. A new page adds its line
// here; roles as in handle (nil public, applicants for the applicant's own
// pages).
func (ui *UI) routeHall() {
	ui.handle("GET /static/", nil, http.HandlerFunc(ui.serveStatic))
	// Sign-in through the identity provider (signin.go).
	ui.handle("GET /login", nil, http.HandlerFunc(ui.hallLogin))
	ui.handle("GET /login/start", nil, http.HandlerFunc(ui.hallLoginStart))
	ui.handle("GET /callback", nil, http.HandlerFunc(ui.hallCallback))
	ui.handle("POST /logout", nil, http.HandlerFunc(ui.logout))
	ui.handle("GET /{$}", nil, http.HandlerFunc(ui.hallHome))
	// Service guides (办事指南), public.
	ui.handle("GET /guides", nil, http.HandlerFunc(ui.guidesPage))
	ui.handle("GET /guides/{item}", nil, http.HandlerFunc(ui.guidePage))
	// Applying online and the applicant's cases (apply.go).
	ui.routeApply()
	// The wallet, My data and the public verification page (wallet.go).
	ui.routeWallet()
	ui.handle("/", nil, http.HandlerFunc(ui.notFound))
}

// isHall reports whether ui is the hall.
func (ui *UI) isHall() bool { return ui.signIn != nil }

type hallHomeData struct {
	Items []casework.Item
}

func (ui *UI) hallHome(w http.ResponseWriter, r *http.Request) {
	ui.render(w, r, http.StatusOK, "home", hallHomeData{Items: ui.cfg.Cases.Items().All()})
}

// guide is an item as its service guide shows it, in the page's language.
type guide struct {
	Item       casework.Item
	Name       string
	LegalBasis string
	Fees       string
	Fetched    []guideMaterial // fetched from registers, never asked for
	Asked      []guideMaterial // uploaded, or committed to where allowed
}

type guideMaterial struct {
	Spec     casework.MaterialSpec
	Name     string
	Resource string // the register's resource
	Fields   []string
}

func (ui *UI) guideOf(it casework.Item, lang string) guide {
	g := guide{Item: it, Name: pick(lang, it.Name, it.NameEN), LegalBasis: pick(lang, it.LegalBasis, it.LegalBasisEN),
		Fees: pick(lang, it.Fees, it.FeesEN)}
	for _, m := range it.Materials {
		gm := guideMaterial{Spec: m, Name: pick(lang, m.Name, m.NameEN), Resource: m.Resource, Fields: m.Fields}
		if m.Source == casework.FromExchange {
			g.Fetched = append(g.Fetched, gm)
		} else {
			g.Asked = append(g.Asked, gm)
		}
	}
	return g
}

func (ui *UI) guidesPage(w http.ResponseWriter, r *http.Request) {
	var gs []guide
	for _, it := range ui.cfg.Cases.Items().All() {
		gs = append(gs, ui.guideOf(it, ui.lang(r)))
	}
	ui.render(w, r, http.StatusOK, "guides", gs)
}

func (ui *UI) guidePage(w http.ResponseWriter, r *http.Request) {
	it, err := ui.cfg.Cases.Items().Item(r.PathValue("item"))
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	ui.render(w, r, http.StatusOK, "guide", ui.guideOf(*it, ui.lang(r)))
}
