package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"govx"
	"govx/internal/kafka"
)

func mustBroker(tb testing.TB) kafka.Config {
	tb.Helper()
	e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	return kafka.Config{Brokers: e.Addrs(), ClientID: "test"}
}

// echo runs a provider that answers every request on topic with its body
// reversed, unless drop says to stay silent.
func echo(tb testing.TB, cfg kafka.Config, topic string, drop func(kafka.Message) bool) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	prod, err := kafka.NewProducer(cfg, kafka.ProducerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	cons, err := kafka.NewConsumer(cfg, kafka.ConsumerConfig{GroupID: "echo", Topics: []string{topic}})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		cons.Run(ctx, func(ctx context.Context, m kafka.Message) error {
			if drop != nil && drop(m) {
				return nil
			}
			out := []byte(fmt.Sprintf("re:%s", m.Value))
			return prod.Publish(ctx, kafka.Message{Topic: m.Header(kafka.HeaderReplyTo), Value: out,
				Headers: []kafka.Header{{Key: kafka.HeaderRequestID, Value: []byte(m.Header(kafka.HeaderRequestID))}}})
		})
	}()
	tb.Cleanup(func() { cancel(); <-done; cons.Close(); prod.Close() })
}

func newRequester(tb testing.TB, cfg kafka.Config, timeout time.Duration) *kafka.Requester {
	tb.Helper()
	prod, err := kafka.NewProducer(cfg, kafka.ProducerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	q, err := kafka.NewRequester(context.Background(), cfg, kafka.RequesterConfig{ReplyTopic: "replies.test", Timeout: timeout}, prod)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { q.Close(); prod.Close() })
	return q
}

