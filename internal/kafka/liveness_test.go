package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"govx"
	"govx/internal/kafka"
)

// A requester that watches the answering group fails fast once the group
// it has seen live has no member left: the request waiting on it and every
// later one, with provider_unavailable, not the timeout. A group it has
// never seen live is waited for, as an adapter that is starting must be.
func TestRequesterFailsFastWhenTheGroupIsGone(t *testing.T) {
	cfg := mustBroker(t)
	ctx := context.Background()
	for _, topic := range []string{"watched", "never-served"} {
		if err := kafka.EnsureTopics(ctx, cfg, kafka.Topic{Name: topic, Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	prod, err := kafka.NewProducer(cfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const timeout = 20 * time.Second // far beyond every wait below
	q, err := kafka.NewRequester(ctx, cfg, kafka.RequesterConfig{ReplyTopic: "replies.watch", Timeout: timeout,
		ConsumerGroup: func(topic string) string { return "group." + topic }}, prod)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	// The provider: answers everything but "hold", which it keeps
	// waiting until it leaves.
	cons, err := kafka.NewConsumer(cfg, kafka.ConsumerConfig{GroupID: "group.watched", Topics: []string{"watched"}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- cons.Run(runCtx, func(ctx context.Context, m kafka.Message) error {
			if string(m.Value) == "hold" {
				return nil
			}
			return prod.Publish(ctx, kafka.Message{Topic: m.Header(kafka.HeaderReplyTo), Value: m.Value,
				Headers: []kafka.Header{{Key: kafka.HeaderRequestID, Value: []byte(m.Header(kafka.HeaderRequestID))}}})
		})
	}()
	if _, err := q.Request(ctx, "first", kafka.Message{Topic: "watched", Value: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	// The watch has seen the group live once a poll after the first
	// request has run.
	time.Sleep(time.Second)

	held := make(chan error, 1)
	go func() {
		_, err := q.Request(ctx, "held", kafka.Message{Topic: "watched", Value: []byte("hold")})
		held <- err
	}()
	time.Sleep(500 * time.Millisecond)
	stop()
	<-done
	cons.Close() // leaves the group: it has no member now
	select {
	case err := <-held:
		if govx.ErrorCode(err) != "provider_unavailable" || govx.ErrorKind(err) != govx.KindUnavailable {
			t.Fatalf("waiting request: %v, want provider_unavailable", err)
		}
	case <-time.After(timeout / 2):
		t.Fatal("the waiting request was not failed when its group emptied")
	}
	for i := range 3 {
		_, err := q.Request(ctx, fmt.Sprint("later-", i), kafka.Message{Topic: "watched", Value: []byte("hi")})
		if govx.ErrorCode(err) != "provider_unavailable" {
			t.Fatalf("request after the group emptied: %v, want provider_unavailable", err)
		}
	}

	// Never seen live: the request waits for its own deadline.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := q.Request(short, "unserved", kafka.Message{Topic: "never-served", Value: []byte("hi")}); govx.ErrorCode(err) != "provider_timeout" {
		t.Fatalf("request to a group never seen live: %v, want provider_timeout", err)
	}
}
