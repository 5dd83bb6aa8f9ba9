package web

import (
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"govx"
	"govx/adapters/licence"
	"govx/casework"
	"govx/casework/wallet"
	"govx/catalog"
	"govx/consent"
	"govx/exchange/ledger"
	"govx/internal/httpx"
	"govx/internal/ratelimit"
)

// The case pages: intake and the case page for the window clerk, the
// review queue for a department's reviewer, supervision, and the public
// progress lookup. They hold no case logic: every change is one call of
// casework.Service with the session's claims, and what it refuses is shown
// next to the form that asked, with what the user typed.

func (ui *UI) routeCases() {
	clerk, reviewer, supervisor := []string{RoleClerk}, []string{RoleReviewer}, []string{RoleSupervisor}
	ui.handle("GET /intake", clerk, http.HandlerFunc(ui.intakePage))
	ui.handle("GET /cases/new", clerk, http.HandlerFunc(ui.newCasePage))
	ui.handle("POST /cases", clerk, http.HandlerFunc(ui.openCase))
	ui.handle("GET /cases/{id}", staff, http.HandlerFunc(ui.casePage))
	ui.handle("POST /cases/{id}/verify", clerk, http.HandlerFunc(ui.verifyCase))
	ui.handle("POST /cases/{id}/accept", clerk, http.HandlerFunc(ui.acceptCase))
	ui.handle("POST /cases/{id}/supplied", clerk, http.HandlerFunc(ui.suppliedCase))
	ui.handle("POST /cases/{id}/deliver", clerk, http.HandlerFunc(ui.deliverCase))
	ui.handle("POST /cases/{id}/review", reviewer, http.HandlerFunc(ui.reviewCase))
	ui.handle("POST /cases/{id}/prereview", reviewer, http.HandlerFunc(ui.prereviewCase))
	ui.handle("GET /cases/{id}/materials/{code}/file", reviewer, http.HandlerFunc(ui.caseFile))
	ui.handle("GET /review", reviewer, http.HandlerFunc(ui.reviewPage))
	ui.handle("GET /supervision", supervisor, http.HandlerFunc(ui.supervisionPage))
	ui.handle("GET /progress", nil, http.HandlerFunc(ui.progressPage))
	ui.handle("POST /progress", nil, http.HandlerFunc(ui.progressLookup))
	ui.handle("POST /progress/rate", nil, http.HandlerFunc(ui.progressRate))
	ui.routeCrossRegion(clerk)
}

// homeOf is the page a role starts on.
func homeOf(role string) string {
	switch role {
	case RoleClerk:
		return "intake"
	case RoleReviewer:
		return "review"
	case RoleSupervisor:
		return "supervision"
	}
	return ""
}

// statusOf is the HTTP status of an error the service returned: the
// kind's status, and 422 for invalid input a form can correct.
func statusOf(err error) int {
	if govx.ErrorKind(err) == govx.KindInvalid {
		return http.StatusUnprocessableEntity
	}
	return httpx.StatusOf(err)
}

// Views. Names and labels are picked in the page's language here, so that
// templates stay plain.

type materialSpecView struct {
	Code, Name, Source string
	Commitment         bool
	Optional           bool
}

type itemView struct {
	Code, Name, LegalBasis string
	Applicant              string
	Promised, Statutory    int
	NeedsLicenceNumber     bool
	Departments            []string
	Materials              []materialSpecView
}

func newItemView(it *casework.Item, lang string) itemView {
	v := itemView{Code: it.Code, Name: pick(lang, it.Name, it.NameEN), LegalBasis: it.LegalBasis, Applicant: it.Applicant,
		Promised: it.Promised, Statutory: it.Statutory, NeedsLicenceNumber: it.NeedsLicenceNumber, Departments: it.Departments}
	for _, m := range it.Materials {
		v.Materials = append(v.Materials, materialSpecView{Code: m.Code, Name: pick(lang, m.Name, m.NameEN), Source: m.Source,
			Commitment: m.Commitment, Optional: m.Optional})
	}
	return v
}

func pick(lang, zh, en string) string {
	if lang == LangEn && en != "" {
		return en
	}
	return zh
}

// caseRow is a case in a list.
type caseRow struct {
	ID, Item, Applicant string
	Status              casework.Status
	Colour              string
	Accepted, Due       *time.Time
	Remaining           int
	Flags               int
	Online              bool // applied for online
}

