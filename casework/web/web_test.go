package web_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"govx/casework/web"
	"govx/internal/auth"
)

const (
	testIss = "govx"
	testAud = "govx-exchange"
)

// env is a UI behind a real HTTP server, with the key its tokens are
// signed with.
type env struct {
	key *auth.Key
	ui  *web.UI
	srv *httptest.Server
}

func newEnv(t *testing.T, edit func(*web.Config)) *env {
	t.Helper()
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: testIss, Audience: testAud}, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := web.Config{Verifier: v}
	if edit != nil {
		edit(&cfg)
	}
	ui, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(ui.Prefix(), ui)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{key: key, ui: ui, srv: srv}
}

// demoConfig turns on demo mode with the default demo users, minted with
// e's key.
func demoConfig(e **env) func(*web.Config) {
	return func(c *web.Config) {
		c.DemoUsers = web.DefaultDemoUsers()
		c.Mint = func(u web.DemoUser) (string, error) {
			return (*e).key.Mint(auth.TokenSpec{Issuer: testIss, Audience: testAud, Subject: u.Subject,
				Dept: u.Dept, Role: u.Role, TTL: time.Hour})
		}
	}
}

func (e *env) token(t *testing.T, role, dept string, now time.Time) string {
	t.Helper()
	tok, err := e.key.Mint(auth.TokenSpec{Issuer: testIss, Audience: testAud, Subject: role + ":test",
		Dept: dept, Role: role, TTL: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that tests see them.
type browser struct {
	t   *testing.T
	e   *env
	c   *http.Client
	url *url.URL
}

func (e *env) browser(t *testing.T) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(e.srv.URL + "/ui/")
	return &browser{t: t, e: e, url: u, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// signIn puts token into the session cookie, as a sign-in would.
func (b *browser) signIn(token string) *browser {
	b.c.Jar.SetCookies(b.url, []*http.Cookie{{Name: "govx_session", Value: token, Path: "/ui/"}})
	return b
}

func (b *browser) cookie(name string) string {
	for _, c := range b.c.Jar.Cookies(b.url) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: res.StatusCode, header: res.Header, body: string(data)}
}

func (b *browser) get(path string, header ...string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	csrfRe   = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	formIDRe = regexp.MustCompile(`name="_form_id" value="([0-9a-f]{32})"`)
)

// formOf returns the hidden fields of the first form on p.
func (b *browser) formOf(p page) url.Values {
	b.t.Helper()
	c, f := csrfRe.FindStringSubmatch(p.body), formIDRe.FindStringSubmatch(p.body)
	if c == nil || f == nil {
		b.t.Fatalf("page has no form fields:\n%s", p.body)
	}
	return url.Values{"_csrf": {c[1]}, "_form_id": {f[1]}}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

func (p page) wantStatus(t *testing.T, status int) page {
	t.Helper()
	if p.status != status {
		t.Fatalf("status = %d, want %d; body:\n%s", p.status, status, p.body)
	}
	return p
}

func (p page) wantContains(t *testing.T, subs ...string) page {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(p.body, s) {
			t.Errorf("page lacks %q; body:\n%s", s, p.body)
		}
	}
	return p
}

func (p page) wantRedirect(t *testing.T, path string, query ...string) *url.URL {
	t.Helper()
	if p.status != http.StatusSeeOther {
		t.Fatalf("status = %d, want 303; body:\n%s", p.status, p.body)
	}
	u, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != path {
		t.Fatalf("redirect to %s, want %s", u, path)
	}
	for i := 0; i+1 < len(query); i += 2 {
		if got := u.Query().Get(query[i]); got != query[i+1] {
			t.Errorf("redirect %s: %s = %q, want %q", u, query[i], got, query[i+1])
		}
	}
	return u
}

// setCookie returns the Set-Cookie of name on p, nil if none.
func (p page) setCookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func regexpFind(expr, s string) string {
	return regexp.MustCompile(expr).FindString(s)
}
