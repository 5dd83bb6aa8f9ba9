package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"govx/internal/kafka"
)

// A message whose handler fails is not committed: the consumer stops, and
// the next member of the group gets it again, with everything after it on
// its partition, and nothing that was handled before it.
func TestConsumerHandlerErrorRedelivers(t *testing.T) {
	cfg := mustBroker(t)
	ctx := context.Background()
	const topic = "work"
	if err := kafka.EnsureTopics(ctx, cfg, kafka.Topic{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	prod, err := kafka.NewProducer(cfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := range 10 {
		if err := prod.Publish(ctx, kafka.Message{Topic: topic, Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	cc := kafka.ConsumerConfig{GroupID: "work", Topics: []string{topic}, MaxInFlight: 1, CommitInterval: 10 * time.Millisecond}

	// The first member handles 0..4 and fails on 5.
	first, err := kafka.NewConsumer(cfg, cc)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	failed := errors.New("reply not acknowledged")
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err = first.Run(rctx, func(ctx context.Context, m kafka.Message) error {
		seen = append(seen, string(m.Value))
		if string(m.Value) == "5" {
			return failed
		}
		return nil
	})
	if !errors.Is(err, failed) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
	if first.Running() {
		t.Error("Running after Run returned")
	}
	first.Close()
	if fmt.Sprint(seen) != "[0 1 2 3 4 5]" {
		t.Fatalf("first member saw %v, want it to stop at the failure", seen)
	}

	// The second member starts at 5.
	second, err := kafka.NewConsumer(cfg, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	var mu sync.Mutex
	var again []string
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- second.Run(sctx, func(ctx context.Context, m kafka.Message) error {
			mu.Lock()
			defer mu.Unlock()
			again = append(again, string(m.Value))
			if len(again) == 5 {
				stop()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("second Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		stop()
		<-done
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Strings(again)
	if fmt.Sprint(again) != "[5 6 7 8 9]" {
		t.Fatalf("second member got %v, want the failed message and the rest", again)
	}
}

// An at-least-once provider may answer a request twice; the requester hands
// the first reply to the caller and drops the second.
func TestRequesterDropsDuplicateReply(t *testing.T) {
	cfg := mustBroker(t)
	ctx := context.Background()
	if err := kafka.EnsureTopics(ctx, cfg, kafka.Topic{Name: "requests", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	prod, err := kafka.NewProducer(cfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	// The provider answers each request twice.
	cons, err := kafka.NewConsumer(cfg, kafka.ConsumerConfig{GroupID: "twice", Topics: []string{"requests"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cons.Run(cctx, func(ctx context.Context, m kafka.Message) error {
			reply := func(body string) kafka.Message {
				return kafka.Message{Topic: m.Header(kafka.HeaderReplyTo), Value: []byte(body),
					Headers: []kafka.Header{{Key: kafka.HeaderRequestID, Value: []byte(m.Header(kafka.HeaderRequestID))}}}
			}
			if err := prod.Publish(ctx, reply("first")); err != nil {
				return err
			}
			return prod.Publish(ctx, reply("second"))
		})
	}()
	defer func() { stop(); <-done }()

	q := newRequester(t, cfg, 10*time.Second)
	reply, err := q.Request(ctx, "once", kafka.Message{Topic: "requests", Value: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if string(reply.Value) != "first" {
		t.Fatalf("reply %q, want the first one", reply.Value)
	}
	// The duplicate arrives and is counted, not delivered.
	deadline := time.Now().Add(10 * time.Second)
	for q.Late() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if q.Late() != 1 {
		t.Fatalf("Late = %d, want the duplicate counted once", q.Late())
	}
	// The id is free again: a new request with it waits for its own reply.
	reply, err = q.Request(ctx, "once", kafka.Message{Topic: "requests", Value: []byte("y")})
	if err != nil || string(reply.Value) != "first" {
		t.Fatalf("second request with the same id: %q, %v", reply.Value, err)
	}
	if q.InFlight() != 0 {
		t.Errorf("InFlight = %d", q.InFlight())
	}
}
