package node_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"govx/casework"
	"govx/consent"
	"govx/internal/auth"
	"govx/node"

	"github.com/golang-jwt/jwt/v5"
)

// uiClient is a browser without JavaScript: a cookie jar holding a
// session, not following redirects so that tests see them.
type uiClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newUIClient(t *testing.T, m *node.Node, who *auth.Claims) *uiClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &uiClient{t: t, base: m.URL() + "/ui/", c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if who != nil {
		tok, err := m.Key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: who.Subject, Dept: who.Dept,
			Role: who.Role, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		base, _ := url.Parse(u.base)
		jar.SetCookies(base, []*http.Cookie{{Name: "govx_session", Value: tok, Path: "/ui/"}})
	}
	return u
}

func (u *uiClient) do(req *http.Request) (int, string, string) {
	u.t.Helper()
	res, err := u.c.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("Location")
}

func (u *uiClient) get(path string) (int, string) {
	u.t.Helper()
	req, _ := http.NewRequest("GET", u.base+path, nil)
	status, body, _ := u.do(req)
	return status, body
}

// post sends form to path and returns the status, the body and where a
// redirect points.
func (u *uiClient) post(path string, form url.Values) (int, string, string) {
	u.t.Helper()
	req, _ := http.NewRequest("POST", u.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return u.do(req)
}

var (
	csrfRe   = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	formIDRe = regexp.MustCompile(`name="_form_id" value="([0-9a-f]{32})"`)
	inputRe  = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
)

// formOf returns the hidden and prefilled fields of the form with id in
// page: the CSRF token, the form id, the case version.
func formOf(t *testing.T, page, id string) url.Values {
	t.Helper()
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no form %s on the page:\n%s", id, page)
	}
	start := strings.LastIndex(page[:i], "<form")
	end := strings.Index(page[i:], "</form>")
	f := page[start : i+end]
	v := url.Values{}
	for _, m := range inputRe.FindAllStringSubmatch(f, -1) {
		if strings.Contains(m[0], `type="radio"`) {
			continue
		}
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("_csrf") == "" || !formIDRe.MatchString(f) {
		t.Fatalf("form %s has no token or form id: %s", id, f)
	}
	return v
}

func caseCount(t *testing.T, m *node.Node) int {
	t.Helper()
	var n int
	if err := m.Pool.QueryRow(context.Background(), `SELECT count(*) FROM casework.cases`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWindowPages drives the pages over HTTP as a browser without
// JavaScript would: the refusals a user must see, and the form ids and
// versions that keep a double click or a stale page from doing harm.
func TestWindowPages(t *testing.T) {
	m, d := runCaseSystem(t)
	ctx := context.Background()
	svc := m.Casework
	ui := newUIClient(t, m, clerk)

	intake := func(t *testing.T) url.Values {
		t.Helper()
		status, page := ui.get("cases/new?item=food-business-renewal")
		if status != http.StatusOK {
			t.Fatalf("intake form: %d\n%s", status, page)
		}
		f := formOf(t, page, "intake-form")
		if f.Get("item") != "food-business-renewal" {
			t.Fatalf("intake form for item %q", f.Get("item"))
		}
		f.Set("uscc", d.company.USCC)
		f.Set("company", d.company.Name)
		f.Set("rep_id_number", d.company.RepresentativeID)
		f.Set("rep_name", d.company.LegalRepresentative)
		f.Set("licence_number", d.licence.Number)
		f.Set("phone", "13800000000")
		f.Set("note", "窗口测试")
		return f
	}

	t.Run("invalid USCC re-renders the form with the error and the typed values", func(t *testing.T) {
		f := intake(t)
		bad := d.company.USCC[:17] + string("0123456789ABCDEFGHJKLMNPQRTUWXY"[(strings.IndexByte("0123456789ABCDEFGHJKLMNPQRTUWXY", d.company.USCC[17])+1)%31])
		f.Set("uscc", bad)
		before := caseCount(t, m)
		status, page, _ := ui.post("cases", f)
		if status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422\n%s", status, page)
		}
		for _, want := range []string{`id="uscc-error"`, "invalid_uscc", `aria-invalid="true"`,
			`value="` + bad + `"`, `value="` + html.EscapeString(d.company.Name) + `"`, `value="` + d.licence.Number + `"`,
			`value="` + d.company.RepresentativeID + `"`, "窗口测试"} {
			if !strings.Contains(page, want) {
				t.Errorf("the re-rendered form lacks %q", want)
			}
		}
		if n := caseCount(t, m); n != before {
			t.Errorf("%d cases written by a refused intake", n-before)
		}
	})

	var caseID string
	t.Run("double submission of the intake form makes one case", func(t *testing.T) {
		f := intake(t)
		before := caseCount(t, m)
		var where []string
		for range 2 {
			status, page, loc := ui.post("cases", f)
			if status != http.StatusSeeOther || !strings.Contains(loc, "/ui/cases/GX") {
				t.Fatalf("intake: %d %q\n%s", status, loc, page)
			}
			where = append(where, loc)
		}
		if where[0] != where[1] {
			t.Errorf("the same form opened %s and %s", where[0], where[1])
		}
		if n := caseCount(t, m); n != before+1 {
			t.Errorf("%d cases for one form sent twice", n-before)
		}
		caseID = where[0][strings.LastIndex(where[0], "/")+1:]
		status, page := ui.get("cases/" + caseID)
		if status != http.StatusOK {
			t.Fatalf("case page: %d", status)
		}
		for _, want := range []string{`id="material-company_registration" data-state="verified"`,
			`id="material-current_licence" data-state="verified"`, `id="seal-current_licence"`, "已通过数据共享交换核验", `id="flash"`} {
			if !strings.Contains(page, want) {
				t.Errorf("case page lacks %q", want)
			}
		}
	})
	if caseID == "" {
		t.Fatal("no case opened")
	}

	t.Run("a reviewer of another department gets 403", func(t *testing.T) {
		c, err := svc.Get(ctx, clerk, caseID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Accept(ctx, clerk, caseID, casework.ChangeInput{Version: c.Version},
			map[string]casework.Choice{"self_inspection": casework.ChoiceReceived}); err != nil {
			t.Fatal(err)
		}
		status, page := newUIClient(t, m, fireRev).get("cases/" + caseID)
		if status != http.StatusForbidden || !strings.Contains(page, "not_your_department") {
			t.Fatalf("fire-rescue reviewer: %d\n%s", status, page)
		}
		// The department that reviews it sees the case with its decision form.
		status, page = newUIClient(t, m, marketRev).get("cases/" + caseID)
		if status != http.StatusOK || !strings.Contains(page, `id="review-form"`) {
			t.Fatalf("market regulation reviewer: %d", status)
		}
		status, page = newUIClient(t, m, marketRev).get("review")
		if status != http.StatusOK || !strings.Contains(page, `id="row-`+caseID+`"`) {
			t.Errorf("queue: %d, case %s not listed", status, caseID)
		}
	})

	t.Run("a stale version on accept shows case_changed", func(t *testing.T) {
		c, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "food-business-renewal", Applicant: companyParty(d.company),
			LicenceNumber: d.licence.Number})
		if err != nil {
			t.Fatal(err)
		}
		_, page := ui.get("cases/" + c.ID)
		f := formOf(t, page, "accept-form")
		if f.Get("version") == "" {
			t.Fatal("the accept form carries no version")
		}
		f.Set("choice.self_inspection", "committed")
		// Another clerk verifies again meanwhile.
		if _, err := svc.Verify(ctx, otherClerk, c.ID, casework.ChangeInput{}); err != nil {
			t.Fatal(err)
		}
		status, page, _ := ui.post("cases/"+c.ID+"/accept", f)
		if status != http.StatusConflict || !strings.Contains(page, "case_changed") || !strings.Contains(page, otherClerk.Subject) {
			t.Fatalf("stale accept: %d\n%s", status, page)
		}
		// The choice made is still the one shown.
		if !regexp.MustCompile(`id="choice-self_inspection-committed" checked`).MatchString(page) {
			t.Error("the stale form lost the clerk's choice")
		}
		if c, _ = svc.Get(ctx, clerk, c.ID); c.Status != casework.Draft {
			t.Errorf("a stale accept changed the case to %s", c.Status)
		}
		// Refused at the window as through the API: in the refusal log.
		var n int
		if err := m.Pool.QueryRow(ctx, `SELECT count(*) FROM refusals.log WHERE action = 'case.accept' AND target = $1 AND code = 'case_changed'`,
			c.ID).Scan(&n); err != nil || n != 1 {
			t.Errorf("refusal log holds %d case_changed refusals of %s (%v), want 1", n, c.ID, err)
		}
	})

	t.Run("a rejection without a reason keeps the form", func(t *testing.T) {
		rev := newUIClient(t, m, marketRev)
		_, page := rev.get("cases/" + caseID)
		f := formOf(t, page, "review-form")
		f.Set("decision", "reject")
		status, page, _ := rev.post("cases/"+caseID+"/review", f)
		if status != http.StatusUnprocessableEntity || !strings.Contains(page, "reason_required") ||
			!strings.Contains(page, `id="decision-reject" checked`) {
			t.Fatalf("reject without reason: %d\n%s", status, page)
		}
	})

	t.Run("the public lookup answers a wrong number and wrong last four alike", func(t *testing.T) {
		pub := newUIClient(t, m, nil)
		_, page := pub.get("progress")
		f := formOf(t, page, "progress-form")
		var msgs []string
		for _, pair := range [][2]string{{caseID, "0000"}, {"GX" + strings.Repeat("9", 14), d.company.USCC[14:]}} {
			f.Set("case_id", pair[0])
			f.Set("last4", pair[1])
			if pair[1] == d.company.USCC[14:] && pair[0] == caseID {
				continue
			}
			status, page, _ := pub.post("progress", f)
			if status != http.StatusNotFound {
				t.Fatalf("lookup %v: %d", pair, status)
			}
			msgs = append(msgs, regexp.MustCompile(`(?s)<div class="form-error"[^>]*>(.*?)</div>`).FindString(page))
		}
		if len(msgs) == 2 && (msgs[0] != msgs[1] || msgs[0] == "") {
			t.Errorf("wrong number and wrong last four read differently: %q vs %q", msgs[0], msgs[1])
		}
		f.Set("case_id", caseID)
		f.Set("last4", d.company.USCC[14:])
		status, page, _ := pub.post("progress", f)
		if status != http.StatusOK || !strings.Contains(page, `id="timeline"`) || !strings.Contains(page, `data-action="accepted"`) {
			t.Fatalf("lookup: %d\n%s", status, page)
		}
		for _, secret := range []string{d.company.USCC, d.company.RepresentativeID, d.company.LegalRepresentative, "clerk:wang"} {
			if strings.Contains(page, secret) {
				t.Errorf("the public page shows %q", secret)
			}
		}
	})

	t.Run("supervision", func(t *testing.T) {
		status, page := newUIClient(t, m, &auth.Claims{RegisteredClaims: supervisor.RegisteredClaims, Role: casework.RoleSupervisor,
			Dept: casework.DeptServiceCenter}).get("supervision")
		if status != http.StatusOK || !strings.Contains(page, `id="dept-market-regulation"`) || !strings.Contains(page, `id="count-in_review"`) {
			t.Fatalf("supervision: %d\n%s", status, page)
		}
		if status, _ := ui.get("supervision"); status != http.StatusForbidden {
			t.Errorf("a clerk opens supervision: %d", status)
		}
	})

	t.Run("the legal representative sees who accessed their data", func(t *testing.T) {
		rep := newUIClient(t, m, &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: d.company.RepresentativeID}, Role: consent.RoleCitizen})
		status, page := rep.get("accesses")
		if status != http.StatusOK {
			t.Fatalf("accesses: %d\n%s", status, page)
		}
		// The window verified their identity: the timeline and the list say so.
		for _, want := range []string{`id="chart-accesses"`, `role="img"`, `<circle class="dot o-released"`, "service-center",
			"population.identity", "case:" + caseID, "已提供数据"} {
			if !strings.Contains(page, want) {
				t.Errorf("the access view lacks %s", want)
			}
		}
		if _, page := rep.get("accesses?lang=en"); !strings.Contains(page, "Timeline of accesses") || !strings.Contains(page, "Data sent") {
			t.Error("the access view is not in English")
		}
		// Only the data subject: a clerk may not open it.
		if status, _ := ui.get("accesses"); status != http.StatusForbidden {
			t.Errorf("a clerk opens the access view: %d", status)
		}
	})

	t.Run("English", func(t *testing.T) {
		status, page := ui.get("intake?lang=en")
		if status != http.StatusOK || !strings.Contains(page, "Food business licence (renewal)") || !strings.Contains(page, "Recent cases of this window") {
			t.Fatalf("intake in English: %d", status)
		}
		if _, page = ui.get("cases/" + caseID); !strings.Contains(page, "Verified through the exchange; provider market-regulation") {
			t.Error("the case page is not in English")
		}
		// The register's records carry the catalogue's labels, in the
		// page's language, not the register's field names and codes.
		for lang, want := range map[string][]string{
			"zh": {`<dt data-field="legal_representative">法定代表人</dt>`, `<dd data-value="in_business">存续</dd>`, `<dt data-field="entity_type">主体类型</dt>`},
			"en": {`<dt data-field="legal_representative">Legal representative</dt>`, `<dd data-value="in_business">In business</dd>`, `<dt data-field="entity_type">Entity type</dt>`},
		} {
			_, page := ui.get("cases/" + caseID + "?lang=" + lang)
			for _, w := range want {
				if !strings.Contains(page, w) {
					t.Errorf("the %s case page lacks %s", lang, w)
				}
			}
			for _, raw := range []string{">legal_representative<", ">in_business<", ">" + d.company.Type + "<"} {
				if strings.Contains(page, raw) {
					t.Errorf("the %s case page shows %s raw", lang, raw)
				}
			}
		}
	})
}
