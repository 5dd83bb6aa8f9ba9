package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"govx"
	"govx/casework/web"
	"govx/internal/auth"
)

func TestSession(t *testing.T) {
	e := newEnv(t, nil)
	now := time.Now()

	t.Run("valid", func(t *testing.T) {
		b := e.browser(t).signIn(e.token(t, web.RoleClerk, "service-center", now))
		b.get("/ui/").wantStatus(t, http.StatusOK).wantContains(t, "clerk:test", "窗口受理员", "service-center", `id="logout"`)
		b.get("/ui/check").wantStatus(t, http.StatusOK).wantContains(t, `data-validate="idnumber"`, `data-validate="uscc"`)
	})
	t.Run("missing", func(t *testing.T) {
		b := e.browser(t)
		u := b.get("/ui/check?x=1").wantRedirect(t, "/ui/login", "reason", auth.CodeTokenMissing, "next", "/ui/check?x=1")
		b.get(u.String()).wantStatus(t, http.StatusOK).wantContains(t, "请先登录", auth.CodeTokenMissing, `value="/ui/check?x=1"`)
	})
	t.Run("expired", func(t *testing.T) {
		b := e.browser(t).signIn(e.token(t, web.RoleClerk, "service-center", now.Add(-2*time.Hour)))
		p := b.get("/ui/check")
		u := p.wantRedirect(t, "/ui/login", "reason", auth.CodeTokenExpired, "next", "/ui/check")
		if c := p.setCookie("govx_session"); c == nil || c.MaxAge >= 0 {
			t.Errorf("expired session cookie not deleted: %v", c)
		}
		if b.cookie("govx_session") != "" {
			t.Error("browser still holds the expired session")
		}
		b.get(u.String()).wantStatus(t, http.StatusOK).wantContains(t, "您的登录已过期", auth.CodeTokenExpired)
		b.get(u.String()+"&lang=en").wantContains(t, "Your session has expired")
	})
	t.Run("invalid", func(t *testing.T) {
		other, _ := auth.GenerateKey()
		tok, err := other.Mint(auth.TokenSpec{Issuer: testIss, Audience: testAud, Subject: "x", Role: web.RoleClerk})
		if err != nil {
			t.Fatal(err)
		}
		e.browser(t).signIn(tok).get("/ui/").wantRedirect(t, "/ui/login", "reason", auth.CodeTokenInvalid)
	})
	t.Run("wrong role", func(t *testing.T) {
		b := e.browser(t).signIn(e.token(t, "service", "market-regulation", now))
		b.get("/ui/check").wantStatus(t, http.StatusForbidden).
			wantContains(t, "无权访问", "您当前的角色无权打开此页面", web.CodeRoleForbidden)
		b.get("/ui/check?lang=en").wantStatus(t, http.StatusForbidden).
			wantContains(t, "Not allowed", web.CodeRoleForbidden, `<html lang="en">`)
		// The home page is for anyone signed in, and its menu hides the page.
		p := b.get("/ui/").wantStatus(t, http.StatusOK)
		if strings.Contains(p.body, `href="/ui/check"`) {
			t.Error("menu offers a page the role may not open")
		}
	})
	t.Run("page not found", func(t *testing.T) {
		e.browser(t).get("/ui/no-such-page").wantStatus(t, http.StatusNotFound).wantContains(t, web.CodePageNotFound, "页面不存在")
	})
}

