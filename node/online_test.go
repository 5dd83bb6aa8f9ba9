package node_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx"
	"govx/casework"
	"govx/consent"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

func personClaims(role, subject string) *auth.Claims {
	return &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: subject}, Role: role}
}

// Bytes that are, by their signature, a PDF, a PNG and a JPEG.
var (
	pdfBytes  = []byte("%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	pngBytes  = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'}
	jpegBytes = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0}
)

// previewAccesses counts the exchange's audit records of the preview of
// case id, and those of the case itself.
func previewAccesses(t *testing.T, m *node.Node, id string) (preview, cased int) {
	t.Helper()
	err := m.Pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE purpose = 'preview:' || $1),
		count(*) FILTER (WHERE purpose = 'case:' || $1) FROM exchange.audit`, id).Scan(&preview, &cased)
	if err != nil {
		t.Fatal(err)
	}
	return preview, cased
}

// notices counts the notices of case id and their outbox rows ready to
// send.
func notices(t *testing.T, m *node.Node, id string) (n, ready int) {
	t.Helper()
	err := m.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM casework.notices WHERE case_id = $1),
		(SELECT count(*) FROM casework.notice_outbox o JOIN casework.notices n ON n.id = o.notice_id
			WHERE n.case_id = $1 AND o.status = 'ready')`, id).Scan(&n, &ready)
	if err != nil {
		t.Fatal(err)
	}
	return n, ready
}

