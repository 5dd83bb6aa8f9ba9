package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"govx"
)

// RequesterConfig configures request/reply.
type RequesterConfig struct {
	// ReplyTopic is this instance's own reply topic; providers send replies
	// there. One per instance so that instances scale out without reading
	// each other's replies.
	ReplyTopic string
	// Timeout bounds each request unless its context ends sooner.
	Timeout time.Duration // default 5s
	Logger  *slog.Logger
	// ConsumerGroup names the consumer group that answers the requests
	// sent to a topic, or "" when that is not known. For a named group the
	// requester fails a request fast, with KindUnavailable
	// ("provider_unavailable"), when the group has no live member, rather
	// than let it wait for Timeout (see groupWatch). Nil: every request
	// waits for its reply or its timeout.
	ConsumerGroup func(topic string) string
	// LivenessInterval is how often the groups' membership is read;
	// default 250ms.
	LivenessInterval time.Duration
}

// Requester sends requests and waits for the replies that carry the same
// request id in their HeaderRequestID. It is safe for concurrent use.
//
// A request that times out or whose context is cancelled removes its entry
// at once; a reply that arrives later, or twice, is dropped and counted.
// Nothing is left behind per request: no goroutine, no map entry.
type Requester struct {
	cfg  RequesterConfig
	prod *Producer
	r    *kafkago.Reader
	log  *slog.Logger

	mu      sync.Mutex
	waiting map[string]chan Message

	late  atomic.Int64
	done  chan struct{}
	watch *groupWatch // nil without RequesterConfig.ConsumerGroup
}

// NewRequester creates the reply topic if needed, positions a reader at its
// end (so old replies are never matched) and starts dispatching replies.
func NewRequester(ctx context.Context, cfg Config, rc RequesterConfig, prod *Producer) (*Requester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rc.ReplyTopic == "" {
		return nil, errors.New("kafka: requester needs a reply topic")
	}
	if rc.Timeout == 0 {
		rc.Timeout = 5 * time.Second
	}
	if rc.Logger == nil {
		rc.Logger = slog.Default()
	}
	if err := EnsureTopics(ctx, cfg, Topic{Name: rc.ReplyTopic, Partitions: 1, Transient: true}); err != nil {
		return nil, err
	}
	// Resolve the end offset now, before any request is sent: a reader told
	// "LastOffset" resolves it lazily and could skip a fast reply.
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	dialer, err := cfg.Dialer()
	if err != nil {
		return nil, err
	}
	var end int64
	err = retry(ctx, func() error {
		resp, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{
			Topics: map[string][]kafkago.OffsetRequest{rc.ReplyTopic: {kafkago.LastOffsetOf(0)}},
		})
		if err != nil {
			return err
		}
		parts := resp.Topics[rc.ReplyTopic]
		if len(parts) != 1 || parts[0].Error != nil {
			return fmt.Errorf("list offsets of %s: %v", rc.ReplyTopic, parts)
		}
		end = parts[0].LastOffset
		return nil
	})
	if err != nil {
		return nil, unavailable("kafka.NewRequester", cfg.explain(ctx, err))
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:         cfg.Brokers,
		Topic:           rc.ReplyTopic,
		Partition:       0,
		MinBytes:        1,
		MaxBytes:        10 << 20,
		MaxWait:         fetchMaxWait,
		ReadLagInterval: -1,
		QueueCapacity:   1000,
		Dialer:          dialer,
	})
	if err := r.SetOffset(end); err != nil {
		r.Close()
		return nil, govx.E("kafka.NewRequester", err)
	}
	q := &Requester{cfg: rc, prod: prod, r: r, log: rc.Logger, waiting: map[string]chan Message{}, done: make(chan struct{})}
	if rc.ConsumerGroup != nil {
		if rc.LivenessInterval <= 0 {
			rc.LivenessInterval = 250 * time.Millisecond
		}
		if q.watch, err = newGroupWatch(cfg, rc.LivenessInterval, rc.Logger); err != nil {
			r.Close()
			return nil, err
		}
	}
	go q.dispatch()
	return q, nil
}

// ReplyTopic is where replies to this requester must go.
func (q *Requester) ReplyTopic() string { return q.cfg.ReplyTopic }

// Request publishes m with the id and reply-to headers set, then waits for
// the reply, the configured timeout or ctx, whichever comes first. A timeout
// is a *govx.Error of KindTimeout. A request to a topic whose consumer
// group has no live member (RequesterConfig.ConsumerGroup) is not sent, or
// stops waiting once the group is seen empty: a *govx.Error of
// KindUnavailable, "provider_unavailable".
func (q *Requester) Request(ctx context.Context, id string, m Message) (Message, error) {
	const op = "kafka.Request"
	var gone <-chan struct{}
	group := ""
	if q.watch != nil {
		if group = q.cfg.ConsumerGroup(m.Topic); group != "" {
			var isGone bool
			if gone, isGone = q.watch.gone(group); isGone {
				return Message{}, noConsumer(op, group)
			}
		}
	}
	ch := make(chan Message, 1)
	q.mu.Lock()
	if _, dup := q.waiting[id]; dup {
		q.mu.Unlock()
		return Message{}, govx.E(op, fmt.Errorf("request id %q already in flight", id))
	}
	q.waiting[id] = ch
	q.mu.Unlock()
	defer q.forget(id)

	ctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
	defer cancel()
	m.Headers = append(m.Headers,
		Header{Key: HeaderRequestID, Value: []byte(id)},
		Header{Key: HeaderReplyTo, Value: []byte(q.cfg.ReplyTopic)})
	if err := q.prod.Publish(ctx, m); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Message{}, timeout(op, err)
		}
		return Message{}, err
	}
	select {
	case reply := <-ch:
		return reply, nil
	case <-gone: // nil, never ready, without a group
		select {
		case reply := <-ch: // answered just before the last member left
			return reply, nil
		default:
		}
		return Message{}, noConsumer(op, group)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Message{}, timeout(op, ctx.Err())
		}
		return Message{}, ctx.Err()
	}
}

func timeout(op string, err error) error {
	return &govx.Error{Kind: govx.KindTimeout, Code: "provider_timeout", Op: op,
		Message: "the provider did not answer in time", Err: err}
}

func (q *Requester) forget(id string) {
	q.mu.Lock()
	delete(q.waiting, id)
	q.mu.Unlock()
}

// InFlight is the number of requests waiting for a reply.
func (q *Requester) InFlight() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// Late counts replies that arrived for no waiting request (after a timeout,
// or a duplicate from an at-least-once provider).
func (q *Requester) Late() int64 { return q.late.Load() }

func (q *Requester) dispatch() {
	defer close(q.done)
	backoff := 100 * time.Millisecond
	for {
		km, err := q.r.ReadMessage(context.Background())
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || errors.Is(err, kafkago.ErrGroupClosed) {
				return
			}
			q.log.Warn("reply reader", "topic", q.cfg.ReplyTopic, "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		m := fromKafka(km)
		id := m.Header(HeaderRequestID)
		q.mu.Lock()
		ch, ok := q.waiting[id]
		if ok {
			delete(q.waiting, id)
		}
		q.mu.Unlock()
		if !ok {
			q.late.Add(1)
			continue
		}
		ch <- m // buffered 1 and removed from the map: never blocks
	}
}

// Close stops reading replies. Requests still waiting time out.
func (q *Requester) Close() error {
	if q.watch != nil {
		q.watch.close()
	}
	err := q.r.Close()
	<-q.done
	return err
}