func TestLoginWithToken(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser(t)
	login := b.get("/ui/login?next=/ui/check").wantStatus(t, http.StatusOK)
	pre := login.setCookie("govx_pre")
	if pre == nil || !pre.HttpOnly || pre.SameSite != http.SameSiteStrictMode || pre.Path != "/ui/" {
		t.Fatalf("pre-session cookie = %+v", pre)
	}
	form := b.formOf(login)

	t.Run("expired token", func(t *testing.T) {
		p := b.post("/ui/login", with(form, "token", e.token(t, web.RoleClerk, "", time.Now().Add(-3*time.Hour)), "next", "/ui/check"))
		p.wantStatus(t, http.StatusUnauthorized).wantContains(t, "令牌已过期", auth.CodeTokenExpired)
		if b.cookie("govx_session") != "" {
			t.Fatal("a refused token became a session")
		}
	})
	t.Run("garbage", func(t *testing.T) {
		b.post("/ui/login?lang=en", with(form, "token", "not a token")).
			wantStatus(t, http.StatusUnauthorized).wantContains(t, "token is malformed", auth.CodeTokenInvalid)
	})
	t.Run("valid", func(t *testing.T) {
		tok := e.token(t, web.RoleReviewer, "population", time.Now())
		p := b.post("/ui/login", with(form, "token", "Bearer "+tok, "next", "/ui/check"))
		p.wantRedirect(t, "/ui/check")
		c := p.setCookie("govx_session")
		if c == nil || c.Value != tok || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || c.Secure {
			t.Fatalf("session cookie = %+v", c)
		}
		if c.MaxAge < 3500 || c.MaxAge > 3600 {
			t.Errorf("session cookie lives %ds, want the token's hour", c.MaxAge)
		}
		// The flash greets once, then is gone; the language chosen with
		// ?lang=en above is remembered.
		b.get("/ui/check").wantStatus(t, http.StatusOK).wantContains(t, `id="flash"`, "Signed in as reviewer:test", `<html lang="en">`)
		if p := b.get("/ui/check"); strings.Contains(p.body, `id="flash"`) {
			t.Error("flash shown twice")
		}
	})
	t.Run("open redirect refused", func(t *testing.T) {
		b := e.browser(t)
		form := b.formOf(b.get("/ui/login"))
		for _, next := range []string{"https://evil.example/ui/", "//evil.example/ui/", "/elsewhere", "/ui/login"} {
			b.post("/ui/login", with(form, "token", e.token(t, web.RoleClerk, "", time.Now()), "next", next)).wantRedirect(t, "/ui/")
		}
	})
}

func TestSecureCookies(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.SecureCookies = true })
	p := e.browser(t).get("/ui/login")
	if c := p.setCookie("govx_pre"); c == nil || !c.Secure {
		t.Fatalf("cookie = %+v, want Secure", c)
	}
}

