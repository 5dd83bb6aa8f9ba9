package ratelimit

import (
	"context"
	"sync"
	"time"
)

// A lease is a few of a key's tokens an instance takes from Redis in one
// decision and then spends locally, so a busy key costs one Redis round
// trip per lease rather than one per request.
//
// A lease is taken only when Redis has room for all of it, so leasing never
// lets a key past its shared budget: the error is the other way. Tokens an
// instance leased but did not spend before the lease ran out are lost, and
// they may make another instance refuse the key early: at most one lease
// (leaseSize) per instance per Config.Lease. Leases apply only to keys whose
// limit allows at least two requests in a Config.Lease and a burst of at
// least 20; slower keys are decided exactly, one Redis call per request.

// maxLease caps one lease, whatever the rate.
const maxLease = 100

// leaseSize is how many tokens one lease of lim takes; below 2, none.
func leaseSize(lim Limit, d time.Duration) int {
	if d <= 0 {
		return 0
	}
	n := int(int64(lim.Rate) * int64(d) / int64(lim.Period))
	n = min(n, lim.Burst/10, maxLease)
	if n < 2 {
		return 0
	}
	return n
}

type lease struct {
	lim     Limit
	left    int // tokens still to spend
	until   time.Time
	resetAt time.Time // when the key's shared budget is full again, as Redis said
}

type leases struct {
	mu  sync.Mutex
	max int
	m   map[string]*lease
}

// take spends one leased token of key, if a live lease under lim has one.
func (ls *leases) take(key string, lim Limit, now time.Time) (Result, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.m[key]
	if !ok || l.lim != lim || l.left == 0 || !now.Before(l.until) {
		return Result{}, false
	}
	l.left--
	return Result{Allowed: true, Limit: lim, Remaining: l.left, ResetAfter: max(0, l.resetAt.Sub(now))}, true
}

// add keeps n-1 tokens of a lease just granted (the request that took it
// spends one); tokens of a live lease of the same limit are kept too.
func (ls *leases) add(key string, lim Limit, n int, r Result, d time.Duration, now time.Time) Result {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l, ok := ls.m[key]
	if !ok || l.lim != lim || !now.Before(l.until) {
		if !ok && len(ls.m) >= ls.max {
			for k, old := range ls.m {
				if !now.Before(old.until) {
					delete(ls.m, k)
				}
			}
			if len(ls.m) >= ls.max {
				clear(ls.m)
			}
		}
		l = &lease{lim: lim}
		ls.m[key] = l
	}
	l.left += n - 1
	l.until = now.Add(d)
	l.resetAt = now.Add(r.ResetAfter)
	r.Remaining += l.left
	return r
}

// leasedAllow decides through a lease when lim is fast enough to have one;
// ok is false when it is not, and Redis decides the request alone.
func (l *Limiter) leasedAllow(ctx context.Context, key string, lim Limit) (r Result, ok bool, err error) {
	n := leaseSize(lim, l.cfg.Lease)
	if n == 0 {
		return Result{}, false, nil
	}
	now := time.Now()
	if r, ok := l.leases.take(key, lim, now); ok {
		return r, true, nil
	}
	r, err = l.redisDecide(ctx, key, lim, n)
	if err != nil {
		return r, true, err
	}
	if !r.Allowed {
		// No room for a whole lease: decide this one request exactly.
		return Result{}, false, nil
	}
	return l.leases.add(key, lim, n, r, l.cfg.Lease, time.Now()), true, nil
}
