package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/internal/workday"
)

const deptMarket = "market-regulation"

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// mustGrants returns a grant store over the seeded demo catalogue with a
// second consumer department, on a clock at 09:00 on Monday 2 March 2026.
func mustGrants(tb testing.TB) (*catalog.GrantStore, *catalog.Store, *clock, *pgxpool.Pool) {
	tb.Helper()
	s, pool := mustSeeded(tb)
	if err := s.PutDepartment(context.Background(), catalog.Department{Code: deptMarket, Name: "Market regulation"}); err != nil {
		tb.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, workday.Zone)}
	g := catalog.NewGrantStore(pool, nil)
	g.SetClock(c.now)
	return g, s, c, pool
}

var (
	consumer = catalog.Actor{Subject: "clerk:li", Dept: deptMarket}
	provider = catalog.Actor{Subject: "officer:wang", Dept: catalog.DeptPopulation}
)

func application() catalog.Application {
	return catalog.Application{Resource: catalog.DemoHousehold, Fields: []string{"head_name", "address", "members"},
		Purpose: "licence checks", LegalBasis: "Food Safety Law art. 35", ValidFrom: "2026-03-10", ValidUntil: "2026-12-31"}
}

func mustApply(tb testing.TB, g *catalog.GrantStore) *catalog.Grant {
	tb.Helper()
	gr, err := g.Apply(context.Background(), consumer, application())
	if err != nil {
		tb.Fatalf("Apply: %v", err)
	}
	return gr
}

func TestGrantLifecycle(t *testing.T) {
	g, _, clk, pool := mustGrants(t)
	ctx := context.Background()
	gr := mustApply(t, g)
	if gr.Status != catalog.GrantPending || gr.Provider != catalog.DeptPopulation || gr.Consumer != deptMarket ||
		strings.Join(gr.Fields, ",") != "address,head_name,members" || gr.DueBy != "2026-03-16" {
		t.Fatalf("applied grant = %+v", gr)
	}

	// Only the provider decides, and only within what was applied for.
	_, err := g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error { return x.Approve(consumer, catalog.Terms{}, clk.t) })
	wantErr(t, err, govx.KindForbidden, "not_provider")
	_, err = g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error {
		return x.Approve(provider, catalog.Terms{Fields: []string{"head_name", "head_id_number"}}, clk.t)
	})
	wantErr(t, err, govx.KindInvalid, "field_not_applied")
	_, err = g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error {
		return x.Approve(provider, catalog.Terms{ValidUntil: "2027-01-31"}, clk.t)
	})
	wantErr(t, err, govx.KindInvalid, "invalid_period")
	_, err = g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error {
		return x.Approve(provider, catalog.Terms{ValidFrom: "2026-06-31"}, clk.t)
	})
	wantErr(t, err, govx.KindInvalid, "invalid_date")

	gr, err = g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error {
		return x.Approve(provider, catalog.Terms{Fields: []string{"head_name", "address"}, ValidUntil: "2026-06-30"}, clk.t)
	})
	if err != nil {
		t.Fatal(err)
	}
	if gr.Status != catalog.GrantApproved || strings.Join(gr.GrantedFields, ",") != "address,head_name" ||
		gr.GrantedFrom != "2026-03-10" || gr.GrantedUntil != "2026-06-30" || gr.Version != 2 {
		t.Fatalf("approved grant = %+v", gr)
	}
	stored, err := g.Grant(ctx, gr.ID)
	if err != nil || stored.Status != catalog.GrantApproved || stored.GrantedUntil != "2026-06-30" || stored.DecidedBy != provider.Subject {
		t.Fatalf("stored = %+v, %v", stored, err)
	}

	// A second approval is a transition from the wrong state.
	_, err = g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error { return x.Approve(provider, catalog.Terms{}, clk.t) })
	wantErr(t, err, govx.KindConflict, "invalid_transition")
	_, err = g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error { return x.Revoke(provider, " ", clk.t) })
	wantErr(t, err, govx.KindInvalid, "reason_required")

	var changed []string
	g.OnChange(func(_ context.Context, code string) { changed = append(changed, code) })
	if _, err = g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error { return x.Revoke(provider, "misuse reported", clk.t) }); err != nil {
		t.Fatal(err)
	}
	if len(changed) != 1 || changed[0] != catalog.DemoHousehold {
		t.Errorf("OnChange heard %v", changed)
	}
	// Terminal stays terminal.
	_, err = g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error { return x.Revoke(provider, "again", clk.t) })
	wantErr(t, err, govx.KindConflict, "invalid_transition")
	_, err = g.UpdateGrant(ctx, 999999, func(x *catalog.Grant) error { return nil })
	wantErr(t, err, govx.KindNotFound, "grant_not_found")

	evs, err := g.Events(ctx, gr.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprintf("%s:%s>%s:%s:%s", e.Action, e.From, e.To, e.ActorDept, e.Reason))
	}
	want := "apply:>pending:market-regulation:|approve:pending>approved:population:|revoke:approved>revoked:population:misuse reported"
	if strings.Join(got, "|") != want {
		t.Errorf("events = %q\nwant     %q", strings.Join(got, "|"), want)
	}
	// The history is append-only.
	if _, err := pool.Exec(ctx, `UPDATE catalog.grant_events SET reason = 'x'`); err == nil {
		t.Error("grant_events could be updated")
	}
}

