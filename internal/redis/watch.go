package redis

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// A Watch keeps an in-process cache honest across instances: it listens
// on one pub/sub channel for invalidations and proves, continuously, that
// it has heard all of them.
//
// A subscriber that is disconnected misses every message published
// meanwhile, and go-redis reconnects silently; a connection can also die
// without an error for a while. So a Watch does not trust a connection, it
// trusts proof: it sends a PING carrying its send time on the subscription
// every PingInterval, and Redis answers it on the same connection after
// every message published before it. A PONG for a ping sent at time T
// therefore proves that every invalidation published before T has been
// handed to OnMessage. Trusted reports whether the last such proof is
// younger than TrustWindow; a cache serves entries only then and reads its
// store otherwise. When the connection fails or goes quiet the Watch calls
// OnReset (drop everything) and subscribes again; it is trusted again only
// after the new subscription's first PONG. A change committed and published
// at P is thus never served after P + TrustWindow + one ping round trip,
// whether pub/sub works or not.
//
// The one loss the proof cannot see is a publish that never reached Redis:
// Announce retries, and callers bound an entry's age for the rest.
type Watch struct {
	rdb   *Client
	cfg   WatchConfig
	proof atomic.Int64 // unix nanos: every message published before it was handled; 0 none

	cancel context.CancelFunc
	done   chan struct{}
}

// WatchConfig configures a Watch. Channel and the two callbacks are
// required; zero durations take the defaults.
type WatchConfig struct {
	Channel      string
	PingInterval time.Duration // default 100ms
	TrustWindow  time.Duration // default 500ms
	ClientName   string        // of the subscription's connection, so an operator can find it
	Logger       *slog.Logger
	// OnMessage handles one invalidation (its payload).
	OnMessage func(payload string)
	// OnReset drops everything cached: called on every (re)subscription
	// and every loss of the connection.
	OnReset func()
}

// NewWatch subscribes and keeps the subscription alive until Close.
func NewWatch(rdb *Client, cfg WatchConfig) *Watch {
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 100 * time.Millisecond
	}
	if cfg.TrustWindow <= 0 {
		cfg.TrustWindow = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Watch{rdb: rdb, cfg: cfg, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(ctx)
	return w
}

// Close ends the subscription.
func (w *Watch) Close() {
	w.cancel()
	<-w.done
}

// Trusted reports whether every invalidation published more than
// TrustWindow ago has been handled.
func (w *Watch) Trusted() bool {
	p := w.proof.Load()
	return p != 0 && time.Now().UnixNano()-p < int64(w.cfg.TrustWindow)
}

// run keeps a subscription alive until ctx ends, one connection at a time;
// between connections nothing is trusted and the cache is empty.
func (w *Watch) run(ctx context.Context) {
	defer close(w.done)
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := w.session(ctx)
		w.proof.Store(0)
		w.cfg.OnReset()
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 5*time.Second {
			backoff = 50 * time.Millisecond
		}
		w.cfg.Logger.Warn("invalidation channel lost; reading the store until resubscribed",
			"channel", w.cfg.Channel, "err", err, "retry_in", backoff)
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
func (w *Watch) session(ctx context.Context) error {
	ps := w.rdb.Subscribe(ctx, w.cfg.Channel)
	defer ps.Close()
	if w.cfg.ClientName != "" {
		if err := ps.ClientSetName(ctx, w.cfg.ClientName); err != nil {
			return err
		}
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(w.cfg.PingInterval)
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
	quiet := 4*w.cfg.TrustWindow + time.Second
	for {
		msg, err := ps.ReceiveTimeout(ctx, w.cfg.PingInterval)
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
			w.cfg.OnMessage(m.Payload)
		case *goredis.Pong:
			if sent, err := strconv.ParseInt(m.Payload, 10, 64); err == nil && sent > w.proof.Load() {
				w.proof.Store(sent)
			}
		case *goredis.Subscription:
			// (Re)subscribed: whatever was published before is lost.
			if m.Kind == "subscribe" {
				w.cfg.OnReset()
			}
		}
	}
}

// Announcer returns the change hook of a store whose cache a Watch on
// channel keeps: called after a change committed, it announces the key of
// what changed, and logs a publish that failed for half a second (caches
// then drop the entry by age only). The key is not logged: it may be a
// data subject.
func (c *Client) Announcer(channel string, log *slog.Logger) func(ctx context.Context, key string) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, key string) {
		if err := c.Announce(ctx, channel, key); err != nil {
			log.Error("invalidation not published; caches drop it by age only", "channel", channel, "err", err)
		}
	}
}

// Announce publishes payload on channel after a change committed,
// retrying for about half a second; the error is the last attempt's.
func (c *Client) Announce(ctx context.Context, channel, payload string) error {
	ctx = context.WithoutCancel(ctx)
	var err error
	for attempt, wait := 0, 25*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
		pctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		err = c.Publish(pctx, channel, payload).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(wait)
	}
	return err
}
