package node_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"govx"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/casework"
	"govx/catalog"
	"govx/federation"
	"govx/internal/auth"
	"govx/internal/workday"
	"govx/node"
	"govx/node/nodetest"
)

// TestCrossRegionCase: Dongguan's window takes in a food business licence
// that Guangzhou's departments decide. The case is accepted at Dongguan
// while Guangzhou is down, its submission waits and is retried; then it
// is in Guangzhou's back-office queue, from Dongguan, due by Guangzhou's
// calendar; Guangzhou's reviewer approves, its licensing department
// issues, and Dongguan's case and public progress show the licence, which
// Dongguan's window hands out.
func TestCrossRegionCase(t *testing.T) {
	ctx := context.Background()
	var foodNew casework.Item
	for _, it := range casework.DemoItems() {
		if it.Code == "food-business-new" {
			foodNew = it
		}
	}
	crossItem := casework.CrossRegionItem(foodNew, "guangzhou")
	// Guangzhou has a day off that Dongguan works: the first working day
	// after today.
	day := time.Now().In(workday.Zone)
	for day = day.AddDate(0, 0, 1); !workday.Default().IsWorkday(day); day = day.AddDate(0, 0, 1) {
	}
	holiday := workday.Date(day)
	gd, dg, gz := federationOf(t, func(name string, cfg *node.Config) {
		switch name {
		case "dongguan":
			cfg.Casework = true
			cfg.Timeout = 5 * time.Second
			cfg.Adapters = []string{population.Department, legalentity.Department}
			cfg.CaseItems = append(casework.DemoItems(), crossItem)
		case "guangzhou":
			cfg.Casework = true
			cfg.Timeout = 5 * time.Second
			cfg.CaseRetry = 200 * time.Millisecond // a licence not issued at once is ordered again soon
			cfg.Adapters = []string{population.Department, licence.Department}
			cfg.Holidays = []string{holiday}
		}
	})
	applicants := findApplicants(t, nodetest.Residents)
	federated(t, dg, "guangzhou", catalog.DemoHousehold, true) // Dongguan reaches Guangzhou through the province
	dgClerk := nodetest.Token(t, dg.Key, auth.TokenSpec{Subject: clerk.Subject, Role: casework.RoleClerk, Dept: casework.DeptServiceCenter})
	api := newCaseAPI(t, dg) // Dongguan's case API, its answers checked against the OpenAPI document
	submit := func(id string) caseAnswer {
		return api.do("POST", "/v1/cases/"+id+"/submit", "/v1/cases/{id}/submit", dgClerk, nil)
	}

	// Guangzhou is down when Dongguan accepts the case.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if err := gd.Federation.Link(federation.Peer{Name: "guangzhou", Level: federation.LevelCity, Relation: federation.Child,
		URL: dead.URL, Key: gz.NodeKey.Public}); err != nil {
		t.Fatal(err)
	}
	gd.Federation.Refresh(ctx)

	c, err := dg.Casework.Open(ctx, clerk, casework.OpenInput{Item: crossItem.Code, Applicant: companyParty(applicants.company)})
	if err != nil {
		t.Fatal(err)
	}
	// A provider just started may miss the first, busy second: the clerk
	// verifies again.
	for start := time.Now(); c.Material("company_registration").State == casework.Pending || c.Material("representative_identity").State == casework.Pending; {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("Dongguan's registers did not answer in 30s: %+v", c.Materials)
		}
		if c, err = dg.Casework.Verify(ctx, clerk, c.ID, casework.ChangeInput{}); err != nil {
			t.Fatal(err)
		}
	}
	mustState(t, c, "company_registration", casework.Verified)
	mustState(t, c, "representative_identity", casework.Verified)
	c, err = dg.Casework.Accept(ctx, clerk, c.ID, casework.ChangeInput{}, map[string]casework.Choice{
		"premises_proof": casework.ChoiceReceived, "layout_plan": casework.ChoiceReceived, "food_safety_rules": casework.ChoiceCommitment})
	if err != nil {
		t.Fatalf("accept at Dongguan with Guangzhou down: %v", err)
	}
	if c.Status != casework.InReview || c.Remote == nil || c.Remote.Submitted() || c.Remote.ErrCode != "node_unavailable" || c.Remote.NextTry == nil {
		t.Fatalf("the case at Dongguan with Guangzhou down: %s %+v", c.Status, c.Remote)
	}
	id := c.ID
	if resp := submit(id); resp.status != http.StatusServiceUnavailable || resp.code() != "node_unavailable" {
		t.Errorf("the clerk's retry with Guangzhou down: %d %s", resp.status, resp.raw)
	}
	// The clerk's case page says so, and offers to submit again.
	window := newUIClient(t, dg, clerk)
	status, page := window.get("cases/" + id)
	if status != http.StatusOK || !strings.Contains(page, `id="remote-error"`) || !strings.Contains(page, "node_unavailable") {
		t.Errorf("Dongguan's case page with Guangzhou down: %d\n%s", status, page)
	}
	if status, page, _ := window.post("cases/"+id+"/submit", formOf(t, page, "submit-again")); status != http.StatusServiceUnavailable ||
		!strings.Contains(page, `id="submit-again"`) {
		t.Errorf("submitted again from the page with Guangzhou down: %d\n%s", status, page)
	}

	// Guangzhou is back: the clerk's retry submits the case, once.
	link(t, gd, gz, federation.Child)
	for relinked := time.Now(); gd.Federation.ReadAt("guangzhou").Before(relinked); time.Sleep(50 * time.Millisecond) {
		if time.Since(relinked) > 30*time.Second {
			t.Fatal("Guangdong did not read Guangzhou's catalogue again in 30s")
		}
	}
	resp := submit(id)
	remote, _ := resp.body["remote"].(map[string]any)
	if resp.status != http.StatusOK || remote["case_id"] == nil || remote["error_code"] != nil {
		t.Fatalf("the clerk's retry with Guangzhou back: %d %s", resp.status, resp.raw)
	}
	gzID := remote["case_id"].(string)
	if again, err := dg.Casework.Submit(ctx, clerk, id); err != nil || again.Remote.CaseID != gzID {
		t.Errorf("the same case submitted again: %+v %v", again, err)
	}

	queue, err := gz.Casework.Queue(ctx, marketRev)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(queue, func(c casework.Case) bool { return c.Origin != nil && c.Origin.CaseID == id })
	if len(queue) != 1 || i < 0 {
		t.Fatalf("Guangzhou's market-regulation queue: %+v", queue)
	}
	there := &queue[i]
	if there.ID != gzID || there.Origin.Node != "dongguan" || there.IntakeDept != "dongguan/service-center" || there.Status != casework.InReview ||
		there.Material("company_registration").Provider != "dongguan/"+casework.DeptMarket {
		t.Errorf("the case at Guangzhou: %+v", there)
	}

	// The deadline runs on Guangzhou's calendar: its holiday moved it.
	gzCal, err := workday.New(workday.Config{Holidays: []string{holiday}})
	if err != nil {
		t.Fatal(err)
	}
	accepted := *there.AcceptedAt
	want, local := workday.Date(gzCal.AddWorkdays(accepted, foodNew.Promised)), workday.Date(workday.Default().AddWorkdays(accepted, foodNew.Promised))
	if want == local {
		t.Fatalf("Guangzhou's holiday %s does not move the deadline", holiday)
	}
	c, err = dg.Casework.Get(ctx, clerk, id)
	if err != nil {
		t.Fatal(err)
	}
	if workday.Date(*there.Due) != want || c.Due == nil || !c.Due.Equal(*there.Due) || !accepted.Equal(*c.AcceptedAt) {
		t.Errorf("due at Guangzhou %v, at Dongguan %v; want %s on Guangzhou's calendar (%s on Dongguan's)", there.Due, c.Due, want, local)
	}

	t.Run("bad submissions are refused with their codes", func(t *testing.T) {
		for code, in := range map[string]casework.Submission{
			"item_not_cross_region": {CaseID: "GX20260101999998", Item: "resident-certificate"},
			"item_not_found":        {CaseID: "GX20260101999998", Item: "no-such-item"},
			"case_id_invalid":       {CaseID: "GX1", Item: foodNew.Code},
			"invalid_uscc":          {CaseID: "GX20260101999999", Item: foodNew.Code, Applicant: casework.Party{USCC: "91440300MA5D12345X"}},
		} {
			err := dg.Federation.Call(ctx, "guangzhou", casework.KindSubmit, casework.DeptServiceCenter, "clerk:x", in, nil)
			if govx.ErrorCode(err) != code {
				t.Errorf("%s: %v", code, err)
			}
		}
		err := dg.Federation.Call(ctx, "guangzhou", casework.KindStatus, casework.DeptServiceCenter, "clerk:x",
			casework.CaseRef{CaseID: "GX20260101999999"}, nil)
		if govx.ErrorCode(err) != "case_not_found" {
			t.Errorf("the status of a case never submitted: %v", err)
		}
		// Another node asks for Dongguan's case: it is not found there.
		err = gd.Federation.Call(ctx, "guangzhou", casework.KindStatus, casework.DeptServiceCenter, "clerk:x", casework.CaseRef{CaseID: id}, nil)
		if govx.ErrorCode(err) != "case_not_found" {
			t.Errorf("Guangdong asks for Dongguan's case: %v", err)
		}
		// Sent again, even as another item, the case Guangzhou took is answered.
		var st casework.RemoteStatus
		if err := dg.Federation.Call(ctx, "guangzhou", casework.KindSubmit, casework.DeptServiceCenter, "clerk:x",
			casework.Submission{CaseID: id, Item: "resident-certificate"}, &st); err != nil || st.CaseID != gzID {
			t.Errorf("Dongguan's case sent again: %+v %v", st, err)
		}
	})

	// Guangzhou's reviewer asks for supplements: Dongguan's window sees
	// it, and records there what the applicant brought.
	if _, err := gz.Casework.Review(ctx, marketRev, gzID, casework.ChangeInput{}, casework.AskForSupplement, "平面图不清晰"); err != nil {
		t.Fatal(err)
	}
	if c, err = dg.Casework.Get(ctx, clerk, id); err != nil || c.Status != casework.Supplement || c.Review("guangzhou/market-regulation").Reason != "平面图不清晰" {
		t.Fatalf("Dongguan's case after Guangzhou asked for supplements: %+v %v", c, err)
	}
	if c, err = dg.Casework.Supplied(ctx, clerk, id, casework.ChangeInput{}); err != nil || c.Status != casework.InReview {
		t.Fatalf("supplied at Dongguan: %+v %v", c, err)
	}
	if there, err = gz.Casework.Get(ctx, marketRev, gzID); err != nil || there.Status != casework.InReview || there.Review(casework.DeptMarket).Status != casework.ReviewPending {
		t.Fatalf("the case at Guangzhou after the supplement at Dongguan: %+v %v", there, err)
	}

	// Guangzhou's reviewer approves; its licensing department issues.
	there2, err := gz.Casework.Review(ctx, marketRev, gzID, casework.ChangeInput{}, casework.Approve, "")
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); there2.Status == casework.Approved; time.Sleep(100 * time.Millisecond) {
		// The licensing department did not answer at once: ordered again.
		if time.Since(start) > 30*time.Second {
			t.Fatalf("Guangzhou did not issue in 30s: %+v", there2.Result)
		}
		if there2, err = gz.Casework.Get(ctx, marketRev, gzID); err != nil {
			t.Fatal(err)
		}
	}
	if there2.Status != casework.Ready || there2.Result == nil || there2.Result.Number == "" {
		t.Fatalf("the case at Guangzhou after approval: %s %+v", there2.Status, there2.Result)
	}
	number := there2.Result.Number

	// Dongguan's case page (the API) and public progress show it.
	body := api.must(http.StatusOK, "GET", "/v1/cases/"+id, "/v1/cases/{id}", dgClerk, nil).body
	result, _ := body["result"].(map[string]any)
	if body["status"] != "ready" || result["number"] != number {
		t.Fatalf("Dongguan's case after Guangzhou issued: %v", body)
	}
	reviews, _ := body["reviews"].([]any)
	if len(reviews) != 1 || reviews[0].(map[string]any)["dept"] != "guangzhou/market-regulation" || reviews[0].(map[string]any)["status"] != "approved" {
		t.Errorf("Dongguan's view of the review: %v", body["reviews"])
	}
	last4 := applicants.company.USCC[14:]
	body = api.must(http.StatusOK, "GET", "/v1/progress/"+id+"?last4="+last4, "/v1/progress/{id}", "", nil).body
	pres, _ := body["result"].(map[string]any)
	if body["status"] != "ready" || body["decided_at"] != "guangzhou" || pres["number"] != number {
		t.Errorf("progress at Dongguan: %v", body)
	}
	var actions []string
	for _, e := range body["timeline"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	for _, a := range []string{"accepted", "submitted", "reviewed", "supplement_requested", "supplied", "approved", "issued"} {
		if !slices.Contains(actions, a) {
			t.Errorf("progress timeline %v lacks %s", actions, a)
		}
	}
	page = progressPage(t, dg, id, last4)
	if !strings.Contains(page, number) || !strings.Contains(page, `id="progress-decided-at"`) {
		t.Errorf("the progress page does not show the licence %s decided at guangzhou:\n%s", number, page)
	}

	if _, page := window.get("cases/" + id); !strings.Contains(page, gzID) || !strings.Contains(page, number) || strings.Contains(page, `id="submit-again"`) {
		t.Errorf("Dongguan's case page once Guangzhou issued:\n%s", page)
	}
	if _, page := newUIClient(t, gz, marketRev).get("cases/" + gzID); !strings.Contains(page, `id="origin-case"`) || !strings.Contains(page, id) {
		t.Errorf("Guangzhou's case page does not name Dongguan's case %s:\n%s", id, page)
	}

	// Dongguan's window hands the licence out.
	c, err = dg.Casework.Deliver(ctx, clerk, id, casework.ChangeInput{})
	if err != nil || c.Status != casework.Delivered || c.Result.Number != number {
		t.Errorf("delivery at Dongguan: %+v %v", c, err)
	}
}

// progressPage looks case id up on m's public progress page and returns
// the page.
func progressPage(t *testing.T, m *node.Node, id, last4 string) string {
	t.Helper()
	a := fromAddr(t, 90)
	req, _ := http.NewRequest("GET", m.URL()+"/ui/progress", nil)
	_, page := a.do(req)
	f := formOf(t, page, "progress-form")
	f.Set("case_id", id)
	f.Set("last4", last4)
	res, err := a.c.PostForm(m.URL()+"/ui/progress", url.Values(f))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("progress page: %d %s", res.StatusCode, b)
	}
	return string(b)
}