func TestDemoLogin(t *testing.T) {
	var e *env
	e = newEnv(t, demoConfig(&e))
	b := e.browser(t)
	login := b.get("/ui/login").wantStatus(t, http.StatusOK)
	for _, u := range web.DefaultDemoUsers() {
		login.wantContains(t, u.Label)
	}
	login.wantContains(t, `id="demo-warning"`, "仅供演示")
	form := b.formOf(login)
	b.post("/ui/login/demo", with(form, "user", "2")).wantRedirect(t, "/ui/")
	b.get("/ui/").wantStatus(t, http.StatusOK).wantContains(t, "reviewer:population", "审查员", "population")

	b.post("/ui/login/demo", with(form, "user", "9")).wantStatus(t, http.StatusBadRequest).wantContains(t, web.CodeDemoUnknown)

	t.Run("from another computer", func(t *testing.T) {
		// The same UI reached from an address that is not loopback.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.RemoteAddr = "192.0.2.7:40000"
			e.ui.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		b := (&env{key: e.key, ui: e.ui, srv: srv}).browser(t)
		login := b.get("/ui/login").wantStatus(t, http.StatusOK)
		if strings.Contains(login.body, "/ui/login/demo") || strings.Contains(login.body, web.DefaultDemoUsers()[0].Label) {
			t.Fatal("the login page offers demo users to another computer")
		}
		b.post("/ui/login/demo", with(b.formOf(login), "user", "0")).wantStatus(t, http.StatusForbidden).wantContains(t, web.CodeDemoLoopback)
		if b.cookie("govx_session") != "" {
			t.Error("a session was started")
		}
	})

	t.Run("not in demo mode", func(t *testing.T) {
		e := newEnv(t, nil)
		b := e.browser(t)
		login := b.get("/ui/login")
		if strings.Contains(login.body, "/ui/login/demo") {
			t.Fatal("login page offers demo users outside demo mode")
		}
		b.post("/ui/login/demo", with(b.formOf(login), "user", "0")).wantStatus(t, http.StatusBadRequest)
	})
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser(t).signIn(e.token(t, web.RoleClerk, "", time.Now()))
	form := b.formOf(b.get("/ui/"))
	p := b.post("/ui/logout", form)
	p.wantRedirect(t, "/ui/login")
	if b.cookie("govx_session") != "" {
		t.Fatal("session survives logout")
	}
	b.get("/ui/login").wantContains(t, "您已退出登录")
	b.get("/ui/").wantRedirect(t, "/ui/login", "reason", auth.CodeTokenMissing)
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser(t).signIn(e.token(t, web.RoleClerk, "", time.Now()))
	form := b.formOf(b.get("/ui/check"))
	other := e.browser(t).signIn(e.token(t, web.RoleClerk, "", time.Now()))
	otherForm := other.formOf(other.get("/ui/check"))

	tests := []struct {
		name string
		form url.Values
	}{
		{"missing", url.Values{"_form_id": form["_form_id"]}},
		{"empty", with(form, "_csrf", "")},
		{"forged", with(form, "_csrf", strings.Repeat("A", 43))},
		{"another session's", otherForm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post("/ui/check", with(tt.form, "id_number", "11010519491231002X"))
			p.wantStatus(t, http.StatusForbidden).wantContains(t, web.CodeCSRFInvalid, "表单安全校验未通过")
			if p.setCookie("govx_flash") != nil {
				t.Error("a refused form reached the page")
			}
		})
	}
	t.Run("cross-site", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/ui/check", strings.NewReader(with(form, "id_number", "11010519491231002X").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		b.do(req).wantStatus(t, http.StatusForbidden).wantContains(t, web.CodeCSRFInvalid)
	})
	t.Run("logout without token", func(t *testing.T) {
		b.post("/ui/logout", nil).wantStatus(t, http.StatusForbidden)
		if b.cookie("govx_session") == "" {
			t.Fatal("a forged logout ended the session")
		}
	})
	t.Run("valid", func(t *testing.T) {
		b.post("/ui/check", with(form, "id_number", "11010519491231002X")).wantRedirect(t, "/ui/check")
	})
	t.Run("too large", func(t *testing.T) {
		b.post("/ui/check", with(form, "id_number", strings.Repeat("1", web.DefaultMaxBodyBytes))).
			wantStatus(t, http.StatusRequestEntityTooLarge).wantContains(t, "body_too_large")
	})
}

func TestCheckPage(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser(t).signIn(e.token(t, web.RoleClerk, "", time.Now()))
	form := b.formOf(b.get("/ui/check"))

	t.Run("invalid ID number", func(t *testing.T) {
		p := b.post("/ui/check", with(form, "id_number", "110105194912310021", "uscc", "91350100M000100Y43"))
		p.wantStatus(t, http.StatusUnprocessableEntity).
			wantContains(t, "公民身份号码无效", "invalid_id_number", `aria-invalid="true"`, `value="110105194912310021"`)
		b.post("/ui/check?lang=en", with(form, "id_number", "110105194912310021")).
			wantContains(t, "ID number check character is 1, expected X")
	})
	t.Run("invalid USCC", func(t *testing.T) {
		b.post("/ui/check", with(form, "uscc", "91350100M000100Y44")).
			wantStatus(t, http.StatusUnprocessableEntity).wantContains(t, "invalid_uscc")
	})
	t.Run("empty", func(t *testing.T) {
		b.post("/ui/check", form).wantStatus(t, http.StatusUnprocessableEntity).wantContains(t, "check_empty")
	})
	t.Run("no form id", func(t *testing.T) {
		b.post("/ui/check", url.Values{"_csrf": form["_csrf"], "id_number": {"11010519491231002X"}}).
			wantStatus(t, http.StatusUnprocessableEntity).wantContains(t, web.CodeFormIDInvalid)
	})
	t.Run("valid", func(t *testing.T) {
		b.post("/ui/check", with(form, "id_number", " 11010519491231002X ", "uscc", "91350100M000100Y43")).wantRedirect(t, "/ui/check")
		p := b.get("/ui/check?lang=zh").wantStatus(t, http.StatusOK).wantContains(t, "服务器校验通过", "110105********002X", "91350100M000100Y43")
		if strings.Contains(p.body, "11010519491231002X") {
			t.Error("the flash shows the whole ID number")
		}
	})
	t.Run("typed with an input method", func(t *testing.T) {
		b.post("/ui/check", with(form, "id_number", "１１０１０５１９４９１２３１００２ｘ", "uscc", "　９１３５０１００ｍ０００１００ｙ４３")).wantRedirect(t, "/ui/check")
		b.get("/ui/check?lang=zh").wantStatus(t, http.StatusOK).wantContains(t, "已将输入规范为标准形式", "服务器校验通过", "110105********002X", "91350100M000100Y43")
		b.post("/ui/check", with(form, "id_number", "11010519491231002x")).wantRedirect(t, "/ui/check")
		b.get("/ui/check?lang=en").wantContains(t, "Normalised to the standard form", "110105********002X")
		// Normalising does not make a wrong number right.
		b.post("/ui/check", with(form, "id_number", "１１０１０５１９４９１２３１００２１")).
			wantStatus(t, http.StatusUnprocessableEntity).wantContains(t, "invalid_id_number", `value="110105194912310021"`)
	})
	t.Run("form ids are fresh", func(t *testing.T) {
		a, c := b.formOf(b.get("/ui/check")), b.formOf(b.get("/ui/check"))
		if a.Get("_form_id") == c.Get("_form_id") {
			t.Fatal("two renders gave the same form id")
		}
		if a.Get("_csrf") != c.Get("_csrf") {
			t.Fatal("the CSRF token changed within one session")
		}
	})
}

