package catalog

import (
	"context"
	"encoding/json"
	"time"

	"govx"
	"govx/internal/redis"
)

// Cache serves resources from Redis, falling back to the Store on a miss,
// so that every exchange instance shares one warm copy of the catalogue.
// A Redis outage degrades to reading the Store; it never fails a lookup.
type Cache struct {
	store *Store
	rdb   *redis.Client
	ttl   time.Duration
}

// NewCache caches resources for ttl (default one minute).
func NewCache(store *Store, rdb *redis.Client, ttl time.Duration) *Cache {
	if ttl <= 0 {
		ttl = time.Minute
	}
	return &Cache{store: store, rdb: rdb, ttl: ttl}
}

func (c *Cache) key(code string) string { return c.rdb.Key("catalog:resource:" + code) }

// Resource returns the active resource with the given code.
func (c *Cache) Resource(ctx context.Context, code string) (*Resource, error) {
	if b, err := c.rdb.Get(ctx, c.key(code)).Bytes(); err == nil {
		// An entry that is not this resource ("null", "{}", another
		// version's shape) is a miss, not an answer.
		var r Resource
		if json.Unmarshal(b, &r) == nil && r.Code == code {
			return &r, nil
		}
	}
	r, err := c.store.Resource(ctx, code)
	if err != nil {
		return nil, govx.E("catalog.Cache.Resource", err)
	}
	if b, err := json.Marshal(r); err == nil {
		c.rdb.Set(ctx, c.key(code), b, c.ttl)
	}
	return r, nil
}

// Invalidate drops a cached resource after it changed.
func (c *Cache) Invalidate(ctx context.Context, code string) error {
	return c.rdb.Del(ctx, c.key(code)).Err()
}