func TestApplyValidation(t *testing.T) {
	g, s, _, _ := mustGrants(t)
	ctx := context.Background()
	if err := s.PutResource(ctx, catalog.Resource{Code: "population.secret", Name: "x", Provider: catalog.DeptPopulation,
		KeyType: catalog.KeyIDNumber, Fields: []catalog.Field{{Name: "a", Type: "string"}}, Sharing: catalog.NotShareable, SchemaSubject: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		by   catalog.Actor
		edit func(*catalog.Application)
		kind govx.Kind
		code string
	}{
		{"unknown resource", consumer, func(a *catalog.Application) { a.Resource = "population.nothing" }, govx.KindNotFound, "resource_not_found"},
		{"unconditional", consumer, func(a *catalog.Application) { a.Resource = "population.identity"; a.Fields = []string{"name"} }, govx.KindInvalid, "not_conditional"},
		{"not shareable", consumer, func(a *catalog.Application) { a.Resource = "population.secret"; a.Fields = []string{"a"} }, govx.KindInvalid, "not_conditional"},
		{"unknown field", consumer, func(a *catalog.Application) { a.Fields = []string{"name", "salary"} }, govx.KindInvalid, "unknown_field"},
		{"no fields", consumer, func(a *catalog.Application) { a.Fields = nil }, govx.KindInvalid, "fields_required"},
		{"bad date", consumer, func(a *catalog.Application) { a.ValidFrom = "2026-02-30" }, govx.KindInvalid, "invalid_date"},
		{"not a date", consumer, func(a *catalog.Application) { a.ValidUntil = "next year" }, govx.KindInvalid, "invalid_date"},
		{"reversed", consumer, func(a *catalog.Application) { a.ValidFrom, a.ValidUntil = "2026-12-31", "2026-03-10" }, govx.KindInvalid, "invalid_period"},
		{"past", consumer, func(a *catalog.Application) { a.ValidFrom, a.ValidUntil = "2025-01-01", "2025-12-31" }, govx.KindInvalid, "invalid_period"},
		{"no purpose", consumer, func(a *catalog.Application) { a.Purpose = "" }, govx.KindInvalid, "purpose_required"},
		{"no legal basis", consumer, func(a *catalog.Application) { a.LegalBasis = " " }, govx.KindInvalid, "legal_basis_required"},
		{"own resource", provider, func(a *catalog.Application) {}, govx.KindInvalid, "own_resource"},
		{"no department", catalog.Actor{Subject: "x"}, func(a *catalog.Application) {}, govx.KindForbidden, "department_missing"},
		{"unknown department", catalog.Actor{Subject: "x", Dept: "nowhere"}, func(a *catalog.Application) {}, govx.KindForbidden, "department_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := application()
			tc.edit(&a)
			_, err := g.Apply(ctx, tc.by, a)
			wantErr(t, err, tc.kind, tc.code)
		})
	}
}