func (ui *UI) caseRows(cases []casework.Case, lang string) []caseRow {
	svc := ui.cfg.Cases
	now := svc.Now()
	out := make([]caseRow, 0, len(cases))
	for i := range cases {
		c := &cases[i]
		row := caseRow{ID: c.ID, Item: c.Item, Applicant: applicantName(c), Status: c.Status,
			Colour: svc.Clock().Colour(c, now), Accepted: c.AcceptedAt, Due: c.Due, Flags: len(c.Flags), Online: c.IsOnline()}
		if it, err := svc.Items().Item(c.Item); err == nil {
			row.Item = pick(lang, it.Name, it.NameEN)
		}
		if c.Due != nil {
			row.Remaining = svc.Clock().Remaining(c, now)
		}
		out = append(out, row)
	}
	return out
}

func applicantName(c *casework.Case) string {
	if c.Applicant.Kind == casework.Company {
		return c.Applicant.Company
	}
	return c.Applicant.Name
}

// Intake.

type intakeData struct {
	Items []itemView
	Cases []caseRow
	Err   error
}

func (ui *UI) intakePage(w http.ResponseWriter, r *http.Request) {
	u, lang := ui.user(r), ui.lang(r)
	svc := ui.cfg.Cases
	d := intakeData{}
	for _, it := range svc.Items().TakenBy(u.Dept) {
		d.Items = append(d.Items, newItemView(&it, lang))
	}
	cases, err := svc.List(r.Context(), u, casework.Filter{Limit: 50})
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	d.Cases = ui.caseRows(cases, lang)
	ui.render(w, r, http.StatusOK, "intake", d)
}

// newCaseData is the intake form of an item.
type newCaseData struct {
	Item   itemView
	Person bool
	In     openForm
	Errs   fieldErrors
}

// openForm is what the clerk typed into the intake form.
type openForm struct {
	Item, IDNumber, Name, USCC, Company, RepIDNumber, RepName, LicenceNumber, Phone, Note string
}

func readOpenForm(r *http.Request) openForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	// Codes typed with a Chinese input method (full-width, lowercase x)
	// are brought to the standard form before they are checked.
	code := func(k string) string { return normaliseCode(r.PostFormValue(k)) }
	return openForm{Item: v("item"), IDNumber: code("id_number"), Name: v("name"), USCC: code("uscc"), Company: v("company"),
		RepIDNumber: code("rep_id_number"), RepName: v("rep_name"), LicenceNumber: v("licence_number"), Phone: v("phone"),
		Note: strings.TrimSpace(r.PostFormValue("note"))}
}

func (ui *UI) newCasePage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("item")
	ui.renderNewCase(w, r, http.StatusOK, openForm{Item: code}, fieldErrors{})
}

// renderNewCase shows the intake form of in.Item, with errs.
func (ui *UI) renderNewCase(w http.ResponseWriter, r *http.Request, status int, in openForm, errs fieldErrors) {
	u := ui.user(r)
	it, err := ui.cfg.Cases.Items().Item(in.Item)
	if err == nil && !contains(it.IntakeDepts, u.Dept) {
		err = govx.Errorf(govx.KindForbidden, "item_not_handled", "%s is not taken in at a window of %s", it.Name, u.Dept)
	}
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	ui.render(w, r, status, "case_new", newCaseData{Item: newItemView(it, ui.lang(r)), Person: it.Applicant == casework.Person,
		In: in, Errs: errs})
}

