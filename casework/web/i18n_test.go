package web

import (
	"io/fs"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"govx/casework"
	"govx/consent"
	"govx/internal/auth"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name, query, cookie, accept string
		want                        string
		chosen                      bool
	}{
		{name: "nothing: Chinese", want: LangZh},
		{name: "query en", query: "en", want: LangEn, chosen: true},
		{name: "query beats cookie", query: "zh", cookie: "en", want: LangZh, chosen: true},
		{name: "unknown query ignored", query: "fr", cookie: "en", want: LangEn},
		{name: "cookie beats header", cookie: "en", accept: "zh-CN", want: LangEn},
		{name: "bad cookie ignored", cookie: "xx", accept: "en-GB,en;q=0.9", want: LangEn},
		{name: "header en-US", accept: "en-US,en;q=0.9", want: LangEn},
		{name: "header zh-Hans", accept: "zh-Hans-CN", want: LangZh},
		{name: "header by q", accept: "zh;q=0.5, en;q=0.8", want: LangEn},
		{name: "header order on equal q", accept: "en, zh", want: LangEn},
		{name: "header q=0 excludes", accept: "en;q=0, zh;q=0.1", want: LangZh},
		{name: "header unsupported only", accept: "fr-FR, de", want: LangZh},
		{name: "header unsupported first", accept: "fr, en;q=0.3", want: LangEn},
		{name: "header malformed q", accept: "en;q=abc, zh;q=0.2", want: LangZh},
		{name: "header upper case", accept: "EN-us", want: LangEn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "/ui/"
			if tt.query != "" {
				target += "?lang=" + tt.query
			}
			r := httptest.NewRequest("GET", target, nil)
			if tt.cookie != "" {
				r.Header.Set("Cookie", langCookie+"="+tt.cookie)
			}
			if tt.accept != "" {
				r.Header.Set("Accept-Language", tt.accept)
			}
			got, chosen := negotiate(r)
			if got != tt.want || chosen != tt.chosen {
				t.Fatalf("negotiate = %q, %v; want %q, %v", got, chosen, tt.want, tt.chosen)
			}
		})
	}
}

