package web

import (
	"net/http"
	"strconv"
	"strings"

	"govx"
	"govx/casework"
	"govx/consent"
)

// Applying online and the applicant's cases. The steps of an application
// (casework/online.go does the work; these pages only ask for it):
//
//	apply/{item}        the applicant's details → a draft, kept server-side
//	cases/{id}          the draft: which facts are fetched from which
//	                    register; consent to the preview → fetched and
//	                    shown; confirm; upload or commit; submit
//	cases               every case of the applicant, with its notices
//
// A draft lives in the database, so closing the browser loses nothing:
// "my cases" lists it and its page picks up where the applicant stopped.

func (ui *UI) routeApply() {
	ui.handle("GET /apply", applicants, http.HandlerFunc(ui.applyPage))
	ui.handle("GET /apply/{item}", applicants, http.HandlerFunc(ui.applyItemPage))
	ui.handle("POST /apply/{item}", applicants, http.HandlerFunc(ui.applyItemSubmit))
	ui.handle("GET /cases", applicants, http.HandlerFunc(ui.myCasesPage))
	ui.handle("GET /cases/{id}", applicants, http.HandlerFunc(ui.myCasePage))
	ui.handle("POST /cases/{id}/preview", applicants, http.HandlerFunc(ui.myCasePreview))
	ui.handle("POST /cases/{id}/confirm", applicants, http.HandlerFunc(ui.myCaseConfirm))
	ui.handle("POST /cases/{id}/upload/{code}", applicants, http.HandlerFunc(ui.myCaseUpload))
	ui.handle("POST /cases/{id}/commit/{code}", applicants, http.HandlerFunc(ui.myCaseCommit))
	ui.handle("POST /cases/{id}/submit", applicants, http.HandlerFunc(ui.myCaseSubmit))
	ui.handle("GET /cases/{id}/files/{code}", applicants, http.HandlerFunc(ui.myCaseFile))
}

func (ui *UI) applyPage(w http.ResponseWriter, r *http.Request) {
	items, err := ui.cfg.Cases.OnlineItems(ui.user(r))
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	var gs []guide
	for _, it := range items {
		gs = append(gs, ui.guideOf(it, ui.lang(r)))
	}
	ui.render(w, r, http.StatusOK, "apply", gs)
}

type applyItemData struct {
	Guide   guide
	Company bool
	Subject string
	Values  map[string]string
	Errs    fieldErrors
}

// applyFields are the form's fields and where OpenOnline takes them.
var applyFields = []string{"name", "company", "rep_id_number", "rep_name", "phone", "email", "licence_number"}

func (ui *UI) applyItemPage(w http.ResponseWriter, r *http.Request) {
	ui.renderApplyItem(w, r, http.StatusOK, map[string]string{}, nil)
}

func (ui *UI) renderApplyItem(w http.ResponseWriter, r *http.Request, status int, values map[string]string, errs fieldErrors) {
	u := ui.user(r)
	it, err := ui.cfg.Cases.Items().Item(r.PathValue("item"))
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	if it.Applicant != kindOf(u.Role) || it.DecidedAt != "" {
		ui.renderError(w, r, http.StatusForbidden, govx.Errorf(govx.KindForbidden, casework.CodeKindMismatch,
			"this service is not applied for online by a %s", kindOf(u.Role)))
		return
	}
	ui.render(w, r, status, "apply_item", applyItemData{Guide: ui.guideOf(*it, ui.lang(r)), Company: it.Applicant == casework.Company,
		Subject: u.Subject, Values: values, Errs: errs})
}

