package kafka

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// ConsumerConfig configures a consumer-group member.
type ConsumerConfig struct {
	GroupID         string
	Topics          []string
	MaxInFlight     int           // messages handled at once; default 64
	CommitInterval  time.Duration // how often handled offsets are committed; default 100ms
	ShutdownTimeout time.Duration // how long Run waits for in-flight handlers; default 10s
	Logger          *slog.Logger
}

// Handler handles one message. The message counts as handled when Handler
// returns nil: a handler that cannot process a message must park it itself
// (a dead-letter topic) and return nil. An error means the message could not
// be handled for now (its reply or dead letter could not be published): the
// consumer never commits it or anything after it on its partition, stops
// fetching, waits for the handlers in flight and Run returns the error, so
// the message is redelivered to whichever member reads the partition next.
// The context is cancelled only when the consumer gives up waiting at
// shutdown; a handler that then returns an error leaves its message
// uncommitted for redelivery in the same way.
type Handler func(ctx context.Context, m Message) error

// Consumer reads its group's share of the topics' partitions and runs a
// Handler for each message, concurrently up to MaxInFlight. Offsets are
// committed in order per partition, never past a message still being
// handled, so a crash re-delivers (at least once) and never skips.
type Consumer struct {
	r   *kafkago.Reader
	cfg ConsumerConfig
	log *slog.Logger

	running atomic.Bool

	mu      sync.Mutex
	pending map[int]*partitionOffsets
}

func NewConsumer(cfg Config, cc ConsumerConfig) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cc.GroupID == "" || len(cc.Topics) == 0 {
		return nil, errors.New("kafka: consumer needs a group id and at least one topic")
	}
	if cc.MaxInFlight <= 0 {
		cc.MaxInFlight = 64
	}
	if cc.CommitInterval == 0 {
		cc.CommitInterval = 100 * time.Millisecond
	}
	if cc.ShutdownTimeout == 0 {
		cc.ShutdownTimeout = 10 * time.Second
	}
	if cc.Logger == nil {
		cc.Logger = slog.Default()
	}
	dialer, err := cfg.Dialer()
	if err != nil {
		return nil, err
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           cc.GroupID,
		GroupTopics:       cc.Topics,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           fetchMaxWait,
		ReadBatchTimeout:  10 * time.Second,
		CommitInterval:    cc.CommitInterval,
		HeartbeatInterval: cfg.SessionTimeout / 8,
		SessionTimeout:    cfg.SessionTimeout,
		// How long the coordinator waits for the members left to rejoin
		// after one has gone; a live member rejoins at its next heartbeat.
		RebalanceTimeout: max(cfg.SessionTimeout, 5*time.Second),
		JoinGroupBackoff: 250 * time.Millisecond,
		StartOffset:      kafkago.FirstOffset,
		ReadLagInterval:  -1,
		Dialer:           dialer,
	})
	return &Consumer{r: r, cfg: cc, log: cc.Logger, pending: map[int]*partitionOffsets{}}, nil
}

// Run consumes until ctx is cancelled, then waits up to ShutdownTimeout for
// in-flight handlers, commits what they finished and returns nil. Any other
// return is a fatal reader error or the first error a handler returned; the
// Consumer is then spent: Close it and start a new one, which resumes at the
// first message not handled.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	// fetch ends the fetch loop on ctx or on the first handler error.
	fetch, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	sem := make(chan struct{}, c.cfg.MaxInFlight)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var runErr, handlerErr error
	c.running.Store(true)
	defer c.running.Store(false)
	for {
		select {
		case sem <- struct{}{}:
		case <-fetch.Done():
		}
		if fetch.Err() != nil {
			break
		}
		km, err := c.r.FetchMessage(fetch)
		if err != nil {
			<-sem
			if fetch.Err() == nil {
				runErr = unavailable("kafka.Consumer.Run", err)
			}
			break
		}
		c.track(km)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := h(hctx, fromKafka(km)); err != nil {
				// Left in flight: the commit point never passes it.
				if hctx.Err() == nil {
					errOnce.Do(func() { handlerErr = err; stopFetch() })
				}
				return
			}
			c.done(hctx, km)
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(c.cfg.ShutdownTimeout):
		c.log.Warn("consumer shutdown: handlers still running; their messages will be redelivered",
			"group", c.cfg.GroupID)
		cancelHandlers()
		<-finished
	}
	if runErr == nil && handlerErr != nil {
		c.log.Warn("consumer stopped: a message could not be handled; it will be redelivered",
			"group", c.cfg.GroupID, "err", handlerErr)
		runErr = handlerErr
	}
	return runErr
}

// Running reports whether Run is consuming.
func (c *Consumer) Running() bool { return c.running.Load() }

// closeTimeout bounds Close: kafka-go's Reader.Close can block for good
// when it is closed in the middle of a rebalance (segmentio/kafka-go#1248).
const closeTimeout = 15 * time.Second

// Close commits what was handled and leaves the group. It gives up after
// closeTimeout, so a stuck client library never holds up a shutdown; what
// was not committed then is redelivered to the group's next member.
func (c *Consumer) Close() error {
	done := make(chan error, 1)
	go func() { done <- c.r.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(closeTimeout):
		c.log.Warn("consumer close: the group did not answer; leaving it unclosed", "group", c.cfg.GroupID)
		return unavailable("kafka.Consumer.Close", errors.New("the reader did not close within "+closeTimeout.String()))
	}
}

// partitionOffsets tracks the offsets of one partition that are in flight,
// so the commit point only moves over a contiguous run of handled ones.
type partitionOffsets struct {
	inFlight []int64 // sorted
	done     map[int64]kafkago.Message
}

func (c *Consumer) track(km kafkago.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[km.Partition]
	if p == nil {
		p = &partitionOffsets{done: map[int64]kafkago.Message{}}
		c.pending[km.Partition] = p
	}
	p.inFlight = append(p.inFlight, km.Offset) // fetched in offset order
}

func (c *Consumer) done(ctx context.Context, km kafkago.Message) {
	c.mu.Lock()
	p := c.pending[km.Partition]
	p.done[km.Offset] = km
	var commit *kafkago.Message
	for len(p.inFlight) > 0 {
		m, ok := p.done[p.inFlight[0]]
		if !ok {
			break
		}
		delete(p.done, p.inFlight[0])
		p.inFlight = p.inFlight[1:]
		commit = &m
	}
	if len(p.inFlight) > 0 && !sort.SliceIsSorted(p.inFlight, func(i, j int) bool { return p.inFlight[i] < p.inFlight[j] }) {
		sort.Slice(p.inFlight, func(i, j int) bool { return p.inFlight[i] < p.inFlight[j] })
	}
	c.mu.Unlock()
	if commit != nil {
		// With a CommitInterval this only stashes the offset; the reader
		// commits it in the background and on Close.
		if err := c.r.CommitMessages(ctx, *commit); err != nil && ctx.Err() == nil {
			c.log.Warn("commit failed; messages may be redelivered", "topic", km.Topic, "partition", km.Partition, "err", err)
		}
	}
}

// IsUnknownTopic reports whether a Publish failed because its topic does
// not exist (after Publish's own wait for metadata to catch up). A handler
// whose reply topic is unknown should park the message rather than fail it:
// redelivery would fail the same way, and hold up its partition for good.
func IsUnknownTopic(err error) bool { return unknownTopic(err) }
