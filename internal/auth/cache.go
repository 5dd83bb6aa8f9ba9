package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// cache holds verified claims by the SHA-256 of their token. It never
// returns an entry at or after its exp. When full it drops the expired
// entries and then arbitrary ones down to half its size: crude, but O(1)
// amortised, and a dropped entry costs only one more signature check.
type cache struct {
	mu  sync.RWMutex
	max int
	m   map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	claims *Claims
	gen    uint64 // of the OIDC provider's keys that verified it; 0 for the local keys
	exp    time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, m: make(map[[sha256.Size]byte]cacheEntry)}
}

// get returns a copy of the claims cached under key, if they have not
// expired by now.
func (c *cache) get(key [sha256.Size]byte, now time.Time) (*Claims, uint64, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok {
		return nil, 0, false
	}
	if !now.Before(e.exp) {
		c.mu.Lock()
		delete(c.m, key)
		c.mu.Unlock()
		return nil, 0, false
	}
	return e.claims.clone(), e.gen, true
}

// put caches claims, which the cache then owns, until exp.
func (c *cache) put(key [sha256.Size]byte, claims *Claims, gen uint64, exp, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		c.evict(now)
	}
	c.m[key] = cacheEntry{claims: claims, gen: gen, exp: exp}
}

func (c *cache) evict(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.exp) {
			delete(c.m, k)
		}
	}
	// Map iteration order is unspecified, so which entries go is arbitrary.
	for k := range c.m {
		if len(c.m) <= c.max/2 {
			break
		}
		delete(c.m, k)
	}
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