func (ui *UI) openCase(w http.ResponseWriter, r *http.Request) {
	in := readOpenForm(r)
	errs := fieldErrors{}
	formID, err := ui.formID(r)
	if err != nil {
		errs["form"] = err
	}
	it, err := ui.cfg.Cases.Items().Item(in.Item)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	// Each identifier is checked here too, so that its error stands next
	// to its field; the service checks them all again.
	check := func(field, value string, validate func(string) error) {
		if err := validate(value); err != nil {
			errs[field] = err
		}
	}
	party := casework.Party{Kind: it.Applicant, Phone: in.Phone}
	if it.Applicant == casework.Person {
		check("id_number", in.IDNumber, govx.ValidateIDNumber)
		party.IDNumber, party.Name = in.IDNumber, in.Name
	} else {
		check("uscc", in.USCC, govx.ValidateUSCC)
		check("rep_id_number", in.RepIDNumber, govx.ValidateIDNumber)
		party.USCC, party.Company, party.RepIDNumber, party.RepName = in.USCC, in.Company, in.RepIDNumber, in.RepName
	}
	if len(errs) > 0 {
		ui.renderNewCase(w, r, http.StatusUnprocessableEntity, in, errs)
		return
	}
	c, err := ui.cfg.Cases.Open(r.Context(), ui.user(r), casework.OpenInput{Item: in.Item, Applicant: party,
		LicenceNumber: in.LicenceNumber, Note: in.Note, FormID: formID})
	if err != nil && c != nil {
		// The case is written but its consents are not: it stays a draft
		// the clerk can take up again from its page.
		ui.log.Warn("web: case opened incompletely", "case", c.ID, "err", err)
		ui.setFlash(w, flash{Kind: "error", Key: "flash.case_open_incomplete", Args: []string{c.ID, govx.ErrorCode(err)}})
		ui.redirect(w, r, ui.url("cases/"+c.ID))
		return
	}
	if err != nil {
		ui.cfg.Refusals.Record(r.Context(), ui.user(r), "case.open", in.Item, err)
		switch govx.ErrorCode(err) {
		case casework.CodeLicenceNumberInvalid:
			errs["licence_number"] = err
		case casework.CodeNoteInvalid:
			errs["note"] = err
		case govx.CodeInvalidIDNumber:
			if it.Applicant == casework.Person {
				errs["id_number"] = err
			} else {
				errs["rep_id_number"] = err
			}
		case govx.CodeInvalidUSCC:
			errs["uscc"] = err
		default:
			errs["form"] = err
		}
		if govx.ErrorKind(err) == govx.KindInternal {
			ui.renderError(w, r, http.StatusInternalServerError, err)
			return
		}
		ui.renderNewCase(w, r, statusOf(err), in, errs)
		return
	}
	ui.setFlash(w, flash{Kind: "ok", Key: "flash.case_opened", Args: []string{c.ID}})
	ui.redirect(w, r, ui.url("cases/"+c.ID))
}

// The case page.

// fact is one data item of a register record on the case page: its name
// and value as the register sent them, and their labels in the page's
// language from the catalogue.
type fact struct {
	Key, Label   string
	Value, Shown string
}

type materialView struct {
	casework.Material
	Name, Source string
	Commitment   bool
	Optional     bool
	Facts        []fact
	Choice       string // the clerk's choice in the acceptance form
	// Returned: the reviewer's note for it in a refused pre-review form.
	Returned bool
	Note     string
}

type caseData struct {
	Case      *casework.Case
	Item      itemView
	Colour    string
	Remaining int
	Materials []materialView
	Uploads   []materialView // the uploaded materials the acceptance form asks about
	Blockers  []string
	History   []casework.Entry

	// Forms on the page, by status and role.
	CanVerify, CanAccept, CanSupplied, CanDeliver bool
	CanSubmit                                     bool             // again, to the node that decides it
	MyReview                                      *casework.Review // the reviewer's department's pending review
	// CanPrereview: the reviewer's department pre-reviews this submitted
	// online case; ReturnNote is a refused return form's note.
	CanPrereview bool
	ReturnNote   string
	// FileLinks: the reviewer may download the applicant's files.
	FileLinks bool

	// A refused form: which one, why, and what was chosen in it.
	ErrForm  string
	Err      error
	Decision string
	Reason   string
}

// caseForm is what a change form posted, re-shown when it is refused.
type caseForm struct {
	name     string
	err      error
	choices  map[string]string
	decision string
	reason   string
	// A refused pre-review return: the materials ticked, their notes, and
	// the note on the whole list.
	returned map[string]string
	note     string
}

func (ui *UI) casePage(w http.ResponseWriter, r *http.Request) {
	ui.showCase(w, r, http.StatusOK, nil)
}

