package catalog_test

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"govx"
	"govx/catalog"
	"govx/internal/redis"
	"govx/internal/redis/redistest"
)

const identity = "population.identity"

func cacheKey(rdb *redis.Client, code string) string { return rdb.Key("catalog:resource:" + code) }

func mustResource(tb testing.TB, r interface {
	Resource(context.Context, string) (*catalog.Resource, error)
}, code string) *catalog.Resource {
	tb.Helper()
	res, err := r.Resource(context.Background(), code)
	if err != nil {
		tb.Fatalf("Resource(%s): %v", code, err)
	}
	return res
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	store, pool := mustSeeded(t)
	rdb := redistest.New(t)
	cache := catalog.NewCache(store, rdb, time.Minute)
	key := cacheKey(rdb, identity)
	original := mustResource(t, store, identity)

	if n, err := rdb.Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Fatalf("key %s exists before the first lookup (%d, %v)", key, n, err)
	}
	got := mustResource(t, cache, identity)
	if got.Name != original.Name || len(got.Fields) != len(original.Fields) {
		t.Fatalf("first lookup = %+v, want %+v", got, original)
	}
	raw, err := rdb.Get(ctx, key).Bytes()
	if err != nil {
		t.Fatalf("the first lookup left nothing in Redis under %s: %v", key, err)
	}
	var cached catalog.Resource
	if err := json.Unmarshal(raw, &cached); err != nil || cached.Code != identity || cached.Name != original.Name {
		t.Errorf("Redis holds %s (%v), want the resource", raw, err)
	}
	if ttl, err := rdb.TTL(ctx, key).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL of %s = %v, %v; want (0, 1m]", key, ttl, err)
	}

	// Change the row behind the cache's back: the cache keeps serving what
	// it holds, which proves the second lookup never reached PostgreSQL.
	if _, err := pool.Exec(ctx, `UPDATE catalog.resources SET name = 'renamed' WHERE code = $1`, identity); err != nil {
		t.Fatal(err)
	}
	if r := mustResource(t, store, identity); r.Name != "renamed" {
		t.Fatalf("store after the update has name %q", r.Name)
	}
	if r := mustResource(t, cache, identity); r.Name != original.Name {
		t.Errorf("second lookup name = %q; want the cached %q", r.Name, original.Name)
	}

	if err := cache.Invalidate(ctx, identity); err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	if r := mustResource(t, cache, identity); r.Name != "renamed" {
		t.Errorf("lookup after Invalidate name = %q, want renamed", r.Name)
	}

	t.Run("unknown resource is not cached", func(t *testing.T) {
		_, err := cache.Resource(ctx, "population.nothing")
		wantErr(t, err, govx.KindNotFound, "resource_not_found")
		if n, _ := rdb.Exists(ctx, cacheKey(rdb, "population.nothing")).Result(); n != 0 {
			t.Error("a miss was cached")
		}
	})

	t.Run("retired and invalidated", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `UPDATE catalog.resources SET status = 'retired' WHERE code = $1`, identity); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			pool.Exec(ctx, `UPDATE catalog.resources SET status = 'active' WHERE code = $1`, identity)
			cache.Invalidate(ctx, identity)
		})
		if err := cache.Invalidate(ctx, identity); err != nil {
			t.Fatal(err)
		}
		_, err := cache.Resource(ctx, identity)
		wantErr(t, err, govx.KindNotFound, "resource_not_found")
	})
}

// What is under the key may have been written by another version of govx,
// by hand, or half-written: a lookup that cannot use it reads the Store and
// repairs the entry.
func TestCacheUnusableEntry(t *testing.T) {
	ctx := context.Background()
	store, _ := mustSeeded(t)
	rdb := redistest.New(t)
	cache := catalog.NewCache(store, rdb, time.Minute)
	key := cacheKey(rdb, identity)
	want := mustResource(t, store, identity)

	tests := []struct {
		name  string
		value string
	}{
		{"not JSON", "\x00\xffgarbage"},
		{"truncated JSON", `{"code": "population.identity", "name": "居民`},
		{"JSON of another shape", `[1, 2, 3]`},
		{"JSON null", `null`},
		{"empty object", `{}`},
		{"another resource", `{"code": "tax.income", "provider": "tax", "fields": []}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := rdb.Set(ctx, key, tt.value, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			got, err := cache.Resource(ctx, identity)
			if err != nil {
				t.Fatalf("Resource with %q in Redis: %v", tt.value, err)
			}
			if got.Code != want.Code || got.Provider != want.Provider || len(got.Fields) != len(want.Fields) {
				t.Fatalf("Resource with %q in Redis = %+v, want %+v", tt.value, got, want)
			}
			raw, err := rdb.Get(ctx, key).Bytes()
			if err != nil {
				t.Fatal(err)
			}
			var repaired catalog.Resource
			if err := json.Unmarshal(raw, &repaired); err != nil || repaired.Code != identity {
				t.Errorf("entry not repaired: Redis holds %s", raw)
			}
		})
	}
}

// A Redis outage degrades to reading the Store; it never fails a lookup.
func TestCacheRedisDown(t *testing.T) {
	store, _ := mustSeeded(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	down := &redis.Client{Client: goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1, DialerRetries: 1}), Prefix: "govxtest:down:"}
	defer down.Close()
	cache := catalog.NewCache(store, down, 0)

	r := mustResource(t, cache, identity)
	if r.Code != identity || r.Provider != catalog.DeptPopulation {
		t.Errorf("Resource with Redis down = %+v", r)
	}
	_, err = cache.Resource(context.Background(), "population.nothing")
	wantErr(t, err, govx.KindNotFound, "resource_not_found")
}
