package consent_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"govx"
	"govx/consent"
	"govx/internal/redis"
	"govx/internal/redis/redistest"
)

func newCache(t *testing.T, store *consent.Store, rdb *redis.Client) *consent.Cache {
	t.Helper()
	c, err := consent.NewCache(consent.CacheConfig{Store: store, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	deadline := time.Now().Add(5 * time.Second)
	for !c.Trusted() {
		if time.Now().After(deadline) {
			t.Fatal("consent cache never subscribed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// Two exchange instances, each with its own cache and Redis connection:
// a revocation made through either store reaches both within a second,
// while their caches were warm.
func TestRevocationReachesEveryInstance(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rdb2, err := redis.Open(ctx, redis.Config{URL: redistest.URL(), Prefix: e.rdb.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb2.Close() })
	e.store.OnChange = consent.Announcer(e.rdb, nil)
	a, b := newCache(t, e.store, e.rdb), newCache(t, e.store, rdb2)

	c, err := e.store.Create(ctx, clerk, identityRequest(person))
	if err != nil {
		t.Fatal(err)
	}
	// Warm both: checks until one is served from memory (the creation's
	// own invalidation may drop the first load).
	for _, cache := range []*consent.Cache{a, b} {
		deadline := time.Now().Add(2 * time.Second)
		for cache.Stats.Hits.Load() == 0 {
			if got, err := cache.Check(ctx, need(person)); err != nil || got.ID != c.ID {
				t.Fatalf("Check = %v, %v", got, err)
			}
			if time.Now().After(deadline) {
				t.Fatal("cache never warm")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	start := time.Now()
	if _, err := e.store.Change(ctx, citizen, c.ID, consent.ActionRevoke, "changed my mind", 0); err != nil {
		t.Fatal(err)
	}
	for _, cache := range []*consent.Cache{a, b} {
		for {
			_, err := cache.Check(ctx, need(person))
			if govx.ErrorCode(err) == "consent_revoked" {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("a cache still allows after %v: %v", time.Since(start), err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	t.Logf("revocation honoured by both instances after %v", time.Since(start))
}

// With Redis unreachable the cache serves nothing from memory: every check
// reads PostgreSQL, so a revocation is still honoured at once.
func TestUntrustedCacheReadsTheStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Nothing listens there: the subscription can never prove freshness.
	dead := &redis.Client{Client: goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}), Prefix: e.rdb.Prefix}
	t.Cleanup(func() { dead.Close() })
	cache, err := consent.NewCache(consent.CacheConfig{Store: e.store, Redis: dead})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	c, err := e.store.Create(ctx, clerk, identityRequest(person))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Check(ctx, need(person)); err != nil {
		t.Fatal(err)
	}
	// Revoked without any announcement: still refused at once.
	if _, err := e.store.Change(ctx, citizen, c.ID, consent.ActionRevoke, "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Check(ctx, need(person)); govx.ErrorCode(err) != "consent_revoked" {
		t.Fatalf("Check = %v, want consent_revoked", err)
	}
	if cache.Stats.Hits.Load() != 0 {
		t.Errorf("an untrusted cache served %d hits", cache.Stats.Hits.Load())
	}
}

// A consent recorded a moment ago through another instance, before its
// announcement arrives, is honoured at once: refusals are checked again
// against PostgreSQL, only allowing relies on memory.
func TestNewConsentHonouredBeforeItsAnnouncement(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cache := newCache(t, e.store, e.rdb) // e.store announces nothing
	for range 2 {
		if _, err := cache.Check(ctx, need(person)); govx.ErrorCode(err) != "consent_required" {
			t.Fatalf("before: %v", err)
		}
	}
	c, err := e.store.Create(ctx, clerk, identityRequest(person))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cache.Check(ctx, need(person)); err != nil || got.ID != c.ID {
		t.Fatalf("right after recording: %v, %v", got, err)
	}
}