// showCase renders the case of the request's path; f, when not nil, is a
// refused form to show again with its error.
func (ui *UI) showCase(w http.ResponseWriter, r *http.Request, status int, f *caseForm) {
	svc, u, lang := ui.cfg.Cases, ui.user(r), ui.lang(r)
	id := r.PathValue("id")
	c, err := svc.Get(r.Context(), u, id)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	it, err := svc.Items().Item(c.Item)
	if err != nil {
		ui.renderError(w, r, http.StatusInternalServerError, err)
		return
	}
	hist, err := svc.History(r.Context(), u, id)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	now := svc.Now()
	d := caseData{Case: c, Item: newItemView(it, lang), Colour: svc.Clock().Colour(c, now), Blockers: c.Blockers(it), History: hist}
	if c.Due != nil {
		d.Remaining = svc.Clock().Remaining(c, now)
	}
	resources := map[string]*catalog.Resource{} // this page's look-ups
	for _, m := range c.Materials {
		mv := materialView{Material: m, Name: m.Code}
		var res *catalog.Resource
		if spec := it.Material(m.Code); spec != nil {
			mv.Name, mv.Source = pick(lang, spec.Name, spec.NameEN), spec.Source
			mv.Commitment, mv.Optional = spec.Commitment, spec.Optional
			if len(m.Facts) > 0 && spec.Resource != "" {
				res = ui.resource(r, resources, spec.Resource)
			}
		}
		mv.Facts = factsOf(m.Facts, res, lang)
		mv.Choice = string(casework.ChoiceReceived)
		if f != nil && f.choices[m.Code] != "" {
			mv.Choice = f.choices[m.Code]
		}
		if f != nil && f.returned != nil {
			mv.Note, mv.Returned = f.returned[m.Code]
		}
		d.Materials = append(d.Materials, mv)
		if mv.Source == casework.FromUpload {
			d.Uploads = append(d.Uploads, mv)
		}
	}
	own := u.Role == RoleClerk && c.IntakeDept == u.Dept
	d.CanVerify = own && c.Status == casework.Draft
	d.CanAccept = own && c.Status == casework.Draft
	d.CanSupplied = own && (c.Status == casework.Supplement || (c.Status == casework.InReview && c.SupplementDue != nil))
	d.CanDeliver = own && (c.Status == casework.Ready || c.Status == casework.Rejected)
	d.CanSubmit = canSubmit(u, c)
	if u.Role == RoleReviewer && c.Status == casework.InReview {
		if rv := c.Review(u.Dept); rv != nil && rv.Status == casework.ReviewPending {
			d.MyReview = rv
		}
	}
	if u.Role == RoleReviewer && c.IsOnline() && c.Online != nil && c.Online.Dept == u.Dept {
		d.CanPrereview = c.Status == casework.Submitted
	}
	d.FileLinks = u.Role == RoleReviewer
	if f != nil {
		d.ErrForm, d.Err, d.Decision, d.Reason, d.ReturnNote = f.name, f.err, f.decision, f.reason, f.note
	}
	ui.render(w, r, status, "case", d)
}

// resource is the catalogue's entry of code, looked up once per page;
// nil when there is no catalogue or it does not answer, and the page then
// shows the register's own names.
func (ui *UI) resource(r *http.Request, seen map[string]*catalog.Resource, code string) *catalog.Resource {
	if ui.cfg.Resources == nil {
		return nil
	}
	if res, ok := seen[code]; ok {
		return res
	}
	res, err := ui.cfg.Resources.Resource(r.Context(), code)
	if err != nil {
		ui.log.Warn("web: no catalogue labels for the case page", "resource", code, "err", err)
		res = nil
	}
	seen[code] = res
	return res
}

// factsOf are a record's data items in the catalogue's order (then by
// name), labelled from res in lang.
func factsOf(facts map[string]string, res *catalog.Resource, lang string) []fact {
	keys := make([]string, 0, len(facts))
	for k := range facts {
		keys = append(keys, k)
	}
	order := func(k string) int {
		if res != nil {
			for i, f := range res.Fields {
				if f.Name == k {
					return i
				}
			}
		}
		return 1 << 30
	}
	sort.Slice(keys, func(i, j int) bool {
		if oi, oj := order(keys[i]), order(keys[j]); oi != oj {
			return oi < oj
		}
		return keys[i] < keys[j]
	})
	out := make([]fact, 0, len(keys))
	for _, k := range keys {
		f := fact{Key: k, Label: k, Value: facts[k], Shown: facts[k]}
		if res != nil {
			f.Label, f.Shown = res.FieldLabel(k, lang), res.ValueLabel(k, f.Value, lang)
		}
		out = append(out, f)
	}
	return out
}

