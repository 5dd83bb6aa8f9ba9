package catalog_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"govx"
	"govx/bus"
	"govx/catalog"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/redis"
	"govx/internal/redis/redistest"
	"govx/internal/workday"
)

func newPolicy(tb testing.TB, s *catalog.Store, g *catalog.GrantStore, rdb *redis.Client) (*catalog.PolicyCache, string) {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "govx-policy-test-" + hex.EncodeToString(b[:])
	c, err := catalog.NewPolicyCache(catalog.PolicyConfig{Store: s, Grants: g, Redis: rdb, ClientName: name})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	deadline := time.Now().Add(5 * time.Second)
	for !c.Trusted() {
		if time.Now().After(deadline) {
			tb.Fatal("policy cache never subscribed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, name
}

// rule is what an exchange would decide for the service center's demo
// grant through c today.
func rule(t *testing.T, c *catalog.PolicyCache) string {
	t.Helper()
	_, grants, err := c.Lookup(context.Background(), catalog.DemoHousehold, catalog.DeptServiceCenter)
	if err != nil {
		return govx.ErrorCode(err)
	}
	_, r := catalog.DecideGrant(grants, workday.Date(time.Now()))
	return r
}

// within polls until every cache decides want, failing after the one
// second the rules allow.
func within(t *testing.T, want string, caches ...*catalog.PolicyCache) {
	t.Helper()
	start := time.Now()
	for _, c := range caches {
		for got := rule(t, c); got != want; got = rule(t, c) {
			if time.Since(start) > time.Second {
				t.Fatalf("after %v a cache still decides %q, want %q", time.Since(start), got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func seededGrant(t *testing.T, g *catalog.GrantStore) int64 {
	t.Helper()
	gs, err := g.Grants(context.Background(), catalog.GrantFilter{Resource: catalog.DemoHousehold, Consumer: catalog.DeptServiceCenter})
	if err != nil || len(gs) != 1 || gs[0].Status != catalog.GrantApproved {
		t.Fatalf("seeded grant: %v, %v", gs, err)
	}
	return gs[0].ID
}

func TestPolicyCacheInvalidation(t *testing.T) {
	s, pool := mustSeeded(t)
	ctx := context.Background()
	rdb := redistest.New(t)
	g := catalog.NewGrantStore(pool, nil)
	inv, err := catalog.NewInvalidator(catalog.InvalidatorConfig{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	g.OnChange(inv.ResourceChanged)
	a, _ := newPolicy(t, s, g, rdb)
	b, _ := newPolicy(t, s, g, rdb)
	id := seededGrant(t, g)
	allowed := "grant:" + itoa(id)
	within(t, allowed, a, b)
	// Served from memory now: the database is not asked again.
	misses := a.Stats.Misses.Load()
	for range 10 {
		rule(t, a)
	}
	if a.Stats.Misses.Load() != misses {
		t.Errorf("a warm cache read PostgreSQL %d times", a.Stats.Misses.Load()-misses)
	}

	if _, err := g.UpdateGrant(ctx, id, func(x *catalog.Grant) error {
		return x.Revoke(catalog.Actor{Subject: "o", Dept: catalog.DeptPopulation}, "misuse", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	within(t, "grant_revoked", a, b)

	// Retiring the resource (the resource store's change hook calls
	// ResourceChanged the same way).
	if _, err := pool.Exec(ctx, `UPDATE catalog.resources SET status = 'retired' WHERE code = $1`, catalog.DemoHousehold); err != nil {
		t.Fatal(err)
	}
	inv.ResourceChanged(ctx, catalog.DemoHousehold)
	within(t, "resource_not_found", a, b)
}

// A subscription that drops loses what was published meanwhile; the cache
// must not serve what it held from before.
func TestPolicyCacheSubscriptionLost(t *testing.T) {
	s, pool := mustSeeded(t)
	ctx := context.Background()
	rdb := redistest.New(t)
	g := catalog.NewGrantStore(pool, nil)
	c, name := newPolicy(t, s, g, rdb)
	id := seededGrant(t, g)
	within(t, "grant:"+itoa(id), c)
	flushes := c.Stats.Flushes.Load()

	// Kill the subscription's connection, then change the grant behind the
	// cache's back with no announcement at all.
	list, err := rdb.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := false
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name="+name+" ") {
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "id="); ok {
					if err := rdb.Do(ctx, "CLIENT", "KILL", "ID", v).Err(); err != nil {
						t.Fatal(err)
					}
					killed = true
				}
			}
		}
	}
	if !killed {
		t.Fatalf("no connection named %s in CLIENT LIST", name)
	}
	if _, err := pool.Exec(ctx, `UPDATE catalog.grants SET status = 'revoked' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	within(t, "grant_revoked", c)
	deadline := time.Now().Add(5 * time.Second)
	for !c.Trusted() || c.Stats.Flushes.Load() == flushes {
		if time.Now().After(deadline) {
			t.Fatalf("not resubscribed: trusted %v, flushes %d", c.Trusted(), c.Stats.Flushes.Load()-flushes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	within(t, "grant_revoked", c)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// BenchmarkDecision is the exchange's whole policy decision for a
// conditional resource — resource, class, grant, fields — served by the
// cache: Service.Authorize through a warm PolicyCache.
func BenchmarkDecision(b *testing.B) {
	s, pool := mustSeeded(b)
	rdb := redistest.New(b)
	g := catalog.NewGrantStore(pool, nil)
	c, _ := newPolicy(b, s, g, rdb)
	// Authorize never reaches the bus: a requester and codec that are
	// never called.
	var unused struct {
		bus.Requester
		exchange.Codec
	}
	svc, err := exchange.NewService(exchange.Config{Policy: c, Requester: unused, Codec: unused})
	if err != nil {
		b.Fatal(err)
	}
	caller := &auth.Claims{Dept: catalog.DeptServiceCenter, Scope: "population.identity " + catalog.DemoHousehold}
	fields := []string{"head_name", "address"}
	ctx := context.Background()
	var d exchange.Decision
	if _, err := svc.Authorize(ctx, caller, catalog.DemoHousehold, fields, "case:bench", &d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var d exchange.Decision
			if _, err := svc.Authorize(ctx, caller, catalog.DemoHousehold, fields, "case:bench", &d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if m := c.Stats.Misses.Load(); m > 2 {
		b.Logf("cache misses during the run: %d", m)
	}
}
