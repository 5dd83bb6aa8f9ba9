package kafka

import (
	"context"
	"errors"
	"fmt"
	"govx"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// ProducerConfig tunes the producer. The defaults favour latency: a request
// waiting for its reply must not sit a second in a batch (kafka-go's default
// BatchTimeout), so batches close after BatchTimeout or when full,
// whichever comes first; under load they fill by themselves.
//
// BatchSize is small because kafka-go allocates every batch's message
// slice at its full size, and a batch belongs to one partition: with
// request/reply spread over a topic's partitions a batch holds one or two
// messages, so a size of 200 allocated about 30 KiB per message sent
// (a third of the exchange's allocations under load). A burst larger than
// a batch is sent as several.
type ProducerConfig struct {
	BatchTimeout time.Duration // default 500µs
	BatchSize    int           // default 32
	WriteTimeout time.Duration // default 10s
}

// Producer writes messages with acks from all in-sync replicas. It is safe
// for concurrent use; Publish returns once every message is acknowledged.
type Producer struct {
	w *kafkago.Writer
}

func NewProducer(cfg Config, pc ProducerConfig) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if pc.BatchTimeout == 0 {
		pc.BatchTimeout = 500 * time.Microsecond
	}
	if pc.BatchSize == 0 {
		pc.BatchSize = 32
	}
	if pc.WriteTimeout == 0 {
		pc.WriteTimeout = 10 * time.Second
	}
	tr, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(cfg.Brokers...),
		Balancer:     &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: pc.BatchTimeout,
		BatchSize:    pc.BatchSize,
		WriteTimeout: pc.WriteTimeout,
		ReadTimeout:  pc.WriteTimeout,
		MaxAttempts:  3,
		// Metadata is cached per process; a topic another process has just
		// created (a new exchange instance's reply topic) is seen after at
		// most this long. Publish retries meanwhile.
		Transport: tr,
	}
	return &Producer{w: w}, nil
}

// Publish writes msgs (each naming its topic) and waits for the acks.
// Cancelling ctx abandons the wait; the messages may still be written.
func (p *Producer) Publish(ctx context.Context, msgs ...Message) error {
	kms := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		kms[i] = toKafka(m)
	}
	deadline := time.Now().Add(unknownTopicWait)
	for {
		err := p.w.WriteMessages(ctx, kms...)
		if err == nil {
			return nil
		}
		if unknownTopic(err) && time.Now().After(deadline) {
			// The bus is up; the topic is not there. Callers tell the two
			// apart by code (a provider that never joined is not an outage).
			return &govx.Error{Kind: govx.KindUnavailable, Code: CodeTopicUnknown, Op: "kafka.Publish",
				Message: fmt.Sprintf("topic %s does not exist", kms[0].Topic), Err: err}
		}
		if !unknownTopic(err) {
			return unavailable("kafka.Publish", err)
		}
		select {
		case <-ctx.Done():
			return unavailable("kafka.Publish", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// CodeTopicNotFound is the code of opening a tail on a topic that does not
// exist.
const CodeTopicNotFound = "topic_not_found"

// CodeTopicUnknown is the code of a publish to a topic that does not exist.
const CodeTopicUnknown = "topic_unknown"

// unknownTopicWait is how long Publish waits for a topic it does not know to
// show up in its metadata: a little over the metadata TTL.
const unknownTopicWait = 2500 * time.Millisecond

func unknownTopic(err error) bool {
	if errors.Is(err, kafkago.UnknownTopicOrPartition) {
		return true
	}
	var we kafkago.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !errors.Is(e, kafkago.UnknownTopicOrPartition) {
				return false
			}
		}
		return true
	}
	return false
}

// Close flushes pending writes and closes the connections.
func (p *Producer) Close() error { return p.w.Close() }