// changeInput reads the version and form id every change form carries.
func (ui *UI) changeInput(r *http.Request) (casework.ChangeInput, error) {
	formID, err := ui.formID(r)
	if err != nil {
		return casework.ChangeInput{}, err
	}
	v, err := strconv.Atoi(r.PostFormValue("version"))
	if err != nil || v < 1 {
		return casework.ChangeInput{}, govx.Errorf(govx.KindInvalid, "version_invalid", "the form does not say which version of the case it was filled in on; reload the case")
	}
	return casework.ChangeInput{Version: v, FormID: formID}, nil
}

// changed finishes a change form: on success a flash and back to the
// case; on error the case again, with the form, its values and the error.
func (ui *UI) changed(w http.ResponseWriter, r *http.Request, f *caseForm, c *casework.Case, err error, ok string) {
	if err != nil {
		// Refused here as through the API: the same log, the same action names.
		ui.cfg.Refusals.Record(r.Context(), ui.user(r), "case."+f.name, r.PathValue("id"), err)
		if govx.ErrorKind(err) == govx.KindInternal {
			ui.renderError(w, r, http.StatusInternalServerError, err)
			return
		}
		f.err = err
		ui.showCase(w, r, statusOf(err), f)
		return
	}
	ui.setFlash(w, flash{Kind: "ok", Key: ok, Args: []string{c.ID}})
	ui.redirect(w, r, ui.url("cases/"+c.ID))
}

func (ui *UI) verifyCase(w http.ResponseWriter, r *http.Request) {
	f := &caseForm{name: "verify"}
	in, err := ui.changeInput(r)
	if err != nil {
		ui.changed(w, r, f, nil, err, "")
		return
	}
	c, err := ui.cfg.Cases.Verify(r.Context(), ui.user(r), r.PathValue("id"), in)
	ui.changed(w, r, f, c, err, "flash.case_verified")
}

func (ui *UI) acceptCase(w http.ResponseWriter, r *http.Request) {
	f := &caseForm{name: "accept", choices: map[string]string{}}
	choices := map[string]casework.Choice{}
	for k, vs := range r.PostForm {
		if code, ok := strings.CutPrefix(k, "choice."); ok && len(vs) > 0 {
			f.choices[code] = vs[0]
			choices[code] = casework.Choice(vs[0])
		}
	}
	in, err := ui.changeInput(r)
	if err != nil {
		ui.changed(w, r, f, nil, err, "")
		return
	}
	c, err := ui.cfg.Cases.Accept(r.Context(), ui.user(r), r.PathValue("id"), in, choices)
	ui.changed(w, r, f, c, err, "flash.case_accepted")
}

func (ui *UI) suppliedCase(w http.ResponseWriter, r *http.Request) {
	f := &caseForm{name: "supplied"}
	in, err := ui.changeInput(r)
	if err != nil {
		ui.changed(w, r, f, nil, err, "")
		return
	}
	c, err := ui.cfg.Cases.Supplied(r.Context(), ui.user(r), r.PathValue("id"), in)
	ui.changed(w, r, f, c, err, "flash.case_supplied")
}

func (ui *UI) deliverCase(w http.ResponseWriter, r *http.Request) {
	f := &caseForm{name: "deliver"}
	in, err := ui.changeInput(r)
	if err != nil {
		ui.changed(w, r, f, nil, err, "")
		return
	}
	c, err := ui.cfg.Cases.Deliver(r.Context(), ui.user(r), r.PathValue("id"), in)
	ui.changed(w, r, f, c, err, "flash.case_delivered")
}

func (ui *UI) reviewCase(w http.ResponseWriter, r *http.Request) {
	f := &caseForm{name: "review", decision: r.PostFormValue("decision"), reason: strings.TrimSpace(r.PostFormValue("reason"))}
	in, err := ui.changeInput(r)
	if err != nil {
		ui.changed(w, r, f, nil, err, "")
		return
	}
	switch casework.Decision(f.decision) {
	case casework.Approve, casework.Reject, casework.AskForSupplement:
	default:
		ui.changed(w, r, f, nil, govx.Errorf(govx.KindInvalid, "decision_invalid", "choose approve, reject or ask for supplements"), "")
		return
	}
	c, err := ui.cfg.Cases.Review(r.Context(), ui.user(r), r.PathValue("id"), in, casework.Decision(f.decision), f.reason)
	ui.changed(w, r, f, c, err, "flash.case_reviewed")
}

