package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"govx/casework"
	"govx/consent"
	"govx/internal/auth"
	"govx/internal/browsertest"
	"govx/node"
	"govx/node/nodetest"
)

// phone and desktop are the widths every hall page is checked and
// screenshotted at.
const (
	phoneWidth   = 375
	desktopWidth = 1280
)

// TestBrowserHall walks the online service hall in a real Chromium, as a
// company applying from home: the service guide, sign-in through the
// (demo) identity provider, a draft that survives the browser, the facts
// the registers hold — fetched only after the applicant consents —,
// uploads (a file that is not what its name says, and one too large, are
// refused), a written commitment, submission, pre-review acceptance and
// approval by the market regulation reviewer, the licence issued, and the
// notices of each change. Another applicant cannot open the case. Every
// page fits a 375 px phone without horizontal scrolling; screenshots at
// phone and desktop widths go to the artifacts folder.
func TestBrowserHall(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = node.ReferenceAdapters
	cfg.DemoIdP = true
	m := nodetest.Start(t, cfg)
	companies, err := node.IntakeApplicants(cfg.Residents, 3, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	co := companies[0].Company // the demo provider's first company
	var citizen string
	for _, u := range node.DemoIdPUsers(cfg.Residents, time.Now()) {
		if u.Role == auth.RoleCitizen {
			citizen = u.Subject
			break
		}
	}
	b := browsertest.New(t)
	t.Logf("screenshots in %s", b.ArtifactsDir())
	hall := m.URL() + "/hall/"

	// fits checks the page has no horizontal scrolling on a phone and
	// screenshots it at both widths.
	fits := func(name string) {
		t.Helper()
		b.Do(t, chromedp.EmulateViewport(phoneWidth, 800))
		if w := browsertest.Eval[int](t, b, `document.documentElement.scrollWidth`); w > phoneWidth {
			wide := browsertest.Eval[string](t, b, `Array.from(document.querySelectorAll("body *")).filter(e=>e.getBoundingClientRect().right>375).slice(0,5).map(e=>e.tagName+"#"+e.id+"."+e.className).join(" ")`)
			t.Errorf("%s: %d px wide at a %d px phone (too wide: %s)", name, w, phoneWidth, wide)
		}
		b.Screenshot(t, name+"-phone")
		b.Do(t, chromedp.EmulateViewport(desktopWidth, 900))
		b.Screenshot(t, name+"-desktop")
	}
	accesses := func(subject, role string) []map[string]any {
		t.Helper()
		tok := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: subject, Role: role})
		status, body, _ := nodetest.Call(t, http.MethodGet, m.URL()+"/v1/subjects/"+subject+"/accesses", tok, nil)
		if status != 200 {
			t.Fatalf("accesses of %s: %d %v", subject, status, body)
		}
		var out []map[string]any
		for _, a := range body["accesses"].([]any) {
			out = append(out, a.(map[string]any))
		}
		return out
	}

	// A visitor reads the guide: what is fetched, the legal basis, the
	// time limit and the fees.
	b.Navigate(t, hall)
	b.WaitText(t, "h1", "网上办事大厅")
	fits("01-home")
	b.Navigate(t, hall+"guides/food-business-new")
	b.WaitText(t, "#guide-legal-basis", "《中华人民共和国食品安全法》第三十五条")
	b.WaitText(t, "#guide-fetched", "legal-entity.basic")
	b.WaitText(t, "#guide-fees", "不收费")
	b.WaitText(t, "#guide-promised", "10 个工作日")
	fits("02-guide")
	b.Navigate(t, hall+"guides/food-business-new?lang=en")
	b.WaitText(t, "#guide-legal-basis", "Food Safety Law of the PRC, Article 35")
	b.WaitText(t, "#guide-fees", "Free of charge")
	b.Navigate(t, hall+"guides/food-business-new?lang=zh")

	// Applying needs a sign-in, through the identity provider.
	b.Click(t, "#guide-apply")
	b.WaitText(t, "h1", "登录网上办事大厅")
	fits("03-login")
	b.Click(t, "#login-start")
	b.WaitText(t, "h2", "个人")
	fits("04-idp")
	b.Click(t, fmt.Sprintf(`button[data-subject=%q]`, co.USCC))
	b.WaitText(t, "#flash", "登录")
	b.WaitText(t, "h1", "食品经营许可（新办）")
	b.WaitText(t, "#who-subject", co.USCC)
	fits("05-apply-details")

	b.Fill(t, "#company", co.Name)
	b.Fill(t, "#rep_id_number", co.RepresentativeID)
	b.Fill(t, "#rep_name", co.LegalRepresentative)
	b.Fill(t, "#phone", "13800138000")
	b.Fill(t, "#email", "applicant@example.com")
	b.Click(t, "#apply-submit")
	b.WaitText(t, "#flash", "已保存草稿")
	caseID := b.Text(t, "#case-id")
	if !strings.HasPrefix(caseID, "GX") {
		t.Fatalf("case number %q", caseID)
	}
	b.WaitText(t, "#fact-company_registration", "legal-entity")
	b.WaitText(t, "#fact-representative_identity", "population.identity")
	fits("06-draft")

	// Nothing was fetched about the company or its representative: the
	// applicant has not consented yet.
	if a := accesses(co.USCC, consent.RoleLegalPerson); len(a) != 0 {
		t.Fatalf("accesses to the company before the consent: %v", a)
	}
	if a := accesses(co.RepresentativeID, consent.RoleCitizen); len(a) != 0 {
		t.Fatalf("accesses to the representative before the consent: %v", a)
	}

	// The draft survives a closed browser: a new browser, signed in
	// again, finds it in "my cases".
	b2 := browsertest.New(t)
	b2.Navigate(t, hall+"cases")
	b2.Click(t, "#login-start")
	b2.Click(t, fmt.Sprintf(`button[data-subject=%q]`, co.USCC))
	b2.WaitText(t, "#case-"+caseID, "待受理")

	// Consent to the preview, bounded to it; then the facts are fetched
	// and shown.
	b.Click(t, "#preview-agree")
	b.Click(t, "#preview-submit")
	b.WaitText(t, "#flash", "已按您的授权")
	// A register that did not answer in time leaves its fact pending; the
	// applicant fetches again, as the page offers.
	for i := 0; i < 3 && browsertest.Eval[string](t, b, `document.querySelector('#fact-company_registration').dataset.state+document.querySelector('#fact-representative_identity').dataset.state`) != "verifiedverified"; i++ {
		t.Logf("preview pending: %s", b.Text(t, "#facts"))
		b.Click(t, "#preview-again")
		b.WaitText(t, "#flash", "已按您的授权")
	}
	b.WaitText(t, "#fact-company_registration", co.Name)
	b.WaitText(t, "#fact-representative_identity", co.LegalRepresentative)
	fits("07-preview")
	got := accesses(co.USCC, consent.RoleLegalPerson)
	if len(got) == 0 || got[0]["purpose"] != "preview:"+caseID {
		t.Fatalf("accesses to the company after the consent: %v", got)
	}
	b.Click(t, "#confirm-submit")
	b.WaitText(t, "#facts-confirmed", "已确认")

	// Uploads: a text file named .pdf is refused by its content, one over
	// the limit by its size; a PNG is taken.
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	upload := func(code, path string) {
		t.Helper()
		b.Do(t, chromedp.SetUploadFiles(chromedp.CSS("#file-"+code), []string{path}))
		b.Click(t, "#upload-submit-"+code)
	}
	upload("premises_proof", write("lease.pdf", []byte("this is not a PDF at all")))
	b.WaitText(t, "#flash", casework.CodeFileType)
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...)
	upload("premises_proof", write("big.png", append(png, make([]byte, casework.DefaultMaxUpload)...)))
	b.WaitText(t, "#flash", casework.CodeFileTooLarge)
	upload("premises_proof", write("lease.png", png))
	b.WaitText(t, "#flash", "文件已上传")
	b.WaitText(t, "#upload-premises_proof", "lease.png")
	// A written commitment stands in for the food safety rules; the
	// equipment layout is optional.
	b.Click(t, "#commit-food_safety_rules")
	b.WaitText(t, "#flash", "已作出告知承诺")
	fits("08-materials")
	b.Click(t, "#submit-case")
	b.WaitText(t, "#flash", "申请已提交")
	b.WaitText(t, "#case-status", "待预审")

	// Pre-review at market regulation: accepted (the clock starts), then
	// approved; the licence is issued.
	reviewer := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: "reviewer:market-regulation", Role: casework.RoleReviewer,
		Dept: casework.DeptMarket})
	decide := func(action string, body map[string]any) map[string]any {
		t.Helper()
		status, c, _ := nodetest.Call(t, http.MethodPost, m.URL()+"/v1/cases/"+caseID+"/"+action, reviewer, body)
		if status != 200 {
			t.Fatalf("%s: %d %v", action, status, c)
		}
		return c
	}
	if status, c, _ := nodetest.Call(t, http.MethodGet, m.URL()+"/v1/cases/"+caseID, reviewer, nil); status != 200 ||
		c["status"] != string(casework.Submitted) || c["accepted_at"] != nil || c["channel"] != casework.ChannelOnline {
		t.Fatalf("submitted case: %d %v", status, c)
	}
	if c := decide("prereview", map[string]any{"decision": "accept"}); c["status"] != string(casework.InReview) || c["accepted_at"] == nil || c["due"] == nil {
		t.Fatalf("accepted case has no clock: %v", c)
	}
	decide("review", map[string]any{"decision": "approve"})
	ctx := context.Background()
	claims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "reviewer:market-regulation"},
		Role: casework.RoleReviewer, Dept: casework.DeptMarket}
	var c *casework.Case
	var number string
	deadline := time.Now().Add(30 * time.Second)
	for number == "" && time.Now().Before(deadline) {
		if c, err = m.Casework.Get(ctx, claims, caseID); err == nil && c.Result != nil {
			number = c.Result.Number
		}
		time.Sleep(200 * time.Millisecond)
	}
	if number == "" {
		t.Fatalf("no licence issued: %+v", c)
	}
	b.Navigate(t, hall+"cases/"+caseID)
	b.WaitText(t, "#result-number", number)
	b.WaitText(t, "#case-due", "承诺办结日期")
	b.WaitText(t, "#notices", "已受理")
	fits("09-decided")
	b.Navigate(t, hall+"cases")
	b.WaitText(t, "#notices", caseID)
	fits("10-my-cases")
	ns, _ := json.Marshal(b.Text(t, "#notices"))
	t.Logf("notices: %s", ns)

	// Another applicant does not see the case.
	b.Click(t, "#logout")
	b.WaitText(t, "#flash", "退出")
	b.Navigate(t, hall+"cases")
	b.Click(t, "#login-start")
	b.Click(t, fmt.Sprintf(`button[data-subject=%q]`, citizen))
	b.WaitText(t, "#who-subject", citizen[len(citizen)-2:])
	b.Navigate(t, hall+"cases/"+caseID)
	b.WaitText(t, "#error-code", "case_not_found")
	b.Navigate(t, hall+"cases/"+caseID+"/files/premises_proof")
	b.WaitText(t, "#error-code", "not_found")
	fits("11-not-yours")
	if errs := b.JSErrors(); len(errs) > 0 {
		t.Errorf("JavaScript errors: %v", errs)
	}
}
