package web

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"govx"
	"govx/casework/wallet"
	"govx/consent"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/ratelimit"
)

// The hall's wallet (电子证照), My data (我的数据) and the public
// verification page of a wallet's codes. The rules live in package wallet
// (who may see which wallet and proof, what a verification shows); these
// pages only show what it answers.

// Wallet is the applicants' wallet; *wallet.Service is one.
type Wallet interface {
	Open(ctx context.Context, caller *auth.Claims, subject string) (*consent.Consent, error)
	Get(ctx context.Context, caller *auth.Claims, subject string) (*wallet.Wallet, error)
	Card(ctx context.Context, caller *auth.Claims, subject, code string) (*wallet.Card, error)
	Verify(ctx context.Context, code string) wallet.Verification
	VerifyURL(code string) string
}

// Proofs exports the proof of an access to the applicant's own data;
// *wallet.Proofs is one.
type Proofs interface {
	Proof(ctx context.Context, caller *auth.Claims, subject, requestID string) (*ledger.Proof, error)
}

// Consents lists and changes the applicant's consents; *consent.Store is
// one.
type Consents interface {
	OfSubject(ctx context.Context, subject string, limit int) ([]consent.Consent, error)
	Change(ctx context.Context, caller *auth.Claims, id, action, reason string, ifVersion int) (*consent.Consent, error)
}

// VerifyGuard limits public verifications per address; *wallet.Guard is
// one.
type VerifyGuard interface {
	Allow(ctx context.Context, r *http.Request) (time.Duration, error)
}

var (
	_ Wallet      = (*wallet.Service)(nil)
	_ Proofs      = (*wallet.Proofs)(nil)
	_ Consents    = (*consent.Store)(nil)
	_ VerifyGuard = (*wallet.Guard)(nil)
)

func (ui *UI) routeWallet() {
	if ui.cfg.Wallet == nil {
		return
	}
	ui.handle("GET /wallet", applicants, http.HandlerFunc(ui.walletPage))
	ui.handle("POST /wallet/open", applicants, http.HandlerFunc(ui.walletOpen))
	ui.handle("GET /wallet/{code}/pdf", applicants, http.HandlerFunc(ui.walletPDF))
	ui.handle("GET /verify", nil, http.HandlerFunc(ui.verifyPage))
	ui.handle("GET /verify/{code}", nil, http.HandlerFunc(ui.verifyPage))
	if ui.cfg.Accesses != nil && ui.cfg.Consents != nil && ui.cfg.Proofs != nil {
		ui.handle("GET /mydata", applicants, http.HandlerFunc(ui.myDataPage))
		ui.handle("GET /mydata/proofs/{request}", applicants, http.HandlerFunc(ui.proofDownload))
		ui.handle("POST /mydata/consents/{id}/{action}", applicants, http.HandlerFunc(ui.consentChange))
	}
}

// walletCard is a card as the wallet page shows it.
type walletCard struct {
	wallet.Card
	TypeName string
	QR       template.URL // data: URL of the QR code's PNG
	Shown    string       // the code in two groups
}

type walletData struct {
	Open   bool
	Paused bool
	Wallet *wallet.Wallet
	Cards  []walletCard
}

func (ui *UI) walletPage(w http.ResponseWriter, r *http.Request) {
	u, lang := ui.user(r), ui.lang(r)
	wl, err := ui.cfg.Wallet.Get(r.Context(), u, u.Subject)
	if govx.ErrorCode(err) == wallet.CodeWalletClosed {
		ui.render(w, r, http.StatusOK, "wallet", walletData{Paused: ui.walletPaused(r, u)})
		return
	}
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	d := walletData{Open: true, Wallet: wl}
	origin := wallet.Origin("", r)
	for _, c := range wl.Cards {
		png, err := wallet.QR(origin+c.VerifyURL, 256)
		if err != nil {
			ui.renderError(w, r, statusOf(err), err)
			return
		}
		name := wallet.TypeNames[c.Type]
		d.Cards = append(d.Cards, walletCard{Card: c, TypeName: pick(lang, name[1], name[0]), Shown: wallet.FormatCode(c.Code),
			QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))})
	}
	ui.render(w, r, http.StatusOK, "wallet", d)
}

// walletPaused reports whether the applicant's wallet consent is paused
// (rather than never given): the page then points to My data.
func (ui *UI) walletPaused(r *http.Request, u *auth.Claims) bool {
	if ui.cfg.Consents == nil {
		return false
	}
	cs, err := ui.cfg.Consents.OfSubject(r.Context(), u.Subject, 500)
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.PurposeCode == wallet.PurposeCode && c.Consumer == wallet.Consumer && c.Status == consent.Paused {
			return true
		}
	}
	return false
}