// prereviewCase records the pre-review of a submitted online case:
// accept, return with the list of materials ticked and their notes, or
// refuse with a reason.
func (ui *UI) prereviewCase(w http.ResponseWriter, r *http.Request) {
	f := &caseForm{name: "prereview", decision: r.PostFormValue("decision"), reason: strings.TrimSpace(r.PostFormValue("reason")),
		note: strings.TrimSpace(r.PostFormValue("note")), returned: map[string]string{}}
	var items []casework.Correction
	for _, code := range r.PostForm["return"] {
		note := strings.TrimSpace(r.PostFormValue("note." + code))
		f.returned[code] = note
		items = append(items, casework.Correction{Material: code, Note: note})
	}
	in, err := ui.changeInput(r)
	if err != nil {
		ui.changed(w, r, f, nil, err, "")
		return
	}
	svc, u, id := ui.cfg.Cases, ui.user(r), r.PathValue("id")
	var c *casework.Case
	switch f.decision {
	case "accept":
		c, err = svc.AcceptOnline(r.Context(), u, id, in)
	case "return":
		c, err = svc.ReturnOnline(r.Context(), u, id, in, casework.ReturnInput{Items: items, Note: f.note})
	case "refuse":
		c, err = svc.RefuseOnline(r.Context(), u, id, in, f.reason)
	default:
		err = govx.Errorf(govx.KindInvalid, "decision_invalid", "choose accept, return for corrections or refuse")
	}
	ui.changed(w, r, f, c, err, "flash.case_prereviewed")
}

// caseFile answers a file an online applicant uploaded, to a reviewer of
// the case.
func (ui *UI) caseFile(w http.ResponseWriter, r *http.Request) {
	f, err := ui.cfg.Cases.Download(r.Context(), ui.user(r), r.PathValue("id"), r.PathValue("code"))
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	casework.ServeFile(w, f)
}

// The reviewer's queue.

func (ui *UI) reviewPage(w http.ResponseWriter, r *http.Request) {
	cases, err := ui.cfg.Cases.Queue(r.Context(), ui.user(r))
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	ui.render(w, r, http.StatusOK, "review", ui.caseRows(cases, ui.lang(r)))
}

// Supervision.

// supervisionColours are the columns of the status × colour table.
var supervisionColours = []string{casework.Green, casework.Yellow, casework.Red, casework.Paused, casework.None}

type countRow struct {
	Status casework.Status
	Counts []int // by supervisionColours
	Total  int
}

type supervisionData struct {
	Colours []string
	Counts  []countRow
	Depts   []casework.DeptStats
	Yellow  []caseRow
	Red     []caseRow
	// Charts, drawn on the server (chart.go).
	DaysChart, OverdueChart, AvgDaysChart, RatingsChart template.HTML
}

func (ui *UI) supervisionPage(w http.ResponseWriter, r *http.Request) {
	sup, err := ui.cfg.Cases.Supervise(r.Context(), ui.user(r))
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	lang := ui.lang(r)
	d := supervisionData{Colours: supervisionColours, Depts: sup.Depts,
		Yellow: ui.caseRows(sup.Yellow, lang), Red: ui.caseRows(sup.Red, lang)}
	for _, st := range casework.Statuses {
		row := countRow{Status: st, Counts: make([]int, len(supervisionColours))}
		for _, sc := range sup.Counts {
			if sc.Status != st {
				continue
			}
			for i, col := range supervisionColours {
				if sc.Colour == col {
					row.Counts[i] += sc.Count
				}
			}
			row.Total += sc.Count
		}
		d.Counts = append(d.Counts, row)
	}
	ui.supervisionCharts(&d, sup, lang)
	ui.render(w, r, http.StatusOK, "supervision", d)
}

