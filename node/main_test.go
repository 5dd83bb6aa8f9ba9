package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/catalog"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

func TestLookupEndToEnd(t *testing.T) {
	cfg := nodetest.Config(t)
	// Counts the ledger's entries: no case workflow, whose subscriptions to
	// register changes are audited too.
	cfg.Casework = false
	m := nodetest.Start(t, cfg)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	want := population.NewGenerator(node.DemoSeed).Resident(42)
	nodetest.Consent(t, m, want.IDNumber, "case:test-1", population.ResourceIdentity)
	nodetest.Consent(t, m, want.IDNumber, "case:test-2", population.ResourceIdentity)

	resp := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok,
		nodetest.Query(want.IDNumber, "name", "sex", "birth_date", "address", "status"))
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d: %v", resp.Status, resp.Body)
	}
	rec := resp.Body["record"].(map[string]any)
	wantRec := map[string]any{
		"name": want.Name, "sex": want.Sex, "birth_date": want.BirthDate.Format(time.DateOnly),
		"address": want.Address, "status": want.Status,
	}
	if len(rec) != len(wantRec) {
		t.Errorf("record has fields %v, want exactly %v", rec, wantRec)
	}
	for k, v := range wantRec {
		if rec[k] != v {
			t.Errorf("record[%s] = %v, want %v", k, rec[k], v)
		}
	}
	receipt := resp.Body["receipt"].(map[string]any)
	if receipt["provider"] != "population" || receipt["request_id"] != resp.RequestID || receipt["resource"] != "population.identity" {
		t.Errorf("receipt = %v (X-Request-Id %s)", receipt, resp.RequestID)
	}

	a := nodetest.Audit(t, m, resp.RequestID)
	if a.Outcome != ledger.Released || a.Code != "ok" || a.Status != 200 || a.SubjectKey != want.IDNumber ||
		a.Provider != "population" || a.Consumer != catalog.DeptServiceCenter || a.Caller != "svc:test-window" ||
		strings.Join(a.Fields, ",") != "address,birth_date,name,sex,status" {
		t.Errorf("audit = %+v", a)
	}
	rep, err := ledger.Verify(context.Background(), m.Pool)
	if err != nil || rep.Broken != nil || rep.Checked != 1 {
		t.Errorf("Verify = %+v, %v; want 1 intact entry", rep, err)
	}

	// Without a field list the caller gets every field of the resource.
	resp = nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, []byte(fmt.Sprintf(`{"key":%q,"purpose":"case:test-2"}`, want.IDNumber)))
	if resp.Status != http.StatusOK {
		t.Fatalf("all fields: status %d: %v", resp.Status, resp.Body)
	}
	if rec := resp.Body["record"].(map[string]any); len(rec) != 8 || rec["id_number"] != want.IDNumber || rec["ethnicity"] != want.Ethnicity || rec["division_code"] != want.DivisionCode {
		t.Errorf("all fields: record = %v", rec)
	}
}

