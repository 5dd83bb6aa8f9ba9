package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/node"
	"govx/node/nodetest"
	"govx/schemas"
)

func getBody(t *testing.T, url string, token ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range token {
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// `govx adapter population` alone serves its health and metrics on the ops
// address.
func TestAdapterAloneServesOps(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Exchange, cfg.Casework = false, false
	cfg.OpsAddr = "127.0.0.1:0"
	m := nodetest.Start(t, cfg)
	if m.OpsURL() == "" || m.URL() != "" {
		t.Fatalf("ops URL %q, exchange URL %q: want only the ops server", m.OpsURL(), m.URL())
	}

	// Healthy once the consumer runs.
	var h struct {
		Status string
		Checks map[string]string
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := getBody(t, m.OpsURL()+"/healthz")
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("healthz body %q: %v", body, err)
		}
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz still %d: %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h.Status != "ok" || h.Checks["postgres"] != "ok" || h.Checks["consumer:population"] != "ok" {
		t.Errorf("healthz = %+v", h)
	}

	// A request through the bus shows in the metrics.
	ctx := context.Background()
	kcfg := nodetest.Kafka(t, m, kafka.PrincipalAdmin)
	prod, err := kafka.NewProducer(kcfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	q, err := kafka.NewRequester(ctx, kcfg, kafka.RequesterConfig{ReplyTopic: "govx.replies.ops-test", Timeout: 10 * time.Second}, prod)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	codec := avro.NewCodec(catalog.NewStore(m.Pool))
	text, err := schemas.Text(schemas.Request)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codec.Register(ctx, schemas.Request, text); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	req := bus.Request{RequestID: "ops-1", Resource: population.ResourceIdentity,
		Key: population.NewGenerator(node.DemoSeed).IDNumber(1), Fields: []string{"name"}, Purpose: "case:ops",
		Consumer: "service-center", Caller: "ops-test", ReplyTo: q.ReplyTopic(), RequestedAt: now, Deadline: now.Add(30 * time.Second)}
	body, err := codec.Marshal(schemas.Request, req)
	if err != nil {
		t.Fatal(err)
	}
	// Signed as an exchange instance signs it: the adapter answers nothing else.
	msg := kafka.Message{Topic: bus.RequestTopic(population.Department), Value: body}
	nodetest.ExchangeSigner(t, m).Sign(&msg)
	if _, err := q.Request(ctx, req.RequestID, msg); err != nil {
		t.Fatal(err)
	}
	waitMetrics(t, m.OpsURL()+"/metrics", "",
		`govx_adapter_requests_total{department="population",resource="population.identity"} 1`,
		`govx_adapter_request_seconds_count{department="population"} 1`,
		`govx_adapter_consumer_running{department="population"} 1`,
		`govx_adapter_in_flight{department="population"} 0`)
}

// waitMetrics waits until the metrics page at url holds every line in wants;
// token, when not "", is sent as the bearer token.
// An adapter counts a request once its reply is acknowledged, which may be a
// moment after the reply has reached the requester.
func waitMetrics(t *testing.T, url, token string, wants ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, page := getBody(t, url, token)
		var missing []string
		for _, want := range wants {
			if code != 200 || !strings.Contains(page, want+"\n") {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics (%d) lack %q:\n%s", code, missing, page)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Under `govx up` the exchange's /metrics carries the adapters' counters;
// on the API port it needs an operator's token.
func TestExchangeMetricsShowAdapters(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))
	if m.OpsURL() != "" {
		t.Errorf("ops server started without an ops address: %s", m.OpsURL())
	}
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	nodetest.Consent(t, m, population.NewGenerator(node.DemoSeed).IDNumber(7), "case:test-1", population.ResourceIdentity)
	resp := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok,
		nodetest.Query(population.NewGenerator(node.DemoSeed).IDNumber(7), "name"))
	if resp.Status != http.StatusOK {
		t.Fatalf("lookup: %d %v", resp.Status, resp.Body)
	}
	waitMetrics(t, m.URL()+"/metrics", nodetest.Token(t, m.Key, auth.TokenSpec{Role: node.RoleOperator}),
		"govx_exchange_queries_total{status=\"200\"} 1",
		`govx_adapter_requests_total{department="population",resource="population.identity"} 1`,
		"# TYPE govx_adapter_request_seconds histogram")
}
