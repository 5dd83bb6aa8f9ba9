package node_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"govx/casework"
	"govx/internal/auth"
)

// The reviewer's pages: the queue marks online cases; the case page offers
// the pre-review (accept, return with one list, refuse) and the
// applicant's files; a refused return keeps what was ticked and typed.
func TestPrereviewPages(t *testing.T) {
	m, d := runCaseSystem(t)
	ctx := context.Background()
	svc := m.Casework
	company := personClaims(auth.RoleLegalPerson, d.company.USCC)
	c := submitOnline(t, svc, company, d)
	ui := newUIClient(t, m, marketRev)

	status, page := ui.get("review")
	if status != 200 || !strings.Contains(page, `id="row-`+c.ID+`"`) || !strings.Contains(page, `data-channel="online"`) {
		t.Fatalf("queue: %d\n%s", status, page)
	}
	status, page = ui.get("cases/" + c.ID)
	if status != 200 || !strings.Contains(page, `id="prereview"`) || !strings.Contains(page, `id="case-online"`) {
		t.Fatalf("case page: %d\n%s", status, page)
	}
	if !strings.Contains(page, `/cases/`+c.ID+`/materials/premises_proof/file`) || !strings.Contains(page, `id="commitment-food_safety_rules"`) {
		t.Errorf("the case page lacks the file link or the commitment:\n%s", page)
	}
	req, _ := http.NewRequest("GET", ui.base+"cases/"+c.ID+"/materials/premises_proof/file", nil)
	if status, body, _ := ui.do(req); status != 200 || !bytes.Equal([]byte(body), pdfBytes) {
		t.Errorf("the file through the page: %d", status)
	}
	fire := newUIClient(t, m, fireRev)
	req, _ = http.NewRequest("GET", fire.base+"cases/"+c.ID+"/materials/premises_proof/file", nil)
	if status, _, _ := fire.do(req); status != 404 {
		t.Errorf("another department's reviewer downloads: %d", status)
	}

	// A return with a ticked material but no note is refused, and the
	// form keeps what was ticked.
	form := formOf(t, page, "prereview-return")
	form.Del("return")
	form["return"] = []string{"premises_proof", "layout_plan"}
	form.Set("note.layout_plan", "请补充设备布局图")
	status, page, _ = ui.post("cases/"+c.ID+"/prereview", form)
	if status != 422 || !strings.Contains(page, "reason_required") || !strings.Contains(page, "请补充设备布局图") ||
		!strings.Contains(page, `id="return-layout_plan" checked`) {
		t.Fatalf("a return without a note: %d\n%s", status, page)
	}
	form = formOf(t, page, "prereview-return")
	form.Del("return")
	form["return"] = []string{"premises_proof", "layout_plan"}
	form.Set("note.premises_proof", "租赁合同缺少签字页")
	form.Set("note.layout_plan", "请补充设备布局图")
	if status, _, loc := ui.post("cases/"+c.ID+"/prereview", form); status != http.StatusSeeOther || !strings.HasSuffix(loc, c.ID) {
		t.Fatalf("return: %d %s", status, loc)
	}
	c, _ = svc.MyCase(ctx, company, c.ID)
	if c.Status != casework.Returned || len(c.Online.Returns) != 1 || len(c.Online.Returns[0].Items) != 2 {
		t.Fatalf("returned case: %+v", c.Online)
	}
	if _, err := svc.Upload(ctx, company, c.ID, "premises_proof", "lease.jpg", bytes.NewReader(jpegBytes)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Upload(ctx, company, c.ID, "layout_plan", "layout.png", bytes.NewReader(pngBytes)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmitOnline(ctx, company, c.ID, casework.ChangeInput{}); err != nil {
		t.Fatal(err)
	}
	_, page = ui.get("cases/" + c.ID)
	if !strings.Contains(page, `id="returns"`) || !strings.Contains(page, `data-done="true"`) {
		t.Errorf("the case page lacks the list of corrections:\n%s", page)
	}
	form = formOf(t, page, "prereview-accept")
	if status, _, _ := ui.post("cases/"+c.ID+"/prereview", form); status != http.StatusSeeOther {
		t.Fatalf("accept: %d", status)
	}
	if c, _ = svc.MyCase(ctx, company, c.ID); c.Status != casework.InReview || c.AcceptedAt == nil {
		t.Fatalf("accepted: %+v", c)
	}
	// Now it is reviewed as any case: no pre-review form.
	if _, page = ui.get("cases/" + c.ID); strings.Contains(page, `id="prereview"`) || !strings.Contains(page, `id="review-form"`) {
		t.Errorf("after acceptance the page offers the pre-review again, or not the review:\n%s", page)
	}
}