func (ui *UI) walletOpen(w http.ResponseWriter, r *http.Request) {
	u := ui.user(r)
	if _, err := ui.cfg.Wallet.Open(r.Context(), u, u.Subject); err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	ui.setFlash(w, flash{Kind: "ok", Key: "flash.wallet_opened"})
	ui.redirect(w, r, ui.url("wallet"))
}

func (ui *UI) walletPDF(w http.ResponseWriter, r *http.Request) {
	u := ui.user(r)
	card, err := ui.cfg.Wallet.Card(r.Context(), u, u.Subject, r.PathValue("code"))
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	wallet.WritePDF(w, ui.log, card, wallet.Origin("", r), time.Now())
}

type verifyData struct {
	Code     string // as asked, shown back
	Asked    bool
	Limited  bool // refused: too many verifications from the address
	Result   wallet.Verification
	TypeName string
}

// verifyPage is the public verification page: a form for a code, and the
// result for one. It shows what wallet.Verify answers and nothing else;
// every answer spends from the address's budget.
func (ui *UI) verifyPage(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if code == "" {
		if q := r.URL.Query().Get("code"); q != "" {
			if len(q) > 40 {
				q = q[:40]
			}
			ui.redirect(w, r, ui.url("verify/")+url.PathEscape(q))
			return
		}
		ui.render(w, r, http.StatusOK, "verify", verifyData{})
		return
	}
	if wait, err := ui.verifyGuard().Allow(r.Context(), r); err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, ratelimit.Seconds(wait))))
		ui.render(w, r, http.StatusTooManyRequests, "verify", verifyData{Limited: true})
		return
	}
	v := ui.cfg.Wallet.Verify(r.Context(), code)
	shown := code
	if n, ok := wallet.NormaliseCode(code); ok {
		shown = wallet.FormatCode(n)
	} else if len(shown) > 40 {
		shown = shown[:40]
	}
	d := verifyData{Code: shown, Asked: true, Result: v}
	if name, ok := wallet.TypeNames[v.Type]; ok {
		d.TypeName = pick(ui.lang(r), name[1], name[0])
	}
	ui.render(w, r, http.StatusOK, "verify", d)
}

func (ui *UI) verifyGuard() VerifyGuard {
	if ui.cfg.VerifyGuard != nil {
		return ui.cfg.VerifyGuard
	}
	return ui.localVerifyGuard
}

type myData struct {
	Subject  string
	Accesses []ledger.SubjectAccess
	Timeline template.HTML
	More     bool
	Consents []consent.Consent
}

// myDataShown is how many accesses My data shows, newest first.
const myDataShown = 200

func (ui *UI) myDataPage(w http.ResponseWriter, r *http.Request) {
	u, lang := ui.user(r), ui.lang(r)
	if err := consent.SubjectOnly(u, u.Subject); err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	list, err := ui.cfg.Accesses.Accesses(r.Context(), u.Subject, 0, myDataShown+1)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	cs, err := ui.cfg.Consents.OfSubject(r.Context(), u.Subject, 500)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	d := myData{Subject: u.Subject, Accesses: list, Consents: cs}
	if len(list) > myDataShown {
		d.Accesses, d.More = list[:myDataShown], true
	}
	if len(d.Accesses) > 0 {
		d.Timeline = ui.accessTimeline(d.Accesses, lang, ui.now()).SVG()
	}
	ui.render(w, r, http.StatusOK, "mydata", d)
}

func (ui *UI) proofDownload(w http.ResponseWriter, r *http.Request) {
	u := ui.user(r)
	p, err := ui.cfg.Proofs.Proof(r.Context(), u, u.Subject, r.PathValue("request"))
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	wallet.WriteProof(w, ui.log, p)
}

func (ui *UI) consentChange(w http.ResponseWriter, r *http.Request) {
	u := ui.user(r)
	action := r.PathValue("action")
	if action != consent.ActionRevoke && action != consent.ActionPause && action != consent.ActionResume {
		ui.notFound(w, r)
		return
	}
	c, err := ui.cfg.Consents.Change(r.Context(), u, r.PathValue("id"), action, "", 0)
	if err != nil {
		var ge *govx.Error
		if errors.As(err, &ge) && ge.Kind != govx.KindInternal && ge.Kind != govx.KindUnavailable {
			ui.setFlash(w, flash{Kind: "error", Key: "flash.consent_unchanged", Args: []string{govx.ErrorCode(err)}})
			ui.redirect(w, r, ui.url("mydata")+"#consents")
			return
		}
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	done := map[string]string{consent.ActionPause: "flash.consent_pause", consent.ActionResume: "flash.consent_resume",
		consent.ActionRevoke: "flash.consent_revoke"}
	ui.setFlash(w, flash{Kind: "ok", Key: done[action], Args: []string{c.ID}})
	ui.redirect(w, r, ui.url("mydata")+"#consent-"+c.ID)
}
