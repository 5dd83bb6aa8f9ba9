package kafka

import (
	"context"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// ProducerConfig tunes the producer. The defaults favour latency: a request
// waiting for its reply must not sit a second in a batch (kafka-go's default
// BatchTimeout), so batches close after BatchTimeout or when full,
// whichever comes first; under load they fill by themselves.
type ProducerConfig struct {
	BatchTimeout time.Duration // default 500µs
	BatchSize    int           // default 200
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
		pc.BatchSize = 200
	}
	if pc.WriteTimeout == 0 {
		pc.WriteTimeout = 10 * time.Second
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
		Transport:    &kafkago.Transport{ClientID: cfg.ClientID, IdleTimeout: 5 * time.Minute},
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
	if err := p.w.WriteMessages(ctx, kms...); err != nil {
		return unavailable("kafka.Publish", err)
	}
	return nil
}

// Close flushes pending writes and closes the connections.
func (p *Producer) Close() error { return p.w.Close() }
