// Package ratelimit is govx's shared rate limiter: GCRA (the generic cell
// rate algorithm, a token bucket kept as one timestamp per key) in Redis,
// decided atomically by one Lua script on Redis's own clock, so every API
// instance draws on one budget per key and instance clocks do not matter.
//
// When Redis is down or slow the limiter fails open to a local, in-process
// GCRA with the same limits: a caller is still limited, but per instance, so
// with N instances a key may get up to N times its rate until Redis is back.
// Allow never returns an error and never makes a request fail; the Result
// says Degraded so the caller can log or count it. After a Redis failure the
// limiter stays local for Config.Cooldown before it tries Redis again, so a
// dead Redis costs one timeout per cooldown, not one per request.
package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"govx"
	"govx/internal/redis"
)

// Limit is a rate with a burst: Rate requests per Period on average, and at
// most Burst at once.
type Limit struct {
	Rate   int           `json:"rate"`
	Period time.Duration `json:"-"`
	Burst  int           `json:"burst"`
}

// PerSecond is rate requests a second with burst.
func PerSecond(rate, burst int) Limit { return Limit{Rate: rate, Period: time.Second, Burst: burst} }

// PerMinute is rate requests a minute with burst.
func PerMinute(rate, burst int) Limit { return Limit{Rate: rate, Period: time.Minute, Burst: burst} }

// Validate refuses limits that cannot be enforced.
func (l Limit) Validate() error {
	switch {
	case l.Rate <= 0:
		return govx.Errorf(govx.KindInvalid, "limit_invalid", "rate must be positive")
	case l.Period < time.Millisecond || l.Period > 24*time.Hour:
		return govx.Errorf(govx.KindInvalid, "limit_invalid", "period must be between 1ms and 24h")
	case l.Burst <= 0:
		return govx.Errorf(govx.KindInvalid, "limit_invalid", "burst must be positive")
	case l.Burst > 1_000_000 || l.Rate > 1_000_000:
		return govx.Errorf(govx.KindInvalid, "limit_invalid", "rate and burst must be at most 1000000")
	}
	return nil
}

// emission is the time one request costs.
func (l Limit) emission() time.Duration { return l.Period / time.Duration(l.Rate) }

// String is "100/1s burst 200".
func (l Limit) String() string { return fmt.Sprintf("%d/%s burst %d", l.Rate, l.Period, l.Burst) }

// Result is one decision.
type Result struct {
	Allowed   bool
	Limit     Limit
	Remaining int // requests that may still be made at once
	// ResetAfter is how long until the key's budget is full again.
	ResetAfter time.Duration
	// RetryAfter is how long to wait before the next request can be
	// allowed; zero when this one was.
	RetryAfter time.Duration
	// Degraded is set when Redis could not decide and the local limiter
	// did.
	Degraded bool
}

// Config configures a Limiter.
type Config struct {
	// Redis holds the shared budgets, under its prefix + "ratelimit:".
	// nil leaves only the local limiter (a single instance without Redis).
	Redis *redis.Client
	// Timeout bounds one Redis decision; default 200ms.
	Timeout time.Duration
	// Cooldown is how long the limiter stays local after Redis failed;
	// default 1s.
	Cooldown time.Duration
	// LocalKeys bounds the keys the local fallback (and the leases)
	// remember; default 100000.
	LocalKeys int
	// Lease, when positive, lets a fast key take a few tokens from Redis
	// at once and spend them here for up to this long (see lease.go):
	// never past the shared budget, at most one lease of tokens per
	// instance lost when unspent. Zero decides every request in Redis.
	Lease  time.Duration
	Logger *slog.Logger // default slog.Default()
}

// Validate fills in defaults.
func (c *Config) Validate() error {
	if c.Timeout < 0 || c.Cooldown < 0 || c.LocalKeys < 0 {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "ratelimit: durations and sizes must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = 200 * time.Millisecond
	}
	if c.Cooldown == 0 {
		c.Cooldown = time.Second
	}
	if c.LocalKeys == 0 {
		c.LocalKeys = 100_000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

//go:embed gcra.lua
var gcraSource string

var gcra = goredis.NewScript(gcraSource)

// Limiter decides requests against a shared budget per key. It is safe for
// concurrent use.
type Limiter struct {
	rdb    *redis.Client
	cfg    Config
	local  *Local
	leases *leases
	// downUntil is the UnixNano until which Redis is skipped.
	downUntil atomic.Int64
	logMu     sync.Mutex
	loggedAt  time.Time
}

// New returns a limiter on cfg.Redis; keys live under its prefix +
// "ratelimit:". Without Redis only the local limiter decides.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, govx.E("ratelimit.New", err)
	}
	return &Limiter{rdb: cfg.Redis, cfg: cfg, local: NewLocal(cfg.LocalKeys), leases: &leases{max: cfg.LocalKeys, m: map[string]*lease{}}}, nil
}