// supervisionCharts draws the supervision figures in lang.
func (ui *UI) supervisionCharts(d *supervisionData, sup *casework.Supervision, lang string) {
	t := func(key string, args ...any) string { return ui.msgs.text(lang, key, args...) }
	percent := func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }
	decimal := func(f float64) string { return fmt.Sprintf("%.1f", f) }

	days := chart{ID: "chart-days", Head: t("chart.date"), Data: t("chart.data"),
		Series: []series{{Name: t("chart.opened")}, {Name: t("chart.closed")}}}
	opened, closed := 0, 0
	for _, day := range sup.Days {
		days.Labels = append(days.Labels, strings.TrimPrefix(day.Date[min(5, len(day.Date)):], "0"))
		days.Series[0].Values = append(days.Series[0].Values, float64(day.Opened))
		days.Series[1].Values = append(days.Series[1].Values, float64(day.Closed))
		opened, closed = opened+day.Opened, closed+day.Closed
	}
	days.Title = t("chart.days.title", casework.ActivityDays)
	days.Desc = t("chart.days.desc", len(sup.Days), opened, closed, sup.RestDays.Opened, sup.RestDays.Closed)
	d.DaysChart = days.SVG()

	overdue := chart{ID: "chart-overdue", Rows: true, Format: percent, Head: t("layout.dept"), Data: t("chart.data"),
		Title: t("chart.overdue.title"), Series: []series{{Name: t("supervision.overdue_rate")}}}
	avg := chart{ID: "chart-avg-days", Rows: true, Format: decimal, Head: t("layout.dept"), Data: t("chart.data"),
		Title: t("chart.avg_days.title"), Series: []series{{Name: t("supervision.avg_days")}}}
	var worst, slowest casework.DeptStats
	for _, dept := range sup.Depts {
		overdue.Labels = append(overdue.Labels, dept.Dept)
		overdue.Series[0].Values = append(overdue.Series[0].Values, dept.OverdueRate)
		avg.Labels = append(avg.Labels, dept.Dept)
		avg.Series[0].Values = append(avg.Series[0].Values, dept.AvgDays)
		if dept.OverdueRate > worst.OverdueRate {
			worst = dept
		}
		if dept.AvgDays > slowest.AvgDays {
			slowest = dept
		}
	}
	overdue.Desc = t("chart.overdue.desc", len(sup.Depts))
	if worst.Dept != "" {
		overdue.Desc += " " + t("chart.overdue.worst", worst.Dept, percent(worst.OverdueRate))
	}
	avg.Desc = t("chart.avg_days.desc", len(sup.Depts))
	if slowest.Dept != "" {
		avg.Desc += " " + t("chart.avg_days.slowest", slowest.Dept, decimal(slowest.AvgDays))
	}
	d.OverdueChart, d.AvgDaysChart = overdue.SVG(), avg.SVG()

	ratings := chart{ID: "chart-ratings", Head: t("chart.score"), Data: t("chart.data"), Title: t("chart.ratings.title"),
		Series: []series{{Name: t("chart.rated")}}}
	n, sum := 0, 0
	for i, c := range sup.Ratings {
		ratings.Labels = append(ratings.Labels, t("chart.stars", i+1))
		ratings.Series[0].Values = append(ratings.Series[0].Values, float64(c))
		n, sum = n+c, sum+c*(i+1)
	}
	if n > 0 {
		ratings.Desc = t("chart.ratings.desc", n, decimal(float64(sum)/float64(n)))
	} else {
		ratings.Desc = t("chart.ratings.none")
	}
	d.RatingsChart = ratings.SVG()
}

// The public progress lookup. It is a POST, so that the case number and
// the last four characters, which together prove being the applicant,
// stay out of addresses, logs and browser history.

type progressData struct {
	CaseID, Last4 string
	Item          string
	Progress      *casework.Progress
	Errs          fieldErrors
	Score         string
	Comment       string
	Rated         bool // just rated on this page
}

func (ui *UI) progressPage(w http.ResponseWriter, r *http.Request) {
	ui.render(w, r, http.StatusOK, "progress", progressData{Errs: fieldErrors{}})
}

func (ui *UI) progressLookup(w http.ResponseWriter, r *http.Request) {
	d := progressData{CaseID: strings.TrimSpace(r.PostFormValue("case_id")), Last4: strings.TrimSpace(r.PostFormValue("last4")), Errs: fieldErrors{}}
	if !ui.allowProgress(w, r, d) {
		return
	}
	p, err := ui.cfg.Cases.Progress(r.Context(), d.CaseID, d.Last4)
	ui.showProgress(w, r, d, p, err)
}

