package node_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"govx/internal/idp"
	"govx/node"
	"govx/node/nodetest"
)

// hallClient is a browser without JavaScript: a cookie jar that follows
// redirects.
func hallClient(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func get(t *testing.T, c *http.Client, u string) (int, string, *url.URL) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Request.URL
}

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// idpPick submits the demo identity provider's page as the user with
// subject, and returns where the browser ends up.
func idpPick(t *testing.T, c *http.Client, page, pageURL, subject string) (int, string, *url.URL) {
	t.Helper()
	form := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	i := regexp.MustCompile(`name="user" value="(\d+)" data-subject="` + regexp.QuoteMeta(subject) + `"`).FindStringSubmatch(page)
	if i == nil {
		t.Fatalf("the provider offers no user %s:\n%s", subject, page)
	}
	form.Set("user", i[1])
	resp, err := c.PostForm(pageURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Request.URL
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&lt;", "<", "&gt;", ">", "&#39;", "'").Replace(s)
}

// hallSignIn signs c in to the hall through the demo identity provider as
// subject.
func hallSignIn(t *testing.T, m *node.Node, c *http.Client, subject string) {
	t.Helper()
	status, page, at := get(t, c, m.URL()+"/hall/login/start?next=/hall/apply")
	if status != 200 || at.Path != "/idp/authorize" {
		t.Fatalf("login start: %d at %s", status, at)
	}
	status, page, at = idpPick(t, c, page, at.String(), subject)
	if status != 200 || at.Path != "/hall/callback" || !strings.Contains(page, `id="continue"`) || !strings.Contains(page, `href="/hall/apply"`) {
		t.Fatalf("callback: %d at %s:\n%s", status, at, page)
	}
}

func TestHallSignInThroughDemoIdP(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.DemoIdP = true
	m := nodetest.Start(t, cfg)
	users := node.DemoIdPUsers(cfg.Residents, time.Now())
	var citizen, company idp.User
	for _, u := range users {
		if u.Role == idp.RoleCitizen && citizen.Subject == "" {
			citizen = u
		}
		if u.Role == idp.RoleLegalPerson && company.Subject == "" {
			company = u
		}
	}
	if citizen.Subject == "" || company.Subject == "" {
		t.Fatalf("demo users: %+v", users)
	}

	// Discovery names the provider's endpoints under its issuer.
	status, doc, _ := get(t, http.DefaultClient, m.URL()+"/idp/.well-known/openid-configuration")
	if status != 200 || !strings.Contains(doc, `"issuer":"`+m.URL()+`/idp"`) || !strings.Contains(doc, `"S256"`) {
		t.Fatalf("discovery: %d %s", status, doc)
	}

	// A visitor is sent to sign in; the guides are public.
	c := hallClient(t)
	if status, _, at := get(t, c, m.URL()+"/hall/apply"); status != 200 || at.Path != "/hall/login" {
		t.Fatalf("apply as a visitor: %d at %s", status, at)
	}
	if status, page, _ := get(t, c, m.URL()+"/hall/guides/food-business-new"); status != 200 ||
		!strings.Contains(page, "legal-entity.basic") || !strings.Contains(page, "不收费") {
		t.Fatalf("guide: %d", status)
	}

	hallSignIn(t, m, c, company.Subject)
	status, page, _ := get(t, c, m.URL()+"/hall/apply")
	if status != 200 || !strings.Contains(page, `data-item="food-business-new"`) || strings.Contains(page, `data-item="resident-certificate"`) {
		t.Fatalf("apply as a company: %d\n%s", status, page)
	}

	// A code is good once: the callback replayed fails.
	c2 := hallClient(t)
	_, page, at := get(t, c2, m.URL()+"/hall/login/start")
	stop := &http.Client{Jar: c2.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{}
	for _, mm := range hiddenRe.FindAllStringSubmatch(page, -1) {
		form.Set(mm[1], htmlUnescape(mm[2]))
	}
	form.Set("user", "0")
	resp, err := stop.PostForm(at.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	if !strings.Contains(callback, "code=") {
		t.Fatalf("no code: %s", callback)
	}
	// Another browser, without this sign-in's state, cannot use it.
	if status, page, _ := get(t, hallClient(t), callback); status != 400 || !strings.Contains(page, "signin_state_invalid") {
		t.Errorf("callback in another browser: %d", status)
	}
	if status, _, _ := get(t, c2, callback); status != 200 {
		t.Errorf("callback: %d", status)
	}
	if status, page, _ := get(t, c2, callback); status != 400 || !strings.Contains(page, "signin_state_invalid") {
		t.Errorf("callback replayed: %d", status)
	}

	// The provider refuses a request without PKCE by sending the browser
	// back with the error, and an unregistered redirect URI outright.
	q := url.Values{"response_type": {"code"}, "client_id": {node.DemoHallClient}, "redirect_uri": {m.URL() + "/hall/callback"},
		"scope": {"openid"}, "state": {"s"}, "nonce": {"n"}}
	resp, err = stop.Get(m.URL() + "/idp/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || !strings.Contains(loc, "error=invalid_request") {
		t.Errorf("without PKCE: %d %s", resp.StatusCode, loc)
	}
	q.Set("redirect_uri", "http://evil.example/cb")
	if status, _, _ := get(t, stop, m.URL()+"/idp/authorize?"+q.Encode()); status != 400 {
		t.Errorf("unregistered redirect URI: %d", status)
	}
}