func TestOverdueAndExpiry(t *testing.T) {
	g, _, clk, _ := mustGrants(t)
	ctx := context.Background()
	// Applied on Tuesday 10 February: the Spring Festival lies inside the
	// ten working days, so the answer is due on 2 March, not 24 February.
	clk.t = time.Date(2026, 2, 10, 15, 0, 0, 0, workday.Zone)
	late := mustApply(t, g)
	if late.DueBy != "2026-03-02" {
		t.Fatalf("due by %s, want 2026-03-02", late.DueBy)
	}
	clk.t = time.Date(2026, 3, 2, 9, 0, 0, 0, workday.Zone)
	onTime := mustApply(t, g)
	over, err := g.Overdue(ctx, clk.t)
	if err != nil || len(over) != 0 {
		t.Fatalf("overdue on the due date = %v, %v; want none", over, err)
	}
	clk.t = time.Date(2026, 3, 3, 9, 0, 0, 0, workday.Zone)
	over, err = g.Overdue(ctx, clk.t)
	if err != nil || len(over) != 1 || over[0].ID != late.ID {
		t.Fatalf("overdue the day after = %v, %v; want grant %d", over, err, late.ID)
	}
	// Answering takes it off the list.
	if _, err := g.UpdateGrant(ctx, late.ID, func(x *catalog.Grant) error {
		return x.Approve(provider, catalog.Terms{ValidUntil: "2026-04-30"}, clk.t)
	}); err != nil {
		t.Fatal(err)
	}
	if over, _ = g.Overdue(ctx, clk.t); len(over) != 0 {
		t.Errorf("answered application still overdue: %v", over)
	}
	_ = onTime

	// Expiry: nothing before the period is over, then exactly the one grant.
	clk.t = time.Date(2026, 4, 30, 23, 0, 0, 0, workday.Zone)
	if n, err := g.ExpireDue(ctx); err != nil || n != 0 {
		t.Fatalf("ExpireDue on the last day = %d, %v", n, err)
	}
	clk.t = time.Date(2026, 5, 1, 0, 0, 1, 0, workday.Zone)
	if n, err := g.ExpireDue(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireDue after the last day = %d, %v; want 1", n, err)
	}
	gr, _ := g.Grant(ctx, late.ID)
	if gr.Status != catalog.GrantExpired {
		t.Errorf("status = %s, want expired", gr.Status)
	}
}

