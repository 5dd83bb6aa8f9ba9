package kafka

import (
	"context"
	"errors"
	"io"
	"sync"

	kafkago "github.com/segmentio/kafka-go"

	"govx"
)

// Tail reads every partition of one topic from chosen offsets, outside any
// consumer group: nothing is committed, the reader keeps its own position
// (Message.Partition and Offset), so any number of readers follow one topic
// independently and each can resume where it stopped. It is what a
// subscription to a resource's events reads.
//
// Next is not safe for concurrent use; Close may be called from another
// goroutine and ends a pending Next.
type Tail struct {
	topic   string
	start   map[int]int64
	readers []*kafkago.Reader
	msgs    chan Message
	errs    chan error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// OpenTail positions a reader on each partition of topic: at from[p] when
// from holds partition p, else at the partition's end now (only messages
// produced from now on), or at its start when fromStart is set (a partition
// a resumed reader did not know yet). An offset past a partition's end is
// taken as its end, one before its start (the broker has dropped those
// messages) as its start. A topic that does not exist is KindNotFound
// (topic_not_found); a broker that cannot be reached, KindUnavailable.
func OpenTail(ctx context.Context, cfg Config, topic string, from map[int]int64, fromStart bool) (*Tail, error) {
	const op = "kafka.OpenTail"
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := cfg.client()
	if err != nil {
		return nil, err
	}
	dialer, err := cfg.Dialer()
	if err != nil {
		return nil, err
	}
	parts, err := partitions(ctx, cfg, client, op, topic, true)
	if err != nil {
		return nil, err
	}
	all, err := offsets(ctx, client, map[string][]int{topic: parts})
	if err != nil {
		return nil, unavailable(op, err)
	}
	bounds := map[int][2]int64{}
	for _, p := range all[topic] {
		bounds[p.Partition] = [2]int64{p.Start, p.End}
	}
	start := make(map[int]int64, len(parts))
	for _, p := range parts {
		first, last := bounds[p][0], bounds[p][1]
		off, ok := from[p]
		switch {
		case !ok && fromStart:
			off = first
		case !ok:
			off = last
		}
		start[p] = min(max(off, first), last)
	}

	rctx, cancel := context.WithCancel(context.Background())
	t := &Tail{topic: topic, start: start, msgs: make(chan Message), errs: make(chan error, len(parts)), cancel: cancel}
	for _, p := range parts {
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers:         cfg.Brokers,
			Topic:           topic,
			Partition:       p,
			MinBytes:        1,
			MaxBytes:        1 << 20,
			MaxWait:         fetchMaxWait,
			ReadLagInterval: -1,
			QueueCapacity:   64,
			Dialer:          dialer,
		})
		if err := r.SetOffset(start[p]); err != nil {
			r.Close()
			t.Close()
			return nil, govx.E(op, err)
		}
		t.readers = append(t.readers, r)
		t.wg.Add(1)
		go t.read(rctx, r)
	}
	return t, nil
}

func (t *Tail) read(ctx context.Context, r *kafkago.Reader) {
	defer t.wg.Done()
	for {
		km, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				t.errs <- unavailable("kafka.Tail", err)
			}
			return
		}
		select {
		case t.msgs <- fromKafka(km):
		case <-ctx.Done():
			return
		}
	}
}

// Start is the offset each partition's reading began at.
func (t *Tail) Start() map[int]int64 {
	out := make(map[int]int64, len(t.start))
	for p, o := range t.start {
		out[p] = o
	}
	return out
}

// Next returns the next message of any partition, in offset order within
// a partition. It returns ctx's error when ctx ends, and a KindUnavailable
// error when a partition can no longer be read.
func (t *Tail) Next(ctx context.Context) (Message, error) {
	select {
	case m := <-t.msgs:
		return m, nil
	case err := <-t.errs:
		return Message{}, err
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// Close stops reading and releases the connections.
func (t *Tail) Close() error {
	t.once.Do(func() {
		t.cancel()
		for _, r := range t.readers {
			r.Close()
		}
		t.wg.Wait()
	})
	return nil
}