func TestRequestReply(t *testing.T) {
	cfg := mustBroker(t)
	ctx := context.Background()
	if err := kafka.EnsureTopics(ctx, cfg, kafka.Topic{Name: "requests", Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	// Creating an existing topic again is not an error.
	if err := kafka.EnsureTopics(ctx, cfg, kafka.Topic{Name: "requests", Partitions: 4}); err != nil {
		t.Fatalf("second EnsureTopics: %v", err)
	}
	echo(t, cfg, "requests", func(m kafka.Message) bool { return string(m.Value) == "silent" })
	q := newRequester(t, cfg, 10*time.Second)

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("req-%d", i)
			body := fmt.Sprintf("hello-%d", i)
			reply, err := q.Request(ctx, id, kafka.Message{Topic: "requests", Key: []byte(id), Value: []byte(body)})
			if err != nil {
				errs <- err
				return
			}
			if got, want := string(reply.Value), "re:"+body; got != want {
				errs <- fmt.Errorf("%s: reply %q, want %q", id, got, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := q.InFlight(); n != 0 {
		t.Errorf("InFlight after all replies = %d, want 0", n)
	}
}

func TestRequestTimeoutLeavesNothingBehind(t *testing.T) {
	cfg := mustBroker(t)
	ctx := context.Background()
	if err := kafka.EnsureTopics(ctx, cfg, kafka.Topic{Name: "requests", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	echo(t, cfg, "requests", func(m kafka.Message) bool { return string(m.Value) == "silent" })
	q := newRequester(t, cfg, 300*time.Millisecond)
	// Warm up so the reader and writer goroutines exist before counting,
	// on both partitions: the writer keeps goroutines per partition.
	for i := range 4 {
		if _, err := q.Request(ctx, fmt.Sprintf("warm-%d", i), kafka.Message{Topic: "requests", Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := q.Request(ctx, fmt.Sprintf("silent-%d", i), kafka.Message{Topic: "requests", Value: []byte("silent")})
			var ge *govx.Error
			if !errors.As(err, &ge) || ge.Kind != govx.KindTimeout || ge.Code != "provider_timeout" {
				t.Errorf("silent provider: err = %v, want KindTimeout provider_timeout", err)
			}
		}()
	}
	wg.Wait()
	if n := q.InFlight(); n != 0 {
		t.Errorf("InFlight after timeouts = %d, want 0", n)
	}
	// Goroutines of the timed-out requests are gone (allow the runtime a
	// moment to retire timers and batch goroutines, and the client a few of
	// its own: a leak of the 20 requests' waits would show as 20 or more).
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Errorf("goroutines: %d before, %d after 20 timed-out requests", before, after)
	}

	// A cancelled context ends the wait at once, with the context's error.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	start := time.Now()
	_, err := q.Request(cctx, "cancelled", kafka.Message{Topic: "requests", Value: []byte("silent")})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	if time.Since(start) > 250*time.Millisecond {
		t.Errorf("cancelled request waited %v, want it to return on cancel", time.Since(start))
	}
	// The provider is still there for requests that it answers.
	if _, err := q.Request(ctx, "after", kafka.Message{Topic: "requests", Value: []byte("y")}); err != nil {
		t.Fatalf("request after timeouts: %v", err)
	}
}

func TestDuplicateRequestIDRefused(t *testing.T) {
	cfg := mustBroker(t)
	ctx := context.Background()
	kafka.EnsureTopics(ctx, cfg, kafka.Topic{Name: "requests"})
	echo(t, cfg, "requests", func(kafka.Message) bool { return true })
	q := newRequester(t, cfg, 500*time.Millisecond)
	errc := make(chan error, 1)
	go func() {
		_, err := q.Request(ctx, "same", kafka.Message{Topic: "requests", Value: []byte("a")})
		errc <- err
	}()
	for q.InFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, err := q.Request(ctx, "same", kafka.Message{Topic: "requests", Value: []byte("b")}); err == nil {
		t.Error("second request with an id in flight was accepted")
	}
	<-errc
}

// BenchmarkRequestReply measures round trips through the embedded broker at
// 32 in flight and reports p50/p99.
func BenchmarkRequestReply(b *testing.B) {
	cfg := mustBroker(b)
	ctx := context.Background()
	kafka.EnsureTopics(ctx, cfg, kafka.Topic{Name: "requests", Partitions: 8})
	echo(b, cfg, "requests", nil)
	q := newRequester(b, cfg, 10*time.Second)
	if _, err := q.Request(ctx, "warm", kafka.Message{Topic: "requests", Value: []byte("x")}); err != nil {
		b.Fatal(err)
	}
	const inFlight = 32
	var mu sync.Mutex
	var lat []time.Duration
	var n sync.WaitGroup
	work := make(chan int)
	b.ResetTimer()
	for w := range inFlight {
		n.Add(1)
		go func() {
			defer n.Done()
			local := make([]time.Duration, 0, b.N/inFlight+1)
			for i := range work {
				start := time.Now()
				if _, err := q.Request(ctx, fmt.Sprintf("b-%d-%d", w, i), kafka.Message{Topic: "requests", Key: []byte(fmt.Sprint(i)), Value: []byte("v")}); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	for i := 0; i < b.N; i++ {
		work <- i
	}
	close(work)
	n.Wait()
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// A producer whose metadata predates a topic (created by another process,
// as a new exchange instance creates its reply topic) still publishes to it.
func TestPublishToTopicCreatedElsewhere(t *testing.T) {
	cfg := mustBroker(t)
	ctx := context.Background()
	kafka.EnsureTopics(ctx, cfg, kafka.Topic{Name: "old"})
	prod, err := kafka.NewProducer(cfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Publish(ctx, kafka.Message{Topic: "old", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	// Created through another client: prod's cached metadata lacks it.
	if err := kafka.EnsureTopics(ctx, kafka.Config{Brokers: cfg.Brokers, ClientID: "other"}, kafka.Topic{Name: "new"}); err != nil {
		t.Fatal(err)
	}
	if err := prod.Publish(ctx, kafka.Message{Topic: "new", Value: []byte("y")}); err != nil {
		t.Fatalf("publish to a topic created elsewhere: %v", err)
	}
	// A topic that never appears fails, as unavailable, in bounded time.
	start := time.Now()
	err = prod.Publish(ctx, kafka.Message{Topic: "never", Value: []byte("z")})
	if govx.ErrorKind(err) != govx.KindUnavailable {
		t.Errorf("publish to a missing topic: %v, want KindUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("publish to a missing topic took %v", d)
	}
}
