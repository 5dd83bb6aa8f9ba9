package kafka

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"govx"
)

// groupWatch tells whether the consumer groups that answer a requester's
// requests have a live member, from their membership as the group
// coordinator describes it (DescribeGroups, the same call Kafka's own
// tools make).
//
// A member that dies without leaving its group (kill -9, a host lost)
// stays a member until its session times out (Config.SessionTimeout); the
// coordinator then hands its partitions to the members left, or, when
// none is left, the group has no member at all. In a group with members,
// every partition of its topics is assigned to one of them (or is about
// to be, while the group rebalances), so a request sent there is answered
// once the rebalance is done. In a group without members nobody will read
// it: the requester fails such a request at once (KindUnavailable,
// "provider_unavailable") instead of letting it wait for its timeout, and
// fails the requests already waiting on the group the moment it sees the
// group empty.
//
// A group is judged empty only when this requester has seen it with a
// member before, or has seen it empty for startupGrace: a provider whose
// adapter is still starting is waited for, as before. When the group
// cannot be described (no Describe permission on it, a broker that does
// not answer) nothing is judged and requests wait for their timeout.
type groupWatch struct {
	cfg      Config
	client   *kafkago.Client
	interval time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	groups map[string]*groupLife
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

// startupGrace is how long a group never seen with a member must be seen
// empty before its requests fail fast.
const startupGrace = 10 * time.Second

type groupLife struct {
	seenLive   bool
	emptySince time.Time // zero while it has members or is not known
	gone       chan struct{}
	isGone     bool
	warned     bool
}

func newGroupWatch(cfg Config, interval time.Duration, log *slog.Logger) (*groupWatch, error) {
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	w := &groupWatch{cfg: cfg, client: client, interval: interval, log: log,
		groups: map[string]*groupLife{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w, nil
}

// gone returns a channel closed when group is judged to have no live
// member, and whether it is judged so already. The first call for a group
// starts watching it.
func (w *groupWatch) gone(group string) (<-chan struct{}, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.groups[group]
	if g == nil {
		g = &groupLife{gone: make(chan struct{})}
		w.groups[group] = g
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return g.gone, g.isGone
}

func (w *groupWatch) run() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.wake:
		}
		w.poll()
	}
}

func (w *groupWatch) poll() {
	w.mu.Lock()
	ids := make([]string, 0, len(w.groups))
	for id := range w.groups {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(w.interval, time.Second))
	defer cancel()
	resp, err := w.client.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: ids})
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		// Nothing known: judge nothing, so requests wait as they would
		// without the watch.
		for _, g := range w.groups {
			g.emptySince = time.Time{}
		}
		return
	}
	for _, d := range resp.Groups {
		g := w.groups[d.GroupID]
		if g == nil {
			continue
		}
		if d.Error != nil {
			if !g.warned {
				g.warned = true
				w.log.Warn("requests to this consumer group wait for their timeout even when it has no member: it cannot be described",
					"group", d.GroupID, "err", d.Error)
			}
			g.emptySince = time.Time{}
			continue
		}
		if len(d.Members) > 0 {
			g.seenLive, g.emptySince = true, time.Time{}
			if g.isGone {
				g.isGone, g.gone = false, make(chan struct{})
			}
			continue
		}
		if g.emptySince.IsZero() {
			g.emptySince = now
		}
		if !g.isGone && (g.seenLive || now.Sub(g.emptySince) >= startupGrace) {
			g.isGone = true
			close(g.gone)
		}
	}
}

func (w *groupWatch) close() {
	close(w.stop)
	<-w.done
}

// noConsumer is the error of a request to a group without a live member.
func noConsumer(op, group string) error {
	return &govx.Error{Kind: govx.KindUnavailable, Code: "provider_unavailable", Op: op,
		Message: "the provider has no adapter reading its requests",
		Err:     errors.New("consumer group " + group + " has no member")}
}
