package ratelimit_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"govx/internal/ratelimit"
	"govx/internal/redis"
	"govx/internal/redis/redistest"
)

func mustLimiter(tb testing.TB, rdb *redis.Client) *ratelimit.Limiter {
	tb.Helper()
	l, err := ratelimit.New(ratelimit.Config{Redis: rdb})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// sharedClients returns two separate connections to Redis under one
// prefix: two API instances of one deployment.
func sharedClients(t *testing.T) (*redis.Client, *redis.Client) {
	a := redistest.New(t)
	b, err := redis.Open(context.Background(), redis.Config{URL: redistest.URL(), Prefix: a.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// downClient is a client of a Redis that is not there.
func downClient(t *testing.T) *redis.Client {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return &redis.Client{Client: c, Prefix: "govxtest:down:"}
}

func TestSharedBudget(t *testing.T) {
	ctx := context.Background()
	a, b := sharedClients(t)
	la, lb := mustLimiter(t, a), mustLimiter(t, b)
	// A token back every 200 ms: slow enough that a loaded machine's
	// round trips do not refill the burst while it is being spent.
	lim := ratelimit.Limit{Rate: 10, Period: 2 * time.Second, Burst: 10}

	// Ten requests alternate between the instances; together they spend
	// the one burst.
	for i := range 10 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		r := l.Allow(ctx, "k1", lim)
		if !r.Allowed || r.Degraded {
			t.Fatalf("request %d: %+v, want allowed by Redis", i, r)
		}
		if r.Remaining > 9-i || r.Remaining < 0 {
			t.Errorf("request %d: remaining %d, want at most %d", i, r.Remaining, 9-i)
		}
		if r.ResetAfter <= 0 || r.ResetAfter > 2*time.Second {
			t.Errorf("request %d: reset after %v", i, r.ResetAfter)
		}
	}
	for _, l := range []*ratelimit.Limiter{la, lb} {
		r := l.Allow(ctx, "k1", lim)
		if r.Allowed || r.Remaining != 0 || r.Degraded {
			t.Fatalf("11th request: %+v, want denied", r)
		}
		if r.RetryAfter <= 0 || r.RetryAfter > 200*time.Millisecond {
			t.Errorf("retry after %v, want (0, 200ms]", r.RetryAfter)
		}
	}
	// Another key has its own budget.
	if r := lb.Allow(ctx, "k2", lim); !r.Allowed {
		t.Fatalf("other key: %+v", r)
	}
	// After the advertised wait, the next request passes.
	r := la.Allow(ctx, "k1", lim)
	time.Sleep(r.RetryAfter + 2*time.Millisecond)
	if r := lb.Allow(ctx, "k1", lim); !r.Allowed {
		t.Fatalf("after waiting %v: %+v", r.RetryAfter, r)
	}
	// And after the reset the whole burst is back.
	time.Sleep(2100 * time.Millisecond)
	if r := la.Allow(ctx, "k1", lim); !r.Allowed || r.Remaining != 9 {
		t.Fatalf("after reset: %+v, want allowed with 9 remaining", r)
	}
}

// TestConcurrentInstances: however the requests of many goroutines on two
// instances interleave, no more than the burst gets through at once.
func TestConcurrentInstances(t *testing.T) {
	ctx := context.Background()
	a, b := sharedClients(t)
	la, lb := mustLimiter(t, a), mustLimiter(t, b)
	lim := ratelimit.PerMinute(1, 25) // practically no refill during the test
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
			for range 10 {
				r := l.Allow(ctx, "hot", lim)
				if r.Degraded {
					t.Error("degraded")
				}
				if r.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 25 {
		t.Fatalf("%d of 80 requests allowed, want exactly the burst of 25", allowed)
	}
}

// TestRedisDown: the documented policy is to fail open to a local limiter
// with the same limit; requests are still limited, never failed.
func TestRedisDown(t *testing.T) {
	ctx := context.Background()
	l := mustLimiter(t, downClient(t))
	lim := ratelimit.Limit{Rate: 5, Period: time.Second, Burst: 5}
	for i := range 5 {
		r := l.Allow(ctx, "k", lim)
		if !r.Allowed || !r.Degraded {
			t.Fatalf("request %d: %+v, want allowed, degraded", i, r)
		}
	}
	r := l.Allow(ctx, "k", lim)
	if r.Allowed || !r.Degraded || r.RetryAfter <= 0 {
		t.Fatalf("6th request: %+v, want denied locally with a retry-after", r)
	}
	time.Sleep(r.RetryAfter + 2*time.Millisecond)
	if r := l.Allow(ctx, "k", lim); !r.Allowed {
		t.Fatalf("after waiting: %+v", r)
	}
}

// TestCancelledCaller: a caller giving up is not Redis being down.
func TestCancelledCaller(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.New(t)
	l, err := ratelimit.New(ratelimit.Config{Redis: rdb, Cooldown: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lim := ratelimit.PerSecond(10, 10)
	// A cancelled caller does not count as Redis being down.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if r := l.Allow(cctx, "k", lim); !r.Degraded {
		t.Fatalf("cancelled: %+v, want a local decision", r)
	}
	if r := l.Allow(ctx, "k", lim); r.Degraded {
		t.Fatalf("after a cancelled call: %+v, want Redis", r)
	}
}

func TestLocal(t *testing.T) {
	l := ratelimit.NewLocal(2)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := ratelimit.PerSecond(10, 3)
	for i := range 3 {
		if r := l.Allow("a", lim, t0); !r.Allowed || r.Remaining != 2-i {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	r := l.Allow("a", lim, t0)
	if r.Allowed || r.RetryAfter != 100*time.Millisecond || r.ResetAfter != 300*time.Millisecond {
		t.Fatalf("4th: %+v, want denied, retry after 100ms, reset after 300ms", r)
	}
	if r := l.Allow("a", lim, t0.Add(100*time.Millisecond)); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("after 100ms: %+v", r)
	}
	// The map stays bounded; a key whose budget is full again is dropped
	// first, and forgetting errs towards allowing.
	for i := range 10 {
		if r := l.Allow(fmt.Sprint("k", i), lim, t0.Add(time.Second)); !r.Allowed {
			t.Fatalf("key %d: %+v", i, r)
		}
	}
}

func TestLimitValidate(t *testing.T) {
	for _, tt := range []struct {
		lim ratelimit.Limit
		ok  bool
	}{
		{ratelimit.PerSecond(10, 20), true},
		{ratelimit.PerMinute(1, 1), true},
		{ratelimit.PerSecond(0, 1), false},
		{ratelimit.PerSecond(1, 0), false},
		{ratelimit.Limit{Rate: 1, Burst: 1}, false},
		{ratelimit.PerSecond(2_000_000, 1), false},
	} {
		if err := tt.lim.Validate(); (err == nil) != tt.ok {
			t.Errorf("%v: Validate = %v, want ok %v", tt.lim, err, tt.ok)
		}
	}
	if got := ratelimit.PerSecond(100, 200).Policy(); got != "200;w=2" {
		t.Errorf("Policy = %q", got)
	}
}

func BenchmarkAllowRedis(b *testing.B) {
	ctx := context.Background()
	l := mustLimiter(b, redistest.New(b))
	lim := ratelimit.PerSecond(1_000_000, 1_000_000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if r := l.Allow(ctx, fmt.Sprint("k", i%64), lim); r.Degraded {
			b.Fatal("degraded")
		}
	}
}

func BenchmarkAllowRedisParallel(b *testing.B) {
	ctx := context.Background()
	l := mustLimiter(b, redistest.New(b))
	lim := ratelimit.PerSecond(1_000_000, 1_000_000)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(ctx, fmt.Sprint("k", i%64), lim)
			i++
		}
	})
}

func BenchmarkAllowLocal(b *testing.B) {
	l := ratelimit.NewLocal(0)
	lim := ratelimit.PerSecond(1_000_000, 1_000_000)
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		l.Allow(fmt.Sprint("k", i%64), lim, now)
	}
}