func TestLanguageCookie(t *testing.T) {
	key, _ := auth.GenerateKey()
	v, err := auth.NewVerifier(auth.Config{Issuer: "govx", Audience: "govx-exchange"}, key)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := New(Config{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	ui.ServeHTTP(w, httptest.NewRequest("GET", "/ui/login?lang=en", nil))
	res := w.Result()
	var set bool
	for _, c := range res.Cookies() {
		if c.Name == langCookie {
			set = c.Value == LangEn && c.MaxAge > 30*24*3600 && c.Path == "/ui/"
		}
	}
	if !set || !strings.Contains(w.Body.String(), "Sign in with a token") {
		t.Fatalf("?lang=en: cookies %v, body has English %v", res.Cookies(), strings.Contains(w.Body.String(), "Sign in with a token"))
	}
	w = httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/ui/login", nil)
	r.Header.Set("Accept-Language", "en-US,en;q=0.9,zh;q=0.8")
	ui.ServeHTTP(w, r)
	if len(w.Result().Cookies()) != 1 || !strings.Contains(w.Body.String(), `<html lang="en">`) {
		// Only the pre-session cookie: a header does not choose for good.
		t.Fatalf("Accept-Language: cookies %v", w.Result().Cookies())
	}
}

// templateKeyRe finds the literal keys templates translate: t "key" and
// (t "key" ...).
var templateKeyRe = regexp.MustCompile(`\bt "([^"]+)"`)

// jsKeyRe finds the keys app.js reports: fail("key", ...).
var jsKeyRe = regexp.MustCompile(`(?:fail|msg)\("([^"]+)"`)

// goKeyRe finds keys in Go code: Key: "flash.x" and "nav.x" entries.
var goKeyRe = regexp.MustCompile(`"((?:flash|nav|error|status|role|chart|accesses|login\.reason|hall)\.[a-z0-9_.]+)"`)

// TestCatalogueComplete checks that every key the templates, app.js and
// the Go code use exists in both languages, and that both languages fill
// in the same arguments.
func TestCatalogueComplete(t *testing.T) {
	c, err := loadCatalogue(messagesJSON)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]string{} // key → where
	files, _ := fs.Glob(templateFS, "templates/*.html")
	hallFiles, _ := fs.Glob(templateFS, "templates/hall/*.html")
	for _, f := range append(files, hallFiles...) {
		data, _ := fs.ReadFile(templateFS, f)
		for _, m := range templateKeyRe.FindAllStringSubmatch(string(data), -1) {
			used[m[1]] = f
		}
	}
	if len(used) < 20 {
		t.Fatalf("found only %d keys in templates; is templateKeyRe still right?", len(used))
	}
	js, _ := fs.ReadFile(assetFS, "assets/app.js")
	n := 0
	for _, m := range jsKeyRe.FindAllStringSubmatch(string(js), -1) {
		used["js."+m[1]] = "app.js"
		n++
	}
	if n < 10 {
		t.Fatalf("found only %d keys in app.js; is jsKeyRe still right?", n)
	}
	goFiles, _ := fs.Glob(os.DirFS("."), "*.go")
	for _, f := range goFiles {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, _ := os.ReadFile(f)
		for _, m := range goKeyRe.FindAllStringSubmatch(string(data), -1) {
			used[m[1]] = f
		}
	}
	// Keys built at run time: print "role." .Role, "status." .Status,
	// "login.reason." .Reason, "error." code.
	for _, r := range []string{RoleClerk, RoleReviewer, RoleSupervisor, consent.RoleCitizen, consent.RoleLegalPerson} {
		used["role."+r] = "roles"
	}
	for _, s := range []string{"400", "401", "403", "404", "413", "422", "500"} {
		used["status."+s] = "error page"
	}
	for _, code := range []string{auth.CodeTokenMissing, auth.CodeTokenExpired, auth.CodeTokenInvalid} {
		used["login.reason."+code] = "login page"
		used["error."+code] = "login page"
	}
	for _, code := range []string{CodeCSRFInvalid, CodeRoleForbidden, CodeFormIDInvalid, CodePageNotFound, CodeDemoUnknown, CodeDemoLoopback,
		"internal", "form_invalid", "body_too_large", "invalid_id_number", "invalid_uscc", "check_empty"} {
		used["error."+code] = "error codes"
	}
	for _, n := range append(window.nav, hall.nav...) {
		used[n.key] = "navigation"
	}
	for prefix, values := range labels {
		for _, v := range values {
			used[prefix+v] = "label " + prefix
		}
	}
	for _, st := range casework.Statuses {
		if !slices.Contains(labels["case.status."], string(st)) {
			t.Errorf("status %s has no label", st)
		}
	}

	for key, where := range used {
		for _, lang := range languages {
			if text, ok := c[key][lang]; !ok || text == "" {
				t.Errorf("%s uses %q, which has no %s text", where, key, lang)
			}
		}
	}
	verbs := regexp.MustCompile(`%[a-z]|\{\d\}`)
	for key, texts := range c {
		for _, lang := range languages {
			if texts[lang] == "" {
				t.Errorf("%q has no %s text", key, lang)
			}
		}
		for l := range texts {
			if !supported(l) {
				t.Errorf("%q has a text in unknown language %q", key, l)
			}
		}
		zh, en := verbs.FindAllString(texts[LangZh], -1), verbs.FindAllString(texts[LangEn], -1)
		if !sameSet(zh, en) {
			t.Errorf("%q: zh fills %v, en fills %v", key, zh, en)
		}
		if _, ok := used[key]; !ok && !strings.HasPrefix(key, "error.") {
			t.Errorf("%q is in the catalogue but nothing uses it", key)
		}
	}
}

func sameSet(a, b []string) bool {
	count := map[string]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestMissingKeyFallsBack(t *testing.T) {
	c := catalogue{"a": {LangZh: "甲 %s"}}
	if got := c.text(LangEn, "a", "x"); got != "甲 x" {
		t.Errorf("missing English = %q, want the Chinese text", got)
	}
	if got := c.text(LangEn, "no.such.key"); got != "no.such.key" {
		t.Errorf("missing key = %q, want the key", got)
	}
}

func TestDatetimeInChina(t *testing.T) {
	// 16:30 UTC is half past midnight the next day in Beijing.
	tm := time.Date(2026, 3, 4, 16, 30, 0, 0, time.UTC)
	if got := datetime(tm); got != "2026-03-05 00:30" {
		t.Errorf("datetime = %q", got)
	}
	if got := date(&tm); got != "2026-03-05" {
		t.Errorf("date = %q", got)
	}
	if got := datetime(time.Time{}); got != "—" {
		t.Errorf("zero time = %q", got)
	}
}
