package catalog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"govx"
	"govx/internal/redis"
)

// The access policy the exchange decides on — a resource, its sharing
// class and fields, and a department's grants for it — is read on every
// query, and changes rarely. PolicyCache keeps it in process memory, so a
// decision costs a map lookup, and every instance drops what changed
// through one Redis pub/sub channel that Invalidator publishes on. A
// redis.Watch proves the channel is heard: the cache serves entries only
// while every invalidation published more than TrustWindow (500ms) ago has
// been applied, and reads PostgreSQL otherwise. A revocation committed and
// published at P is thus never served after P + TrustWindow + one ping
// round trip — well under a second — whether pub/sub works or not. (Bounding
// each entry's age instead would cost a PostgreSQL read per resource and
// department every half second on every instance; with the proof the cache
// stays warm while Redis is fine.) MaxAge bounds an entry whose
// invalidation never reached Redis.

// PolicyConfig is what the cache reads from and how it trusts what it
// holds. Store, Grants and Redis are required; zero tuning members take
// the defaults.
type PolicyConfig struct {
	Store  *Store
	Grants *GrantStore
	// Redis carries the invalidations (InvalidationChannel) and the pings
	// that prove they arrive.
	Redis *redis.Client

	PingInterval time.Duration // default 100ms
	TrustWindow  time.Duration // default 500ms
	MaxAge       time.Duration // default 1 minute
	MaxEntries   int           // default 100 000; past it the cache starts over
	ClientName   string        // of the subscription's connection; default govx-policy
	Logger       *slog.Logger
}

