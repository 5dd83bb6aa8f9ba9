package casework

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/consent"
	"govx/internal/auth"
	"govx/internal/httpx"
)

// Online applications (全程网办). An applicant signed in as themselves (a
// resident, role citizen, whose token subject is their ID number; or a
// company, role legal_person, whose subject is its USCC) applies without
// coming to the window:
//
//  1. OpenOnline stores a draft for an item, server-side, so that it
//     survives a closed browser. Plan lists the facts the item fetches
//     from the registers (resource, fields, about whom) and fetches
//     nothing.
//  2. ConsentPreview records the applicant's consent to fetch exactly
//     those facts, for the purpose "preview:<case>" only, for a short
//     time (Config.PreviewConsentTTL). Preview then fetches them through
//     the exchange, audited like every access, and shows them; without
//     that consent it fetches nothing.
//  3. Confirm records the applicant's consent that the facts are used for
//     the case (purpose "case:<case>", as a clerk records it at the
//     window), so the back office may check them again later.
//  4. Upload stores a file for an uploaded material (PDF, JPEG or PNG,
//     judged by its bytes, at most Config.MaxUpload), or Commit records a
//     written commitment (告知承诺) where the material allows one.
//  5. SubmitOnline sends the case to the pre-review of the item's lead
//     department (its first), marked online in that department's queue.
//
// At pre-review the reviewer accepts (AcceptOnline: the case is in review
// and its working-day clock starts now, not at submission), returns it with
// one complete list of what to correct (ReturnOnline, 一次性告知: the
// applicant corrects every item and submits again), or refuses it with a
// reason (RefuseOnline). An applicant reaches only their own cases: anyone
// else's is not found.

// Channels a case comes in by.
const (
	ChannelWindow = "window" // opened by a clerk at the window
	ChannelOnline = "online" // applied for online by the applicant
)

// Defaults of the online application.
const (
	DefaultMaxUpload         = 5 << 20
	DefaultPreviewConsentTTL = 30 * time.Minute
)

// Codes of the online application's refusals.
const (
	CodeFileTooLarge    = "file_too_large"
	CodeFileType        = "file_type_not_allowed"
	CodeFileEmpty       = "file_empty"
	CodePreviewConsent  = "preview_consent_required"
	CodeNotPreviewed    = "facts_not_previewed"
	CodeIncomplete      = "application_incomplete"
	CodeNotApplicant    = "applicant_role_required"
	CodeKindMismatch    = "applicant_kind_mismatch"
	CodeNotOnline       = "case_not_online"
	CodeNotEditable     = "case_not_editable"
	CodeCorrectionsOpen = "corrections_incomplete"
)

