package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/catalog"
	"govx/consent"
	"govx/exchange"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/node"
	"govx/node/nodetest"
)

// The whole consent story through the running program: refused without
// consent, recorded by the clerk, allowed, listed by the data subject
// (and by no one else), revoked, refused again; a once-only consent used
// once; a licence looked up by number under its holder's consent; an
// artefact verified, and a forged one refused and logged.
func TestConsentEndToEnd(t *testing.T) {
	cdoc, err := openapicheck.Load(consent.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	xdoc, err := openapicheck.Load(exchange.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodetest.Config(t)
	cfg.Adapters = node.ReferenceAdapters
	m := nodetest.Start(t, cfg)
	u := m.URL()
	svc := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity, licence.ResourceFoodBusiness, legalentity.ResourceBasic}})
	clerk := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: "clerk:window-7", Role: consent.RoleClerk})
	id := population.NewGenerator(node.DemoSeed).IDNumber(11)
	other := population.NewGenerator(node.DemoSeed).IDNumber(12)
	citizen := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: id, Role: consent.RoleCitizen, Dept: "-"})
	otherCitizen := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: other, Role: consent.RoleCitizen, Dept: "-"})

	check := func(doc *openapicheck.Doc, method, path string, status int, raw []byte, ct string) {
		t.Helper()
		if err := doc.CheckResponseJSON(method, path, status, ct, raw); err != nil {
			t.Errorf("%s %s %d: does not match the OpenAPI document: %v", method, path, status, err)
		}
	}
	lookup := func(body map[string]any, status int, code string) map[string]any {
		t.Helper()
		st, out, raw := nodetest.Call(t, "POST", u+"/v1/resources/population.identity/query", svc, body)
		if st != status || (code != "" && nodetest.ErrCode(out) != code) {
			t.Fatalf("lookup %v: %d %v, want %d %s", body, st, out, status, code)
		}
		check(xdoc, "POST", "/v1/resources/{code}/query", st, raw, "application/json")
		return out
	}
	q := map[string]any{"key": id, "fields": []string{"name", "address"}, "purpose": "case:2026-000777"}

	// 1. No consent: refused, and nothing was asked of the provider.
	lookup(q, 403, "consent_required")

	// 2. The clerk records it at the window.
	st, c, raw := nodetest.Call(t, "POST", u+"/v1/consents", clerk, map[string]any{
		"subject": id, "case_id": "2026-000777", "purpose_code": "food-business-licence",
		"purpose":     "Verify the applicant's identity for a food business licence",
		"resources":   []map[string]any{{"resource": "population.identity", "fields": []string{"name", "address", "birth_date"}}},
		"valid_until": time.Now().Add(24 * time.Hour).Format(time.RFC3339),
	})
	if st != 201 || c["status"] != "active" || c["consumer"] != catalog.DeptServiceCenter || c["given_via"] != "window" {
		t.Fatalf("create: %d %v", st, c)
	}
	check(cdoc, "POST", "/v1/consents", st, raw, "application/json")
	cid := c["id"].(string)

	// 3. Allowed now; the audit names the consent and the data subject.
	out := lookup(q, 200, "")
	var consentID, dataSubject string
	m.Pool.QueryRow(context.Background(), `SELECT consent_id, data_subject FROM exchange.audit WHERE request_id = $1`,
		out["receipt"].(map[string]any)["request_id"]).Scan(&consentID, &dataSubject)
	if consentID != cid || dataSubject != id {
		t.Errorf("audit consent %q subject %q, want %s %s", consentID, dataSubject, cid, id)
	}
	// A field the consent does not cover, or another purpose: refused.
	lookup(map[string]any{"key": id, "fields": []string{"name", "sex"}, "purpose": "case:2026-000777"}, 403, "consent_required")
	lookup(map[string]any{"key": id, "fields": []string{"name"}, "purpose": "case:2026-000999"}, 403, "consent_required")

	// 4. The data subject sees who looked; no one else may.
	st, acc, raw := nodetest.Call(t, "GET", u+"/v1/subjects/"+id+"/accesses", citizen, nil)
	check(xdoc, "GET", "/v1/subjects/{subject}/accesses", st, raw, "application/json")
	list, _ := acc["accesses"].([]any)
	if st != 200 || len(list) != 4 {
		t.Fatalf("accesses: %d, %d entries (%v)", st, len(list), acc)
	}
	if first := list[0].(map[string]any); first["code"] != "consent_required" || first["consumer"] != catalog.DeptServiceCenter {
		t.Errorf("newest access = %v, want the refused one for another case", first)
	}
	answered := 0
	for _, e := range list {
		e := e.(map[string]any)
		if o, _ := e["outcome"].(string); ledger.IsReleased(o) {
			answered++
			if e["consent_id"] != cid || e["case_id"] != "2026-000777" || e["resource"] != "population.identity" {
				t.Errorf("answered access = %v", e)
			}
		}
		if _, leaked := e["caller"]; leaked {
			t.Errorf("an access names the official: %v", e)
		}
	}
	if answered != 1 {
		t.Errorf("%d answered accesses listed, want 1", answered)
	}
	if strings.Contains(string(raw), other) {
		t.Error("the list shows another person's ID number")
	}
	for name, tok := range map[string]string{"another citizen": otherCitizen, "the department": svc, "the clerk": clerk} {
		st, body, raw := nodetest.Call(t, "GET", u+"/v1/subjects/"+id+"/accesses", tok, nil)
		if st != 403 || nodetest.ErrCode(body) != "not_data_subject" {
			t.Errorf("%s reads the accesses: %d %v", name, st, body)
		}
		check(xdoc, "GET", "/v1/subjects/{subject}/accesses", st, raw, "application/json")
		if st, body, _ := nodetest.Call(t, "GET", u+"/v1/subjects/"+id+"/consents", tok, nil); st != 403 {
			t.Errorf("%s reads the consents: %d %v", name, st, body)
		}
	}
	st, mine, raw := nodetest.Call(t, "GET", u+"/v1/subjects/"+id+"/consents", citizen, nil)
	check(cdoc, "GET", "/v1/subjects/{subject}/consents", st, raw, "application/json")
	if cs, _ := mine["consents"].([]any); st != 200 || len(cs) != 1 {
		t.Fatalf("own consents: %d %v", st, mine)
	}

	// 5. Revoked by the subject: refused at once (this instance), with the
	// reason.
	if st, _, _ := nodetest.Call(t, "POST", u+"/v1/consents/"+cid+"/revoke", clerk, map[string]any{"reason": "x"}); st != 403 {
		t.Errorf("the clerk revoked a consent: %d", st)
	}
	st, c, raw = nodetest.Call(t, "POST", u+"/v1/consents/"+cid+"/revoke", citizen, map[string]any{"reason": "the application was withdrawn"})
	check(cdoc, "POST", "/v1/consents/{id}/revoke", st, raw, "application/json")
	if st != 200 || c["status"] != "revoked" {
		t.Fatalf("revoke: %d %v", st, c)
	}
	deadline := time.Now().Add(time.Second)
	for {
		st, out, _ := nodetest.Call(t, "POST", u+"/v1/resources/population.identity/query", svc, q)
		if st == 403 && nodetest.ErrCode(out) == "consent_revoked" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a second after revocation: %d %v", st, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, hist, raw := nodetest.Call(t, "GET", u+"/v1/consents/"+cid+"/history", citizen, nil)
	check(cdoc, "GET", "/v1/consents/{id}/history", st, raw, "application/json")
	if h, _ := hist["history"].([]any); len(h) != 3 { // create, refused revoke by the clerk, revoke
		t.Errorf("history: %v", hist)
	}

	// 6. Once only: one access, then consent_used.
	once := mustConsentOnce(t, m, other)
	q2 := map[string]any{"key": other, "fields": []string{"name"}, "purpose": "case:test-once", "consent": once.ID}
	lookup(q2, 200, "")
	lookup(q2, 403, "consent_used")

	// 7. A licence looked up by number: its holder's consent decides,
	// after the provider answered, and the holder finds the access.
	gens, err := node.NewGenerators(node.DemoRegisters(cfg.Residents))
	if err != nil {
		t.Fatal(err)
	}
	var lic licence.Licence
	for i := 0; ; i++ {
		if lic = gens.Licences.Licence(i); lic.Type == licence.TypeFoodBusiness {
			break
		}
	}
	lq := map[string]any{"key": lic.Number, "fields": []string{"number", "holder_name"}, "purpose": "case:lic-1"}
	if st, out, _ := nodetest.Call(t, "POST", u+"/v1/resources/licence.food-business/query", svc, lq); st != 403 || nodetest.ErrCode(out) != "consent_required" || out["record"] != nil {
		t.Fatalf("licence without the holder's consent: %d %v", st, out)
	}
	nodetest.Consent(t, m, lic.HolderCode, "case:lic-1", licence.ResourceFoodBusiness)
	st, out, _ = nodetest.Call(t, "POST", u+"/v1/resources/licence.food-business/query", svc, lq)
	rec, _ := out["record"].(map[string]any)
	if st != 200 || len(rec) != 2 || rec["holder_name"] != lic.HolderName {
		t.Fatalf("licence with consent: %d %v (the holder code must not leave: not asked for)", st, out)
	}
	holderRole := consent.RoleCitizen
	if typ, _ := consent.SubjectType(lic.HolderCode); typ == consent.Company {
		holderRole = consent.RoleLegalPerson
	}
	holder := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: lic.HolderCode, Role: holderRole, Dept: "-"})
	st, acc, _ = nodetest.Call(t, "GET", u+"/v1/subjects/"+lic.HolderCode+"/accesses", holder, nil)
	if list, _ := acc["accesses"].([]any); st != 200 || len(list) != 2 {
		t.Errorf("the holder's accesses: %d %v", st, acc)
	}

	// 8. Artefacts: a real one verifies; an altered one is refused and
	// logged.
	st, v, raw := nodetest.Call(t, "POST", u+"/v1/consents/verify", "", map[string]any{"artefact": once.Artefact})
	check(cdoc, "POST", "/v1/consents/verify", st, raw, "application/json")
	if st != 200 || v["valid"] != true || v["status"] != "used" {
		t.Errorf("verify: %d %v", st, v)
	}
	parts := strings.Split(once.Artefact, ".")
	parts[2] = strings.Repeat("A", len(parts[2]))
	st, v, raw = nodetest.Call(t, "POST", u+"/v1/consents/verify", "", map[string]any{"artefact": strings.Join(parts, ".")})
	check(cdoc, "POST", "/v1/consents/verify", st, raw, "application/json")
	if st != 400 || nodetest.ErrCode(v) != "consent_signature_invalid" {
		t.Errorf("forged artefact: %d %v", st, v)
	}
	var logged int
	m.Pool.QueryRow(context.Background(), `SELECT count(*) FROM consent.log WHERE action = 'verify' AND code = 'consent_signature_invalid'`).Scan(&logged)
	if logged != 1 {
		t.Errorf("%d forged verifications logged, want 1", logged)
	}
	// Offline: the published keys verify the artefact without the service.
	st, _, raw = nodetest.Call(t, "GET", u+"/v1/consents/keys", "", nil)
	check(cdoc, "GET", "/v1/consents/keys", st, raw, "application/jwk-set+json")
	keys, err := consent.ParseJWKS(raw)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ParseJWKS: %v, %v", keys, err)
	}
	if a, err := consent.VerifyArtefact(once.Artefact, keys...); err != nil || a.ID != once.ID {
		t.Errorf("offline verification: %v, %v", a, err)
	}

	// 9. Bad input at creation: each a clear code, nothing recorded.
	for _, tc := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"subject": "12345", "purpose_code": "x", "purpose": "x", "resources": []map[string]any{{"resource": "population.identity"}}, "valid_until": "2030-01-01T00:00:00Z"}, "invalid_subject"},
		{map[string]any{"subject": id, "purpose_code": "x", "purpose": "x", "resources": []map[string]any{{"resource": "population.identity"}}, "valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}, "validity_invalid"},
		{map[string]any{"subject": id, "purpose_code": "x", "purpose": "x", "resources": []map[string]any{{"resource": catalog.DemoHousehold, "fields": []string{"members"}}}, "valid_until": "2030-01-01T00:00:00Z"}, "consumer_not_entitled"},
		{map[string]any{"subject": id, "purpose_code": "x", "purpose": "x", "resources": []map[string]any{{"resource": "nothing.here"}}, "valid_until": "2030-01-01T00:00:00Z"}, "resource_not_found"},
	} {
		st, body, raw := nodetest.Call(t, "POST", u+"/v1/consents", clerk, tc.body)
		if nodetest.ErrCode(body) != tc.code {
			t.Errorf("create %v: %d %v, want %s", tc.body["subject"], st, body, tc.code)
		}
		check(cdoc, "POST", "/v1/consents", st, raw, "application/json")
	}
	rep, err := ledger.Verify(context.Background(), m.Pool)
	if err != nil || rep.Broken != nil {
		t.Errorf("audit Verify = %+v, %v", rep, err)
	}
}

func mustConsentOnce(t *testing.T, m *node.Node, subject string) *consent.Consent {
	t.Helper()
	c, err := m.Consents.Create(context.Background(), node.DemoClerk, consent.Request{Subject: subject, CaseID: "test-once",
		PurposeCode: "test", Purpose: "test", Fetch: consent.Once, ValidUntil: time.Now().Add(time.Hour),
		Items: []consent.Item{{Resource: population.ResourceIdentity, Fields: []string{"name"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
