package adapters_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"govx/adapters"
	"govx/adapters/population"
	"govx/bus"
	"govx/internal/httpx/openapicheck"
	"govx/internal/kafka"
	"govx/schemas"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// metricValue returns the value of the sample line that starts with name
// and its labels exactly, or -1.
func metricValue(page, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(page)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestOpsHandler(t *testing.T) {
	b := newBus(t)
	rt := b.start(t, population.Department, population.NewStore(b.pool))
	known := b.gen.Resident(3)
	for i, key := range []string{known.IDNumber, known.IDNumber, b.gen.IDNumber(residents + 1)} {
		b.send(t, population.Department, b.newRequest("ops-"+strconv.Itoa(i), population.ResourceIdentity, key, "name"))
	}
	b.send(t, population.Department, b.newRequest("ops-unserved", "population.marriage", known.IDNumber, "name"))

	dbDown := errors.New("down")
	healthy := httptest.NewServer(adapters.NewOpsHandler([]*adapters.Runtime{rt},
		adapters.Check{Name: "postgres", Probe: func(ctx context.Context) error { return b.pool.Ping(ctx) }}))
	defer healthy.Close()
	sick := httptest.NewServer(adapters.NewOpsHandler([]*adapters.Runtime{rt},
		adapters.Check{Name: "postgres", Probe: func(context.Context) error { return dbDown }}))
	defer sick.Close()

	t.Run("healthz", func(t *testing.T) {
		var h struct {
			Status string
			Checks map[string]string
		}
		code, body := get(t, healthy.URL+"/healthz")
		if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 || h.Status != "ok" ||
			h.Checks["postgres"] != "ok" || h.Checks["consumer:population"] != "ok" {
			t.Errorf("healthy: %d %s", code, body)
		}
		code, body = get(t, sick.URL+"/healthz")
		if err := json.Unmarshal([]byte(body), &h); err != nil || code != 503 || h.Status != "degraded" || h.Checks["postgres"] != "unavailable" {
			t.Errorf("database down: %d %s", code, body)
		}
	})

	// The answers are the ones the handler's own OpenAPI document
	// describes.
	t.Run("openapi", func(t *testing.T) {
		code, body := get(t, healthy.URL+"/openapi.json")
		if code != 200 || body != string(adapters.OpsOpenAPI()) {
			t.Fatalf("openapi.json: %d", code)
		}
		doc, err := openapicheck.Load(adapters.OpsOpenAPI())
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			url    string
			status int
		}{
			{healthy.URL, 200},
			{sick.URL, 503},
		} {
			resp, err := http.Get(tt.url + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, raw)
			}
			if err := doc.CheckResponseJSON("GET", "/healthz", resp.StatusCode, resp.Header.Get("Content-Type"), raw); err != nil {
				t.Errorf("/healthz → %d does not match the OpenAPI document: %v\n%s", resp.StatusCode, err, raw)
			}
		}
		// The schema is strict enough to refuse a wrong answer.
		health, err := doc.Component("Health")
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{`{"status":"ok"}`, `{"status":"fine","checks":{}}`, `{"status":"ok","checks":{"postgres":"down"}}`,
			`{"status":"ok","checks":{},"uptime":1}`} {
			var v any
			json.Unmarshal([]byte(bad), &v)
			if doc.Check(health, v) == nil {
				t.Errorf("the Health schema takes %s", bad)
			}
		}
		resp, err := http.Get(healthy.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, err := doc.ResponseSchema("GET", "/metrics", resp.StatusCode, resp.Header.Get("Content-Type")); err != nil {
			t.Errorf("/metrics: %v", err)
		}
	})

	if got := rt.Stats.Errors.Load(); got != 2 {
		t.Errorf("Stats.Errors = %d, want 2", got)
	}
	t.Run("metrics", func(t *testing.T) {
		code, page := get(t, healthy.URL+"/metrics")
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		for series, want := range map[string]float64{
			`govx_adapter_requests_total{department="population",resource="population.identity"}`:                   3,
			`govx_adapter_requests_total{department="population",resource="none"}`:                                  1,
			`govx_adapter_errors_total{department="population",resource="population.identity",kind="NotFound"}`:     1,
			`govx_adapter_errors_total{department="population",resource="none",kind="NotFound"}`:                    1,
			`govx_adapter_dead_letters_total{department="population",resource="none",reason="resource_not_served"}`: 1,
			`govx_adapter_request_seconds_count{department="population"}`:                                           4,
			`govx_adapter_request_seconds_bucket{department="population",le="+Inf"}`:                                4,
			`govx_adapter_in_flight{department="population"}`:                                                       0,
			`govx_adapter_consumer_running{department="population"}`:                                                1,
		} {
			if got := metricValue(page, series); got != want {
				t.Errorf("%s = %g, want %g", series, got, want)
			}
		}
		// Every family is declared once, before its samples.
		seen := map[string]bool{}
		for _, line := range strings.Split(page, "\n") {
			if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
				name := strings.Fields(f)[0]
				if seen[name] {
					t.Errorf("family %s declared twice", name)
				}
				seen[name] = true
			}
		}
	})
}

