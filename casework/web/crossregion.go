package web

import (
	"net/http"

	"govx/casework"
	"govx/internal/auth"
)

// The window's side of cross-region cases (casework/crossregion.go): the
// case page shows where the case is decided and how it stands there, and
// the clerk sends a submission that failed again.

func (ui *UI) routeCrossRegion(clerk []string) {
	ui.handle("POST /cases/{id}/submit", clerk, http.HandlerFunc(ui.submitCase))
}

// canSubmit reports whether user u may send case c to the node that
// decides it again: the window's clerk, once it is accepted, until it is
// taken there.
func canSubmit(u *auth.Claims, c *casework.Case) bool {
	return u.Role == RoleClerk && c.IntakeDept == u.Dept && c.Remote != nil && !c.Remote.Submitted() && c.Status != casework.Draft
}

func (ui *UI) submitCase(w http.ResponseWriter, r *http.Request) {
	f := &caseForm{name: "submit"}
	if _, err := ui.changeInput(r); err != nil {
		ui.changed(w, r, f, nil, err, "")
		return
	}
	c, err := ui.cfg.Cases.Submit(r.Context(), ui.user(r), r.PathValue("id"))
	ui.changed(w, r, f, c, err, "flash.case_submitted")
}
