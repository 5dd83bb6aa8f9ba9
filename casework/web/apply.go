package web

import (
	"net/http"

	"govx/casework"
)

// Applying online: the applicant picks an item of their kind.

func (ui *UI) routeApply() {
	ui.handle("GET /apply", applicants, http.HandlerFunc(ui.applyPage))
}

// kindOf is the applicant kind of a signed-in applicant's role.
func kindOf(role string) string {
	if role == "legal_person" {
		return casework.Company
	}
	return casework.Person
}

func (ui *UI) applyPage(w http.ResponseWriter, r *http.Request) {
	u, lang := ui.user(r), ui.lang(r)
	var gs []guide
	for _, it := range ui.cfg.Cases.Items().All() {
		if it.Applicant == kindOf(u.Role) && it.DecidedAt == "" {
			gs = append(gs, ui.guideOf(it, lang))
		}
	}
	ui.render(w, r, http.StatusOK, "apply", gs)
}