// An online application end to end: a company applies from home, sees
// which facts will be fetched, previews them under a consent bounded to
// the preview (nothing is fetched before), confirms them, uploads and
// commits, submits; the market regulator returns it with one list of
// corrections, the company corrects and submits again, and the regulator
// accepts it, which starts the clock. Every status change leaves a notice.
func TestOnlineApplication(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = node.ReferenceAdapters
	var mu sync.Mutex
	var offset time.Duration
	cfg.CaseClock = func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	m := nodetest.Start(t, cfg)
	d := findApplicants(t, cfg.Residents)
	ctx := context.Background()
	svc := m.Casework
	company := personClaims(auth.RoleLegalPerson, d.company.USCC)
	stranger := personClaims(auth.RoleLegalPerson, d.deregistered.USCC)
	resident := personClaims(auth.RoleCitizen, d.resident.IDNumber)

	// Only a person's own sign-in applies online, for items of their kind.
	if _, err := svc.OpenOnline(ctx, clerk, casework.OnlineInput{Item: "food-business-new"}); govx.ErrorCode(err) != casework.CodeNotApplicant {
		t.Errorf("a clerk applies online: %v", err)
	}
	if _, err := svc.OpenOnline(ctx, resident, casework.OnlineInput{Item: "food-business-new"}); govx.ErrorCode(err) != casework.CodeKindMismatch {
		t.Errorf("a resident applies for a company's item: %v", err)
	}
	party := casework.Party{Company: d.company.Name, RepIDNumber: d.company.RepresentativeID, RepName: d.company.LegalRepresentative,
		Phone: "13800000000", Email: "owner@example.com", USCC: d.deregistered.USCC}
	c, err := svc.OpenOnline(ctx, company, casework.OnlineInput{Item: "food-business-new", Applicant: party, FormID: "online-form-1"})
	if err != nil {
		t.Fatalf("OpenOnline: %v", err)
	}
	if c.Status != casework.Draft || c.Channel != casework.ChannelOnline || c.Applicant.USCC != d.company.USCC || c.Online.Dept != casework.DeptMarket {
		t.Fatalf("draft: %+v (the applicant is the token's subject, never a field)", c)
	}
	again, err := svc.OpenOnline(ctx, company, casework.OnlineInput{Item: "food-business-new", Applicant: party, FormID: "online-form-1"})
	if err != nil || again.ID != c.ID {
		t.Fatalf("the same form again: %v %v", err, again)
	}

	// The plan names registers and fields and fetches nothing.
	plan, err := svc.Plan(ctx, company, c.ID)
	if err != nil || len(plan) != 2 {
		t.Fatalf("Plan: %v %+v", err, plan)
	}
	for _, f := range plan {
		if f.State != casework.Pending || f.Values != nil || f.Register == "" || len(f.Fields) == 0 {
			t.Errorf("planned fact: %+v", f)
		}
	}
	if _, err := svc.Preview(ctx, company, c.ID, casework.ChangeInput{}); govx.ErrorCode(err) != casework.CodePreviewConsent {
		t.Fatalf("preview before consent: %v", err)
	}
	if p, k := previewAccesses(t, m, c.ID); p+k != 0 {
		t.Fatalf("fetched before the applicant consented: %d preview, %d case accesses", p, k)
	}
	if _, err := svc.Confirm(ctx, company, c.ID, casework.ChangeInput{}); govx.ErrorCode(err) != casework.CodeNotPreviewed {
		t.Errorf("confirm before preview: %v", err)
	}

	// Another applicant finds nothing of it.
	for name, try := range map[string]func() error{
		"MyCase":  func() error { _, err := svc.MyCase(ctx, stranger, c.ID); return err },
		"Plan":    func() error { _, err := svc.Plan(ctx, stranger, c.ID); return err },
		"Consent": func() error { _, err := svc.ConsentPreview(ctx, stranger, c.ID, casework.ChangeInput{}); return err },
		"Upload": func() error {
			_, err := svc.Upload(ctx, stranger, c.ID, "premises_proof", "x.pdf", bytes.NewReader(pdfBytes))
			return err
		},
		"Submit": func() error { _, err := svc.SubmitOnline(ctx, stranger, c.ID, casework.ChangeInput{}); return err },
	} {
		if err := try(); govx.ErrorCode(err) != "case_not_found" {
			t.Errorf("%s by another applicant: %v", name, err)
		}
	}
	if mine, err := svc.MyCases(ctx, stranger); err != nil || len(mine) != 0 {
		t.Errorf("another applicant's cases: %v %d", err, len(mine))
	}
	// Nor does the back office while it is a draft.
	if _, err := svc.Get(ctx, clerk, c.ID); govx.ErrorCode(err) != "case_not_found" {
		t.Errorf("a clerk reads an online draft: %v", err)
	}

	// Consent to the preview, then the facts.
	if c, err = svc.ConsentPreview(ctx, company, c.ID, casework.ChangeInput{}); err != nil {
		t.Fatalf("ConsentPreview: %v", err)
	}
	if len(c.Online.PreviewConsents) != 2 || c.Online.PreviewUntil == nil {
		t.Fatalf("preview consents: %+v", c.Online)
	}
	pc, err := m.Consents.Get(ctx, c.Online.PreviewConsents[0])
	if err != nil || pc.PurposeCode != "preview:"+c.ID || pc.CaseID != "" || pc.ValidUntil.Sub(pc.ValidFrom) > time.Hour || pc.GivenVia != consent.BySubject {
		t.Errorf("the company's consent to the preview: %v %+v", err, pc)
	}
	if c, err = svc.Preview(ctx, company, c.ID, casework.ChangeInput{}); err != nil {
		t.Fatalf("Preview: %v", err)
	}
	reg := mustState(t, c, "company_registration", casework.Verified)
	if reg.Facts["name"] != d.company.Name {
		t.Errorf("previewed registration: %+v", reg)
	}
	mustState(t, c, "representative_identity", casework.Verified)
	if p, k := previewAccesses(t, m, c.ID); p != 2 || k != 0 {
		t.Errorf("preview accesses: %d under the preview, %d under the case; want 2, 0", p, k)
	}
	if c, err = svc.Confirm(ctx, company, c.ID, casework.ChangeInput{}); err != nil || len(c.Consents) != 2 || c.Online.ConfirmedAt == nil {
		t.Fatalf("Confirm: %v %+v", err, c)
	}

	// Uploads: judged by their bytes, size-limited.
	for _, tc := range []struct {
		name string
		data []byte
		code string
	}{
		{"text named .pdf", []byte("just text, called a PDF"), casework.CodeFileType},
		{"empty.pdf", nil, casework.CodeFileEmpty},
		{"html.png", []byte("<html><script>alert(1)</script>"), casework.CodeFileType},
		{"big.pdf", append([]byte("%PDF-"), make([]byte, casework.DefaultMaxUpload)...), casework.CodeFileTooLarge},
	} {
		if _, err := svc.Upload(ctx, company, c.ID, "premises_proof", tc.name, bytes.NewReader(tc.data)); govx.ErrorCode(err) != tc.code {
			t.Errorf("upload %s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if _, err := svc.Upload(ctx, company, c.ID, "company_registration", "x.pdf", bytes.NewReader(pdfBytes)); govx.ErrorCode(err) != "material_not_uploaded" {
		t.Errorf("upload for a register fact: %v", err)
	}
	if c, err = svc.Upload(ctx, company, c.ID, "premises_proof", `C:\scans\lease "2026".png`, bytes.NewReader(pngBytes)); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if f := mustState(t, c, "premises_proof", casework.Received).File; f == nil || f.ContentType != casework.TypePNG || f.Name != "lease 2026.png" || len(f.SHA256) != 64 {
		t.Errorf("uploaded file: %+v", f)
	}
	if _, err := svc.SubmitOnline(ctx, company, c.ID, casework.ChangeInput{}); govx.ErrorCode(err) != casework.CodeIncomplete ||
		!strings.Contains(govx.ErrorMessage(err), "food_safety_rules") {
		t.Errorf("submit without a required material: %v", err)
	}
	if _, err := svc.Commit(ctx, company, c.ID, "layout_plan", casework.ChangeInput{}); govx.ErrorCode(err) != "commitment_not_allowed" {
		t.Errorf("commitment where none is allowed: %v", err)
	}
	if c, err = svc.Commit(ctx, company, c.ID, "food_safety_rules", casework.ChangeInput{}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if m := mustState(t, c, "food_safety_rules", casework.Committed); !strings.Contains(m.Commitment, "承诺") {
		t.Errorf("commitment: %+v", m)
	}
	submittedAt := time.Now()
	if c, err = svc.SubmitOnline(ctx, company, c.ID, casework.ChangeInput{Version: c.Version}); err != nil || c.Status != casework.Submitted {
		t.Fatalf("SubmitOnline: %v %+v", err, c)
	}
	if c.AcceptedAt != nil || c.Due != nil {
		t.Errorf("the clock started at submission: %+v", c)
	}
	if _, err := svc.Upload(ctx, company, c.ID, "layout_plan", "x.jpg", bytes.NewReader(jpegBytes)); govx.ErrorCode(err) != casework.CodeNotEditable {
		t.Errorf("upload to a submitted case: %v", err)
	}

	// The market regulator's queue shows it, marked online; the fire
	// department's does not.
	queue, err := svc.Queue(ctx, marketRev)
	if err != nil || !slices.ContainsFunc(queue, func(q casework.Case) bool { return q.ID == c.ID && q.Channel == casework.ChannelOnline }) {
		t.Fatalf("market regulator's queue: %v %d", err, len(queue))
	}
	if q, _ := svc.Queue(ctx, fireRev); slices.ContainsFunc(q, func(q casework.Case) bool { return q.ID == c.ID }) {
		t.Error("another department's queue holds it")
	}
	f, err := svc.Download(ctx, marketRev, c.ID, "premises_proof")
	if err != nil || !bytes.Equal(f.Data, pngBytes) || f.ContentType != casework.TypePNG {
		t.Errorf("the reviewer downloads: %v", err)
	}
	for who, caller := range map[string]*auth.Claims{"fire reviewer": fireRev, "clerk": clerk, "another company": stranger} {
		if _, err := svc.Download(ctx, caller, c.ID, "premises_proof"); err == nil {
			t.Errorf("%s downloads the file", who)
		}
	}
	if f, err := svc.Download(ctx, company, c.ID, "premises_proof"); err != nil || !bytes.Equal(f.Data, pngBytes) {
		t.Errorf("the applicant downloads: %v", err)
	}

	// Returned with one complete list; the company corrects everything
	// and submits again.
	if _, err := svc.ReturnOnline(ctx, fireRev, c.ID, casework.ChangeInput{}, casework.ReturnInput{Items: []casework.Correction{
		{Material: "premises_proof", Note: "x"}}}); govx.ErrorCode(err) != "not_your_department" {
		t.Errorf("return by another department: %v", err)
	}
	if _, err := svc.ReturnOnline(ctx, marketRev, c.ID, casework.ChangeInput{}, casework.ReturnInput{}); govx.ErrorCode(err) != "corrections_required" {
		t.Errorf("an empty list: %v", err)
	}
	c, err = svc.ReturnOnline(ctx, marketRev, c.ID, casework.ChangeInput{}, casework.ReturnInput{Note: "请一次补正", Items: []casework.Correction{
		{Material: "premises_proof", Note: "租赁合同缺少签字页"}, {Material: "food_safety_rules", Note: "请上传制度文本，不接受承诺"}}})
	if err != nil || c.Status != casework.Returned {
		t.Fatalf("ReturnOnline: %v %+v", err, c)
	}
	if c, err = svc.Upload(ctx, company, c.ID, "premises_proof", "lease.pdf", bytes.NewReader(pdfBytes)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmitOnline(ctx, company, c.ID, casework.ChangeInput{}); govx.ErrorCode(err) != casework.CodeCorrectionsOpen ||
		!strings.Contains(govx.ErrorMessage(err), "food_safety_rules") {
		t.Errorf("resubmit with a correction left: %v", err)
	}
	if c, err = svc.Upload(ctx, company, c.ID, "food_safety_rules", "rules.jpg", bytes.NewReader(jpegBytes)); err != nil {
		t.Fatal(err)
	}
	if c, err = svc.SubmitOnline(ctx, company, c.ID, casework.ChangeInput{}); err != nil || c.Status != casework.Submitted || c.Online.Submissions != 2 {
		t.Fatalf("resubmit: %v %+v", err, c)
	}
	if f, _ := svc.Download(ctx, marketRev, c.ID, "premises_proof"); f == nil || f.ContentType != casework.TypePDF {
		t.Errorf("the corrected file: %+v", f)
	}

	// Accepted three days after submission: the clock starts then.
	mu.Lock()
	offset = 72 * time.Hour
	mu.Unlock()
	if c, err = svc.AcceptOnline(ctx, marketRev, c.ID, casework.ChangeInput{Version: c.Version}); err != nil || c.Status != casework.InReview {
		t.Fatalf("AcceptOnline: %v %+v", err, c)
	}
	if c.AcceptedAt == nil || c.AcceptedAt.Sub(submittedAt) < 71*time.Hour || c.Due == nil {
		t.Errorf("clock: accepted %v, submitted %v", c.AcceptedAt, submittedAt)
	}
	mustState(t, c, "premises_proof", casework.Received)
	if m := mustState(t, c, "layout_plan", casework.Missing); c.SupplementDue == nil {
		t.Errorf("optional upload not given: %+v, supplement due %v", m, c.SupplementDue)
	}
	if _, err := svc.AcceptOnline(ctx, marketRev, c.ID, casework.ChangeInput{}); govx.ErrorCode(err) != "not_submitted" {
		t.Errorf("accepted twice: %v", err)
	}

	// Draft → submitted → returned → submitted → in review: four notices,
	// each by e-mail and SMS, ready for a gateway.
	if n, ready := notices(t, m, c.ID); n != 4 || ready != 8 {
		t.Errorf("notices: %d, %d ready; want 4, 8", n, ready)
	}
	ns, err := svc.Notifications(ctx, company, 0, 0)
	if err != nil || len(ns) < 4 || ns[0].CaseID != c.ID || ns[0].Status != casework.InReview || !strings.Contains(ns[0].BodyZH, "已受理") {
		t.Errorf("the company's notifications: %v %+v", err, ns)
	}
	if theirs, _ := svc.Notifications(ctx, stranger, 0, 0); len(theirs) != 0 {
		t.Errorf("another applicant's notifications: %+v", theirs)
	}
	out, err := svc.NotificationOutbox(ctx, supervisor, casework.NoticeReady, 0, 1000)
	if err != nil || !slices.ContainsFunc(out, func(o casework.OutboxNotice) bool {
		return o.Channel == casework.ChannelSMS && o.Address == "13800000000" && o.Notice.CaseID == c.ID
	}) {
		t.Errorf("outbox: %v %d rows", err, len(out))
	}
	if _, err := svc.NotificationOutbox(ctx, company, "", 0, 0); govx.ErrorKind(err) != govx.KindForbidden {
		t.Errorf("an applicant reads the outbox: %v", err)
	}
	if mine, err := svc.MyCases(ctx, company); err != nil || len(mine) != 1 || mine[0].Reviews[0].Reviewer != "" {
		t.Errorf("the company's cases: %v %+v", err, mine)
	}
}

// A resident applies for a certificate whose facts are all their own: the
// consents are theirs, and the pre-review may refuse it with a reason. A
// window case's changes notify its applicant too.
func TestOnlineRefusalAndWindowNotices(t *testing.T) {
	m, d := runCaseSystem(t)
	ctx := context.Background()
	svc := m.Casework
	resident := personClaims(auth.RoleCitizen, d.resident.IDNumber)
	c, err := svc.OpenOnline(ctx, resident, casework.OnlineInput{Item: "resident-certificate", Applicant: casework.Party{Phone: "13900000000"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmitOnline(ctx, resident, c.ID, casework.ChangeInput{}); govx.ErrorCode(err) != casework.CodeIncomplete {
		t.Errorf("submit before the facts: %v", err)
	}
	for _, step := range []func(context.Context, *auth.Claims, string, casework.ChangeInput) (*casework.Case, error){
		svc.ConsentPreview, svc.Preview, svc.Confirm, svc.SubmitOnline} {
		if c, err = step(ctx, resident, c.ID, casework.ChangeInput{}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := m.Consents.Get(ctx, c.Consents[0])
	if err != nil || cs.GivenVia != consent.BySubject || cs.CaseID != c.ID {
		t.Errorf("the resident's consent for the case: %v %+v", err, cs)
	}
	if _, err := svc.RefuseOnline(ctx, popRev, c.ID, casework.ChangeInput{}, " "); govx.ErrorCode(err) != "reason_required" {
		t.Errorf("refusal without a reason: %v", err)
	}
	if c, err = svc.RefuseOnline(ctx, popRev, c.ID, casework.ChangeInput{}, "户籍不在本辖区"); err != nil || c.Status != casework.Rejected || c.Online.Refusal == "" {
		t.Fatalf("RefuseOnline: %v %+v", err, c)
	}
	if n, ready := notices(t, m, c.ID); n != 2 || ready != 2 {
		t.Errorf("notices of the refused case: %d, %d ready (SMS only)", n, ready)
	}

	// At the window: opened (draft) and accepted, two notices.
	w, err := svc.Open(ctx, clerk, casework.OpenInput{Item: "resident-certificate", Applicant: casework.Party{IDNumber: d.resident.IDNumber}})
	if err != nil {
		t.Fatal(err)
	}
	if w, err = svc.Accept(ctx, clerk, w.ID, casework.ChangeInput{}, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := notices(t, m, w.ID); n != 2 {
		t.Errorf("notices of a window case: %d, want 2", n)
	}
	mine, err := svc.MyCases(ctx, resident)
	if err != nil || len(mine) != 2 || mine[0].ID != w.ID || mine[0].Channel != casework.ChannelWindow || mine[0].Clerk != "" {
		t.Errorf("the resident's cases: %v %+v", err, mine)
	}
}