// The expiry job runs a round at once and stops when told.
func TestExpireEvery(t *testing.T) {
	g, _, clk, _ := mustGrants(t)
	ctx := context.Background()
	gr := mustApply(t, g)
	if _, err := g.UpdateGrant(ctx, gr.ID, func(x *catalog.Grant) error {
		return x.Approve(provider, catalog.Terms{ValidUntil: "2026-04-30"}, clk.t)
	}); err != nil {
		t.Fatal(err)
	}
	clk.t = time.Date(2026, 5, 1, 9, 0, 0, 0, workday.Zone)
	stop := g.ExpireEvery(time.Hour, nil)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := g.Grant(ctx, gr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == catalog.GrantExpired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status = %s after 10 s, want expired", got.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDecideGrant(t *testing.T) {
	approved := func(id int64, from, until string) catalog.Grant {
		return catalog.Grant{ID: id, Status: catalog.GrantApproved, GrantedFrom: from, GrantedUntil: until}
	}
	for _, tc := range []struct {
		name   string
		grants []catalog.Grant
		rule   string
	}{
		{"none", nil, "grant_required"},
		{"effective", []catalog.Grant{approved(3, "2026-03-01", "2026-03-31")}, "grant:3"},
		{"first day", []catalog.Grant{approved(3, "2026-03-15", "2026-03-31")}, "grant:3"},
		{"last day", []catalog.Grant{approved(3, "2026-03-01", "2026-03-15")}, "grant:3"},
		{"lapsed", []catalog.Grant{approved(3, "2026-03-01", "2026-03-14")}, "grant_expired"},
		{"not yet", []catalog.Grant{approved(3, "2026-03-16", "2026-03-31")}, "grant_required"},
		{"revoked", []catalog.Grant{{ID: 4, Status: catalog.GrantRevoked}}, "grant_revoked"},
		{"expired", []catalog.Grant{{ID: 4, Status: catalog.GrantExpired}}, "grant_expired"},
		{"revoked then granted again", []catalog.Grant{{ID: 4, Status: catalog.GrantRevoked}, approved(5, "2026-03-01", "2026-03-31")}, "grant:5"},
		{"expired then revoked", []catalog.Grant{{ID: 4, Status: catalog.GrantExpired}, {ID: 6, Status: catalog.GrantRevoked}}, "grant_revoked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, rule := catalog.DecideGrant(tc.grants, "2026-03-15")
			if rule != tc.rule || (g != nil) != strings.HasPrefix(tc.rule, "grant:") {
				t.Errorf("DecideGrant = %v, %q; want %q", g, rule, tc.rule)
			}
		})
	}
}

func TestEntitle(t *testing.T) {
	res := func(sharing catalog.Sharing) *catalog.Resource {
		return &catalog.Resource{Code: "population.household", Sharing: sharing,
			Fields: []catalog.Field{{Name: "head"}, {Name: "members"}, {Name: "address"}}}
	}
	granted := []catalog.Grant{{ID: 7, Status: catalog.GrantApproved, GrantedFrom: "2026-03-01", GrantedUntil: "2026-03-31",
		GrantedFields: []string{"head", "address"}}}
	for _, tc := range []struct {
		name    string
		sharing catalog.Sharing
		grants  []catalog.Grant
		fields  []string
		want    []string
		rule    string
		code    string // of the refusal
	}{
		{"unconditional, every field", catalog.Unconditional, nil, nil, []string{"address", "head", "members"}, "unconditional", ""},
		{"unconditional, named fields sorted once", catalog.Unconditional, nil, []string{"members", "head", "members"}, []string{"head", "members"}, "unconditional", ""},
		{"unconditional, unknown field", catalog.Unconditional, nil, []string{"salary"}, nil, "unconditional", "unknown_field"},
		{"conditional, the granted fields", catalog.Conditional, granted, nil, []string{"address", "head"}, "grant:7", ""},
		{"conditional, a granted field", catalog.Conditional, granted, []string{"head"}, []string{"head"}, "grant:7", ""},
		{"conditional, a field not granted", catalog.Conditional, granted, []string{"head", "members"}, nil, "field_not_granted", "field_not_granted"},
		{"conditional, unknown field", catalog.Conditional, granted, []string{"salary"}, nil, "grant:7", "unknown_field"},
		{"conditional, no grant", catalog.Conditional, nil, []string{"head"}, nil, "grant_required", "grant_required"},
		{"conditional, not valid yet", catalog.Conditional, []catalog.Grant{{ID: 8, Status: catalog.GrantApproved, GrantedFrom: "2026-04-01", GrantedUntil: "2026-04-30", GrantedFields: []string{"head"}}}, nil, nil, "grant_required", "grant_required"},
		{"conditional, revoked", catalog.Conditional, []catalog.Grant{{ID: 8, Status: catalog.GrantRevoked, GrantedFields: []string{"head"}}}, nil, nil, "grant_revoked", "grant_revoked"},
		{"conditional, expired", catalog.Conditional, []catalog.Grant{{ID: 8, Status: catalog.GrantExpired, GrantedFields: []string{"head"}}}, nil, nil, "grant_expired", "grant_expired"},
		{"conditional, lapsed", catalog.Conditional, []catalog.Grant{{ID: 8, Status: catalog.GrantApproved, GrantedFrom: "2026-01-01", GrantedUntil: "2026-03-14", GrantedFields: []string{"head"}}}, nil, nil, "grant_expired", "grant_expired"},
		{"not shareable", catalog.NotShareable, granted, []string{"head"}, nil, "not_shareable", "not_shareable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := catalog.Entitle(res(tc.sharing), "tax", tc.grants, "2026-03-15", tc.fields)
			code := ""
			if err != nil {
				code = govx.ErrorCode(err)
			}
			if code != tc.code || e.Rule != tc.rule || !slices.Equal(e.Fields, tc.want) {
				t.Fatalf("Entitle = %+v, %v; want %v, %q, refusal %q", e, err, tc.want, tc.rule, tc.code)
			}
			wantKind := govx.KindForbidden
			if tc.code == "unknown_field" {
				wantKind = govx.KindInvalid
			}
			if err != nil && govx.ErrorKind(err) != wantKind {
				t.Errorf("kind = %v, want %v", govx.ErrorKind(err), wantKind)
			}
		})
	}
}