func (ui *UI) applyItemSubmit(w http.ResponseWriter, r *http.Request) {
	u := ui.user(r)
	values := map[string]string{}
	for _, f := range applyFields {
		values[f] = strings.TrimSpace(r.PostFormValue(f))
	}
	values["rep_id_number"] = normaliseCode(values["rep_id_number"])
	formID, err := ui.formID(r)
	if err != nil {
		ui.renderApplyItem(w, r, http.StatusUnprocessableEntity, values, fieldErrors{"form": err})
		return
	}
	p := casework.Party{Name: values["name"], Company: values["company"], RepIDNumber: values["rep_id_number"],
		RepName: values["rep_name"], Phone: values["phone"], Email: values["email"]}
	c, err := ui.cfg.Cases.OpenOnline(r.Context(), u, casework.OnlineInput{Item: r.PathValue("item"), Applicant: p,
		LicenceNumber: values["licence_number"], FormID: formID})
	if err != nil {
		if govx.ErrorKind(err) == govx.KindInvalid {
			field := "form"
			switch govx.ErrorCode(err) {
			case "invalid_id_number":
				field = "rep_id_number"
			case casework.CodeLicenceNumberInvalid:
				field = "licence_number"
			case "email_invalid":
				field = "email"
			}
			ui.renderApplyItem(w, r, http.StatusUnprocessableEntity, values, fieldErrors{field: err})
			return
		}
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	ui.setFlash(w, flash{Kind: "ok", Key: "flash.hall.draft_saved", Args: []string{c.ID}})
	ui.redirect(w, r, ui.url("cases/"+c.ID))
}

type myCasesData struct {
	Cases   []myCaseRow
	Notices []noticeView
}

type myCaseRow struct {
	ID, Item string
	Status   casework.Status
	Online   bool
	Updated  any
}

type noticeView struct {
	CaseID, Title, Body string
	Status              casework.Status
	At                  any
}

// noticesShown is how many notices "my cases" shows, newest first.
const noticesShown = 20

func (ui *UI) myCasesPage(w http.ResponseWriter, r *http.Request) {
	u, lang := ui.user(r), ui.lang(r)
	cs, err := ui.cfg.Cases.MyCases(r.Context(), u)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	var d myCasesData
	for _, c := range cs {
		d.Cases = append(d.Cases, myCaseRow{ID: c.ID, Item: ui.itemName(c.Item, lang), Status: c.Status, Online: c.IsOnline(), Updated: c.UpdatedAt})
	}
	ns, err := ui.cfg.Cases.Notifications(r.Context(), u, 0, noticesShown)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	d.Notices = ui.noticeViews(ns, lang)
	ui.render(w, r, http.StatusOK, "cases", d)
}

func (ui *UI) noticeViews(ns []casework.Notice, lang string) []noticeView {
	var out []noticeView
	for _, n := range ns {
		out = append(out, noticeView{CaseID: n.CaseID, Status: n.Status, At: n.At,
			Title: pick(lang, n.TitleZH, n.TitleEN), Body: pick(lang, n.BodyZH, n.BodyEN)})
	}
	return out
}

// myCaseData is the page of one of the applicant's cases.
type myCaseData struct {
	Case     *casework.Case
	Item     string
	Editable bool // a draft, or returned for corrections
	Facts    []factView
	// Previewed: the facts were fetched; Confirmed: the applicant agreed
	// they are used.
	Previewed, Confirmed bool
	Uploads              []uploadView
	Return               *casework.Return
	Timeline             []casework.ProgressEntry
	Notices              []noticeView
	MaxUploadMB          int64
}

type factView struct {
	casework.Fact
	Label  string
	Values []factValue
}

type factValue struct{ Field, Value string }

type uploadView struct {
	Spec     casework.MaterialSpec
	Name     string
	Material casework.Material
	Note     string // what the pre-review asked to correct
}

func (ui *UI) myCasePage(w http.ResponseWriter, r *http.Request) {
	u, lang, id := ui.user(r), ui.lang(r), r.PathValue("id")
	c, err := ui.cfg.Cases.MyCase(r.Context(), u, id)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	it, err := ui.cfg.Cases.Items().Item(c.Item)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	d := myCaseData{Case: c, Item: pick(lang, it.Name, it.NameEN), MaxUploadMB: casework.DefaultMaxUpload >> 20,
		Editable: c.IsOnline() && (c.Status == casework.Draft || c.Status == casework.Returned)}
	notes := map[string]string{}
	if c.Online != nil {
		d.Previewed, d.Confirmed = c.Online.PreviewedAt != nil, c.Online.ConfirmedAt != nil
		if c.Status == casework.Returned && len(c.Online.Returns) > 0 {
			d.Return = &c.Online.Returns[len(c.Online.Returns)-1]
			for _, x := range d.Return.Items {
				notes[x.Material] = x.Note
			}
		}
	}
	if c.IsOnline() {
		facts, err := ui.cfg.Cases.Plan(r.Context(), u, id)
		if err != nil {
			ui.renderError(w, r, statusOf(err), err)
			return
		}
		for _, f := range facts {
			fv := factView{Fact: f, Label: pick(lang, f.Name, f.NameEN)}
			for _, field := range f.Fields {
				if v, ok := f.Values[field]; ok {
					fv.Values = append(fv.Values, factValue{Field: ui.fieldLabel(r, f.Resource, field, lang), Value: v})
				}
			}
			d.Facts = append(d.Facts, fv)
		}
	}
	for _, spec := range it.Materials {
		if spec.Source != casework.FromUpload {
			continue
		}
		uv := uploadView{Spec: spec, Name: pick(lang, spec.Name, spec.NameEN), Note: notes[spec.Code]}
		if m := c.Material(spec.Code); m != nil {
			uv.Material = *m
		}
		d.Uploads = append(d.Uploads, uv)
	}
	if d.Timeline, err = ui.cfg.Cases.MyTimeline(r.Context(), u, id); err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	ns, err := ui.cfg.Cases.Notifications(r.Context(), u, 0, noticesShown)
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	for _, n := range ui.noticeViews(ns, lang) {
		if n.CaseID == c.ID {
			d.Notices = append(d.Notices, n)
		}
	}
	ui.render(w, r, http.StatusOK, "case", d)
}

// fieldLabel is the catalogue's label of a resource's data item in lang,
// or the field's name.
func (ui *UI) fieldLabel(r *http.Request, resource, field, lang string) string {
	if ui.cfg.Resources == nil {
		return field
	}
	res, err := ui.cfg.Resources.Resource(r.Context(), resource)
	if err != nil {
		return field
	}
	for _, f := range res.Fields {
		if f.Name == field {
			if l := pick(lang, f.Label, f.LabelEN); l != "" {
				return l
			}
		}
	}
	return field
}

// change reads the version and form id of an action's form, does it, and
// goes back to the case page with what happened.
func (ui *UI) caseAction(w http.ResponseWriter, r *http.Request, okKey string,
	do func(in casework.ChangeInput) (*casework.Case, error)) {
	id := r.PathValue("id")
	formID, err := ui.formID(r)
	if err == nil {
		v, _ := strconv.Atoi(r.PostFormValue("version"))
		_, err = do(casework.ChangeInput{Version: v, FormID: formID})
	}
	if err != nil {
		if govx.ErrorKind(err) == govx.KindNotFound {
			ui.renderError(w, r, statusOf(err), err)
			return
		}
		if govx.ErrorKind(err) == govx.KindInternal || govx.ErrorCode(err) == "internal" {
			ui.renderError(w, r, http.StatusInternalServerError, err)
			return
		}
		ui.setFlash(w, flash{Kind: "error", Key: "flash.hall.refused", Args: []string{ui.errText(ui.lang(r), err), govx.ErrorCode(err)}})
	} else {
		ui.setFlash(w, flash{Kind: "ok", Key: okKey})
	}
	ui.redirect(w, r, ui.url("cases/"+id))
}

// myCasePreview records the consent to the preview, bounded to it, and
// then fetches the facts: nothing is fetched before the applicant agrees.
func (ui *UI) myCasePreview(w http.ResponseWriter, r *http.Request) {
	u, id := ui.user(r), r.PathValue("id")
	ui.caseAction(w, r, "flash.hall.previewed", func(in casework.ChangeInput) (*casework.Case, error) {
		if r.PostFormValue("agree") != "yes" {
			return nil, govx.Errorf(govx.KindInvalid, casework.CodePreviewConsent, "tick the box to agree to the preview first")
		}
		c, err := ui.cfg.Cases.ConsentPreview(r.Context(), u, id, in)
		if err != nil {
			return nil, err
		}
		return ui.cfg.Cases.Preview(r.Context(), u, id, casework.ChangeInput{Version: c.Version})
	})
}

func (ui *UI) myCaseConfirm(w http.ResponseWriter, r *http.Request) {
	u, id := ui.user(r), r.PathValue("id")
	ui.caseAction(w, r, "flash.hall.confirmed", func(in casework.ChangeInput) (*casework.Case, error) {
		return ui.cfg.Cases.Confirm(r.Context(), u, id, in)
	})
}

func (ui *UI) myCaseCommit(w http.ResponseWriter, r *http.Request) {
	u, id := ui.user(r), r.PathValue("id")
	ui.caseAction(w, r, "flash.hall.committed", func(in casework.ChangeInput) (*casework.Case, error) {
		return ui.cfg.Cases.Commit(r.Context(), u, id, r.PathValue("code"), in)
	})
}

func (ui *UI) myCaseSubmit(w http.ResponseWriter, r *http.Request) {
	u, id := ui.user(r), r.PathValue("id")
	ui.caseAction(w, r, "flash.hall.submitted", func(in casework.ChangeInput) (*casework.Case, error) {
		return ui.cfg.Cases.SubmitOnline(r.Context(), u, id, in)
	})
}

// myCaseUpload stores the file of the form's field "file". The form was
// read whole (up to Config.MaxBodyBytes) when its token was checked; the
// case workflow judges the file by its bytes and its size.
func (ui *UI) myCaseUpload(w http.ResponseWriter, r *http.Request) {
	u, id := ui.user(r), r.PathValue("id")
	ui.caseAction(w, r, "flash.hall.uploaded", func(casework.ChangeInput) (*casework.Case, error) {
		f, h, err := r.FormFile("file")
		if err != nil {
			return nil, govx.Errorf(govx.KindInvalid, casework.CodeFileEmpty, "choose a file to upload")
		}
		defer f.Close()
		return ui.cfg.Cases.Upload(r.Context(), u, id, r.PathValue("code"), h.Filename, f)
	})
}

// myCaseFile sends back a file the applicant uploaded, as an attachment.
func (ui *UI) myCaseFile(w http.ResponseWriter, r *http.Request) {
	f, err := ui.cfg.Cases.Download(r.Context(), ui.user(r), r.PathValue("id"), r.PathValue("code"))
	if err != nil {
		ui.renderError(w, r, statusOf(err), err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Disposition", `attachment; filename="`+r.PathValue("code")+extOf(f.ContentType)+`"`)
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Write(f.Data)
}

func extOf(ctype string) string {
	switch ctype {
	case "application/pdf":
		return ".pdf"
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	}
	return ""
}

// kindOf is the applicant kind of a signed-in applicant's role.
func kindOf(role string) string {
	if role == consent.RoleLegalPerson {
		return casework.Company
	}
	return casework.Person
}
