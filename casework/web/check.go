package web

import (
	"net/http"
	"strings"

	"govx"
)

// The check page is the smallest complete page: a form with both kinds of
// validated field, server-side re-validation, inline errors and a flash
// after POST-redirect-GET. Copy it when adding a page.

type checkData struct {
	IDNumber, USCC string
	Errs           fieldErrors
}

func (ui *UI) home(w http.ResponseWriter, r *http.Request) {
	if page := homeOf(ui.user(r).Role); page != "" && ui.cfg.Cases != nil {
		ui.redirect(w, r, ui.url(page))
		return
	}
	ui.render(w, r, http.StatusOK, "home", nil)
}

func (ui *UI) checkPage(w http.ResponseWriter, r *http.Request) {
	ui.render(w, r, http.StatusOK, "check", checkData{})
}

func (ui *UI) checkSubmit(w http.ResponseWriter, r *http.Request) {
	// What a Chinese input method types (full-width digits and letters,
	// a lowercase x) is brought to the standard form first, and the answer
	// says so.
	id, idChanged := normalised(r.PostFormValue("id_number"))
	uscc, usccChanged := normalised(r.PostFormValue("uscc"))
	d := checkData{IDNumber: id, USCC: uscc, Errs: fieldErrors{}}
	if _, err := ui.formID(r); err != nil {
		d.Errs["form"] = err
	}
	if d.IDNumber == "" && d.USCC == "" {
		d.Errs["form"] = govx.Errorf(govx.KindInvalid, "check_empty", "enter an ID number, a unified social credit code or both")
	}
	if d.IDNumber != "" {
		if err := govx.ValidateIDNumber(d.IDNumber); err != nil {
			d.Errs["id_number"] = err
		}
	}
	if d.USCC != "" {
		if err := govx.ValidateUSCC(d.USCC); err != nil {
			d.Errs["uscc"] = err
		}
	}
	if len(d.Errs) > 0 {
		ui.render(w, r, http.StatusUnprocessableEntity, "check", d)
		return
	}
	key := "flash.check_ok"
	if idChanged || usccChanged {
		key = "flash.check_ok_normalised"
	}
	ui.setFlash(w, flash{Kind: "ok", Key: key, Args: []string{orDash(maskIDNumber(d.IDNumber)), orDash(d.USCC)}})
	ui.redirect(w, r, ui.url("check"))
}

// maskIDNumber keeps the division code and the last four characters of an
// ID number: enough for the clerk to recognise it, not enough to leak it
// from a screen or a cookie.
func maskIDNumber(s string) string {
	if len(s) != govx.IDNumberLen {
		return s
	}
	return s[:6] + strings.Repeat("*", 8) + s[14:]
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
