package node_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/casework/wallet"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/browsertest"
	"govx/node"
	"govx/node/nodetest"
)

// A company signs in to the hall, opens its wallet, sees its licences
// with seals checked, takes one's verification code to the public page,
// which names no holder, and finds the wallet's fetches in My data with a
// proof that checks; on a 375 px phone nothing scrolls sideways, in
// Chinese and English.
func TestBrowserHallWallet(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.DemoIdP = true
	cfg.Adapters = []string{population.Department, legalentity.Department, licence.Department}
	m := nodetest.Start(t, cfg)
	var company string
	for _, u := range node.DemoIdPUsers(cfg.Residents, time.Now()) {
		if u.Role == "legal_person" {
			company = u.Subject
			break
		}
	}
	if company == "" {
		t.Fatal("the demo identity provider offers no company")
	}
	var name string
	if err := m.Pool.QueryRow(context.Background(), `SELECT holder_name FROM licence.licences WHERE holder_code = $1 LIMIT 1`, company).Scan(&name); err != nil {
		t.Fatal(err)
	}

	b := browsertest.New(t)
	t.Logf("screenshots in %s", b.ArtifactsDir())
	hall := m.URL() + "/hall/"
	b.Do(t, chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile))
	fits := func(page string) {
		t.Helper()
		fit := browsertest.Eval[map[string]float64](t, b, `({page: document.documentElement.scrollWidth, view: window.innerWidth})`)
		if fit["page"] > fit["view"] || fit["view"] != 375 {
			t.Errorf("%s on a 375 px phone: %v (the page must be no wider than the view)", page, fit)
		}
	}

	b.Navigate(t, hall+"login/start?next=/hall/wallet")
	b.Click(t, `button[data-subject="`+company+`"]`)
	b.WaitText(t, "#who-subject", company[:4])
	b.Navigate(t, hall+"wallet")
	b.WaitText(t, "h1", "电子证照")
	b.WaitText(t, "#wallet-closed", "开通")
	fits("the closed wallet")
	b.Click(t, "#wallet-open")
	b.WaitText(t, "#flash", "已开通")
	b.WaitText(t, "#wallet-cards", "电子印章有效")
	fits("the wallet")
	b.Screenshot(t, "wallet-phone-zh")
	code := browsertest.Eval[string](t, b, `document.querySelector(".licence-card").id.slice(5)`)
	if _, ok := wallet.NormaliseCode(code); !ok {
		t.Fatalf("card code %q", code)
	}
	if src, _ := b.Attr(t, ".licence-card img", "src"); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Errorf("QR image %.40q", src)
	}

	// The public page: a visitor's view, in both languages.
	for _, lang := range []string{"zh", "en"} {
		b.Navigate(t, hall+"verify/"+code+"?lang="+lang)
		want := map[string]string{"zh": "真实有效", "en": "Genuine and valid"}[lang]
		b.WaitText(t, "#verify-verdict", want)
		fits("the verification page (" + lang + ")")
		b.Screenshot(t, "verify-phone-"+lang)
		// The header names who is signed in; the page itself, and the
		// page as a visitor without a session gets it, name no holder.
		main := browsertest.Eval[string](t, b, `document.querySelector("main").outerHTML`)
		resp, err := http.Get(hall + "verify/" + code + "?lang=" + lang)
		if err != nil {
			t.Fatal(err)
		}
		visitor, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(visitor), want) {
			t.Errorf("a visitor's verification page (%s): %d", lang, resp.StatusCode)
		}
		for _, personal := range []string{name, company} {
			if strings.Contains(main, personal) || strings.Contains(string(visitor), personal) {
				t.Errorf("the verification page (%s) shows %q", lang, personal)
			}
		}
	}
	b.Navigate(t, hall+"verify/ZZZZZ-ZZZZZ?lang=en")
	b.WaitText(t, "#verify-verdict", "Cannot be verified")
	b.Navigate(t, hall+"verify?lang=zh")

	// My data: the wallet's consent and its fetches, each with a proof.
	b.Navigate(t, hall+"mydata")
	b.WaitText(t, "#consents", "Wallet of the online service hall")
	fits("My data")
	b.Screenshot(t, "mydata-phone-zh")
	href, ok := b.Attr(t, `#access-list a[download]`, "href")
	if !ok {
		t.Fatal("no proof link")
	}
	b.Do(t, chromedp.EmulateViewport(1280, 900))
	b.Navigate(t, hall+"wallet?lang=en")
	b.WaitText(t, "#wallet-cards", "Seal valid")
	b.Screenshot(t, "wallet-desktop-en")

	// The proof link answers the company's own proof (fetched with its
	// session's token: the same rule as the API).
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: company, Role: "legal_person", Dept: "-"})
	reqID := href[strings.LastIndex(href, "/")+1:]
	req, _ := http.NewRequest("GET", m.URL()+"/v1/subjects/"+company+"/accesses/"+reqID+"/proof", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		return // the chain holds others' accesses: TestWallet covers the proof
	}
	p, err := ledger.ParseProof(raw)
	if err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, raw, err)
	}
	if _, err := ledger.VerifyProof(p, auth.PublicKey(m.Key.Public)); err != nil {
		t.Fatal(err)
	}
}