func TestBadInputIsRefusedAndAudited(t *testing.T) {
	cfg := nodetest.Config(t)
	// Counts the ledger's entries: no case workflow, whose subscriptions to
	// register changes are audited too.
	cfg.Casework = false
	m := nodetest.Start(t, cfg)
	url := m.URL() + "/v1/resources/population.identity/query"
	good := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	id := population.NewGenerator(node.DemoSeed).IDNumber(7)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	forged := nodetest.Token(t, auth.NewKey(otherPriv), auth.TokenSpec{Scopes: []string{"population.identity"}})
	forgedKid := nodetest.Token(t, &auth.Key{ID: m.Key.ID, Private: otherPriv, Public: otherPriv.Public().(ed25519.PublicKey)},
		auth.TokenSpec{Scopes: []string{"population.identity"}})
	expired := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}, Now: time.Now().Add(-2 * time.Hour), TTL: time.Hour})
	wrongAud := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}, Audience: "someone-else"})
	noScope := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"legal-entity.basic"}})
	noDept := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}, Dept: "-"})
	unknownDept := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity", "legal-entity.basic"}, Dept: "no-such-department"})
	citizen := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}, Role: auth.RoleCitizen})
	wrongCheck := id[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", id[17])+1)%11])
	unknownResident := "110101190001010014" // valid check digit, never seeded (born 1900)
	nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)
	nodetest.Consent(t, m, unknownResident, "case:test-1", population.ResourceIdentity)

	cases := []struct {
		name   string
		url    string
		token  string
		body   []byte
		status int
		code   string
		edge   bool // refused at the node's edge, before the exchange: no ledger entry
	}{
		{"no token", url, "", nodetest.Query(id), 401, "token_missing", false},
		{"garbage token", url, "not.a.jwt", nodetest.Query(id), 401, "token_invalid", false},
		{"signed by another key", url, forged, nodetest.Query(id), 401, "token_invalid", false},
		{"another key under our kid", url, forgedKid, nodetest.Query(id), 401, "token_invalid", false},
		{"expired token", url, expired, nodetest.Query(id), 401, "token_expired", false},
		{"wrong audience", url, wrongAud, nodetest.Query(id), 401, "token_invalid", false},
		{"scope missing", url, noScope, nodetest.Query(id), 403, "scope_missing", false},
		{"no department", url, noDept, nodetest.Query(id), 403, "department_missing", false},
		{"department not in the catalogue", url, unknownDept, nodetest.Query(id), 403, "department_unknown", false},
		{"unconditional resource, department not in the catalogue", m.URL() + "/v1/resources/legal-entity.basic/query", unknownDept,
			[]byte(`{"key":"91440300MA5FXXXX1Y","purpose":"case:test-1"}`), 403, "department_unknown", false},
		{"a citizen's token with a department and a scope", url, citizen, nodetest.Query(id), 403, "person_not_department", false},
		{"unknown resource", m.URL() + "/v1/resources/population.nothing/query", good, nodetest.Query(id), 404, "resource_not_found", false},
		{"hostile resource code", m.URL() + "/v1/resources/%27%3B%20DROP%20TABLE%20x%3B--/query", good, nodetest.Query(id), 404, "resource_not_found", false},
		{"NUL in the query string", m.URL() + "/v1/resources/%27%3B%20DROP%20TABLE%20x%3B--/query?x=%00", good, nodetest.Query(id), 400, "invalid_text", true},
		{"wrong check digit", url, good, nodetest.Query(wrongCheck), 400, "invalid_id_number", false},
		{"too short", url, good, nodetest.Query(id[:17]), 400, "invalid_id_number", false},
		{"too long", url, good, nodetest.Query(id + "1"), 400, "invalid_id_number", false},
		{"hostile key", url, good, nodetest.Query("' OR 1=1 --"), 400, "invalid_id_number", false},
		{"unknown field", url, good, nodetest.Query(id, "salary"), 400, "unknown_field", false},
		{"no purpose", url, good, []byte(fmt.Sprintf(`{"key":%q}`, id)), 400, "purpose_required", false},
		{"NUL in purpose", url, good, []byte(fmt.Sprintf(`{"key":%q,"purpose":"case:\u0000x"}`, id)), 400, "invalid_text", false},
		{"NUL in key", url, good, []byte(`{"key":"11010119900307447\u0000","purpose":"p"}`), 400, "invalid_text", false},
		{"NUL in resource", m.URL() + "/v1/resources/population.%00/query", good, nodetest.Query(id), 400, "invalid_text", true},
		{"invalid UTF-8 in resource", m.URL() + "/v1/resources/population.%ff%fe/query", good, nodetest.Query(id), 400, "invalid_text", true},
		{"malformed JSON", url, good, []byte(`{"key":`), 400, "invalid_json", false},
		{"unknown JSON member", url, good, []byte(`{"key":"x","purpose":"p","admin":true}`), 400, "invalid_json", false},
		{"oversized body", url, good, []byte(`{"key":"` + strings.Repeat("1", 70<<10) + `","purpose":"p"}`), 413, "body_too_large", false},
		{"resident not in register", url, good, nodetest.Query(unknownResident), 404, "resident_not_found", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := nodetest.Post(t, tc.url, tc.token, tc.body)
			if resp.Status != tc.status || resp.ErrorCode() != tc.code {
				t.Fatalf("got %d %q, want %d %q (%v)", resp.Status, resp.ErrorCode(), tc.status, tc.code, resp.Body)
			}
			if _, ok := resp.Body["record"]; ok {
				t.Errorf("an error answer carries a record: %v", resp.Body)
			}
			if tc.edge {
				if resp.RequestID != "" {
					t.Errorf("refused at the edge, yet request %s reached the exchange", resp.RequestID)
				}
				return
			}
			a := nodetest.Audit(t, m, resp.RequestID)
			if a.Code != tc.code || a.Status != tc.status || ledger.IsReleased(a.Outcome) {
				t.Errorf("audit = %+v, want code %s status %d, not answered", a, tc.code, tc.status)
			}
		})
	}
	audited := 0
	for _, tc := range cases {
		if !tc.edge {
			audited++
		}
	}
	rep, err := ledger.Verify(context.Background(), m.Pool)
	if err != nil || rep.Broken != nil || rep.Checked != int64(audited) {
		t.Errorf("Verify = %+v, %v; want %d intact entries", rep, err, audited)
	}
}

