package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"govx/internal/kafka"
)

// A request/reply topic keeps its messages only for the client's
// RequestRetention, deleted by the embedded broker's retention check; a
// topic of other traffic keeps them under the broker's default.
func TestEmbeddedRetentionDeletesExpiredRequests(t *testing.T) {
	e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{RetentionCheck: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cfg := kafka.Config{Brokers: e.Addrs(), ClientID: "test",
		RequestRetention: kafka.Retention{Time: 500 * time.Millisecond}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg,
		kafka.Topic{Name: "retention.requests", Partitions: 1, Transient: true},
		kafka.Topic{Name: "retention.events", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	prod, err := kafka.NewProducer(cfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 20
	for i := range n {
		for _, topic := range []string{"retention.requests", "retention.events"} {
			if err := prod.Publish(ctx, kafka.Message{Topic: topic, Value: []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	offsets := func(topic string) kafka.PartitionOffsets {
		t.Helper()
		ps, err := kafka.TopicOffsets(ctx, cfg, topic)
		if err != nil || len(ps) != 1 {
			t.Fatalf("offsets of %s: %v %v", topic, ps, err)
		}
		return ps[0]
	}
	if p := offsets("retention.requests"); p.Start != 0 || p.End != n {
		t.Fatalf("requests before retention: %+v, want 0..%d", p, n)
	}
	// Bounded wait for the broker's retention check to pass the
	// messages' age; the bound is a correctness limit, not a speed target.
	deadline := time.Now().Add(10 * time.Second)
	for offsets("retention.requests").Start != n {
		if time.Now().After(deadline) {
			t.Fatalf("requests still kept after 10s: %+v", offsets("retention.requests"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p := offsets("retention.events"); p.Start != 0 || p.End != n {
		t.Fatalf("events under the default retention: %+v, want all %d kept", p, n)
	}
	// The topic goes on: new messages are kept and read from the new start.
	if err := prod.Publish(ctx, kafka.Message{Topic: "retention.requests", Value: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	if p := offsets("retention.requests"); p.Start != n || p.End != n+1 {
		t.Fatalf("requests after retention: %+v, want %d..%d", p, n, n+1)
	}
}
