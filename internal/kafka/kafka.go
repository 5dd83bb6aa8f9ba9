// Package kafka is govx's Kafka transport on segmentio/kafka-go: topic
// creation, a producer tuned for request/reply latency, consumer groups with
// ordered commits, and request/reply correlated by request id over a reply
// topic per exchange instance.
//
// The same code runs against Apache Kafka and against the embedded
// Kafka-protocol broker of `govx up`; nothing here knows which.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"govx"
)

// Header names govx sets on bus messages. Transport-level correlation uses
// headers so that the transport never has to decode an Avro body.
const (
	HeaderRequestID = "govx-request-id"
	HeaderReplyTo   = "govx-reply-to"
)

// Message is one record on the bus.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Time      time.Time
}

type Header struct {
	Key   string
	Value []byte
}

// Header returns the value of the first header named key.
func (m *Message) Header(key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Config says where the brokers are.
type Config struct {
	Brokers  []string
	ClientID string // default "govx"
}

func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "kafka: at least one broker address is required")
	}
	if c.ClientID == "" {
		c.ClientID = "govx"
	}
	return nil
}

// Topic describes a topic to create.
type Topic struct {
	Name       string
	Partitions int
}

// EnsureTopics creates the topics that do not exist yet; existing topics are
// left as they are.
func EnsureTopics(ctx context.Context, cfg Config, topics ...Topic) error {
	const op = "kafka.EnsureTopics"
	if err := cfg.Validate(); err != nil {
		return err
	}
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	req := &kafkago.CreateTopicsRequest{}
	for _, t := range topics {
		p := t.Partitions
		if p <= 0 {
			p = 1
		}
		req.Topics = append(req.Topics, kafkago.TopicConfig{Topic: t.Name, NumPartitions: p, ReplicationFactor: -1})
	}
	var resp *kafkago.CreateTopicsResponse
	err := retry(ctx, func() error {
		var err error
		resp, err = client.CreateTopics(ctx, req)
		return err
	})
	if err != nil {
		return unavailable(op, err)
	}
	for name, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafkago.TopicAlreadyExists) {
			return govx.E(op, fmt.Errorf("create topic %s: %w", name, terr))
		}
	}
	return nil
}

// retry retries fn while the broker is not reachable yet (a broker that is
// still starting), up to ctx or 10 seconds.
func retry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := fn()
		var ne net.Error
		var oe *net.OpError
		if err == nil || !(errors.As(err, &oe) || errors.As(err, &ne)) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &govx.Error{Kind: govx.KindUnavailable, Code: "bus_unavailable", Op: op, Message: "the message bus is unavailable", Err: err}
}

func toKafka(m Message) kafkago.Message {
	km := kafkago.Message{Topic: m.Topic, Key: m.Key, Value: m.Value}
	if len(m.Headers) > 0 {
		km.Headers = make([]kafkago.Header, len(m.Headers))
		for i, h := range m.Headers {
			km.Headers[i] = kafkago.Header{Key: h.Key, Value: h.Value}
		}
	}
	return km
}

func fromKafka(km kafkago.Message) Message {
	m := Message{Topic: km.Topic, Partition: km.Partition, Offset: km.Offset, Key: km.Key, Value: km.Value, Time: km.Time}
	if len(km.Headers) > 0 {
		m.Headers = make([]Header, len(km.Headers))
		for i, h := range km.Headers {
			m.Headers[i] = Header{Key: h.Key, Value: h.Value}
		}
	}
	return m
}