func (ui *UI) progressRate(w http.ResponseWriter, r *http.Request) {
	d := progressData{CaseID: strings.TrimSpace(r.PostFormValue("case_id")), Last4: strings.TrimSpace(r.PostFormValue("last4")),
		Score: r.PostFormValue("score"), Comment: strings.TrimSpace(r.PostFormValue("comment")), Errs: fieldErrors{}}
	if !ui.allowProgress(w, r, d) {
		return
	}
	score, err := strconv.Atoi(d.Score)
	if err != nil {
		score = 0 // the service refuses it with its own message
	}
	p, err := ui.cfg.Cases.Rate(r.Context(), d.CaseID, d.Last4, score, d.Comment)
	if err != nil {
		// The lookup itself may hold; show the case with the rating's error.
		if p2, perr := ui.cfg.Cases.Progress(r.Context(), d.CaseID, d.Last4); perr == nil {
			d.Errs["rate"] = err
			d.Progress = p2
			d.Item = ui.itemName(p2.Item, ui.lang(r))
			ui.render(w, r, statusOf(err), "progress", d)
			return
		}
	}
	d.Rated = err == nil
	ui.showProgress(w, r, d, p, err)
}

// allowProgress spends one lookup of the client address and of the case
// number from the limiter the case API shares; over it, the page answers
// 429 with the form and when to try again.
func (ui *UI) allowProgress(w http.ResponseWriter, r *http.Request, d progressData) bool {
	wait, err := ui.cfg.Progress.Allow(r.Context(), r, d.CaseID)
	if err == nil {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, ratelimit.Seconds(wait))))
	d.Errs["form"] = err
	ui.render(w, r, http.StatusTooManyRequests, "progress", d)
	return false
}

func (ui *UI) showProgress(w http.ResponseWriter, r *http.Request, d progressData, p *casework.Progress, err error) {
	if err != nil {
		if govx.ErrorKind(err) == govx.KindInternal {
			ui.renderError(w, r, http.StatusInternalServerError, err)
			return
		}
		// A wrong number and a wrong last four read the same.
		if govx.ErrorKind(err) == govx.KindNotFound {
			err = govx.Errorf(govx.KindNotFound, "case_not_found", "no case with that number and those last four characters")
		}
		d.Errs["form"] = err
		ui.render(w, r, statusOf(err), "progress", d)
		return
	}
	d.Progress, d.Item = p, ui.itemName(p.Item, ui.lang(r))
	ui.render(w, r, http.StatusOK, "progress", d)
}

func (ui *UI) itemName(code, lang string) string {
	if it, err := ui.cfg.Cases.Items().Item(code); err == nil {
		return pick(lang, it.Name, it.NameEN)
	}
	return code
}

// labels are the closed sets pages translate with the template func label
// (prefix → values); TestCatalogueComplete holds the catalogue to them.
var labels = map[string][]string{
	"case.status.":    {"draft", "submitted", "returned", "in_review", "supplement", "approved", "rejected", "ready", "delivered"},
	"colour.":         {casework.Green, casework.Yellow, casework.Red, casework.Paused},
	"material.state.": {casework.Verified, casework.Blocked, casework.Pending, casework.Received, casework.Missing, casework.Committed},
	"review.status.":  {casework.ReviewPending, casework.ReviewApproved, casework.ReviewRejected, casework.ReviewSupplement},
	"applicant.":      {casework.Person, casework.Company},
	"source.":         {casework.FromExchange, casework.FromUpload},
	"result.":         {"licence", "certificate", "rejection"},
	"outcome.":        {ledger.Released, ledger.Answered, ledger.Refused, ledger.Failed},
	// The hall's wallet and My data (wallet.go).
	"wallet.status.": {licence.StatusValid, licence.StatusRevoked, licence.StatusExpired},
	"wallet.seal.":   {wallet.SealValid, wallet.SealInvalid},
	"verify.result.": {wallet.ResultValid, wallet.ResultRevoked, wallet.ResultExpired, wallet.ResultInvalid, wallet.ResultUnverifiable},
	"consent.status.": {string(consent.Pending), string(consent.Active), string(consent.Paused), string(consent.Revoked),
		string(consent.Expired), string(consent.Used)},
	"action.": {"opened", "consent_recorded", "verified", "accepted", "reviewed", "supplement_requested", "supplied",
		"approved", "rejected", "issued", "issue_pending", "delivered", "rated", "flagged", "material_verified",
		"material_blocked", "material_pending", "material_committed", "deadline.yellow", "deadline.red",
		"submitted", "submit_pending", "applied_online", "preview_consented", "previewed", "facts_confirmed", "uploaded", "committed",
		"submitted_online", "resubmitted", "returned"},
}
