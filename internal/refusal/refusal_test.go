package refusal_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/internal/postgres/postgrestest"
	"govx/internal/refusal"
)

const issuer, audience = "govx-test", "govx-exchange"

func TestRecordKeepsRefusalsOnly(t *testing.T) {
	pool := postgrestest.NewMigrated(t, refusal.MigrationSource())
	log := refusal.New(pool, nil, func(s string) string { return strings.ReplaceAll(s, "110101199003077777", "110*************77") })
	ctx := context.Background()
	who := &auth.Claims{Dept: "population", Role: "steward"}
	who.Subject = "steward-1"
	for _, err := range []error{
		govx.Errorf(govx.KindForbidden, "scope_missing", "this change needs scope catalog:write"),
		govx.Errorf(govx.KindInvalid, "invalid_json", "bad body about 110101199003077777"),
		govx.Errorf(govx.KindConflict, "grant_not_pending", "grant 7 is approved"),
		govx.Errorf(govx.KindNotFound, "case_not_found", "no case"),
		govx.Errorf(govx.KindInternal, "internal", "the database is down"), // not a refusal
		govx.Errorf(govx.KindUnauthenticated, "token_missing", "no token"), // nobody's
		govx.Errorf(govx.KindUnavailable, "unavailable", "try again"),      // not a refusal
		errors.New("plain"), // internal
		nil,
	} {
		log.Record(ctx, who, "catalog.update", "population.identity", err)
	}
	var nilLog *refusal.Log
	nilLog.Record(ctx, who, "catalog.update", "x", govx.Errorf(govx.KindForbidden, "f", "f")) // a handler without a log

	es, err := log.List(ctx, refusal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, e := range es {
		codes = append(codes, e.Code)
		if e.Subject != "steward-1" || e.Department != "population" || e.Role != "steward" || e.Action != "catalog.update" || e.Target != "population.identity" {
			t.Errorf("entry %+v", e)
		}
	}
	if strings.Join(codes, ",") != "case_not_found,grant_not_pending,invalid_json,scope_missing" {
		t.Fatalf("recorded %v", codes)
	}
	if es[2].Message != "bad body about 110*************77" {
		t.Errorf("message stored as %q, want it masked", es[2].Message)
	}
}

func TestLogIsAppendOnly(t *testing.T) {
	pool := postgrestest.NewMigrated(t, refusal.MigrationSource())
	log := refusal.New(pool, nil, nil)
	ctx := context.Background()
	log.Record(ctx, &auth.Claims{Role: "clerk"}, "case.accept", "GX1", govx.Errorf(govx.KindForbidden, "role_required", "no"))
	for _, stmt := range []string{
		`UPDATE refusals.log SET code = 'ok'`,
		`DELETE FROM refusals.log`,
		`TRUNCATE refusals.log`,
	} {
		if _, err := pool.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want it refused", stmt, err)
		}
	}
	if es, _ := log.List(ctx, refusal.Filter{}); len(es) != 1 || es[0].Code != "role_required" {
		t.Fatalf("after the attempts: %+v", es)
	}
}

func TestListingHandler(t *testing.T) {
	pool := postgrestest.NewMigrated(t, refusal.MigrationSource())
	log := refusal.New(pool, nil, nil)
	ctx := context.Background()
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: issuer, Audience: audience}, key)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapicheck.Load(refusal.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(log.Handler(v, nil))
	t.Cleanup(srv.Close)
	token := func(role string) string {
		tok, err := key.Mint(auth.TokenSpec{Issuer: issuer, Audience: audience, Subject: role + "-1", Role: role, Dept: "population"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	get := func(query, tok string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/refusals"+query, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if err := doc.CheckResponseJSON("GET", "/v1/refusals", resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
			t.Errorf("GET /v1/refusals%s → %d does not match the OpenAPI document: %v\n%s", query, resp.StatusCode, err, raw)
		}
		var out map[string]any
		json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	code := func(body map[string]any) string {
		e, _ := body["error"].(map[string]any)
		c, _ := e["code"].(string)
		return c
	}

	before := time.Now().Add(-time.Second).UTC()
	who := &auth.Claims{Role: "steward", Dept: "population"}
	for _, a := range []string{"catalog.update", "grant.approve", "grant.reject", "registry.register", "case.accept"} {
		log.Record(ctx, who, a, "t", govx.Errorf(govx.KindForbidden, "forbidden", "no"))
	}

	if st, body := get("", token("clerk")); st != http.StatusForbidden || code(body) != "role_required" {
		t.Fatalf("clerk: %d %v", st, body)
	}
	if st, body := get("", ""); st != http.StatusUnauthorized {
		t.Fatalf("no token: %d %v", st, body)
	}
	for _, role := range []string{"supervisor", "operator"} {
		if st, body := get("", token(role)); st != 200 || len(body["refusals"].([]any)) != 5 || body["next_before"] != nil {
			t.Fatalf("%s: %d %v", role, st, body)
		}
	}
	tok := token("operator")
	if _, body := get("?action=grant", tok); len(body["refusals"].([]any)) != 2 {
		t.Errorf("action=grant: %v", body)
	}
	if _, body := get("?action=grant.approve", tok); len(body["refusals"].([]any)) != 1 {
		t.Errorf("action=grant.approve: %v", body)
	}
	if _, body := get("?since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), tok); len(body["refusals"].([]any)) != 0 {
		t.Errorf("since an hour ahead: %v", body)
	}
	if _, body := get("?since="+before.Format(time.RFC3339Nano), tok); len(body["refusals"].([]any)) != 5 {
		t.Errorf("since before: %v", body)
	}
	_, page := get("?limit=3", tok)
	next, _ := page["next_before"].(float64)
	if len(page["refusals"].([]any)) != 3 || next == 0 {
		t.Fatalf("limit=3: %v", page)
	}
	if _, body := get("?limit=3&before="+strconv.FormatInt(int64(next), 10), tok); len(body["refusals"].([]any)) != 2 {
		t.Errorf("second page: %v", body)
	}
	for q, want := range map[string]string{"?since=yesterday": "invalid_since", "?limit=0": "invalid_limit", "?limit=5000": "invalid_limit",
		"?who=me": "unknown_parameter", "?action=a&action=b": "invalid_parameter", "?before=-1": "invalid_before"} {
		if st, body := get(q, tok); st != 400 || code(body) != want {
			t.Errorf("%s: %d %v, want 400 %s", q, st, body, want)
		}
	}
}