// Allow decides one request of key under lim. It never fails: when Redis
// cannot answer, the local limiter decides and the result is Degraded. An
// invalid lim is a programming error and denies nothing: it is logged and
// the request allowed.
func (l *Limiter) Allow(ctx context.Context, key string, lim Limit) Result {
	if err := lim.Validate(); err != nil {
		l.cfg.Logger.Error("ratelimit: invalid limit", "key", key, "limit", lim.String(), "err", err)
		return Result{Allowed: true, Limit: lim, Remaining: 0, Degraded: true}
	}
	if l.rdb == nil {
		r := l.local.Allow(key, lim, time.Now())
		return r
	}
	if now := time.Now(); now.UnixNano() < l.downUntil.Load() {
		r := l.local.Allow(key, lim, now)
		r.Degraded = true
		return r
	}
	r, leased, err := l.leasedAllow(ctx, key, lim)
	if !leased && err == nil {
		r, err = l.redisDecide(ctx, key, lim, 1)
	}
	if err != nil {
		if ctx.Err() == nil { // not the caller giving up
			l.downUntil.Store(time.Now().Add(l.cfg.Cooldown).UnixNano())
			l.logDown(err)
		}
		r = l.local.Allow(key, lim, time.Now())
		r.Degraded = true
	}
	return r
}

// logDown logs Redis failures at most once a minute.
func (l *Limiter) logDown(err error) {
	l.logMu.Lock()
	defer l.logMu.Unlock()
	if time.Since(l.loggedAt) < time.Minute {
		return
	}
	l.loggedAt = time.Now()
	l.cfg.Logger.Warn("ratelimit: redis unavailable, limiting per instance", "err", err, "cooldown", l.cfg.Cooldown)
}

// redisDecide spends cost tokens of key in Redis, all or none.
func (l *Limiter) redisDecide(ctx context.Context, key string, lim Limit, cost int) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	em := lim.emission().Microseconds()
	if em < 1 {
		em = 1
	}
	v, err := gcra.Run(ctx, l.rdb, []string{l.rdb.Key("ratelimit:" + key)}, lim.Burst, em, cost).Int64Slice()
	if err != nil {
		return Result{}, err
	}
	if len(v) != 4 {
		return Result{}, fmt.Errorf("ratelimit: script answered %d values", len(v))
	}
	return Result{
		Allowed:    v[0] == 1,
		Limit:      lim,
		Remaining:  int(v[1]),
		RetryAfter: time.Duration(v[2]) * time.Microsecond,
		ResetAfter: time.Duration(v[3]) * time.Microsecond,
	}, nil
}

// Local is an in-process GCRA limiter: the fallback when Redis is down, and
// enough for a single instance. It is safe for concurrent use.
type Local struct {
	mu   sync.Mutex
	max  int
	tats map[string]time.Time // theoretical arrival time per key
}

// NewLocal returns a local limiter remembering at most max keys.
func NewLocal(max int) *Local {
	if max <= 0 {
		max = 100_000
	}
	return &Local{max: max, tats: make(map[string]time.Time)}
}

// Allow decides one request of key under lim at now.
func (l *Local) Allow(key string, lim Limit, now time.Time) Result {
	em := lim.emission()
	burstOffset := em * time.Duration(lim.Burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tats[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	newTat := tat.Add(em)
	allowAt := newTat.Add(-burstOffset)
	diff := now.Sub(allowAt)
	if diff < 0 {
		return Result{Allowed: false, Limit: lim, RetryAfter: -diff, ResetAfter: tat.Sub(now)}
	}
	if !ok && len(l.tats) >= l.max {
		l.evict(now)
	}
	l.tats[key] = newTat
	return Result{Allowed: true, Limit: lim, Remaining: int(diff / em), ResetAfter: newTat.Sub(now)}
}

// evict drops keys whose budget is full again (they carry no state); if
// none are, it forgets everything, which errs towards allowing.
func (l *Local) evict(now time.Time) {
	for k, tat := range l.tats {
		if !tat.After(now) {
			delete(l.tats, k)
		}
	}
	if len(l.tats) >= l.max {
		clear(l.tats)
	}
}

// Seconds is d in whole seconds, rounded up: the unit of the RateLimit-Reset
// and Retry-After headers.
func Seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// Policy is the RateLimit-Policy value of lim (draft-ietf-httpapi-ratelimit-headers):
// the burst as quota over the window that refills it, e.g. "200;w=2".
func (lim Limit) Policy() string {
	w := Seconds(lim.emission() * time.Duration(lim.Burst))
	if w < 1 {
		w = 1
	}
	return strconv.Itoa(lim.Burst) + ";w=" + strconv.Itoa(w)
}