// A provider that is down: no adapter consumes the population topic (which
// the exchange created at start for every provider in the catalogue). The
// caller gets 504 within the timeout, and nothing is left waiting.
func TestProviderDownTimesOut(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = nil
	cfg.Timeout = 400 * time.Millisecond
	m := nodetest.Start(t, cfg)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	id := population.NewGenerator(node.DemoSeed).IDNumber(1)
	nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)

	round := func() {
		var wg sync.WaitGroup
		results := make(chan nodetest.Response, 24)
		for range 24 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				r := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(id, "name"))
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("caller waited %v with a 400ms timeout", d)
				}
				results <- r
			}()
		}
		wg.Wait()
		close(results)
		for r := range results {
			if r.Status != http.StatusGatewayTimeout || r.ErrorCode() != "provider_timeout" {
				t.Fatalf("got %d %q, want 504 provider_timeout", r.Status, r.ErrorCode())
			}
			if a := nodetest.Audit(t, m, r.RequestID); a.Outcome != ledger.Failed || a.Code != "provider_timeout" {
				t.Errorf("audit = %+v", a)
			}
		}
		// Client and server keep-alive connections are not the exchange's.
		http.DefaultClient.CloseIdleConnections()
	}
	// The first round opens the bus connections a busy exchange keeps;
	// the second must leave nothing more behind.
	round()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	round()
	if n := m.Requester.InFlight(); n != 0 {
		t.Errorf("%d requests still waiting after their timeout", n)
	}
	// Client and server keep-alive connections are not the exchange's.
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before+4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+4 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines grew from %d to %d after timed-out queries:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// Running again on the same data keeps the signing key (old tokens stay
// valid), the register, the audit chain and the broker's topics.
func TestRestartKeepsData(t *testing.T) {
	cfg := nodetest.Config(t)
	// Counts the ledger's entries: no case workflow, whose subscriptions to
	// register changes are audited too.
	cfg.Casework = false
	m := nodetest.Start(t, cfg)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	id := population.NewGenerator(node.DemoSeed).IDNumber(3)
	nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)
	if r := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(id, "name")); r.Status != 200 {
		t.Fatalf("first run: %d %v", r.Status, r.Body)
	}
	kid := m.Key.ID
	m.Close()

	m2 := nodetest.Start(t, cfg)
	if m2.Key.ID != kid {
		t.Errorf("signing key changed across restarts: %s → %s", kid, m2.Key.ID)
	}
	if r := nodetest.Post(t, m2.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(id, "name")); r.Status != 200 {
		t.Fatalf("second run with the first run's token: %d %v", r.Status, r.Body)
	}
	var n int64
	m2.Pool.QueryRow(context.Background(), `SELECT count(*) FROM population.residents`).Scan(&n)
	if n != nodetest.Residents {
		t.Errorf("residents after restart = %d, want %d (seeded once)", n, nodetest.Residents)
	}
	rep, err := ledger.Verify(context.Background(), m2.Pool)
	if err != nil || rep.Broken != nil || rep.Checked != 2 {
		t.Errorf("Verify after restart = %+v, %v; want 2 intact entries", rep, err)
	}
}

func TestServiceEndpoints(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))
	operator := nodetest.Token(t, m.Key, auth.TokenSpec{Role: node.RoleOperator})
	for _, tc := range []struct{ path, token, contains string }{
		{"/healthz", "", `"status":"ok"`},
		{"/.well-known/jwks.json", "", m.Key.ID},
		{"/v1/openapi.json", "", `"openapi": "3.1.0"`},
		{"/metrics", operator, "process_resident_memory_peak_bytes"},
	} {
		req, _ := http.NewRequest("GET", m.URL()+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), tc.contains) {
			t.Errorf("GET %s: %d, body lacks %q", tc.path, resp.StatusCode, tc.contains)
		}
	}
	resp, _ := http.Get(m.URL() + "/v1/nothing")
	if resp.StatusCode != 404 {
		t.Errorf("unknown route: %d", resp.StatusCode)
	}
	resp.Body.Close()
	// The metrics tell who asks how much of what: not for anyone on the
	// API port.
	for _, tc := range []struct {
		token  string
		status int
		code   string
	}{
		{"", 401, "token_missing"},
		{nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}}), 403, "role_missing"},
	} {
		status, body, _ := nodetest.Call(t, "GET", m.URL()+"/metrics", tc.token, nil)
		if status != tc.status || nodetest.ErrCode(body) != tc.code {
			t.Errorf("metrics with token %.10q: %d %v", tc.token, status, body)
		}
	}
}

// A department that registered a resource but whose adapter has never
// joined the bus is an unavailable provider, not a bus outage.
func TestProviderWithoutAdapter(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))
	ctx := context.Background()
	store := catalog.NewStore(m.Pool)
	if err := store.PutDepartment(ctx, catalog.Department{Code: "civil-affairs", Name: "民政厅 (Civil Affairs)"}); err != nil {
		t.Fatal(err)
	}
	res, err := store.Resource(ctx, population.ResourceIdentity)
	if err != nil {
		t.Fatal(err)
	}
	res.Code, res.Provider, res.Related = "civil-affairs.marriage", "civil-affairs", nil
	if err := store.PutResource(ctx, *res); err != nil {
		t.Fatal(err)
	}
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{res.Code}})
	nodetest.Consent(t, m, population.NewGenerator(node.DemoSeed).IDNumber(1), "case:test-1", res.Code)
	r := nodetest.Post(t, m.URL()+"/v1/resources/"+res.Code+"/query", tok, nodetest.Query(population.NewGenerator(node.DemoSeed).IDNumber(1), "name"))
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "provider_unavailable" {
		t.Errorf("query to a provider without an adapter: %d %v", r.Status, r.Body)
	}
	if a := nodetest.Audit(t, m, r.RequestID); a.Outcome != ledger.Failed || a.Code != "provider_unavailable" {
		t.Errorf("audit = %+v", a)
	}
}
