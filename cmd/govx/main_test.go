package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/catalog"
	"govx/consent"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/postgres/postgrestest"
	"govx/internal/redis/redistest"
)

const testResidents = 300

// testConfig is a whole govx on port 0: a fresh database, its own Redis
// prefix, an embedded broker persisting under a temp dir.
func testConfig(t testing.TB) Config {
	t.Helper()
	return Config{
		DataDir:       t.TempDir(),
		PostgresURL:   postgrestest.NewURL(t),
		RedisURL:      redistest.URL(),
		RedisPrefix:   redistest.NewPrefix(t),
		EmbeddedKafka: true,
		HTTPAddr:      "127.0.0.1:0",
		Instance:      "test",
		Timeout:       5 * time.Second,
		Migrate:       true,
		Demo:          true,
		Residents:     testResidents,
		Exchange:      true,
		Adapters:      []string{population.Department},
		Logger:        slog.New(slog.NewTextHandler(testLogOutput(), nil)),
	}
}

func mustRun(t *testing.T, cfg Config) *Main {
	t.Helper()
	m := NewMain(cfg)
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func mustToken(t *testing.T, key *auth.Key, spec auth.TokenSpec) string {
	t.Helper()
	if spec.Issuer == "" {
		spec.Issuer = Issuer
	}
	if spec.Audience == "" {
		spec.Audience = Audience
	}
	if spec.Subject == "" {
		spec.Subject = "svc:test-window"
	}
	switch spec.Dept {
	case "":
		spec.Dept = catalog.DeptServiceCenter
	case "-":
		spec.Dept = ""
	}
	if spec.TTL == 0 {
		spec.TTL = time.Hour
	}
	tok, err := key.Mint(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type response struct {
	Status    int
	RequestID string
	Body      map[string]any
}

func (r response) errorCode() string {
	e, _ := r.Body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func post(t *testing.T, url, token string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON", ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out.Body); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return out
}

func query(key string, fields ...string) []byte {
	b, _ := json.Marshal(map[string]any{"key": key, "fields": fields, "purpose": "case:test-1"})
	return b
}

// mustConsent records, as the service center's clerk at the window, the
// data subject's consent to resources for purpose: a
// "case:<id>" purpose names the case, anything else is the purpose code.
func mustConsent(t testing.TB, m *Main, subject, purpose string, resources ...string) *consent.Consent {
	t.Helper()
	r := consent.Request{Subject: subject, Purpose: "test", ValidUntil: time.Now().Add(time.Hour)}
	if id, ok := strings.CutPrefix(purpose, "case:"); ok {
		r.CaseID, r.PurposeCode = id, "test"
	} else {
		r.PurposeCode = purpose
	}
	for _, res := range resources {
		// "resource:f1,f2" names fields; a bare code covers every field.
		code, fields, _ := strings.Cut(res, ":")
		it := consent.Item{Resource: code}
		if fields != "" {
			it.Fields = strings.Split(fields, ",")
		}
		r.Items = append(r.Items, it)
	}
	c, err := m.Consents.Create(context.Background(), demoClerk, r)
	if err != nil {
		t.Fatalf("consent of %s: %v", subject, err)
	}
	return c
}

type auditRow struct {
	Caller, Consumer, Resource, Provider, SubjectKey, Outcome, Code string
	Fields                                                          []string
	Status                                                          int
}

func mustAudit(t *testing.T, m *Main, requestID string) auditRow {
	t.Helper()
	var r auditRow
	err := m.Pool.QueryRow(context.Background(), `SELECT caller, consumer, resource, provider, subject_key, outcome, code, fields, status
		FROM exchange.audit WHERE request_id = $1`, requestID).
		Scan(&r.Caller, &r.Consumer, &r.Resource, &r.Provider, &r.SubjectKey, &r.Outcome, &r.Code, &r.Fields, &r.Status)
	if err != nil {
		t.Fatalf("audit record of %s: %v", requestID, err)
	}
	return r
}

func TestLookupEndToEnd(t *testing.T) {
	m := mustRun(t, testConfig(t))
	tok := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	want := population.NewGenerator(DemoSeed).Resident(42)
	mustConsent(t, m, want.IDNumber, "case:test-1", population.ResourceIdentity)
	mustConsent(t, m, want.IDNumber, "case:test-2", population.ResourceIdentity)

	resp := post(t, m.URL()+"/v1/resources/population.identity/query", tok,
		query(want.IDNumber, "name", "sex", "birth_date", "address", "status"))
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

	a := mustAudit(t, m, resp.RequestID)
	if a.Outcome != ledger.Answered || a.Code != "ok" || a.Status != 200 || a.SubjectKey != want.IDNumber ||
		a.Provider != "population" || a.Consumer != catalog.DeptServiceCenter || a.Caller != "svc:test-window" ||
		strings.Join(a.Fields, ",") != "address,birth_date,name,sex,status" {
		t.Errorf("audit = %+v", a)
	}
	rep, err := ledger.Verify(context.Background(), m.Pool)
	if err != nil || rep.Broken != nil || rep.Checked != 1 {
		t.Errorf("Verify = %+v, %v; want 1 intact entry", rep, err)
	}

	// Without a field list the caller gets every field of the resource.
	resp = post(t, m.URL()+"/v1/resources/population.identity/query", tok, []byte(fmt.Sprintf(`{"key":%q,"purpose":"case:test-2"}`, want.IDNumber)))
	if resp.Status != http.StatusOK {
		t.Fatalf("all fields: status %d: %v", resp.Status, resp.Body)
	}
	if rec := resp.Body["record"].(map[string]any); len(rec) != 8 || rec["id_number"] != want.IDNumber || rec["ethnicity"] != want.Ethnicity || rec["division_code"] != want.DivisionCode {
		t.Errorf("all fields: record = %v", rec)
	}
}

func TestBadInputIsRefusedAndAudited(t *testing.T) {
	m := mustRun(t, testConfig(t))
	url := m.URL() + "/v1/resources/population.identity/query"
	good := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	id := population.NewGenerator(DemoSeed).IDNumber(7)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	forged := mustToken(t, auth.NewKey(otherPriv), auth.TokenSpec{Scopes: []string{"population.identity"}})
	forgedKid := mustToken(t, &auth.Key{ID: m.Key.ID, Private: otherPriv, Public: otherPriv.Public().(ed25519.PublicKey)},
		auth.TokenSpec{Scopes: []string{"population.identity"}})
	expired := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}, Now: time.Now().Add(-2 * time.Hour), TTL: time.Hour})
	wrongAud := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}, Audience: "someone-else"})
	noScope := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"legal-entity.basic"}})
	noDept := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}, Dept: "-"})
	wrongCheck := id[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", id[17])+1)%11])
	unknownResident := "110101190001010014" // valid check digit, never seeded (born 1900)
	mustConsent(t, m, id, "case:test-1", population.ResourceIdentity)
	mustConsent(t, m, unknownResident, "case:test-1", population.ResourceIdentity)

	cases := []struct {
		name   string
		url    string
		token  string
		body   []byte
		status int
		code   string
	}{
		{"no token", url, "", query(id), 401, "token_missing"},
		{"garbage token", url, "not.a.jwt", query(id), 401, "token_invalid"},
		{"signed by another key", url, forged, query(id), 401, "token_invalid"},
		{"another key under our kid", url, forgedKid, query(id), 401, "token_invalid"},
		{"expired token", url, expired, query(id), 401, "token_expired"},
		{"wrong audience", url, wrongAud, query(id), 401, "token_invalid"},
		{"scope missing", url, noScope, query(id), 403, "scope_missing"},
		{"no department", url, noDept, query(id), 403, "department_missing"},
		{"unknown resource", m.URL() + "/v1/resources/population.nothing/query", good, query(id), 404, "resource_not_found"},
		{"hostile resource code", m.URL() + "/v1/resources/%27%3B%20DROP%20TABLE%20x%3B--/query?x=%00", good, query(id), 404, "resource_not_found"},
		{"wrong check digit", url, good, query(wrongCheck), 400, "invalid_id_number"},
		{"too short", url, good, query(id[:17]), 400, "invalid_id_number"},
		{"too long", url, good, query(id + "1"), 400, "invalid_id_number"},
		{"hostile key", url, good, query("' OR 1=1 --"), 400, "invalid_id_number"},
		{"unknown field", url, good, query(id, "salary"), 400, "unknown_field"},
		{"no purpose", url, good, []byte(fmt.Sprintf(`{"key":%q}`, id)), 400, "purpose_required"},
		{"NUL in purpose", url, good, []byte(fmt.Sprintf(`{"key":%q,"purpose":"case:\u0000x"}`, id)), 400, "purpose_invalid"},
		{"NUL in key", url, good, []byte(`{"key":"11010119900307447\u0000","purpose":"p"}`), 400, "invalid_id_number"},
		{"NUL in resource", m.URL() + "/v1/resources/population.%00/query", good, query(id), 404, "resource_not_found"},
		{"invalid UTF-8 in resource", m.URL() + "/v1/resources/population.%ff%fe/query", good, query(id), 404, "resource_not_found"},
		{"malformed JSON", url, good, []byte(`{"key":`), 400, "invalid_json"},
		{"unknown JSON member", url, good, []byte(`{"key":"x","purpose":"p","admin":true}`), 400, "invalid_json"},
		{"oversized body", url, good, []byte(`{"key":"` + strings.Repeat("1", 70<<10) + `","purpose":"p"}`), 413, "body_too_large"},
		{"resident not in register", url, good, query(unknownResident), 404, "resident_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, tc.url, tc.token, tc.body)
			if resp.Status != tc.status || resp.errorCode() != tc.code {
				t.Fatalf("got %d %q, want %d %q (%v)", resp.Status, resp.errorCode(), tc.status, tc.code, resp.Body)
			}
			if _, ok := resp.Body["record"]; ok {
				t.Errorf("an error answer carries a record: %v", resp.Body)
			}
			a := mustAudit(t, m, resp.RequestID)
			if a.Code != tc.code || a.Status != tc.status || a.Outcome == ledger.Answered {
				t.Errorf("audit = %+v, want code %s status %d, not answered", a, tc.code, tc.status)
			}
		})
	}
	rep, err := ledger.Verify(context.Background(), m.Pool)
	if err != nil || rep.Broken != nil || rep.Checked != int64(len(cases)) {
		t.Errorf("Verify = %+v, %v; want %d intact entries", rep, err, len(cases))
	}
}

