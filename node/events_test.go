package node_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/catalog"
	"govx/exchange"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/internal/redis"
	"govx/node"
	"govx/node/nodetest"
)

// offerMethods changes the methods the catalogue lists for resource code,
// as its provider would, and lets every exchange instance know.
func offerMethods(t *testing.T, m *node.Node, cfg node.Config, code string, methods ...string) {
	t.Helper()
	ctx := context.Background()
	_, err := catalog.NewStore(m.Pool).UpdateResource(ctx, code, catalog.SystemActor, func(r *catalog.Resource) error {
		r.Methods = methods
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := redis.Open(ctx, redis.Config{URL: cfg.RedisURL, Prefix: cfg.RedisPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	inv, err := catalog.NewInvalidator(catalog.InvalidatorConfig{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	inv.ResourceChanged(ctx, code)
	// The exchange drops its cached copy when the announcement arrives,
	// well within the one-second bound.
	time.Sleep(300 * time.Millisecond)
}

func setStatus(t *testing.T, m *node.Node, id, status string) {
	t.Helper()
	if _, err := population.NewStore(m.Pool).SetStatus(context.Background(), m.PopulationOutbox, id, status, "test"); err != nil {
		t.Fatalf("SetStatus(%s, %s): %v", id, status, err)
	}
}

// published waits until the population outbox is empty: every event is in
// the broker.
func published(t *testing.T, m *node.Node) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := m.PopulationOutbox.Pending(context.Background())
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d events (%v)", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEventsEndToEnd(t *testing.T) {
	doc, err := openapicheck.Load(exchange.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodetest.Config(t)
	m := nodetest.Start(t, cfg)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	noScope := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"legal-entity.basic"}})
	ids := nodetest.NormalResidents(5)
	for _, id := range ids[:4] {
		nodetest.Consent(t, m, id, "case:events-1", population.ResourceIdentity)
	}
	q := "purpose=case%3Aevents-1&fields=status,name"

	refused := func(name, token, query, lastEventID string, status int, code string) {
		t.Helper()
		s, r := nodetest.Subscribe(t, m, "population.identity", token, query, lastEventID)
		if s != nil {
			t.Fatalf("%s: subscription opened", name)
		}
		if r.Status != status || r.ErrorCode() != code {
			t.Fatalf("%s: got %d %q, want %d %q", name, r.Status, r.ErrorCode(), status, code)
		}
		if err := doc.CheckResponse("GET", "/v1/resources/{code}/events", r.Status, "application/json", r.Body); err != nil {
			t.Errorf("%s: answer does not match the OpenAPI document: %v", name, err)
		}
		if a := nodetest.Audit(t, m, r.RequestID); a.Outcome != ledger.Refused || a.Code != code {
			t.Errorf("%s: audit = %+v", name, a)
		}
	}
	offerMethods(t, m, cfg, "population.identity", catalog.MethodQuery)
	refused("not offered", tok, q, "", http.StatusForbidden, "subscribe_not_offered")
	offerMethods(t, m, cfg, "population.identity", catalog.MethodQuery, catalog.MethodSubscribe)
	refused("scope missing", noScope, q, "", http.StatusForbidden, "scope_missing")
	refused("no purpose", tok, "fields=status", "", http.StatusBadRequest, "purpose_required")
	refused("unknown field", tok, q+",salary", "", http.StatusBadRequest, "unknown_field")
	refused("bad cursor", tok, q, "0:1,x", http.StatusBadRequest, "invalid_cursor")

	// A subscriber with the scope receives a change, with only its fields.
	// A change of a resident who gave no consent is withheld.
	s, _ := nodetest.Subscribe(t, m, "population.identity", tok, q, "")
	setStatus(t, m, ids[4], population.StatusMovedOut)
	setStatus(t, m, ids[0], population.StatusMovedOut)
	ev, msg := s.Next(t)
	if msg.Key != ids[0] || msg.Type != population.EventStatusChanged || msg.Resource != "population.identity" || msg.Provider != "population" {
		t.Errorf("event = %+v", msg)
	}
	if len(msg.Record) != 2 || msg.Record["status"] != population.StatusMovedOut || msg.Record["name"] == nil {
		t.Errorf("record = %v, want exactly name and status moved_out", msg.Record)
	}
	a := mustAuditKey(t, m, s.RequestID, ids[0])
	if a.Outcome != ledger.Released || strings.Join(a.Fields, ",") != "name,status" || a.Consumer != catalog.DeptServiceCenter {
		t.Errorf("audit of the delivered event = %+v", a)
	}
	if a := mustAuditKey(t, m, s.RequestID, ""); a.Outcome != ledger.Released {
		t.Errorf("audit of the subscription = %+v", a)
	}
	afterFirst := ev.ID

	// Shutting the exchange down ends the open stream, well before the
	// server's shutdown timeout.
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-s.Ended():
	case <-time.After(8 * time.Second):
		t.Fatal("the stream outlived the exchange's shutdown")
	}
	<-closed

	// Changes while no one listens, and while the exchange is down for
	// good measure: they wait in the broker.
	m = nodetest.Start(t, cfg)
	setStatus(t, m, ids[1], population.StatusDeceased)
	setStatus(t, m, ids[2], population.StatusMovedOut)
	published(t, m)
	m.Close()
	m = nodetest.Start(t, cfg)

	// Resuming delivers what was missed, and nothing twice.
	s, _ = nodetest.Subscribe(t, m, "population.identity", tok, q, afterFirst)
	var got []string
	for range 2 {
		_, msg := s.Next(t)
		got = append(got, msg.Key+"="+msg.Record["status"].(string))
	}
	slices.Sort(got)
	want := []string{ids[1] + "=" + population.StatusDeceased, ids[2] + "=" + population.StatusMovedOut}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("missed events = %v, want %v", got, want)
	}
	setStatus(t, m, ids[3], population.StatusMovedOut)
	if _, msg := s.Next(t); msg.Key != ids[3] {
		t.Errorf("live event after resuming: %+v, want %s", msg, ids[3])
	}
	s.Quiet(t, 300*time.Millisecond)

	// ?after= resumes too; the whole history from the first cursor.
	s, _ = nodetest.Subscribe(t, m, "population.identity", tok, q+"&after="+url.QueryEscape(afterFirst), "")
	for range 3 {
		if _, msg := s.Next(t); msg.Key == ids[0] {
			t.Errorf("event before the cursor delivered again: %+v", msg)
		}
	}
	s.Quiet(t, 300*time.Millisecond)

	rep, err := ledger.Verify(context.Background(), m.Pool)
	if err != nil || rep.Broken != nil {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

func mustAuditKey(t *testing.T, m *node.Node, requestID, key string) nodetest.AuditRow {
	t.Helper()
	var r nodetest.AuditRow
	err := m.Pool.QueryRow(context.Background(), `SELECT caller, consumer, resource, provider, subject_key, outcome, code, fields, status
		FROM exchange.audit WHERE request_id = $1 AND subject_key = $2`, requestID, key).
		Scan(&r.Caller, &r.Consumer, &r.Resource, &r.Provider, &r.SubjectKey, &r.Outcome, &r.Code, &r.Fields, &r.Status)
	if err != nil {
		t.Fatalf("audit record of %s for %q: %v", requestID, key, err)
	}
	return r
}

// An idle stream gets heartbeats, and access is checked again at each: a
// token that expires ends the stream. An instance serves at most
// MaxSubscriptions streams; the next is refused until one ends.
func TestEventSubscriptionLimitAndHeartbeat(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.MaxSubscriptions, cfg.EventHeartbeat = 1, 100*time.Millisecond
	cfg.Casework = false // its subscriptions to register changes would take the one
	m := nodetest.Start(t, cfg)
	short := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}, TTL: 2 * time.Second})
	long := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	q := "purpose=case:test&fields=status"
	s, r := nodetest.Subscribe(t, m, "population.identity", short, q, "")
	if s == nil {
		t.Fatalf("subscribe: %d %v", r.Status, r.Body)
	}
	select {
	case <-s.Heartbeats:
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat on an idle stream")
	}
	if s2, r := nodetest.Subscribe(t, m, "population.identity", long, q, ""); s2 != nil || r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "too_many_subscriptions" {
		t.Fatalf("second subscription past the limit: %v %+v", s2 != nil, r)
	}
	select {
	case <-s.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its token")
	}
	// The slot is free again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s3, r := nodetest.Subscribe(t, m, "population.identity", long, q, "")
		if s3 != nil {
			s3.Close()
			break
		}
		if r.ErrorCode() != "too_many_subscriptions" || time.Now().After(deadline) {
			t.Fatalf("after the stream ended: %d %v", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