// A reply the broker does not acknowledge is retried, then leaves the
// request uncommitted: the runtime stops, and the next one in the group
// answers it.
func TestRuntimeRedeliversWhenReplyFails(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const dept = "population-retry"
	const replyTopic = "govx.replies.retry"
	if err := kafka.EnsureTopics(ctx, b.kcfg,
		kafka.Topic{Name: bus.RequestTopic(dept), Partitions: 1},
		kafka.Topic{Name: bus.DeadLetterTopic(dept), Partitions: 1},
		kafka.Topic{Name: replyTopic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	newRuntime := func(prod *kafka.Producer) *adapters.Runtime {
		rt, err := adapters.New(adapters.Config{Kafka: b.kcfg, Codec: b.codec, Producer: prod, Department: dept, Partitions: 1, PublishAttempts: 2, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		population.Register(rt, population.NewStore(b.pool))
		return rt
	}
	send := func(id, replyTo string) {
		req := b.newRequest(id, population.ResourceIdentity, b.gen.IDNumber(2), "name")
		req.ReplyTo = replyTo
		if err := b.prod.Publish(ctx, kafka.Message{Topic: bus.RequestTopic(dept), Key: []byte(id),
			Value:   mustMarshal(t, b.codec, schemas.Request, req),
			Headers: []kafka.Header{{Key: bus.HeaderRequestID, Value: []byte(id)}, {Key: bus.HeaderReplyTo, Value: []byte(replyTo)}}}); err != nil {
			t.Fatal(err)
		}
	}

	// The first runtime's producer is closed: its reply fails.
	closed, err := kafka.NewProducer(b.kcfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	first := newRuntime(closed)
	send("retried", replyTopic)
	if err := first.Run(ctx); err == nil || !strings.Contains(err.Error(), "not acknowledged") {
		t.Fatalf("Run = %v, want it to stop on the unacknowledged reply", err)
	}
	if first.Running() {
		t.Error("Running after Run returned")
	}
	code, page := httptestMetrics(t, first)
	if code != 200 || metricValue(page, `govx_adapter_publish_failures_total{department="population-retry"}`) != 1 ||
		metricValue(page, `govx_adapter_publish_retries_total{department="population-retry"}`) != 1 {
		t.Errorf("publish retry metrics:\n%s", page)
	}

	second := newRuntime(b.prod)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- second.Run(rctx) }()
	defer func() {
		stop()
		if err := stopped(t, "second Run", done); err != nil {
			t.Errorf("second Run: %v", err)
		}
	}()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.kcfg.Brokers, Topic: replyTopic, Partition: 0,
		MaxWait: 100 * time.Millisecond, ReadLagInterval: -1})
	defer r.Close()
	km, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("no reply from the next runtime: %v", err)
	}
	if string(km.Key) != "retried" {
		t.Fatalf("reply key %q, want retried", km.Key)
	}

	// A reply topic that does not exist will not appear by retrying: the
	// request is parked, and the partition moves on.
	send("nowhere", "govx.replies.gone")
	send("after-nowhere", replyTopic)
	m := b.deadLetter(t, dept, bus.HeaderRequestID, "nowhere")
	if m.Header(adapters.HeaderDLQCode) != "reply_topic_unknown" || !strings.Contains(m.Header(adapters.HeaderDLQReason), "govx.replies.gone") {
		t.Errorf("dead letter code %q reason %q", m.Header(adapters.HeaderDLQCode), m.Header(adapters.HeaderDLQReason))
	}
	if km, err := r.ReadMessage(ctx); err != nil || string(km.Key) != "after-nowhere" {
		t.Fatalf("next reply %q, %v; want after-nowhere answered", km.Key, err)
	}
}

func httptestMetrics(t *testing.T, rts ...*adapters.Runtime) (int, string) {
	t.Helper()
	srv := httptest.NewServer(adapters.NewOpsHandler(rts))
	defer srv.Close()
	return get(t, srv.URL+"/metrics")
}
