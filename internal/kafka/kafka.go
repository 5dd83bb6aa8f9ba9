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
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
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

// Config says where the brokers are and who this client is to them.
type Config struct {
	Brokers  []string
	ClientID string // default "govx"
	// User and Password authenticate every connection with SASL
	// SCRAM-SHA-512 as that principal; without a User the connection is
	// PLAINTEXT. TLS, when set, encrypts the connections (and is what a
	// broker outside the host needs: SCRAM keeps the password off the
	// wire, not the messages).
	User     string
	Password string
	TLS      *tls.Config
	// RequestRetention is how much the brokers keep of the request and
	// reply topics this client creates (Topic.Transient). A request is
	// worth nothing once its caller has stopped waiting, and at a lookup
	// rate these topics are most of what a broker stores, so they are kept
	// briefly. Zero fields take DefaultRequestRetention's.
	RequestRetention Retention
	// SessionTimeout is how long a consumer group waits for a member that
	// has stopped heartbeating (a process killed, a host lost) before it
	// hands the member's partitions to the others: the longest those
	// partitions stall. Members heartbeat every SessionTimeout/8. Default
	// DefaultSessionTimeout; the brokers must allow it (Apache Kafka's
	// group.min.session.timeout.ms is 6 s unless set lower).
	SessionTimeout time.Duration
}

// DefaultSessionTimeout lets a dead consumer stall its partitions for two
// seconds at most, plus the rebalance that follows; heartbeats every
// 250 ms keep a live one in its group through pauses of well over a
// second.
const DefaultSessionTimeout = 2 * time.Second

// Retention is how much of a topic the brokers keep, as Kafka's topic
// configs retention.ms (Time) and retention.bytes (Bytes, per partition):
// a message older than Time, or beyond the newest Bytes of its partition,
// is deleted. A negative field keeps without that limit.
type Retention struct {
	Time  time.Duration
	Bytes int64
}

// DefaultRequestRetention keeps request and reply topics for five minutes
// and at most 64 MiB a partition: far beyond any request's timeout, long
// enough to look at recent traffic with `govx bus tail`, and small enough
// that a broker's memory and disk stay flat under a steady load.
var DefaultRequestRetention = Retention{Time: 5 * time.Minute, Bytes: 64 << 20}

// topicConfigs are the topic configs that make r: retention.ms and
// retention.bytes, and segments small enough to be deleted in steps (a
// broker deletes whole segments only, and never the one being written).
func (r Retention) topicConfigs() []kafkago.ConfigEntry {
	ms, bytes := int64(-1), int64(-1)
	if r.Time > 0 {
		ms = r.Time.Milliseconds()
	}
	if r.Bytes > 0 {
		bytes = r.Bytes
	}
	segment := int64(16 << 20)
	if bytes > 0 {
		segment = max(min(segment, bytes/4), 1<<20)
	}
	cfgs := []kafkago.ConfigEntry{
		{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(ms, 10)},
		{ConfigName: "retention.bytes", ConfigValue: strconv.FormatInt(bytes, 10)},
		{ConfigName: "segment.bytes", ConfigValue: strconv.FormatInt(segment, 10)},
	}
	if ms > 0 {
		cfgs = append(cfgs, kafkago.ConfigEntry{ConfigName: "segment.ms", ConfigValue: strconv.FormatInt(ms, 10)})
	}
	return cfgs
}

func (c *Config) Validate() error {
	if len(c.Brokers) == 0 {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "kafka: at least one broker address is required")
	}
	if c.ClientID == "" {
		c.ClientID = "govx"
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.SessionTimeout < 0 {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "kafka: the session timeout must be positive")
	}
	if c.RequestRetention.Time == 0 {
		c.RequestRetention.Time = DefaultRequestRetention.Time
	}
	if c.RequestRetention.Bytes == 0 {
		c.RequestRetention.Bytes = DefaultRequestRetention.Bytes
	}
	if c.User != "" && c.Password == "" {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "kafka: principal %s has no password", c.User)
	}
	return nil
}

// Topic describes a topic to create.
type Topic struct {
	Name       string
	Partitions int
	// Transient marks a topic of request/reply traffic: it is created
	// with the client's RequestRetention. Other topics (events, dead
	// letters) take the brokers' default retention.
	Transient bool
}

// EnsureTopics creates the topics that do not exist yet; existing topics are
// left as they are (their retention included: change it with the brokers'
// own tools).
func EnsureTopics(ctx context.Context, cfg Config, topics ...Topic) error {
	const op = "kafka.EnsureTopics"
	if err := cfg.Validate(); err != nil {
		return err
	}
	client, err := cfg.client()
	if err != nil {
		return err
	}
	req := &kafkago.CreateTopicsRequest{}
	for _, t := range topics {
		p := t.Partitions
		if p <= 0 {
			p = 1
		}
		tc := kafkago.TopicConfig{Topic: t.Name, NumPartitions: p, ReplicationFactor: -1}
		if t.Transient {
			tc.ConfigEntries = cfg.RequestRetention.topicConfigs()
		}
		req.Topics = append(req.Topics, tc)
	}
	var resp *kafkago.CreateTopicsResponse
	err = retry(ctx, func() error {
		var err error
		resp, err = client.CreateTopics(ctx, req)
		return err
	})
	if err != nil {
		return unavailable(op, cfg.explain(ctx, err))
	}
	for name, terr := range resp.Errors {
		if terr != nil && !errors.Is(terr, kafkago.TopicAlreadyExists) {
			if rerr := refused(op, terr); rerr != nil {
				return rerr
			}
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
	if rerr := refused(op, err); rerr != nil {
		return rerr
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

// fetchMaxWait is every reader's MaxWait. kafka-go makes it the read
// deadline of a fetch and asks the broker to hold the fetch that long less
// a round-trip allowance: a quarter of it below one second, one second
// above. 1.25 s therefore has the broker answer an empty fetch after 250 ms,
// as 250 ms did, and gives the answer a second to arrive where 250 ms gave
// it 62 ms: on a busy machine answers came later than that, every late one
// timed out the read, and the reader dialled again with a SASL handshake.
// A fetch still returns after 250 ms, so readers stop at a rebalance as
// soon as before.
const fetchMaxWait = 1250 * time.Millisecond