// A provider that is down: no adapter consumes the population topic (which
// the exchange created at start for every provider in the catalogue). The
// caller gets 504 within the timeout, and nothing is left waiting.
func TestProviderDownTimesOut(t *testing.T) {
	cfg := testConfig(t)
	cfg.Adapters = nil
	cfg.Timeout = 400 * time.Millisecond
	m := mustRun(t, cfg)
	tok := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	id := population.NewGenerator(DemoSeed).IDNumber(1)
	mustConsent(t, m, id, "case:test-1", population.ResourceIdentity)

	round := func() {
		var wg sync.WaitGroup
		results := make(chan response, 24)
		for range 24 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				r := post(t, m.URL()+"/v1/resources/population.identity/query", tok, query(id, "name"))
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("caller waited %v with a 400ms timeout", d)
				}
				results <- r
			}()
		}
		wg.Wait()
		close(results)
		for r := range results {
			if r.Status != http.StatusGatewayTimeout || r.errorCode() != "provider_timeout" {
				t.Fatalf("got %d %q, want 504 provider_timeout", r.Status, r.errorCode())
			}
			if a := mustAudit(t, m, r.RequestID); a.Outcome != ledger.Failed || a.Code != "provider_timeout" {
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
	cfg := testConfig(t)
	m := mustRun(t, cfg)
	tok := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	id := population.NewGenerator(DemoSeed).IDNumber(3)
	mustConsent(t, m, id, "case:test-1", population.ResourceIdentity)
	if r := post(t, m.URL()+"/v1/resources/population.identity/query", tok, query(id, "name")); r.Status != 200 {
		t.Fatalf("first run: %d %v", r.Status, r.Body)
	}
	kid := m.Key.ID
	m.Close()

	m2 := mustRun(t, cfg)
	if m2.Key.ID != kid {
		t.Errorf("signing key changed across restarts: %s → %s", kid, m2.Key.ID)
	}
	if r := post(t, m2.URL()+"/v1/resources/population.identity/query", tok, query(id, "name")); r.Status != 200 {
		t.Fatalf("second run with the first run's token: %d %v", r.Status, r.Body)
	}
	var n int64
	m2.Pool.QueryRow(context.Background(), `SELECT count(*) FROM population.residents`).Scan(&n)
	if n != testResidents {
		t.Errorf("residents after restart = %d, want %d (seeded once)", n, testResidents)
	}
	rep, err := ledger.Verify(context.Background(), m2.Pool)
	if err != nil || rep.Broken != nil || rep.Checked != 2 {
		t.Errorf("Verify after restart = %+v, %v; want 2 intact entries", rep, err)
	}
}

func TestServiceEndpoints(t *testing.T) {
	m := mustRun(t, testConfig(t))
	for _, tc := range []struct{ path, contains string }{
		{"/healthz", `"status":"ok"`},
		{"/.well-known/jwks.json", m.Key.ID},
		{"/v1/openapi.json", `"openapi": "3.1.0"`},
		{"/metrics", "process_resident_memory_peak_bytes"},
	} {
		resp, err := http.Get(m.URL() + tc.path)
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
}

func TestCommandLine(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "govx up") {
		t.Errorf("help: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
	dir := t.TempDir()
	out.Reset()
	if err := run(context.Background(), []string{"token", "--data", dir, "--scope", "population.identity"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadOrCreateKey(dir + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := auth.NewVerifier(auth.Config{Issuer: Issuer, Audience: Audience}, key)
	claims, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil || !claims.HasScope("population.identity") || claims.Dept != catalog.DeptServiceCenter {
		t.Errorf("govx token: %v %+v", err, claims)
	}
}

// testLogOutput is where a test govx logs: nowhere, unless GOVX_TEST_LOG is
// set.
func testLogOutput() io.Writer {
	if os.Getenv("GOVX_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// A department that registered a resource but whose adapter has never
// joined the bus is an unavailable provider, not a bus outage.
func TestProviderWithoutAdapter(t *testing.T) {
	m := mustRun(t, testConfig(t))
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
	tok := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{res.Code}})
	mustConsent(t, m, population.NewGenerator(DemoSeed).IDNumber(1), "case:test-1", res.Code)
	r := post(t, m.URL()+"/v1/resources/"+res.Code+"/query", tok, query(population.NewGenerator(DemoSeed).IDNumber(1), "name"))
	if r.Status != http.StatusServiceUnavailable || r.errorCode() != "provider_unavailable" {
		t.Errorf("query to a provider without an adapter: %d %v", r.Status, r.Body)
	}
	if a := mustAudit(t, m, r.RequestID); a.Outcome != ledger.Failed || a.Code != "provider_unavailable" {
		t.Errorf("audit = %+v", a)
	}
}
