package node_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/internal/refusal"
	"govx/node"
	"govx/node/nodetest"
)

// A refused catalogue update, grant approval, registry write and case
// action each leave a record that supervisors and operators read at
// /v1/refusals, and nobody changes afterwards.
func TestServiceEndpointsRefusalLog(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))
	doc, err := openapicheck.Load(refusal.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	reviewer := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: "pop-reviewer", Dept: "population", Role: "reviewer",
		Scopes: []string{"catalog:write", "grant:decide"}})
	steward := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: "pop-steward", Dept: "population", Role: "steward",
		Scopes: []string{"registry:write"}})
	clerk := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: "clerk-1", Dept: "window", Role: "clerk"})

	for _, tc := range []struct {
		method, path, token string
		body                any
		status              int
	}{
		{"PUT", "/v1/catalog/resources/population.identity", reviewer, map[string]any{"name": "x"}, 403},
		{"POST", "/v1/catalog/grants/424242/approve", reviewer, nil, 403},
		{"POST", "/registry/subjects/licence.issue-order/versions", steward, map[string]any{"schema": `"string"`}, 403},
		{"POST", "/v1/cases/GX20261202999999/accept", clerk, map[string]any{}, 404},
	} {
		if st, body, _ := nodetest.Call(t, tc.method, m.URL()+tc.path, tc.token, tc.body); st != tc.status {
			t.Fatalf("%s %s: %d %v, want %d", tc.method, tc.path, st, body, tc.status)
		}
	}

	list := func(query, token string) (int, map[string]any) {
		t.Helper()
		st, body, raw := nodetest.Call(t, "GET", m.URL()+"/v1/refusals"+query, token, nil)
		if err := doc.CheckResponseJSON("GET", "/v1/refusals", st, "application/json", raw); err != nil {
			t.Errorf("GET /v1/refusals%s → %d does not match the OpenAPI document: %v\n%s", query, st, err, raw)
		}
		return st, body
	}
	operator := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: "ops-1", Role: node.RoleOperator})
	st, body := list("", operator)
	if st != http.StatusOK {
		t.Fatalf("operator lists: %d %v", st, body)
	}
	got := map[string]map[string]any{}
	for _, e := range body["refusals"].([]any) {
		e := e.(map[string]any)
		got[e["action"].(string)] = e
	}
	for action, want := range map[string][4]string{
		"catalog.update":    {"pop-reviewer", "population", "population.identity", "role_required"},
		"grant.approve":     {"pop-reviewer", "population", "424242", "role_required"},
		"registry.register": {"pop-steward", "population", "licence.issue-order", "forbidden"},
		"case.accept":       {"clerk-1", "window", "GX20261202999999", "case_not_found"},
	} {
		e := got[action]
		if e == nil || e["subject"] != want[0] || e["department"] != want[1] || e["target"] != want[2] || e["code"] != want[3] || e["message"] == "" {
			t.Errorf("%s: recorded %v, want who %s of %s, target %s, code %s", action, e, want[0], want[1], want[2], want[3])
		}
	}
	if len(got) != 4 {
		t.Errorf("recorded actions %v, want exactly the four refused", body)
	}

	// Supervisors read it too, filtered; a clerk may not.
	supervisor := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: "sup-1", Dept: "window", Role: "supervisor"})
	if st, body := list("?action=grant&limit=10", supervisor); st != 200 || len(body["refusals"].([]any)) != 1 {
		t.Errorf("supervisor, action=grant: %d %v", st, body)
	}
	if st, body := list("", clerk); st != http.StatusForbidden || nodetest.ErrCode(body) != "role_required" {
		t.Errorf("clerk lists: %d %v", st, body)
	}

	// Append-only.
	if _, err := m.Pool.Exec(context.Background(), `UPDATE refusals.log SET code = 'nothing'`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("UPDATE of the refusal log: %v, want it refused", err)
	}
}
