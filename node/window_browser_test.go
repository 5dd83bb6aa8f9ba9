package node_test

import (
	"strings"
	"testing"
	"time"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/consent"
	"govx/internal/auth"
	"govx/internal/browsertest"
	"govx/node"

	"github.com/chromedp/chromedp"
)

// TestBrowserWindowRenewal walks a food business licence renewal through
// the real program in a real Chromium: the clerk takes it in (the inline
// checks catch a mistyped code first), the exchange verifies three
// materials, the clerk accepts with a commitment, the market regulation
// reviewer approves, a new licence is issued, the clerk hands it out, and
// the applicant looks the case up and rates it. Every step is
// screenshotted.
func TestBrowserWindowRenewal(t *testing.T) {
	m, d := runCaseSystem(t)
	b := browsertest.New(t)
	t.Logf("screenshots in %s", b.ArtifactsDir())
	ui := m.URL() + "/ui/"

	signIn := func(sel, who string) {
		t.Helper()
		b.Navigate(t, ui+"login")
		b.Click(t, sel)
		b.WaitText(t, "#who", who)
	}
	signOut := func() {
		t.Helper()
		b.Click(t, "#logout")
		b.WaitText(t, "#flash", "您已退出登录")
	}

	// The clerk signs in and lands on intake.
	signIn(`button[data-role="clerk"]`, "clerk:window-1")
	b.WaitText(t, "h1", "窗口受理")
	b.WaitText(t, "#item-food-business-renewal", "《食品经营许可和备案管理办法》第三十一条")
	b.Screenshot(t, "01-intake")

	b.Click(t, "#new-food-business-renewal")
	b.WaitText(t, "h1", "食品经营许可（延续）")
	// One wrong character first: the inline check says so at once.
	uscc := d.company.USCC
	wrong := uscc[:17] + map[bool]string{true: "1", false: "0"}[uscc[17] == '0']
	b.Fill(t, "#uscc", wrong)
	b.WaitText(t, "#uscc-error", "校验位有误")
	b.Fill(t, "#rep_id_number", d.company.RepresentativeID[:5]+"A")
	b.WaitText(t, "#rep_id_number-error", "第 6 位应为数字")
	b.Screenshot(t, "02-inline-errors")
	b.Fill(t, "#uscc", uscc)
	b.Fill(t, "#rep_id_number", d.company.RepresentativeID)
	if got := b.Text(t, "#uscc-error") + b.Text(t, "#rep_id_number-error"); got != "" {
		t.Errorf("errors still shown after the fix: %q", got)
	}
	b.Fill(t, "#company", d.company.Name)
	b.Fill(t, "#rep_name", d.company.LegalRepresentative)
	b.Fill(t, "#licence_number", d.licence.Number)
	b.Fill(t, "#phone", "13800138000")
	b.Screenshot(t, "03-intake-form")
	b.Click(t, "#open-submit")

	// The case page: three materials verified through the exchange.
	b.WaitText(t, "#flash", "材料已通过数据共享交换核验")
	caseID := b.Text(t, "#case-id")
	if !strings.HasPrefix(caseID, "GX") {
		t.Fatalf("case number %q", caseID)
	}
	for code, provider := range map[string]string{"company_registration": legalentity.Department,
		"representative_identity": "population", "current_licence": licence.Department} {
		b.WaitText(t, "#material-"+code, "已核验")
		b.WaitText(t, "#material-"+code, "数据提供方："+provider)
	}
	b.WaitText(t, "#seal-current_licence", "☑ 电子印章有效")
	b.WaitText(t, "#case-status", "待受理")
	b.Screenshot(t, "04-verified")

	// Accept with the self-inspection report as a written commitment.
	b.Click(t, "#choice-self_inspection-committed")
	b.Click(t, "#accept-submit")
	b.WaitText(t, "#flash", "已受理")
	b.WaitText(t, "#case-status", "审查中")
	b.WaitText(t, "#material-self_inspection", "告知承诺")
	b.WaitText(t, "#deadline", "剩余")
	b.Screenshot(t, "05-accepted")
	signOut()

	// The market regulation reviewer finds it in the queue and approves.
	signIn(`button[data-dept="market-regulation"]`, "reviewer:market-regulation")
	b.WaitText(t, "#queue", caseID)
	b.Screenshot(t, "06-review-queue")
	b.Click(t, `#row-`+caseID+` a`)
	b.WaitText(t, "#decide", "审查决定")
	b.Click(t, "#decision-approve")
	b.Screenshot(t, "07-decision")
	b.Click(t, "#review-submit")
	b.WaitText(t, "#flash", "审查决定已记录")
	b.WaitText(t, "#case-status", "已办结，待领取")
	number := b.Text(t, "#result-number")
	if number == "" || number == d.licence.Number {
		t.Fatalf("issued licence number %q (the old one is %s)", number, d.licence.Number)
	}
	b.Screenshot(t, "08-ready")
	signOut()

	// The clerk hands the result out.
	signIn(`button[data-role="clerk"]`, "clerk:window-1")
	b.Navigate(t, ui+"cases/"+caseID)
	b.WaitText(t, "#result-number", number)
	b.Click(t, "#deliver-submit")
	b.WaitText(t, "#flash", "结果已发放")
	b.WaitText(t, "#case-status", "已送达")
	b.Screenshot(t, "09-delivered")
	signOut()

	// The applicant looks the case up and rates it.
	b.Navigate(t, ui+"progress")
	b.Fill(t, "#case_id", caseID)
	b.Fill(t, "#last4", uscc[14:])
	b.Click(t, "#progress-submit")
	b.WaitText(t, "#progress-status", "已送达")
	timeline := b.WaitText(t, "#timeline", "送达")
	for _, step := range []string{"申请", "受理", "审查", "批准", "制证", "market-regulation"} {
		if !strings.Contains(timeline, step) {
			t.Errorf("timeline lacks %q: %s", step, timeline)
		}
	}
	for _, secret := range []string{uscc, d.company.Name, d.company.RepresentativeID, "clerk:"} {
		if strings.Contains(b.Text(t, "main"), secret) {
			t.Errorf("the public page shows %q", secret)
		}
	}
	b.Screenshot(t, "10-progress")
	b.Click(t, "#score-5")
	b.Fill(t, "#comment", "不用跑腿，很方便")
	b.Click(t, "#rate-submit")
	b.WaitText(t, "#rated", "评价已提交")
	b.WaitText(t, "#timeline", "评价")
	b.Screenshot(t, "11-rated")

	// The supervisor's charts, on a phone: drawn on the server, they fit
	// 375 px without scrolling sideways, and say what they show in words.
	signIn(`button[data-role="supervisor"]`, "supervisor:service-center")
	b.Do(t, chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
	for _, lang := range []string{"en", "zh"} { // Chinese last: the language stays for what follows
		b.Navigate(t, ui+"supervision?lang="+lang)
		b.WaitText(t, "#charts", map[string]string{"zh": "评价分布", "en": "Ratings"}[lang])
		b.WaitText(t, "#chart-ratings figcaption", map[string]string{"zh": "共 1 条评价，平均 5.0 分", "en": "1 ratings, 5.0 on average"}[lang])
		fit := browsertest.Eval[map[string]float64](t, b, `(function(){
			var r = {page: document.documentElement.scrollWidth, view: window.innerWidth, charts: 0, widest: 0, bars: 0, five: -1};
			document.querySelectorAll("figure.chart svg").forEach(function (s) {
				r.charts++; r.widest = Math.max(r.widest, s.getBoundingClientRect().right);
			});
			r.bars = document.querySelectorAll("#chart-days rect.bar").length;
			var five = document.querySelectorAll("#chart-ratings rect.bar")[4];
			if (five) r.five = Number(five.getAttribute("data-value"));
			return r;
		})()`)
		if fit["charts"] != 4 || fit["page"] > fit["view"] || fit["widest"] > fit["view"] || fit["view"] != 375 {
			t.Errorf("%s: charts on a 375 px phone: %v (page and charts must be no wider than the view)", lang, fit)
		}
		if n := fit["bars"]; n < 30 || int(n)%2 != 0 || fit["five"] != 1 {
			t.Errorf("%s: %v bars for the days (want two per working day), the 5 ★ bar says %v (want 1)", lang, n, fit["five"])
		}
		b.Screenshot(t, "12-supervision-charts-phone-"+lang)
	}
	signOut()

	// The legal representative, signed in as themselves, sees on the
	// phone who accessed their data: the window, for this case.
	tok, err := m.Key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: d.company.RepresentativeID,
		Role: consent.RoleCitizen, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b.Navigate(t, ui+"login?next=/ui/accesses")
	b.Fill(t, "#token", tok)
	b.Click(t, "#token-form button[type=submit]")
	b.WaitText(t, "h1", "我的数据访问记录")
	b.WaitText(t, "#chart-accesses figcaption", "service-center")
	b.WaitText(t, "#accesses", "case:"+caseID)
	fit := browsertest.Eval[map[string]float64](t, b, `({page: document.documentElement.scrollWidth, view: window.innerWidth,
		dots: document.querySelectorAll("#chart-accesses circle.dot").length,
		right: document.querySelector("#chart-accesses svg").getBoundingClientRect().right})`)
	if fit["dots"] < 1 || fit["page"] > fit["view"] || fit["right"] > fit["view"] {
		t.Errorf("the access timeline on a 375 px phone: %v", fit)
	}
	b.Screenshot(t, "13-accesses-phone")
	if errs := b.JSErrors(); len(errs) > 0 {
		t.Errorf("JavaScript errors: %v", errs)
	}
}
