package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx"
	"govx/internal/auth"
	"govx/internal/workday"
)

//go:embed templates
var templateFS embed.FS

// site is one set of pages with their layout and menu: the clerks'
// window (New) or the applicants' online service hall (NewHall).
type site struct {
	// layout files are parsed into every page; every other file matching
	// pages is a page of the same name (check.html is the page "check").
	layout []string
	pages  string
	// nav lists the pages of the menu in order. A page appears for a user
	// once it is routed and the user's role may open it.
	nav []navEntry
}

type navEntry struct{ key, path string }

// window is the clerks' site.
var window = site{
	layout: []string{"templates/layout.html", "templates/partials.html"},
	pages:  "templates/*.html",
	nav: []navEntry{
		{"nav.intake", "intake"},
		{"nav.review", "review"},
		{"nav.supervision", "supervision"},
		{"nav.progress", "progress"},
		{"nav.check", "check"},
		{"nav.accesses", "accesses"},
	},
}

// pages holds one template set per page: the layout and partials plus the
// page's own "title" and "content". They are never executed themselves;
// each request executes a clone carrying its own language and form token.
type pages struct {
	byName map[string]*template.Template
}

func parsePages(funcs template.FuncMap, st site) (*pages, error) {
	base, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, st.layout...)
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	files, err := fs.Glob(templateFS, st.pages)
	if err != nil {
		return nil, err
	}
	p := &pages{byName: make(map[string]*template.Template)}
	for _, f := range files {
		if slices.Contains(st.layout, f) {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		p.byName[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return p, nil
}

// view is the data every template gets; a page's own data is in Data.
type view struct {
	Lang   string
	User   *auth.Claims
	Nav    []navItem
	Flash  *flashView
	Path   string // the current path, for the language links
	Status int
	Data   any
}

type flashView struct {
	Kind string
	Text string
}

type navItem struct {
	Key     string // message key
	URL     string
	Current bool
}

func (ui *UI) nav(r *http.Request, u *auth.Claims) []navItem {
	var out []navItem
	for _, n := range ui.site.nav {
		full := ui.url(n.path)
		roles, routed := ui.routes[full]
		if !routed || (roles != nil && u == nil) || (len(roles) > 0 && !contains(roles, u.Role)) {
			continue
		}
		out = append(out, navItem{Key: n.key, URL: full, Current: r.URL.Path == full ||
			(n.path != "" && strings.HasPrefix(r.URL.Path, full+"/"))})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// baseFuncs are the template functions. Those that depend on the request
// (t, formFields, errText, jsMessages, langURL, roleName) are placeholders here and
// replaced per request in render.
func (ui *UI) baseFuncs() template.FuncMap {
	return template.FuncMap{
		"t":          func(key string, args ...any) string { return key },
		"formFields": func() template.HTML { return "" },
		"errText":    func(err error) string { return "" },
		"jsMessages": func() map[string]string { return nil },
		"langURL":    func(lang string) string { return "" },
		"errCode":    govx.ErrorCode,
		"asset": func(name string) (string, error) {
			u, err := ui.assets.url(name)
			return ui.url(u), err
		},
		"url":      ui.url,
		"mask":     govx.MaskSubject,
		"datetime": datetime,
		"date":     date,
		"fieldErr": fieldErr,
		"field":    newField,
		"roleName": func(role string) string { return role },
		"label":    func(prefix string, v any) string { return fmt.Sprint(v) },
		"seq": func(from, to int) []int {
			var out []int
			for i := from; i <= to; i++ {
				out = append(out, i)
			}
			return out
		},
		"neg":     func(n int) int { return -n },
		"percent": func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
		"decimal": func(f float64) string { return fmt.Sprintf("%.1f", f) },
	}
}

// requestFuncs binds the request-dependent template functions.
func (ui *UI) requestFuncs(w http.ResponseWriter, r *http.Request, s *session) template.FuncMap {
	return template.FuncMap{
		"t":          func(key string, args ...any) string { return ui.msgs.text(s.lang, key, args...) },
		"formFields": func() template.HTML { return ui.formFields(w, s) },
		"errText":    func(err error) string { return ui.errText(s.lang, err) },
		"jsMessages": func() map[string]string { return ui.msgs.prefixed(s.lang, "js.") },
		"roleName": func(role string) string {
			if key := "role." + role; ui.msgs.has(s.lang, key) {
				return ui.msgs.text(s.lang, key)
			}
			return role
		},
		"label": func(prefix string, v any) string { return ui.label(s.lang, prefix, v) },
		"langURL": func(lang string) string {
			q := url.Values{"lang": {lang}}
			return r.URL.Path + "?" + q.Encode()
		},
	}
}

// label translates a value of a closed set (a status, a colour, a history
// action) as the catalogue's prefix+value, and shows the value itself when
// the catalogue has no text for it.
func (ui *UI) label(lang, prefix string, v any) string {
	key := prefix + fmt.Sprint(v)
	if ui.msgs.has(lang, key) {
		return ui.msgs.text(lang, key)
	}
	return fmt.Sprint(v)
}

// errText is the message shown for err. The caller-safe messages of
// govx errors are English, so an English page shows them as they are: they
// name the fault precisely. A Chinese page shows the catalogue's text for
// the code ("error.<code>") when there is one, else the English message.
// Internal errors show only the catalogue's "error.internal".
func (ui *UI) errText(lang string, err error) string {
	if err == nil {
		return ""
	}
	code := govx.ErrorCode(err)
	if code == "internal" || govx.ErrorKind(err) == govx.KindInternal {
		return ui.msgs.text(lang, "error.internal")
	}
	if key := "error." + code; lang != LangEn && ui.msgs.has(lang, key) {
		return ui.msgs.text(lang, key)
	}
	return govx.ErrorMessage(err)
}

// render executes page with data and writes it with status. The page is
// rendered into a buffer first, so a template fault gives a clean 500
// rather than half a page.
func (ui *UI) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	s := sessionOf(r)
	t, ok := ui.pages.byName[page]
	if !ok {
		ui.fail(w, fmt.Errorf("no page %q", page))
		return
	}
	t, err := t.Clone()
	if err != nil {
		ui.fail(w, err)
		return
	}
	t.Funcs(ui.requestFuncs(w, r, s))
	v := view{Lang: s.lang, User: s.claims, Nav: ui.nav(r, s.claims), Path: r.URL.Path, Status: status, Data: data}
	if f := ui.takeFlash(w, r); f != nil {
		args := make([]any, len(f.Args))
		for i, a := range f.Args {
			args[i] = a
		}
		v.Flash = &flashView{Kind: f.Kind, Text: ui.msgs.text(s.lang, f.Key, args...)}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		ui.fail(w, fmt.Errorf("render %s: %w", page, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", map[string]string{LangZh: "zh-CN", LangEn: "en"}[s.lang])
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail answers a fault in rendering itself, which cannot be rendered.
func (ui *UI) fail(w http.ResponseWriter, err error) {
	ui.log.Error("web: render failed", "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

type errorData struct {
	Status int
	Err    error
}

// renderError shows err on the error page, in the user's language, with
// its code. Internal errors are logged here, once, and shown only as
// "internal error".
func (ui *UI) renderError(w http.ResponseWriter, r *http.Request, status int, err error) {
	if status >= 500 {
		ui.log.Error("web: request failed", "method", r.Method, "path", r.URL.Path, "code", govx.ErrorCode(err), "err", err)
		var ge *govx.Error
		if !errors.As(err, &ge) || ge.Kind == govx.KindInternal {
			err = govx.Errorf(govx.KindInternal, "internal", "internal error")
		}
	}
	ui.render(w, r, status, "error", errorData{Status: status, Err: err})
}

func (ui *UI) notFound(w http.ResponseWriter, r *http.Request) {
	ui.renderError(w, r, http.StatusNotFound, govx.Errorf(govx.KindNotFound, CodePageNotFound, "there is no page at %s", r.URL.Path))
}

// datetime shows a time in China Standard Time, the zone of every
// deadline and office hour, whatever the server's zone.
func datetime(t any) string {
	tm, ok := asTime(t)
	if !ok {
		return "—"
	}
	return tm.In(workday.Zone).Format("2006-01-02 15:04")
}

// date shows a time's civil date in China Standard Time.
func date(t any) string {
	tm, ok := asTime(t)
	if !ok {
		return "—"
	}
	return tm.In(workday.Zone).Format("2006-01-02")
}

func asTime(v any) (time.Time, bool) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	case *jwt.NumericDate:
		if x != nil {
			t = x.Time
		}
	}
	return t, !t.IsZero()
}

// fieldView is what the partial "field" renders: one labelled input.
type fieldView struct {
	Name, Label, Value string
	Err                error
	Validate           string // "idnumber", "uscc" or "" (see assets/app.js)
	Hint               string
}

// newField is the template func field: name, label, value, err, validate, hint.
func newField(name, label, value string, err error, validate, hint string) fieldView {
	return fieldView{Name: name, Label: label, Value: value, Err: err, Validate: validate, Hint: hint}
}

// fieldErrors maps a form field's name to its error.
type fieldErrors map[string]error

// fieldErr returns the error of field name, nil when it has none.
func fieldErr(errs fieldErrors, name string) error {
	return errs[name]
}