// Validate checks c and fills in defaults.
func (c *PolicyConfig) Validate() error {
	if c.Store == nil || c.Grants == nil || c.Redis == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "catalog: a policy cache needs a Store, Grants and Redis")
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 100 * time.Millisecond
	}
	if c.TrustWindow <= 0 {
		c.TrustWindow = 500 * time.Millisecond
	}
	if c.MaxAge <= 0 {
		c.MaxAge = time.Minute
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 100_000
	}
	if c.ClientName == "" {
		c.ClientName = "govx-policy"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// InvalidationChannel is the Redis channel policy changes are announced on;
// a message is a resource code.
func InvalidationChannel(rdb *redis.Client) string { return rdb.Key("catalog:policy") }

type resEntry struct {
	res *Resource
	err error // NotFound: an unknown or retired code is cached too
	at  time.Time
}

type grantEntry struct {
	grants []Grant
	at     time.Time
}

// PolicyCache serves resources and grants from memory, as described above.
// It is safe for concurrent use.
type PolicyCache struct {
	store  *Store
	grants *GrantStore
	rdb    *redis.Client
	cfg    PolicyConfig

	mu        sync.RWMutex
	resources map[string]resEntry
	byDept    map[string]map[string]grantEntry // code → consumer → grants
	entries   int
	depts     map[string]bool // the catalogue's departments; nil until read
	deptsAt   time.Time
	gen       atomic.Uint64 // bumped by every invalidation and flush
	watch     *redis.Watch

	Stats struct{ Hits, Misses, Untrusted, Invalidations, Flushes atomic.Int64 }
}

// NewPolicyCache starts the cache's subscription; Close stops it.
func NewPolicyCache(cfg PolicyConfig) (*PolicyCache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rdb := cfg.Redis
	c := &PolicyCache{store: cfg.Store, grants: cfg.Grants, rdb: rdb, cfg: cfg,
		resources: map[string]resEntry{}, byDept: map[string]map[string]grantEntry{}}
	c.watch = redis.NewWatch(rdb, redis.WatchConfig{
		Channel: InvalidationChannel(rdb), PingInterval: cfg.PingInterval, TrustWindow: cfg.TrustWindow,
		ClientName: cfg.ClientName, Logger: cfg.Logger, OnMessage: c.invalidate, OnReset: c.flush,
	})
	return c, nil
}

// Close stops the subscription.
func (c *PolicyCache) Close() { c.watch.Close() }

// Trusted reports whether cached entries may be served now.
func (c *PolicyCache) Trusted() bool { return c.watch.Trusted() }

// Lookup returns the active resource with code and, when it is shared on
// conditions, dept's grants for it that can decide an access (see
// GrantStore.Decisive). The returned values are shared: do not modify them.
func (c *PolicyCache) Lookup(ctx context.Context, code, dept string) (*Resource, []Grant, error) {
	now := time.Now()
	trusted := c.Trusted()
	if trusted {
		c.mu.RLock()
		re, ok := c.resources[code]
		var ge grantEntry
		gok := false
		if ok && re.res != nil && re.res.Sharing == Conditional {
			ge, gok = c.byDept[code][dept]
		}
		c.mu.RUnlock()
		fresh := func(at time.Time) bool { return now.Sub(at) < c.cfg.MaxAge }
		if ok && fresh(re.at) {
			if re.err != nil {
				c.Stats.Hits.Add(1)
				return nil, nil, re.err
			}
			if re.res.Sharing != Conditional {
				c.Stats.Hits.Add(1)
				return re.res, nil, nil
			}
			if gok && fresh(ge.at) {
				c.Stats.Hits.Add(1)
				return re.res, ge.grants, nil
			}
		}
	} else {
		c.Stats.Untrusted.Add(1)
	}
	c.Stats.Misses.Add(1)

	// Load from PostgreSQL. What was read is stored only if no
	// invalidation came in meanwhile and the cache was trusted when the
	// read began: otherwise a change committed during the read could be
	// overwritten by what the read saw before it.
	gen := c.gen.Load()
	res, err := c.store.Resource(ctx, code)
	if err != nil && govx.ErrorKind(err) != govx.KindNotFound {
		return nil, nil, err
	}
	var grants []Grant
	if err == nil && res.Sharing == Conditional && dept != "" {
		if grants, err = c.grants.Decisive(ctx, code, dept); err != nil {
			return nil, nil, err
		}
	}
	if trusted {
		c.mu.Lock()
		if c.gen.Load() == gen {
			if c.entries >= c.cfg.MaxEntries {
				c.clearLocked()
			}
			c.resources[code] = resEntry{res: res, err: err, at: now}
			c.entries++
			if res != nil && res.Sharing == Conditional {
				m := c.byDept[code]
				if m == nil {
					m = map[string]grantEntry{}
					c.byDept[code] = m
				}
				m[dept] = grantEntry{grants: grants, at: now}
				c.entries++
			}
		}
		c.mu.Unlock()
	}
	return res, grants, err
}

// invalidate drops everything cached about a resource.
func (c *PolicyCache) invalidate(code string) {
	c.mu.Lock()
	c.gen.Add(1)
	delete(c.resources, code)
	delete(c.byDept, code)
	c.depts = nil // departments change rarely: any announcement rereads them
	c.mu.Unlock()
	c.Stats.Invalidations.Add(1)
}

// DepartmentsChanged drops the departments held in memory on this
// instance at once. The announcement through Redis drops them everywhere,
// this instance included, but a moment later: a department put here (a
// remote department on its first call) acts here at once.
func (c *PolicyCache) DepartmentsChanged() {
	c.mu.Lock()
	c.gen.Add(1)
	c.depts = nil
	c.mu.Unlock()
}

func (c *PolicyCache) flush() {
	c.mu.Lock()
	c.clearLocked()
	c.mu.Unlock()
	c.Stats.Flushes.Add(1)
}

func (c *PolicyCache) clearLocked() {
	c.gen.Add(1)
	c.resources = map[string]resEntry{}
	c.byDept = map[string]map[string]grantEntry{}
	c.depts = nil
	c.entries = 0
}

// Invalidator announces policy changes to every exchange instance's
// PolicyCache. Its ResourceChanged has the shape of the stores' change
// hooks (GrantStore.OnChange, Store.OnChange).
type Invalidator struct {
	announce func(ctx context.Context, code string)
}

// InvalidatorConfig is what an Invalidator needs.
type InvalidatorConfig struct {
	Redis  *redis.Client // required: the announcements' channel
	Logger *slog.Logger  // default slog.Default()
}

// Validate checks c and fills in defaults.
func (c *InvalidatorConfig) Validate() error {
	if c.Redis == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "catalog: an invalidator needs Redis")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// NewInvalidator announces on cfg.Redis's InvalidationChannel.
func NewInvalidator(cfg InvalidatorConfig) (*Invalidator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Invalidator{announce: cfg.Redis.Announcer(InvalidationChannel(cfg.Redis), cfg.Logger)}, nil
}

// ResourceChanged tells every cache that resource code, or a grant of it,
// changed (updated, retired, approved, revoked). It is called after the
// change committed; a failed publish is retried for about half a second,
// then logged (caches then drop the entry by MaxAge).
func (i *Invalidator) ResourceChanged(ctx context.Context, code string) { i.announce(ctx, code) }