// Online is an online application's own record.
type Online struct {
	// Dept is the department that pre-reviews the case: the item's lead
	// (first) reviewing department.
	Dept string `json:"dept"`
	// PreviewConsents are the consents to the preview, one per data
	// subject, valid until PreviewUntil.
	PreviewConsents []string   `json:"preview_consents,omitempty"`
	PreviewUntil    *time.Time `json:"preview_until,omitempty"`
	// PreviewedAt is when the facts were last fetched for the preview;
	// ConfirmedAt when the applicant confirmed they may be used for the
	// case (its consents are then the case's Consents).
	PreviewedAt *time.Time `json:"previewed_at,omitempty"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	// SubmittedAt is the last submission; Submissions counts them.
	SubmittedAt *time.Time `json:"submitted_at,omitempty"`
	Submissions int        `json:"submissions,omitempty"`
	// Returns are the lists of corrections the pre-review sent back,
	// oldest first; while the case is returned the last one is open.
	Returns []Return `json:"returns,omitempty"`
	// Refusal is the reason the pre-review refused the case.
	Refusal string `json:"refusal,omitempty"`
}

// Return is one complete list of what the applicant must correct (一次性
// 告知).
type Return struct {
	At    time.Time    `json:"at"`
	Dept  string       `json:"dept"`
	Note  string       `json:"note,omitempty"`
	Items []Correction `json:"items"`
}

// Correction is one material to correct and what is wrong with it. Done
// turns true when the applicant has acted on the material since (a new
// upload, a commitment, facts previewed and confirmed again).
type Correction struct {
	Material string `json:"material"`
	Note     string `json:"note"`
	Done     bool   `json:"done"`
}

// FileInfo describes a file uploaded for a material.
type FileInfo struct {
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int       `json:"size"`
	SHA256      string    `json:"sha256"`
	UploadedAt  time.Time `json:"uploaded_at"`
}

// File is an uploaded file with its bytes.
type File struct {
	FileInfo
	Data []byte `json:"-"`
}

// IsOnline reports whether the case was applied for online.
func (c *Case) IsOnline() bool { return c.Channel == ChannelOnline }

// channel is the case's channel, ChannelWindow for cases stored before
// there was a choice.
func (c *Case) channel() string {
	if c.Channel == "" {
		return ChannelWindow
	}
	return c.Channel
}

// openReturn is the list of corrections the applicant works on, or nil.
func (c *Case) openReturn() *Return {
	if c.Status != Returned || c.Online == nil || len(c.Online.Returns) == 0 {
		return nil
	}
	return &c.Online.Returns[len(c.Online.Returns)-1]
}

// corrected marks code done on the open list of corrections, if any.
func (c *Case) corrected(code string) {
	if r := c.openReturn(); r != nil {
		for i := range r.Items {
			if r.Items[i].Material == code {
				r.Items[i].Done = true
			}
		}
	}
}

// applicantKey is the identifier a person's token speaks for: the
// resident's ID number (citizen) or the company's USCC (legal_person).
func applicantKey(c *auth.Claims) (kind, key string, err error) {
	if c == nil {
		return "", "", govx.Errorf(govx.KindUnauthenticated, "token_missing", "sign in first")
	}
	switch c.Role {
	case auth.RoleCitizen:
		if govx.ValidateIDNumber(c.Subject) != nil {
			return "", "", forbidden(CodeNotApplicant, "a resident's token names their ID number as its subject")
		}
		return Person, c.Subject, nil
	case auth.RoleLegalPerson:
		if govx.ValidateUSCC(c.Subject) != nil {
			return "", "", forbidden(CodeNotApplicant, "a company's token names its unified social credit code as its subject")
		}
		return Company, c.Subject, nil
	}
	return "", "", forbidden(CodeNotApplicant, "applying online needs a resident's or a company's own sign-in (role citizen or legal_person); you are %q", c.Role)
}

// OnlineInput is what an applicant fills in to start an online application.
// The applicant's identifier is their token's subject, never a field:
// Applicant gives the rest (a company's legal representative, names, phone
// and e-mail for notifications).
type OnlineInput struct {
	Item          string `json:"item"`
	Applicant     Party  `json:"applicant"`
	LicenceNumber string `json:"licence_number,omitempty"`
	Note          string `json:"note,omitempty"`
	// FormID makes a double submission start one draft.
	FormID string `json:"form_id,omitempty"`
}

// OnlineItems are the items that may be applied for online by applicant:
// those of the applicant's kind (a resident's or a company's) decided at
// this node.
func (s *Service) OnlineItems(applicant *auth.Claims) ([]Item, error) {
	kind, _, err := applicantKey(applicant)
	if err != nil {
		return nil, err
	}
	var out []Item
	for _, it := range s.cfg.Items.All() {
		if it.Applicant == kind && it.DecidedAt == "" {
			out = append(out, it)
		}
	}
	return out, nil
}

// OpenOnline starts an online application: a draft of the applicant's,
// stored at once, with every material still to do. Nothing is fetched from
// the registers yet (see Plan, ConsentPreview, Preview).
func (s *Service) OpenOnline(ctx context.Context, applicant *auth.Claims, in OnlineInput) (*Case, error) {
	const op = "casework.OpenOnline"
	kind, key, err := applicantKey(applicant)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if strings.TrimSpace(in.Item) == "" {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "field_required", "item is required: the code of the service item applied for"))
	}
	it, err := s.cfg.Items.Item(in.Item)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if it.DecidedAt != "" {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "item_not_online", "%s is decided at node %s: apply for it at a window", it.Name, it.DecidedAt))
	}
	if it.Applicant != kind {
		return nil, govx.E(op, forbidden(CodeKindMismatch, "%s is applied for by a %s; you are signed in as a %s", it.Name, it.Applicant, kind))
	}
	p := in.Applicant
	p.Kind = kind
	if kind == Person {
		p.IDNumber, p.USCC, p.Company, p.RepIDNumber, p.RepName = key, "", "", "", ""
	} else {
		p.USCC, p.IDNumber, p.Name = key, "", ""
	}
	if err := p.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	in.LicenceNumber = strings.ToUpper(strings.TrimSpace(in.LicenceNumber))
	if it.NeedsLicenceNumber && !validLicenceNumber(in.LicenceNumber) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, CodeLicenceNumberInvalid, "type in the number printed on the current licence (letters and digits, up to 40)"))
	}
	if !it.NeedsLicenceNumber {
		in.LicenceNumber = ""
	}
	if utf8.RuneCountInString(in.Note) > 1000 || !utf8.ValidString(in.Note) || strings.ContainsRune(in.Note, 0) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, CodeNoteInvalid, "the note is at most 1000 characters"))
	}
	if in.FormID != "" && !validFormID(in.FormID) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "form_id_invalid", "the form id is 8 to 64 letters, digits, - or _"))
	}
	now := s.now()
	c := &Case{Item: it.Code, Status: Draft, Channel: ChannelOnline, Applicant: p, LicenceNumber: in.LicenceNumber,
		IntakeDept: it.IntakeDepts[0], Clerk: "", Note: in.Note, CreatedAt: now, UpdatedAt: now,
		Online: &Online{Dept: it.Departments[0]}}
	for _, m := range it.Materials {
		st := Missing
		if m.Source == FromExchange {
			st = Pending
		}
		c.Materials = append(c.Materials, Material{Code: m.Code, State: st})
	}
	formID := in.FormID
	if formID != "" {
		formID = ownForm(applicant, formID)
	}
	c, _, err = s.store.create(ctx, c, formID, "apply", []event{{action: "applied_online", detail: it.Name, actor: applicantActor(applicant)}})
	if err != nil {
		return nil, govx.E(op, err)
	}
	if c.Applicant.Key() != key {
		// A form id of another applicant's, which ownForm makes unlikely.
		return nil, govx.E(op, govx.Errorf(govx.KindConflict, "form_reused", "this form was already used"))
	}
	return forApplicant(c), nil
}

// ownForm makes an applicant's form id their own: two applicants who
// choose the same id do not meet.
func ownForm(applicant *auth.Claims, formID string) string {
	return "online-" + ref("form", applicant.Subject+"\x00"+formID)
}

// applicantActor is how an applicant's actions are recorded in a case's
// history: by role, not by their identifier.
func applicantActor(c *auth.Claims) Actor { return Actor{Subject: "applicant", Role: c.Role} }

// forApplicant is the case as its applicant sees it: without the names
// of those who work it and what is between them.
func forApplicant(c *Case) *Case {
	out := *c
	out.Clerk = ""
	out.Flags = nil
	out.Reviews = slices.Clone(c.Reviews)
	for i := range out.Reviews {
		out.Reviews[i].Reviewer = ""
	}
	if c.Materials == nil {
		out.Materials = []Material{}
	}
	return &out
}

// ownCase is the case id if applicant is its applicant; any other case,
// and a case that does not exist, is not found alike.
func (s *Service) ownCase(ctx context.Context, applicant *auth.Claims, id string) (*Case, error) {
	_, key, err := applicantKey(applicant)
	if err != nil {
		return nil, err
	}
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Applicant.Key() != key || c.Origin != nil {
		return nil, govx.Errorf(govx.KindNotFound, "case_not_found", "no case %s", id)
	}
	return c, nil
}

// ownDraft is applicant's online case id while the applicant may still
// change it (editable): ownCase, refused as CodeNotOnline when it was
// taken in at a window.
func (s *Service) ownDraft(ctx context.Context, applicant *auth.Claims, id string) (*Case, error) {
	c, err := s.ownCase(ctx, applicant, id)
	if err != nil {
		return nil, err
	}
	if !c.IsOnline() {
		return nil, govx.Errorf(govx.KindConflict, CodeNotOnline, "case %s was taken in at a window", c.ID)
	}
	if err := editable(c); err != nil {
		return nil, err
	}
	return c, nil
}

// changeOwn changes applicant's own online case id as Service.change does.
func (s *Service) changeOwn(ctx context.Context, applicant *auth.Claims, id string, in ChangeInput, action string,
	fn func(tx pgx.Tx, c *Case, it *Item, now time.Time) ([]event, error)) (*Case, error) {
	c, err := s.ownCase(ctx, applicant, id)
	if err != nil {
		return nil, err
	}
	if !c.IsOnline() {
		return nil, govx.Errorf(govx.KindConflict, CodeNotOnline, "case %s was taken in at a window: it is changed there", c.ID)
	}
	if in.FormID != "" {
		if !validFormID(in.FormID) {
			return nil, govx.Errorf(govx.KindInvalid, "form_id_invalid", "the form id is 8 to 64 letters, digits, - or _")
		}
		in.FormID = ownForm(applicant, in.FormID)
	}
	now := s.now()
	c, err = s.store.update(ctx, c.ID, in.FormID, in.Version, applicantActor(applicant), action, now, func(tx pgx.Tx, c *Case) ([]event, error) {
		it, err := s.cfg.Items.Item(c.Item)
		if err != nil {
			return nil, err
		}
		return fn(tx, c, it, now)
	})
	if err != nil {
		return nil, err
	}
	return forApplicant(c), nil
}

// editable refuses a change to an online case that is not the applicant's
// to change now: one submitted, accepted or decided.
func editable(c *Case) error {
	if c.Status != Draft && c.Status != Returned {
		return govx.Errorf(govx.KindConflict, CodeNotEditable, "case %s is %s: it can be changed only as a draft or when returned for corrections", c.ID, c.Status)
	}
	return nil
}

// MyCases lists applicant's own cases, online and taken in at a window,
// newest first.
func (s *Service) MyCases(ctx context.Context, applicant *auth.Claims) ([]Case, error) {
	const op = "casework.MyCases"
	_, key, err := applicantKey(applicant)
	if err != nil {
		return nil, govx.E(op, err)
	}
	cs, err := s.store.List(ctx, Filter{Applicant: key, Limit: 200})
	if err != nil {
		return nil, govx.E(op, err)
	}
	out := make([]Case, 0, len(cs))
	for i := range cs {
		if cs[i].Origin != nil {
			continue
		}
		out = append(out, *forApplicant(&cs[i]))
	}
	return out, nil
}

// MyCase returns applicant's own case id; anyone else's is not found.
func (s *Service) MyCase(ctx context.Context, applicant *auth.Claims, id string) (*Case, error) {
	const op = "casework.MyCase"
	c, err := s.ownCase(ctx, applicant, id)
	if err != nil {
		return nil, govx.E(op, err)
	}
	return forApplicant(s.refreshed(ctx, c)), nil
}

// MyTimeline is the public timeline of applicant's own case id.
func (s *Service) MyTimeline(ctx context.Context, applicant *auth.Claims, id string) ([]ProgressEntry, error) {
	const op = "casework.MyTimeline"
	c, err := s.ownCase(ctx, applicant, id)
	if err != nil {
		return nil, govx.E(op, err)
	}
	tl, err := s.store.timeline(ctx, c.ID)
	return tl, govx.E(op, err)
}

// Fact is one fact an item fetches from a register instead of asking the
// applicant for it: which material, resource and fields, about whom, and
// as the case stands, whether it was fetched and what it says.
type Fact struct {
	Material string `json:"material"`
	Name     string `json:"name"`
	NameEN   string `json:"name_en"`
	// Register is the register (the resource code up to its first dot)
	// and Resource the resource asked.
	Register string   `json:"register"`
	Resource string   `json:"resource"`
	Fields   []string `json:"fields"`
	// About is whom the fact is about (AboutApplicant, AboutCompany,
	// AboutRepresentative, AboutLicence) and Subject their identifier,
	// masked.
	About   string `json:"about"`
	Subject string `json:"subject"`
	// Commitment: a written commitment may stand in for the fact.
	Commitment bool `json:"commitment,omitempty"`
	// State is the material's (pending until fetched), with what the
	// register answered once the preview fetched it.
	State    string            `json:"state"`
	Reason   string            `json:"reason,omitempty"`
	Provider string            `json:"provider,omitempty"`
	Values   map[string]string `json:"values,omitempty"`
}

// Plan lists the facts applicant's case id fetches from the registers,
// and which registers hold them, without fetching anything; once
// previewed, with what they say.
func (s *Service) Plan(ctx context.Context, applicant *auth.Claims, id string) ([]Fact, error) {
	const op = "casework.Plan"
	c, err := s.ownCase(ctx, applicant, id)
	if err != nil {
		return nil, govx.E(op, err)
	}
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return nil, govx.E(op, err)
	}
	out := []Fact{}
	for _, spec := range it.Materials {
		if spec.Source != FromExchange {
			continue
		}
		subj, _ := subjectOf(c, spec.About)
		f := Fact{Material: spec.Code, Name: spec.Name, NameEN: spec.NameEN, Register: register(spec.Resource), Resource: spec.Resource,
			Fields: spec.Fields, About: spec.About, Subject: govx.MaskSubject(subj), Commitment: spec.Commitment}
		if m := c.Material(spec.Code); m != nil {
			f.State, f.Reason, f.Provider = m.State, m.Reason, m.Provider
			if m.State == Verified || m.State == Blocked {
				f.Values = m.Facts
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// consentCaller is who records a consent for subj on an online case:
// the applicant themselves when subj is theirs; for anyone else the case
// names (a company's legal representative, who signs in for the company),
// the intake department's online service, as a clerk records it at the
// window, naming the applicant as the one who gave it.
func consentCaller(applicant *auth.Claims, c *Case, subj string) *auth.Claims {
	if consent.IsSubject(applicant, subj) {
		return applicant
	}
	return &auth.Claims{Role: consent.RoleClerk, Dept: c.IntakeDept, RegisteredClaims: jwtSubject("online:" + applicant.Subject)}
}

// subjectItems groups the exchange materials of it by data subject.
func subjectItems(c *Case, it *Item) (order []string, by map[string][]consent.Item) {
	by = map[string][]consent.Item{}
	for _, m := range it.Materials {
		if m.Source != FromExchange {
			continue
		}
		subj, _ := subjectOf(c, m.About)
		if _, ok := by[subj]; !ok {
			order = append(order, subj)
		}
		by[subj] = append(by[subj], consent.Item{Resource: m.Resource, Fields: m.Fields})
	}
	return order, by
}

// previewPurpose is the purpose the preview's queries state, and its
// consents name: no other access can use them.
func previewPurpose(id string) string { return "preview:" + id }

// ConsentPreview records applicant's consent to fetch, for the preview of
// case id only and for Config.PreviewConsentTTL, the facts Plan lists: one
// consent per data subject, to the intake department that fetches them.
func (s *Service) ConsentPreview(ctx context.Context, applicant *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.ConsentPreview"
	c, err := s.ownDraft(ctx, applicant, id)
	if err != nil {
		return nil, govx.E(op, err)
	}
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return nil, govx.E(op, err)
	}
	now := s.now()
	until := now.Add(s.cfg.PreviewConsentTTL)
	order, by := subjectItems(c, it)
	if len(order) == 0 {
		return nil, govx.E(op, govx.Errorf(govx.KindConflict, "nothing_to_preview", "%s fetches nothing from the registers", it.Name))
	}
	var ids []string
	for _, subj := range order {
		cs, err := s.consents.Create(ctx, consentCaller(applicant, c, subj), consent.Request{Subject: subj, Consumer: c.IntakeDept,
			Items: by[subj], PurposeCode: previewPurpose(c.ID),
			Purpose:   fmt.Sprintf("%s (case %s): show the applicant the facts the registers hold before they are used", it.Name, c.ID),
			ValidFrom: now, ValidUntil: until, Fetch: consent.Repeated})
		if err != nil {
			return nil, govx.E(op, err)
		}
		ids = append(ids, cs.ID)
	}
	c, err = s.changeOwn(ctx, applicant, c.ID, in, "preview_consent", func(_ pgx.Tx, c *Case, _ *Item, _ time.Time) ([]event, error) {
		if err := editable(c); err != nil {
			return nil, err
		}
		c.Online.PreviewConsents, c.Online.PreviewUntil = ids, &until
		return []event{{action: "preview_consented", detail: strings.Join(ids, ", ")}}, nil
	})
	return c, govx.E(op, err)
}

// Preview fetches the facts of applicant's case id through the exchange,
// under the consent to the preview (ConsentPreview), and records what the
// registers answered on the case for the applicant to see. Without an
// unexpired consent to the preview it fetches nothing
// (preview_consent_required).
func (s *Service) Preview(ctx context.Context, applicant *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.Preview"
	c, err := s.ownDraft(ctx, applicant, id)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if c.Online.PreviewUntil == nil || !s.cfg.Now().Before(*c.Online.PreviewUntil) {
		return nil, govx.E(op, govx.Errorf(govx.KindForbidden, CodePreviewConsent, "consent to the preview first: nothing is fetched from the registers before you agree"))
	}
	if in.Version != 0 && c.Version != in.Version {
		return nil, govx.E(op, govx.Errorf(govx.KindConflict, "case_changed", "case %s changed while you were looking at it; reload it", c.ID))
	}
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return nil, govx.E(op, err)
	}
	actor := Actor{Subject: OnlineService, Role: "service", Dept: c.IntakeDept}
	results := s.verifyAll(ctx, c, it, actor, previewPurpose(c.ID), func(m *Material) bool { return m.State != Committed })
	c, err = s.changeOwn(ctx, applicant, c.ID, ChangeInput{}, "preview", func(_ pgx.Tx, c *Case, it *Item, now time.Time) ([]event, error) {
		if err := editable(c); err != nil {
			return nil, err
		}
		evs := s.apply(c, it, results, now)
		c.Online.PreviewedAt = &now
		if c.Online.ConfirmedAt != nil {
			// What was confirmed may have changed: confirmed again.
			c.Online.ConfirmedAt = nil
		}
		return append(evs, event{action: "previewed"}), nil
	})
	return c, govx.E(op, err)
}

// MaxUpload is the largest file Upload takes, in bytes.
func (s *Service) MaxUpload() int64 { return s.cfg.MaxUpload }

// OnlineService is the token subject the online hall's fetches are asked
// with, for the intake department.
const OnlineService = "casework-online"

// Confirm records that applicant agrees the previewed facts of case id
// are used for it: their consent for the case (purpose "case:<id>",
// Config.ConsentDays), as a clerk records it at the window. Every fact
// must have been fetched (none pending).
func (s *Service) Confirm(ctx context.Context, applicant *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.Confirm"
	c, err := s.ownDraft(ctx, applicant, id)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if err := previewDone(c); err != nil {
		return nil, govx.E(op, err)
	}
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return nil, govx.E(op, err)
	}
	now := s.now()
	order, by := subjectItems(c, it)
	var ids []string
	for _, subj := range order {
		cs, err := s.consents.Create(ctx, consentCaller(applicant, c, subj), consent.Request{Subject: subj, Consumer: c.IntakeDept,
			CaseID: c.ID, Items: by[subj], PurposeCode: "case",
			Purpose:   fmt.Sprintf("%s (case %s): verify the applicant's materials", it.Name, c.ID),
			ValidFrom: now, ValidUntil: now.AddDate(0, 0, s.cfg.ConsentDays), Fetch: consent.Repeated})
		if err != nil {
			return nil, govx.E(op, err)
		}
		ids = append(ids, cs.ID)
	}
	c, err = s.changeOwn(ctx, applicant, c.ID, in, "confirm", func(_ pgx.Tx, c *Case, _ *Item, now time.Time) ([]event, error) {
		if err := editable(c); err != nil {
			return nil, err
		}
		if err := previewDone(c); err != nil {
			return nil, err
		}
		c.Consents = ids
		c.Online.ConfirmedAt = &now
		for _, spec := range it.Materials {
			if spec.Source == FromExchange {
				c.corrected(spec.Code)
			}
		}
		return []event{{action: "facts_confirmed", detail: strings.Join(ids, ", ")}}, nil
	})
	return c, govx.E(op, err)
}

// previewDone refuses to confirm facts not fetched yet.
func previewDone(c *Case) error {
	if c.Online.PreviewedAt == nil {
		return govx.Errorf(govx.KindConflict, CodeNotPreviewed, "preview the facts first: they are confirmed as you saw them")
	}
	for _, m := range c.Materials {
		if m.Resource != "" && m.State == Pending {
			return govx.Errorf(govx.KindConflict, CodeNotPreviewed, "%s was not fetched yet (%s): preview again", m.Code, m.Reason)
		}
	}
	return nil
}

// Commit records applicant's written commitment (告知承诺) for material
// code of case id, which the item must allow: the commitment stands in
// for the material and is checked later (an uploaded one by the reviewer,
// a register fact through the exchange).
func (s *Service) Commit(ctx context.Context, applicant *auth.Claims, id, code string, in ChangeInput) (*Case, error) {
	const op = "casework.Commit"
	c, err := s.changeOwn(ctx, applicant, id, in, "commit", func(_ pgx.Tx, c *Case, it *Item, now time.Time) ([]event, error) {
		if err := editable(c); err != nil {
			return nil, err
		}
		spec, m, err := material(c, it, code)
		if err != nil {
			return nil, err
		}
		if !spec.Commitment {
			return nil, govx.Errorf(govx.KindInvalid, "commitment_not_allowed", "%s cannot be replaced by a commitment", spec.Name)
		}
		if spec.Source == FromExchange && m.State == Verified {
			return nil, govx.Errorf(govx.KindConflict, "commitment_not_needed", "%s was found in the register: no commitment is needed", spec.Name)
		}
		m.State, m.Reason = Committed, "applicant's written commitment"
		m.Commitment = fmt.Sprintf("本人（本单位）承诺：%s符合申请条件，所提供信息真实、准确；如有不实，愿承担相应法律责任。"+
			"I commit that the %s meets the requirements and that what I state is true; I bear the legal consequences if it is not.",
			spec.Name, strings.ToLower(spec.NameEN))
		c.corrected(code)
		return []event{{action: "committed", detail: code}}, nil
	})
	return c, govx.E(op, err)
}

// material is the item's material code and the case's record of it.
func material(c *Case, it *Item, code string) (*MaterialSpec, *Material, error) {
	spec, m := it.Material(code), c.Material(code)
	if spec == nil || m == nil {
		return nil, nil, govx.Errorf(govx.KindNotFound, "material_unknown", "%s has no material %q", it.Code, httpx.Truncate(code, 64))
	}
	return spec, m, nil
}

// SubmitOnline submits applicant's draft case id, or submits it again
// once every correction asked for is made, to the pre-review of the
// item's lead department. Every register fact must be confirmed (or
// committed to), every required upload there (a file or a commitment).
func (s *Service) SubmitOnline(ctx context.Context, applicant *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.SubmitOnline"
	c, err := s.changeOwn(ctx, applicant, id, in, "submit_online", func(_ pgx.Tx, c *Case, it *Item, now time.Time) ([]event, error) {
		if err := editable(c); err != nil {
			return nil, err
		}
		action := "submitted_online"
		if r := c.openReturn(); r != nil {
			var open []string
			for _, x := range r.Items {
				if !x.Done {
					open = append(open, x.Material)
				}
			}
			if len(open) > 0 {
				return nil, govx.Errorf(govx.KindConflict, CodeCorrectionsOpen, "correct everything on the list before submitting again: %s", strings.Join(open, ", "))
			}
			action = "resubmitted"
		}
		if err := complete(c, it); err != nil {
			return nil, err
		}
		c.Status = Submitted
		c.Online.Dept = it.Departments[0]
		c.Online.SubmittedAt = &now
		c.Online.Submissions++
		return []event{{action: action, detail: "to " + c.Online.Dept + " for pre-review"}}, nil
	})
	return c, govx.E(op, err)
}

// complete refuses an online application that is not complete, naming
// everything missing at once.
func complete(c *Case, it *Item) error {
	var gaps []string
	hasFacts := false
	for _, spec := range it.Materials {
		m := c.Material(spec.Code)
		if m == nil {
			continue
		}
		switch {
		case spec.Source == FromExchange:
			hasFacts = true
			switch m.State {
			case Verified, Committed:
			case Blocked:
				gaps = append(gaps, fmt.Sprintf("%s: %s", spec.Code, m.Reason))
			default:
				gaps = append(gaps, spec.Code+": not fetched yet")
			}
		case m.State == Received || m.State == Committed:
		case m.State == Missing && spec.Optional:
		default:
			gaps = append(gaps, spec.Code+": upload it"+map[bool]string{true: " or commit to it", false: ""}[spec.Commitment])
		}
	}
	if hasFacts && c.Online.ConfirmedAt == nil {
		gaps = append([]string{"confirm that the facts from the registers may be used"}, gaps...)
	}
	if len(gaps) > 0 {
		return govx.Errorf(govx.KindConflict, CodeIncomplete, "the application is not complete: %s", strings.Join(gaps, "; "))
	}
	return nil
}

// preReviewer refuses a reviewer whose department does not pre-review
// online case c.
func preReviewer(reviewer *auth.Claims, c *Case) error {
	if !c.IsOnline() {
		return govx.Errorf(govx.KindConflict, CodeNotOnline, "case %s was taken in at a window: it is accepted there", c.ID)
	}
	if c.Online.Dept != reviewer.Dept {
		return forbidden("not_your_department", "case %s is pre-reviewed by %s", c.ID, c.Online.Dept)
	}
	if c.Status != Submitted {
		return govx.Errorf(govx.KindConflict, "not_submitted", "case %s is %s: there is nothing to pre-review", c.ID, c.Status)
	}
	return nil
}

// AcceptOnline accepts a submitted online case at pre-review: it goes to
// every reviewing department, and its working-day clock starts now.
// Uploaded files count as received, commitments as commitments, optional
// uploads not given as missing (due by the supplement deadline).
func (s *Service) AcceptOnline(ctx context.Context, reviewer *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.AcceptOnline"
	if err := need(reviewer, RoleReviewer); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.change(ctx, reviewer, id, in, "accept_online", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if err := preReviewer(reviewer, c); err != nil {
			return nil, err
		}
		choices := map[string]Choice{}
		for _, m := range c.Materials {
			spec := it.Material(m.Code)
			if spec == nil {
				continue
			}
			switch {
			case m.State == Committed:
				choices[m.Code] = ChoiceCommitment
			case spec.Source == FromUpload && m.State == Received:
				choices[m.Code] = ChoiceReceived
			case spec.Source == FromUpload:
				choices[m.Code] = ChoiceMissing
			}
		}
		if err := c.accept(it, choices, s.clock, now); err != nil {
			return nil, err
		}
		return []event{{action: "accepted", detail: "online, at pre-review; to " + strings.Join(it.Departments, ", ")}}, nil
	})
	return c, govx.E(op, err)
}

// ReturnInput is the one complete list of corrections (一次性告知).
type ReturnInput struct {
	Items []Correction `json:"items"`
	Note  string       `json:"note,omitempty"`
}

// ReturnOnline returns a submitted online case to its applicant with one
// complete list of what to correct: each material named is to be done
// again (uploaded, committed to, or its facts previewed and confirmed),
// and the case is submitted again once every one is. The clock does not
// run: it starts at acceptance.
func (s *Service) ReturnOnline(ctx context.Context, reviewer *auth.Claims, id string, in ChangeInput, r ReturnInput) (*Case, error) {
	const op = "casework.ReturnOnline"
	if err := need(reviewer, RoleReviewer); err != nil {
		return nil, govx.E(op, err)
	}
	r.Note = strings.TrimSpace(r.Note)
	if err := checkText("note", r.Note, 1000, false); err != nil {
		return nil, govx.E(op, err)
	}
	if len(r.Items) == 0 {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "corrections_required", "name every material to correct, with what is wrong, in one list"))
	}
	c, err := s.change(ctx, reviewer, id, in, "return_online", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if err := preReviewer(reviewer, c); err != nil {
			return nil, err
		}
		ret := Return{At: now, Dept: reviewer.Dept, Note: r.Note}
		var codes []string
		for _, x := range r.Items {
			x.Note = strings.TrimSpace(x.Note)
			if _, _, err := material(c, it, x.Material); err != nil {
				return nil, err
			}
			if slices.Contains(codes, x.Material) {
				return nil, govx.Errorf(govx.KindInvalid, "correction_repeated", "%s is named twice: one line per material", x.Material)
			}
			if x.Note == "" {
				return nil, govx.Errorf(govx.KindInvalid, "reason_required", "say what is wrong with %s", x.Material)
			}
			if err := checkText("note", x.Note, 500, true); err != nil {
				return nil, err
			}
			codes = append(codes, x.Material)
			ret.Items = append(ret.Items, Correction{Material: x.Material, Note: x.Note})
		}
		for _, x := range ret.Items {
			spec, m, _ := material(c, it, x.Material)
			if spec.Source == FromExchange {
				*m = Material{Code: m.Code, State: Pending, Reason: x.Note}
				c.Online.ConfirmedAt = nil
			} else {
				m.State, m.Reason, m.Commitment = Missing, x.Note, ""
			}
		}
		c.Online.Returns = append(c.Online.Returns, ret)
		c.Status = Returned
		return []event{{action: "returned", detail: strings.Join(codes, ", ")}}, nil
	})
	return c, govx.E(op, err)
}

// RefuseOnline refuses a submitted online case at pre-review, with the
// reason the applicant is given.
func (s *Service) RefuseOnline(ctx context.Context, reviewer *auth.Claims, id string, in ChangeInput, reason string) (*Case, error) {
	const op = "casework.RefuseOnline"
	if err := need(reviewer, RoleReviewer); err != nil {
		return nil, govx.E(op, err)
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "reason_required", "a refusal states its reason"))
	}
	if err := checkText("reason", reason, 1000, true); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.change(ctx, reviewer, id, in, "refuse_online", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if err := preReviewer(reviewer, c); err != nil {
			return nil, err
		}
		c.Status, c.ClosedAt = Rejected, &now
		c.Online.Refusal = reason
		c.Result = &Result{Kind: "rejection", IssuedAt: &now}
		return []event{{action: "rejected", detail: "at pre-review: " + reason}}, nil
	})
	return c, govx.E(op, err)
}

// checkText refuses text over max characters, or with control characters
// other than line breaks.
func checkText(name, s string, max int, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return govx.Errorf(govx.KindInvalid, name+"_invalid", "%s is required", name)
	case utf8.RuneCountInString(s) > max || !utf8.ValidString(s):
		return govx.Errorf(govx.KindInvalid, name+"_invalid", "%s is at most %d characters", name, max)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\r' && r != '\t' }):
		return govx.Errorf(govx.KindInvalid, name+"_invalid", "%s holds control characters", name)
	}
	return nil
}