func TestStatic(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser(t)
	login := b.get("/ui/login").body
	for _, name := range []string{"app.css", "app.js"} {
		t.Run(name, func(t *testing.T) {
			m := regexpFind(`/ui/static/`+strings.Replace(name, ".", `\.[0-9a-f]{12}\.`, 1), login)
			if m == "" {
				t.Fatalf("page does not link a hashed %s", name)
			}
			p := b.get(m).wantStatus(t, http.StatusOK)
			if cc := p.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Errorf("hashed asset Cache-Control = %q", cc)
			}
			etag := p.header.Get("ETag")
			if etag == "" || len(p.body) == 0 {
				t.Fatalf("ETag %q, %d bytes", etag, len(p.body))
			}
			b.get(m, "If-None-Match", etag).wantStatus(t, http.StatusNotModified)
			plain := b.get("/ui/static/"+name).wantStatus(t, http.StatusOK)
			if cc := plain.header.Get("Cache-Control"); cc != "no-cache" || plain.body != p.body {
				t.Errorf("plain name: Cache-Control %q, same body %v", cc, plain.body == p.body)
			}
		})
	}
	b.get("/ui/static/nope.js").wantStatus(t, http.StatusNotFound)
}

func TestPageHeaders(t *testing.T) {
	e := newEnv(t, nil)
	p := e.browser(t).get("/ui/login")
	h := p.header
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("Cache-Control") != "no-store" || h.Get("Content-Language") != "zh-CN" {
		t.Fatalf("headers = %v", h)
	}
}

func TestConfigValidate(t *testing.T) {
	key, _ := auth.GenerateKey()
	v, err := auth.NewVerifier(auth.Config{Issuer: testIss, Audience: testAud}, key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  web.Config
	}{
		{"no verifier", web.Config{}},
		{"prefix without slashes", web.Config{Verifier: v, Prefix: "ui"}},
		{"demo users without mint", web.Config{Verifier: v, DemoUsers: web.DefaultDemoUsers()}},
		{"demo user without role", web.Config{Verifier: v, DemoUsers: []web.DemoUser{{Label: "x", Subject: "y"}},
			Mint: func(web.DemoUser) (string, error) { return "", nil }}},
		{"short CSRF key", web.Config{Verifier: v, CSRFKey: []byte("short")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := web.New(tt.cfg)
			if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) != "config_invalid" {
				t.Fatalf("err = %v, want Invalid/config_invalid", err)
			}
		})
	}
	ui, err := web.New(web.Config{Verifier: v})
	if err != nil || ui.Prefix() != web.DefaultPrefix {
		t.Fatalf("defaults: %v, %v", ui, err)
	}
}
