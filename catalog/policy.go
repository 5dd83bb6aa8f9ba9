package catalog

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"govx"
	"govx/internal/redis"
)

// The access policy the exchange decides on — a resource, its sharing
// class and fields, and a department's grants for it — is read on every
// query, and changes rarely. PolicyCache keeps it in process memory, so a
// decision costs a map lookup, and every instance drops what changed
// through one Redis pub/sub channel that Invalidator publishes on.
//
// Staleness is bounded, also when pub/sub loses messages. A subscriber
// that is disconnected misses every message published meanwhile, and
// go-redis reconnects silently; a connection can also die without an error
// for a while. So the cache does not trust a connection, it trusts proof:
// it sends a PING carrying its send time on the subscription every
// PingInterval, and Redis answers it on the same connection after every
// message published before it. A PONG for a ping sent at time T therefore
// proves that every invalidation published before T has been applied. The
// cache serves entries only while the last such proof is younger than
// TrustWindow (500ms); otherwise every lookup reads PostgreSQL and nothing
// is stored. When the connection fails or goes quiet the cache is flushed
// and a fresh subscription is made; entries are trusted again only after
// its first PONG. A revocation committed and published at P is thus never
// served after P + TrustWindow + one ping round trip — well under a second
// — whether pub/sub works or not. (Bounding each entry's age instead would
// cost a PostgreSQL read per resource and department every half second on
// every instance; with the proof the cache stays warm while Redis is fine.)
//
// The one loss the proof cannot see is a publish that never reached Redis
// (the writer's Redis call failed): Invalidator retries, and MaxAge bounds
// such an entry's life.

// PolicyConfig tunes the cache. Zero members take the defaults.
type PolicyConfig struct {
	PingInterval time.Duration // default 100ms
	TrustWindow  time.Duration // default 500ms
	MaxAge       time.Duration // default 1 minute
	MaxEntries   int           // default 100 000; past it the cache starts over
	ClientName   string        // of the subscription's connection; default govx-policy
	Logger       *slog.Logger
}

func (c *PolicyConfig) defaults() {
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
	gen       atomic.Uint64 // bumped by every invalidation and flush
	proof     atomic.Int64  // unix nanos: every invalidation published before it is applied; 0 none

	Stats struct{ Hits, Misses, Untrusted, Invalidations, Flushes atomic.Int64 }

	cancel context.CancelFunc
	done   chan struct{}
}

// NewPolicyCache starts the cache's subscription; Close stops it.
func NewPolicyCache(store *Store, grants *GrantStore, rdb *redis.Client, cfg PolicyConfig) *PolicyCache {
	cfg.defaults()
	c := &PolicyCache{store: store, grants: grants, rdb: rdb, cfg: cfg,
		resources: map[string]resEntry{}, byDept: map[string]map[string]grantEntry{}, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.subscribe(ctx)
	return c
}

// Close stops the subscription.
func (c *PolicyCache) Close() {
	c.cancel()
	<-c.done
}

// Trusted reports whether cached entries may be served now.
func (c *PolicyCache) Trusted() bool {
	p := c.proof.Load()
	return p != 0 && time.Now().UnixNano()-p < int64(c.cfg.TrustWindow)
}

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
	c.mu.Unlock()
	c.Stats.Invalidations.Add(1)
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
	c.entries = 0
}

// subscribe keeps a subscription alive until ctx ends, one connection at a
// time; between connections the cache is distrusted and empty.
func (c *PolicyCache) subscribe(ctx context.Context) {
	defer close(c.done)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := c.session(ctx)
		c.proof.Store(0)
		c.flush()
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 5*time.Second {
			backoff = 50 * time.Millisecond
		}
		c.cfg.Logger.Warn("policy cache: invalidation channel lost; serving from PostgreSQL until resubscribed", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

var errQuiet = errors.New("no answer to pings on the invalidation channel")

// session is one subscription; it returns when the connection fails or
// stops answering pings.
func (c *PolicyCache) session(ctx context.Context) error {
	ps := c.rdb.Subscribe(ctx, InvalidationChannel(c.rdb))
	defer ps.Close()
	// A name lets an operator (and a test) find the connection.
	if err := ps.ClientSetName(ctx, c.cfg.ClientName); err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(c.cfg.PingInterval)
		defer t.Stop()
		for {
			if ps.Ping(sctx, strconv.FormatInt(time.Now().UnixNano(), 10)) != nil && sctx.Err() != nil {
				return
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	lastHeard := time.Now()
	quiet := 4*c.cfg.TrustWindow + time.Second
	for {
		msg, err := ps.ReceiveTimeout(ctx, c.cfg.PingInterval)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
			if time.Since(lastHeard) > quiet {
				return errQuiet
			}
			continue
		}
		lastHeard = time.Now()
		switch m := msg.(type) {
		case *goredis.Message:
			c.invalidate(m.Payload)
		case *goredis.Pong:
			if sent, err := strconv.ParseInt(m.Payload, 10, 64); err == nil && sent > c.proof.Load() {
				c.proof.Store(sent)
			}
		case *goredis.Subscription:
			// (Re)subscribed: whatever was published before is lost, and
			// nothing is cached from before (flushed on every loss).
			if m.Kind == "subscribe" {
				c.flush()
			}
		}
	}
}

// Invalidator announces policy changes to every exchange instance's
// PolicyCache. Its ResourceChanged has the shape of the stores' change
// hooks (GrantStore.OnChange, Store.OnChange).
type Invalidator struct {
	rdb *redis.Client
	log *slog.Logger
}

func NewInvalidator(rdb *redis.Client, log *slog.Logger) *Invalidator {
	if log == nil {
		log = slog.Default()
	}
	return &Invalidator{rdb: rdb, log: log}
}

// ResourceChanged tells every cache that resource code, or a grant of it,
// changed (updated, retired, approved, revoked). It is called after the
// change committed; a failed publish is retried for about half a second,
// then logged (caches then drop the entry by MaxAge).
func (i *Invalidator) ResourceChanged(ctx context.Context, code string) {
	ctx = context.WithoutCancel(ctx)
	var err error
	for attempt, wait := 0, 25*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
		pctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		err = i.rdb.Publish(pctx, InvalidationChannel(i.rdb), code).Err()
		cancel()
		if err == nil {
			return
		}
		time.Sleep(wait)
	}
	i.log.Error("policy invalidation not published; caches drop it by age only", "resource", code, "err", err)
}
