package web

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"govx/consent"
	"govx/exchange/ledger"
	"govx/internal/workday"
)

// The data subject's access view: a resident (or a company), signed in as
// themselves, sees every access to their data the ledger recorded — which
// department, what, why, and whether data was sent — as a timeline and as
// a list. It is the page of GET /v1/subjects/{subject}/accesses, under the
// same rule (consent.SubjectOnly).

// Accesses lists the accesses to a data subject's data, newest first;
// *ledger.Ledger is one.
type Accesses interface {
	Accesses(ctx context.Context, subject string, before int64, limit int) ([]ledger.SubjectAccess, error)
}

var _ Accesses = (*ledger.Ledger)(nil)

// accessesShown is how many accesses the page shows, newest first.
const accessesShown = 200

type accessesData struct {
	Subject  string
	Accesses []ledger.SubjectAccess
	Timeline template.HTML
	More     bool // there are older accesses than those shown
}

func (ui *UI) routeAccesses() {
	ui.handle("GET /accesses", []string{consent.RoleCitizen, consent.RoleLegalPerson}, http.HandlerFunc(ui.accessesPage))
}

func (ui *UI) accessesPage(w http.ResponseWriter, r *http.Request) {
	u, lang := ui.user(r), ui.lang(r)
	if err := consent.SubjectOnly(u, u.Subject); err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	list, err := ui.cfg.Accesses.Accesses(r.Context(), u.Subject, 0, accessesShown+1)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	d := accessesData{Subject: u.Subject, Accesses: list}
	if len(list) > accessesShown {
		d.Accesses, d.More = list[:accessesShown], true
	}
	if len(d.Accesses) > 0 {
		d.Timeline = ui.accessTimeline(d.Accesses, lang, ui.now()).SVG()
	}
	ui.render(w, r, http.StatusOK, "accesses", d)
}

// now is the time of the case workflow's clock when there is one.
func (ui *UI) now() time.Time {
	if ui.cfg.Cases != nil {
		return ui.cfg.Cases.Now()
	}
	return time.Now()
}

// accessTimeline draws accesses (newest first) on a track per department,
// from the oldest to now.
func (ui *UI) accessTimeline(accesses []ledger.SubjectAccess, lang string, now time.Time) timeline {
	t := func(key string, args ...any) string { return ui.msgs.text(lang, key, args...) }
	tl := timeline{ID: "chart-accesses", From: accesses[len(accesses)-1].At, To: now}
	if tl.To.Before(accesses[0].At) {
		tl.To = accesses[0].At
	}
	rows := map[string]int{}
	sent := 0
	for _, a := range accesses {
		if _, ok := rows[a.Consumer]; !ok {
			rows[a.Consumer] = len(tl.Rows)
			tl.Rows = append(tl.Rows, a.Consumer)
		}
		if a.Outcome == ledger.Released || a.Outcome == ledger.Answered {
			sent++
		}
		tl.Events = append(tl.Events, timelineEvent{Row: rows[a.Consumer], At: a.At, Class: "o-" + a.Outcome,
			Title: datetime(a.At) + " · " + a.Consumer + " · " + a.Resource + " · " + ui.label(lang, "outcome.", a.Outcome)})
	}
	// Departments in the order of their first access, oldest first.
	slices.Reverse(tl.Rows)
	for i := range tl.Events {
		tl.Events[i].Row = len(tl.Rows) - 1 - tl.Events[i].Row
	}
	tl.FromText, tl.ToText = datetime(tl.From), datetime(tl.To)
	tl.Title = t("accesses.timeline.title")
	tl.Desc = t("accesses.timeline.desc", len(accesses), len(tl.Rows), sent, len(accesses)-sent,
		workday.Date(tl.From), workday.Date(tl.To), strings.Join(tl.Rows, ", "))
	return tl
}
