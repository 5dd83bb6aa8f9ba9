package ratelimit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"govx/internal/ratelimit"
	"govx/internal/redis"
)

func leasingLimiter(t *testing.T, rdb *redis.Client, cfg ratelimit.Config) *ratelimit.Limiter {
	t.Helper()
	cfg.Redis = rdb
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLeaseTakesTokensAheadFromTheSharedBudget: a fast key's first request
// takes a lease of tokens in Redis, which another instance sees spent, and
// the next requests are served from the lease.
func TestLeaseTakesTokensAheadFromTheSharedBudget(t *testing.T) {
	ctx := context.Background()
	a, b := sharedClients(t)
	// Leases of 100 tokens (a tenth of the burst) that last the whole
	// test, and a refill too slow (one token per 3.6 s) for the test's
	// own duration to show in the counts.
	la := leasingLimiter(t, a, ratelimit.Config{Lease: time.Hour})
	lb := mustLimiter(t, b) // no lease: every request decided in Redis
	lim := ratelimit.Limit{Rate: 1000, Period: time.Hour, Burst: 1000}
	r := la.Allow(ctx, "fast", lim)
	if !r.Allowed || r.Degraded || r.Remaining != 999 {
		t.Fatalf("first leased request: %+v, want allowed with 999 remaining", r)
	}
	if r := lb.Allow(ctx, "fast", lim); !r.Allowed || r.Remaining > 899 || r.Remaining < 890 {
		t.Fatalf("other instance after the lease: %+v, want about 899 remaining (100 leased)", r)
	}
	for i := range 99 {
		if r := la.Allow(ctx, "fast", lim); !r.Allowed || r.Degraded {
			t.Fatalf("leased request %d: %+v", i+2, r)
		}
	}
	// The lease is spent: Redis had 899 after lb's one; now a new lease.
	if r := lb.Allow(ctx, "fast", lim); r.Remaining > 898 || r.Remaining < 890 {
		t.Fatalf("the 99 leased requests touched Redis: %+v", r)
	}
}

// TestLeaseNeverPassesTheBudget: however many goroutines on two leasing
// instances ask, no more than the burst gets through; at most a lease per
// instance is lost.
func TestLeaseNeverPassesTheBudget(t *testing.T) {
	ctx := context.Background()
	a, b := sharedClients(t)
	cfg := ratelimit.Config{Lease: time.Second}
	la := leasingLimiter(t, a, cfg)
	lb := leasingLimiter(t, b, cfg)
	lim := ratelimit.Limit{Rate: 1000, Period: time.Hour, Burst: 1000} // no refill to speak of; leases of 100
	var (
		mu      sync.Mutex
		allowed int
		wg      sync.WaitGroup
	)
	for g := range 8 {
		l := la
		if g%2 == 1 {
			l = lb
		}
		wg.Go(func() {
			for range 200 {
				if r := l.Allow(ctx, "hot", lim); r.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed > 1000 || allowed < 1000-2*100 {
		t.Fatalf("%d of 1600 allowed, want at most the burst of 1000 and at least 800", allowed)
	}
}

// TestSlowKeyIsNotLeased: a key allowing fewer than two requests per lease
// period is decided exactly, request by request, across instances.
func TestSlowKeyIsNotLeased(t *testing.T) {
	ctx := context.Background()
	a, b := sharedClients(t)
	cfg := ratelimit.Config{Lease: 100 * time.Millisecond}
	la := leasingLimiter(t, a, cfg)
	lb := leasingLimiter(t, b, cfg)
	lim := ratelimit.PerMinute(60, 10)
	for i := range 10 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		if r := l.Allow(ctx, "slow", lim); !r.Allowed || r.Remaining != 9-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, r, 9-i)
		}
	}
	if r := la.Allow(ctx, "slow", lim); r.Allowed {
		t.Fatalf("11th request: %+v, want refused", r)
	}
}