// grantsAPI is the HTTP API on a test server with real tokens.
type grantsAPI struct {
	t   *testing.T
	url string
	key *auth.Key
	doc *openapicheck.Doc
}

func newGrantsAPI(t *testing.T) (*grantsAPI, *catalog.GrantStore) {
	g, _, _, _ := mustGrants(t)
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: "govx", Audience: "govx-exchange"}, key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := catalog.NewGrantsHandler(catalog.GrantsHandlerConfig{Grants: g, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	doc, err := openapicheck.Load(catalog.GrantsOpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	return &grantsAPI{t: t, url: srv.URL, key: key, doc: doc}, g
}

// token mints a token of dept with role; it carries the grant-deciding
// scope, so role decides.
func (a *grantsAPI) token(dept, role string, scopes ...string) string {
	if scopes == nil {
		scopes = []string{catalog.ScopeGrantDecide}
	}
	tok, err := a.key.Mint(auth.TokenSpec{Issuer: "govx", Audience: "govx-exchange", Subject: "test:" + dept, Dept: dept, Role: role, Scopes: scopes, TTL: time.Hour})
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

// call makes a request and checks the answer against the OpenAPI document
// under the operation's path template.
func (a *grantsAPI) call(method, path, template, token string, body any) (int, map[string]any) {
	a.t.Helper()
	var rd *bytes.Reader
	if s, ok := body.(string); ok {
		rd = bytes.NewReader([]byte(s))
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, a.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	raw.ReadFrom(resp.Body)
	if err := a.doc.CheckResponseJSON(method, template, resp.StatusCode, resp.Header.Get("Content-Type"), raw.Bytes()); err != nil {
		a.t.Errorf("%s %s → %d does not match the OpenAPI document: %v\n%s", method, path, resp.StatusCode, err, raw.String())
	}
	var out map[string]any
	json.Unmarshal(raw.Bytes(), &out)
	return resp.StatusCode, out
}

func code(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestGrantsHTTP(t *testing.T) {
	a, _ := newGrantsAPI(t)
	// The provider decides with its steward's token; the consumer applies
	// with a service token.
	market, pop, center := a.token(deptMarket, "service"), a.token(catalog.DeptPopulation, "steward"), a.token(catalog.DeptServiceCenter, "service")
	super := a.token("supervision", "supervisor")
	marketSteward := a.token(deptMarket, "steward")
	popService, popNoScope := a.token(catalog.DeptPopulation, "service"), a.token(catalog.DeptPopulation, "steward", "catalog:write")
	const coll, one = "/v1/catalog/grants", "/v1/catalog/grants/{id}"

	st, body := a.call("POST", coll, coll, market, application())
	if st != http.StatusCreated || body["status"] != "pending" || body["consumer"] != deptMarket {
		t.Fatalf("apply: %d %v", st, body)
	}
	id := int(body["id"].(float64))
	p := fmt.Sprintf("/v1/catalog/grants/%d", id)

	for _, tc := range []struct {
		name, method, path, tmpl, token string
		body                            any
		status                          int
		code                            string
	}{
		{"no token", "POST", coll, coll, "", application(), 401, ""},
		{"bad json", "POST", coll, coll, market, `{"resource":`, 400, "invalid_json"},
		{"unknown member", "POST", coll, coll, market, `{"resourc":"x"}`, 400, "invalid_json"},
		{"empty body", "POST", coll, coll, market, `{}`, 400, "field_required"},
		{"trailing data", "POST", coll, coll, market, `{"resource":"x"}}`, 400, "invalid_json"},
		{"NUL in purpose", "POST", coll, coll, market, map[string]any{"resource": catalog.DemoHousehold, "fields": []string{"address"}, "purpose": "p\x00", "legal_basis": "l", "valid_from": "2026-04-01", "valid_until": "2026-05-01"}, 400, "invalid_text"},
		{"not conditional", "POST", coll, coll, market, map[string]any{"resource": "population.identity", "fields": []string{"name"}, "purpose": "p", "legal_basis": "l", "valid_from": "2026-04-01", "valid_until": "2026-05-01"}, 400, "not_conditional"},
		{"unknown resource", "POST", coll, coll, market, map[string]any{"resource": "population.none", "fields": []string{"name"}, "purpose": "p", "legal_basis": "l", "valid_from": "2026-04-01", "valid_until": "2026-05-01"}, 404, "resource_not_found"},
		{"invalid date", "POST", coll, coll, market, map[string]any{"resource": catalog.DemoHousehold, "fields": []string{"address"}, "purpose": "p", "legal_basis": "l", "valid_from": "2026-4-1", "valid_until": "2026-05-01"}, 400, "invalid_date"},
		{"invalid period", "POST", coll, coll, market, map[string]any{"resource": catalog.DemoHousehold, "fields": []string{"address"}, "purpose": "p", "legal_basis": "l", "valid_from": "2027-04-01", "valid_until": "2027-03-01"}, 400, "invalid_period"},
		{"consumer approves", "POST", p + "/approve", one + "/approve", marketSteward, nil, 403, "not_provider"},
		{"provider's service token approves", "POST", p + "/approve", one + "/approve", popService, nil, 403, "role_required"},
		{"provider's service token rejects", "POST", p + "/reject", one + "/reject", popService, map[string]string{"reason": "no"}, 403, "role_required"},
		{"steward without grant:decide approves", "POST", p + "/approve", one + "/approve", popNoScope, nil, 403, "scope_missing"},
		{"other dept reads", "GET", p, one, center, nil, 403, "not_your_grant"},
		{"no such grant", "GET", "/v1/catalog/grants/424242", one, market, nil, 404, "grant_not_found"},
		{"bad id", "GET", "/v1/catalog/grants/abc", one, market, nil, 404, "grant_not_found"},
		{"reject without reason", "POST", p + "/reject", one + "/reject", pop, map[string]string{"reason": ""}, 400, "reason_required"},
		{"approve more fields", "POST", p + "/approve", one + "/approve", pop, map[string]any{"fields": []string{"head_id_number"}}, 400, "field_not_applied"},
		{"approve longer", "POST", p + "/approve", one + "/approve", pop, map[string]any{"valid_until": "2027-06-30"}, 400, "invalid_period"},
		{"overdue as service", "GET", coll + "/overdue", coll + "/overdue", market, nil, 403, "role_required"},
		{"bad status filter", "GET", coll + "?status=bogus", coll, market, nil, 400, "invalid_status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := a.call(tc.method, tc.path, tc.tmpl, tc.token, tc.body)
			if st != tc.status || (tc.code != "" && code(body) != tc.code) {
				t.Errorf("%d %q, want %d %q: %v", st, code(body), tc.status, tc.code, body)
			}
		})
	}

	st, body = a.call("POST", p+"/approve", one+"/approve", pop, map[string]any{"fields": []string{"head_name", "address"}})
	if st != 200 || body["status"] != "approved" || fmt.Sprint(body["granted_fields"]) != "[address head_name]" {
		t.Fatalf("approve: %d %v", st, body)
	}
	st, body = a.call("POST", p+"/approve", one+"/approve", pop, nil)
	if st != 409 || code(body) != "invalid_transition" {
		t.Errorf("approve twice: %d %v", st, body)
	}
	st, body = a.call("POST", p+"/reject", one+"/reject", pop, map[string]string{"reason": "too late"})
	if st != 409 {
		t.Errorf("reject approved: %d %v", st, body)
	}
	st, body = a.call("POST", p+"/revoke", one+"/revoke", marketSteward, map[string]string{"reason": "x"})
	if st != 403 || code(body) != "not_provider" {
		t.Errorf("consumer revokes: %d %v", st, body)
	}
	st, body = a.call("POST", p+"/revoke", one+"/revoke", pop, map[string]string{"reason": "purpose ended"})
	if st != 200 || body["status"] != "revoked" || body["reason"] != "purpose ended" {
		t.Fatalf("revoke: %d %v", st, body)
	}
	st, body = a.call("POST", p+"/revoke", one+"/revoke", pop, map[string]string{"reason": "again"})
	if st != 409 {
		t.Errorf("revoke revoked: %d %v", st, body)
	}
	st, body = a.call("GET", p, one, market, nil)
	if evs, _ := body["events"].([]any); st != 200 || len(evs) != 3 {
		t.Errorf("get with history: %d %v", st, body)
	}

	// A second application, rejected.
	_, body = a.call("POST", coll, coll, market, application())
	p2 := fmt.Sprintf("/v1/catalog/grants/%d", int(body["id"].(float64)))
	st, body = a.call("POST", p2+"/reject", one+"/reject", pop, map[string]string{"reason": "no legal basis for status"})
	if st != 200 || body["status"] != "rejected" {
		t.Fatalf("reject: %d %v", st, body)
	}

	// Listings: each department sees its own side; the seeded grant is
	// the service center's and not the market regulator's.
	count := func(token, query string) int {
		st, body := a.call("GET", coll+query, coll, token, nil)
		if st != 200 {
			t.Fatalf("list %s: %d %v", query, st, body)
		}
		return len(body["grants"].([]any))
	}
	if n := count(market, ""); n != 2 {
		t.Errorf("market sees %d grants, want 2", n)
	}
	if n := count(pop, ""); n != 3 {
		t.Errorf("population (provider) sees %d grants, want 3", n)
	}
	if n := count(center, ""); n != 1 {
		t.Errorf("service center sees %d grants, want 1", n)
	}
	if n := count(pop, "?status=rejected"); n != 1 {
		t.Errorf("rejected: %d, want 1", n)
	}
	if n := count(pop, "?consumer="+deptMarket+"&resource="+catalog.DemoHousehold); n != 2 {
		t.Errorf("by consumer and resource: %d, want 2", n)
	}
	if n := count(super, ""); n != 3 {
		t.Errorf("supervisor sees %d, want 3", n)
	}
	st, body = a.call("GET", coll+"/overdue", coll+"/overdue", super, nil)
	if st != 200 {
		t.Errorf("overdue: %d %v", st, body)
	}
	resp, err := http.Get(a.url + "/v1/catalog/grants/openapi.json")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("openapi.json: %v %v", resp, err)
	}
	resp.Body.Close()
}
