package node_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"govx/internal/auth"
	"govx/node/nodetest"
)

// The applicant's JSON API walks an online application with the company's
// own token, every answer as the OpenAPI document says; the back office
// pre-reviews it through the case API, and a gateway reads the outbox.
func TestOnlineApplicationAPI(t *testing.T) {
	m, d := runCaseSystem(t)
	api := newCaseAPI(t, m)
	toks := caseTokens(t, m)
	company := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: d.company.USCC, Role: auth.RoleLegalPerson})
	stranger := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: d.resident.IDNumber, Role: auth.RoleCitizen})

	items := api.must(200, "GET", "/v1/case-items", "/v1/case-items", company, nil)
	if its, _ := items.body["items"].([]any); len(its) != 3 {
		t.Errorf("a company's online items: %s", items.raw)
	}
	api.refused(403, "applicant_role_required", "POST", "/v1/applications", "/v1/applications", toks["clerk"], map[string]any{"item": "food-business-new"})
	draft := api.must(201, "POST", "/v1/applications", "/v1/applications", company, map[string]any{"item": "food-business-new",
		"applicant": map[string]any{"kind": "company", "rep_id_number": d.company.RepresentativeID, "phone": "13800000000"}},
		"Idempotency-Key", "start-food-1")
	id, _ := draft.body["id"].(string)
	if draft.body["channel"] != "online" || draft.body["status"] != "draft" || draft.header.Get("Location") != "/v1/applications/"+id {
		t.Fatalf("draft: %s", draft.raw)
	}
	api.must(200, "POST", "/v1/applications", "/v1/applications", company, map[string]any{"item": "food-business-new",
		"applicant": map[string]any{"kind": "company", "rep_id_number": d.company.RepresentativeID}}, "Idempotency-Key", "start-food-1")
	base := "/v1/applications/" + id

	facts := api.must(200, "GET", base+"/facts", "/v1/applications/{id}/facts", company, nil)
	if fs, _ := facts.body["facts"].([]any); len(fs) != 2 || strings.Contains(string(facts.raw), d.company.RepresentativeID) {
		t.Errorf("facts: %s (the representative's ID number masked)", facts.raw)
	}
	api.refused(403, "preview_consent_required", "POST", base+"/preview", "/v1/applications/{id}/preview", company, nil)
	for _, tc := range []struct{ method, path, tmpl string }{
		{"GET", base, "/v1/applications/{id}"},
		{"GET", base + "/facts", "/v1/applications/{id}/facts"},
		{"POST", base + "/preview-consent", "/v1/applications/{id}/preview-consent"},
	} {
		api.refused(404, "case_not_found", tc.method, tc.path, tc.tmpl, stranger, nil)
	}
	api.refused(404, "case_not_found", "GET", "/v1/cases/"+id, "/v1/cases/{id}", toks["clerk"], nil)
	api.must(200, "POST", base+"/preview-consent", "/v1/applications/{id}/preview-consent", company, nil)
	pv := api.must(200, "POST", base+"/preview", "/v1/applications/{id}/preview", company, nil)
	if materialState(pv.body, "company_registration") != "verified" {
		t.Fatalf("preview: %s", pv.raw)
	}
	api.must(200, "POST", base+"/confirm", "/v1/applications/{id}/confirm", company, nil)

	upload := func(token, code, name string, data []byte) caseAnswer {
		return api.do("PUT", base+"/materials/"+code+"/file?name="+name, "/v1/applications/{id}/materials/{code}/file", token, data,
			"Content-Type", "application/pdf")
	}
	if a := upload(company, "premises_proof", "lease.pdf", []byte("MZ\x90\x00 not a PDF")); a.status != 415 || a.code() != "file_type_not_allowed" {
		t.Errorf("an executable called lease.pdf: %d %s", a.status, a.raw)
	}
	if a := upload(company, "premises_proof", "big.pdf", append([]byte("%PDF-"), make([]byte, 5<<20)...)); a.status != 413 || a.code() != "file_too_large" {
		t.Errorf("a file over the limit: %d %s", a.status, a.raw)
	}
	if a := upload(stranger, "premises_proof", "lease.pdf", pdfBytes); a.status != 404 {
		t.Errorf("another applicant uploads: %d %s", a.status, a.raw)
	}
	if a := upload(company, "premises_proof", "lease.pdf", pdfBytes); a.status != 200 || materialState(a.body, "premises_proof") != "received" {
		t.Fatalf("upload: %d %s", a.status, a.raw)
	}
	api.must(200, "POST", base+"/materials/food_safety_rules/commitment", "/v1/applications/{id}/materials/{code}/commitment", company, nil)
	sub := api.must(200, "POST", base+"/submit", "/v1/applications/{id}/submit", company, nil)
	if sub.body["status"] != "submitted" {
		t.Fatalf("submit: %s", sub.raw)
	}

	// The file, to the applicant and the reviewer only.
	get := func(path, token string) (int, []byte, http.Header) {
		req, _ := http.NewRequest("GET", m.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header
	}
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{base + "/materials/premises_proof/file", company, 200},
		{"/v1/cases/" + id + "/materials/premises_proof/file", toks["marketRev"], 200},
		{"/v1/cases/" + id + "/materials/premises_proof/file", toks["fireRev"], 404},
		{base + "/materials/premises_proof/file", stranger, 404},
	} {
		status, b, h := get(tc.path, tc.token)
		if status != tc.status || (status == 200 && (!bytes.Equal(b, pdfBytes) || h.Get("Content-Type") != "application/pdf" ||
			!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") || h.Get("X-Content-Type-Options") != "nosniff")) {
			t.Errorf("GET %s: %d %v", tc.path, status, h)
		}
	}

	// Pre-review: the queue marks it online; returned, corrected, accepted.
	q := api.must(200, "GET", "/v1/review-queue", "/v1/review-queue", toks["marketRev"], nil)
	if !strings.Contains(string(q.raw), `"channel":"online"`) || !strings.Contains(string(q.raw), id) {
		t.Errorf("queue: %s", q.raw)
	}
	pre := "/v1/cases/" + id + "/prereview"
	api.refused(400, "decision_invalid", "POST", pre, "/v1/cases/{id}/prereview", toks["marketRev"], map[string]any{"decision": "maybe"})
	ret := api.must(200, "POST", pre, "/v1/cases/{id}/prereview", toks["marketRev"], map[string]any{"decision": "return",
		"items": []map[string]any{{"material": "premises_proof", "note": "缺少签字页"}}})
	if ret.body["status"] != "returned" {
		t.Fatalf("return: %s", ret.raw)
	}
	api.refused(409, "corrections_incomplete", "POST", base+"/submit", "/v1/applications/{id}/submit", company, nil)
	if a := upload(company, "premises_proof", "lease-signed.png", pngBytes); a.status != 200 {
		t.Fatalf("corrected upload: %d %s", a.status, a.raw)
	}
	api.must(200, "POST", base+"/submit", "/v1/applications/{id}/submit", company, nil)
	acc := api.must(200, "POST", pre, "/v1/cases/{id}/prereview", toks["marketRev"], map[string]any{"decision": "accept"})
	if acc.body["status"] != "in_review" || acc.body["due"] == nil {
		t.Fatalf("accept: %s", acc.raw)
	}

	mine := api.must(200, "GET", "/v1/applications", "/v1/applications", company, nil)
	if ids := caseIDs(mine); len(ids) != 1 || ids[0] != id {
		t.Errorf("the company's cases: %v", ids)
	}
	if ids := caseIDs(api.must(200, "GET", "/v1/applications", "/v1/applications", stranger, nil)); len(ids) != 0 {
		t.Errorf("another applicant's cases: %v", ids)
	}
	tl := api.must(200, "GET", base+"/timeline", "/v1/applications/{id}/timeline", company, nil)
	for _, action := range []string{"applied_online", "submitted", "returned", "resubmitted", "accepted"} {
		if !strings.Contains(string(tl.raw), `"`+action+`"`) {
			t.Errorf("timeline lacks %s: %s", action, tl.raw)
		}
	}
	ns := api.must(200, "GET", "/v1/notifications?limit=10", "/v1/notifications", company, nil)
	if n, _ := ns.body["notifications"].([]any); len(n) != 4 {
		t.Errorf("notifications: %s", ns.raw)
	}
	api.refused(403, "role_forbidden", "GET", "/v1/notification-outbox", "/v1/notification-outbox", company, nil)
	out := api.must(200, "GET", "/v1/notification-outbox?status=ready", "/v1/notification-outbox", toks["supervisor"], nil)
	if !strings.Contains(string(out.raw), `"address":"13800000000"`) || strings.Contains(string(out.raw), `"no_address"`) {
		t.Errorf("outbox: %s", out.raw)
	}
}
