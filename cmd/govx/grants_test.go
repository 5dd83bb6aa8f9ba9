package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/catalog"
	"govx/consent"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/redis"
	"govx/node"
	"govx/node/nodetest"
)

// TestGrantsAcrossInstances runs two exchanges as real programs on one
// PostgreSQL, Redis and broker: a grant allows the service center's
// queries on both, a revocation through the command line and a retirement
// take effect on both within a second, and every decision is audited with
// its rule.
func TestGrantsAcrossInstances(t *testing.T) {
	cfg := nodetest.Config(t)
	m1 := nodetest.Start(t, cfg)
	cfg2 := nodetest.SecondInstance(t, cfg, m1, "test-2")
	m2 := nodetest.Start(t, cfg2)
	ctx := context.Background()

	var grantID int64
	if err := m1.Pool.QueryRow(ctx, `SELECT id FROM catalog.grants WHERE resource = $1 AND consumer = $2 AND status = 'approved'`,
		catalog.DemoHousehold, catalog.DeptServiceCenter).Scan(&grantID); err != nil {
		t.Fatalf("seeded grant: %v", err)
	}
	tok := nodetest.Token(t, m1.Key, auth.TokenSpec{Scopes: []string{"population.identity", catalog.DemoHousehold}})
	// The head of the first demo household.
	var want struct{ IDNumber string }
	population.NewGenerator(node.DemoSeed).Households(0, cfg.Residents, func(h population.Household) bool {
		want.IDNumber = h.Head.IDNumber
		return false
	})
	nodetest.Consent(t, m1, want.IDNumber, "case:test-1", population.ResourceIdentity,
		catalog.DemoHousehold+":household_no,head_name,address,division_code")
	ask := func(m *node.Node, fields ...string) nodetest.Response {
		return nodetest.Post(t, m.URL()+"/v1/resources/"+catalog.DemoHousehold+"/query", tok, nodetest.Query(want.IDNumber, fields...))
	}
	rule := func(m *node.Node, requestID string) (rule string, fields []string) {
		if err := m.Pool.QueryRow(ctx, `SELECT rule, fields FROM exchange.audit WHERE request_id = $1`, requestID).Scan(&rule, &fields); err != nil {
			t.Fatalf("audit of %s: %v", requestID, err)
		}
		return rule, fields
	}
	// allowedAnswer: the exchange let the query through and the
	// population adapter answered with the household.
	allowedAnswer := func(r nodetest.Response) bool { return r.Status == 200 }
	allowed := "grant:" + strconv.FormatInt(grantID, 10)
	for _, m := range []*node.Node{m1, m2} {
		r := ask(m, "head_name", "address")
		if !allowedAnswer(r) {
			t.Fatalf("%s: granted query: %d %v", m.URL(), r.Status, r.Body)
		}
		if got, fields := rule(m, r.RequestID); got != allowed || strings.Join(fields, ",") != "address,head_name" {
			t.Errorf("audit rule, fields = %q %v, want %q [address head_name]", got, fields, allowed)
		}
		// No fields asked: the granted ones, and no more.
		r = ask(m)
		if got, fields := rule(m, r.RequestID); !allowedAnswer(r) || got != allowed ||
			strings.Join(fields, ",") != strings.Join(catalog.DemoHouseholdGranted, ",") {
			t.Errorf("no fields asked: %d %v; audit %q %v", r.Status, r.Body, got, fields)
		}
		r = ask(m, "head_name", "members")
		if got, _ := rule(m, r.RequestID); r.Status != 403 || r.ErrorCode() != "field_not_granted" || got != "field_not_granted" {
			t.Errorf("ungranted field: %d %v, audit rule %q", r.Status, r.Body, got)
		}
	}
	// Unconditional resources still need no grant.
	if r := nodetest.Post(t, m2.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(want.IDNumber, "name")); r.Status != 200 {
		t.Errorf("unconditional: %d %v", r.Status, r.Body)
	} else if got, _ := rule(m2, r.RequestID); got != "unconditional" {
		t.Errorf("unconditional: audit rule %q", got)
	}

	// The provider revokes through the command line.
	var out bytes.Buffer
	if err := run(ctx, []string{"grant", "revoke", strconv.FormatInt(grantID, 10), "--reason", "purpose ended",
		"--url", m1.URL(), "--dept", catalog.DeptPopulation, "--data", cfg.DataDir}, &out, &out); err != nil {
		t.Fatalf("govx grant revoke: %v: %s", err, out.String())
	}
	if !strings.Contains(out.String(), "revoked") {
		t.Errorf("govx grant revoke printed %q", out.String())
	}
	refusedWithin(t, time.Second, "grant_revoked", 403, func(m *node.Node) nodetest.Response { return ask(m, "head_name") }, allowedAnswer, m1, m2)

	out.Reset()
	if err := run(ctx, []string{"grant", "list", "--url", m2.URL(), "--dept", catalog.DeptServiceCenter, "--data", cfg.DataDir}, &out, &out); err != nil {
		t.Fatalf("govx grant list: %v", err)
	}
	if !strings.Contains(out.String(), "revoked") || !strings.Contains(out.String(), catalog.DemoHousehold) {
		t.Errorf("govx grant list:\n%s", out.String())
	}

	// A consent revoked by its data subject through one instance is refused
	// by both within the second, though both had it cached.
	identity := func(m *node.Node) nodetest.Response {
		return nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(want.IDNumber, "name"))
	}
	ok200 := func(r nodetest.Response) bool { return r.Status == 200 }
	for _, m := range []*node.Node{m1, m2, m1, m2} {
		if r := identity(m); r.Status != 200 {
			t.Fatalf("%s before revocation: %d %v", m.URL(), r.Status, r.Body)
		}
	}
	cs, err := m1.Consents.OfSubject(ctx, want.IDNumber, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("consents of %s: %v, %v", want.IDNumber, cs, err)
	}
	citizen := nodetest.Token(t, m1.Key, auth.TokenSpec{Subject: want.IDNumber, Role: consent.RoleCitizen, Dept: "-"})
	if r := nodetest.Post(t, m1.URL()+"/v1/consents/"+cs[0].ID+"/revoke", citizen, []byte(`{"reason":"moved away"}`)); r.Status != 200 {
		t.Fatalf("revoke: %d %v", r.Status, r.Body)
	}
	refusedWithin(t, time.Second, "consent_revoked", 403, identity, ok200, m2, m1)
	// Given again, it serves both again within the second.
	nodetest.Consent(t, m2, want.IDNumber, "case:test-1", population.ResourceIdentity)
	refusedWithin(t, time.Second, "", 200, identity, func(r nodetest.Response) bool { return r.ErrorCode() == "consent_revoked" }, m1, m2)

	// Retiring a resource: the resource store's change hook calls the
	// same invalidation (Store.OnChange → Invalidator.ResourceChanged).
	rdb, err := redis.Open(ctx, redis.Config{URL: cfg.RedisURL, Prefix: cfg.RedisPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, err := m1.Pool.Exec(ctx, `UPDATE catalog.resources SET status = 'retired' WHERE code = 'population.identity'`); err != nil {
		t.Fatal(err)
	}
	inv, err := catalog.NewInvalidator(catalog.InvalidatorConfig{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	inv.ResourceChanged(ctx, "population.identity")
	refusedWithin(t, time.Second, "resource_not_found", 404, func(m *node.Node) nodetest.Response {
		return nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(want.IDNumber, "name"))
	}, func(r nodetest.Response) bool { return r.Status == 200 }, m1, m2)

	rep, err := ledger.Verify(ctx, m1.Pool)
	if err != nil || rep.Broken != nil {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

// refusedWithin asks every instance until it refuses with code, failing if
// one still allows after limit.
func refusedWithin(t *testing.T, limit time.Duration, code string, status int, ask func(*node.Node) nodetest.Response, allowed func(nodetest.Response) bool, ms ...*node.Node) {
	t.Helper()
	start := time.Now()
	for _, m := range ms {
		for {
			r := ask(m)
			if r.Status == status && r.ErrorCode() == code {
				break
			}
			if !allowed(r) {
				t.Fatalf("%s: %d %v while waiting for %s", m.URL(), r.Status, r.Body, code)
			}
			if time.Since(start) > limit {
				t.Fatalf("%s still answers %v after the change", m.URL(), time.Since(start))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("%s on %d instances after %v", code, len(ms), time.Since(start).Round(time.Millisecond))
}
