package casework

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"govx"
	"govx/internal/ratelimit"
)

// ProgressLimit is how often one client address may look up progress or
// rate a case: enough for an applicant, too slow to guess the last four
// characters of a case's applicant (10,000 or more tries).
var ProgressLimit = ratelimit.PerMinute(30, 20)

// ProgressCaseLimit is how often one case number may be looked up or
// rated, from whatever addresses: guesses spread over many addresses at
// one case are slowed as much as guesses from one. An applicant looks a
// few times a day; 20 an hour leaves an attacker some 250 hours for half
// of the 11,000 possible last fours of an ID number.
var ProgressCaseLimit = ratelimit.Limit{Rate: 20, Period: time.Hour, Burst: 10}

// ProgressGuard is the one limiter of the public progress lookup and
// rating, whichever way they are asked (the JSON API, the progress page):
// every lookup spends one of its client address's budget and one of its
// case number's. With a Redis-backed limiter the budgets are shared by
// every instance. It is safe for concurrent use.
//
// The case number's budget is spent whether or not such a case exists, so
// a refusal tells nothing about the case either.
type ProgressGuard struct {
	lim *ratelimit.Limiter
}

// NewProgressGuard returns a guard spending from lim; nil means a limiter
// of this process alone (tests, a single instance without Redis).
func NewProgressGuard(lim *ratelimit.Limiter) *ProgressGuard {
	if lim == nil {
		lim, _ = ratelimit.New(ratelimit.Config{}) // never fails without Redis
	}
	return &ProgressGuard{lim: lim}
}

// Allow spends one lookup of r's client address and of the case number
// id. The address is the connection's: a header naming another could be
// forged. A refusal is a rate_limited error with how long to wait.
func (g *ProgressGuard) Allow(ctx context.Context, r *http.Request, id string) (time.Duration, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	res := g.lim.Allow(ctx, "progress:addr:"+host, ProgressLimit)
	if !res.Allowed {
		return res.RetryAfter, govx.Errorf(govx.KindUnavailable, "rate_limited", "too many lookups from your address; try again in a minute")
	}
	// Only well-formed numbers have a budget of their own: anything else is
	// refused before any case is read.
	if id = strings.ToUpper(strings.TrimSpace(id)); ValidCaseID(id) {
		res = g.lim.Allow(ctx, "progress:case:"+id, ProgressCaseLimit)
		if !res.Allowed {
			return res.RetryAfter, govx.Errorf(govx.KindUnavailable, "rate_limited", "too many lookups of this case number; try again later")
		}
	}
	return 0, nil
}
