package consent

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"govx"
	"govx/internal/redis"
)

// InvalidationChannel is the Redis channel consent changes are announced
// on; a message is a data subject.
func InvalidationChannel(rdb *redis.Client) string { return rdb.Key("consent:changed") }

// CacheConfig is what a Cache reads from and how long it keeps what it
// holds. Store and Redis are required; zero tuning members take the
// defaults.
type CacheConfig struct {
	Store *Store
	// Redis carries the invalidations (InvalidationChannel) and the pings
	// that prove they arrive.
	Redis *redis.Client

	MaxAge     time.Duration // default 1 minute: bounds an entry whose invalidation never reached Redis
	MaxEntries int           // data subjects held; default 200 000, past it the cache starts over
	ClientName string        // of the subscription's connection; default govx-consent
	Logger     *slog.Logger  // default slog.Default()
}

// Validate checks c and fills in defaults.
func (c *CacheConfig) Validate() error {
	if c.Store == nil || c.Redis == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "consent: a cache needs a Store and Redis")
	}
	if c.MaxAge <= 0 {
		c.MaxAge = time.Minute
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 200_000
	}
	if c.ClientName == "" {
		c.ClientName = "govx-consent"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Cache answers the exchange's consent checks from memory: one entry per
// data subject, holding that subject's recent consents. Every change is
// announced on InvalidationChannel (Invalidator) and a redis.Watch proves
// the channel is heard, so a revocation is honoured on every instance
// within TrustWindow (500 ms) plus a ping; while that proof is missing
// every check reads PostgreSQL. It is safe for concurrent use.
type Cache struct {
	store *Store
	cfg   CacheConfig
	watch *redis.Watch

	mu      sync.RWMutex
	entries map[string]cacheEntry
	gen     atomic.Uint64

	Stats struct{ Hits, Misses, Invalidations atomic.Int64 }
}

type cacheEntry struct {
	consents []Consent
	at       time.Time
}

// NewCache starts the cache's subscription; Close stops it.
func NewCache(cfg CacheConfig) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rdb := cfg.Redis
	c := &Cache{store: cfg.Store, cfg: cfg, entries: map[string]cacheEntry{}}
	c.watch = redis.NewWatch(rdb, redis.WatchConfig{Channel: InvalidationChannel(rdb), ClientName: cfg.ClientName,
		Logger: cfg.Logger, OnMessage: c.invalidate, OnReset: c.flush})
	return c, nil
}

func (c *Cache) Close() { c.watch.Close() }

// Trusted reports whether cached consents may be served now.
func (c *Cache) Trusted() bool { return c.watch.Trusted() }

// Check returns the consent that allows n, or why none does (see Decide).
// A refusal from memory is checked again against PostgreSQL: a consent
// recorded a moment ago (through another instance, its announcement still
// on the way) is honoured at once; only allowing relies on the cache.
func (c *Cache) Check(ctx context.Context, n Need) (*Consent, error) {
	cs, cached, err := c.consents(ctx, n.Subject, false)
	if err != nil {
		return nil, err
	}
	got, err := Decide(cs, n)
	if err != nil && cached {
		if cs, _, err = c.consents(ctx, n.Subject, true); err != nil {
			return nil, err
		}
		got, err = Decide(cs, n)
	}
	return got, err
}

// Forget drops what this instance holds about subject: the store's
// OnChange calls it before announcing the change to the others.
func (c *Cache) Forget(subject string) { c.invalidate(subject) }

// Use spends a once-only consent (Store.Use).
func (c *Cache) Use(ctx context.Context, cons *Consent, requestID string) error {
	return c.store.Use(ctx, cons, requestID)
}

// consents returns subject's consents and whether they came from memory;
// fresh skips memory.
func (c *Cache) consents(ctx context.Context, subject string, fresh bool) ([]Consent, bool, error) {
	now := time.Now()
	trusted := c.watch.Trusted()
	if trusted && !fresh {
		c.mu.RLock()
		e, ok := c.entries[subject]
		c.mu.RUnlock()
		if ok && now.Sub(e.at) < c.cfg.MaxAge {
			c.Stats.Hits.Add(1)
			return e.consents, true, nil
		}
	}
	c.Stats.Misses.Add(1)
	gen := c.gen.Load()
	cs, err := c.store.ForDecisions(ctx, subject)
	if err != nil {
		return nil, false, govx.E("consent.Cache", err)
	}
	// Store only if nothing was invalidated during the read, so a change
	// committed meanwhile is not overwritten by what the read saw.
	if trusted {
		c.mu.Lock()
		if c.gen.Load() == gen {
			if len(c.entries) >= c.cfg.MaxEntries {
				c.entries = map[string]cacheEntry{}
			}
			c.entries[subject] = cacheEntry{consents: cs, at: now}
		}
		c.mu.Unlock()
	}
	return cs, false, nil
}

func (c *Cache) invalidate(subject string) {
	c.mu.Lock()
	c.gen.Add(1)
	delete(c.entries, subject)
	c.mu.Unlock()
	c.Stats.Invalidations.Add(1)
}

func (c *Cache) flush() {
	c.mu.Lock()
	c.gen.Add(1)
	c.entries = map[string]cacheEntry{}
	c.mu.Unlock()
}

// Announcer returns the hook that tells every instance's Cache that a
// consent of a subject changed; it has the shape of Store.OnChange.
func Announcer(rdb *redis.Client, log *slog.Logger) func(ctx context.Context, subject string) {
	return rdb.Announcer(InvalidationChannel(rdb), log)
}
