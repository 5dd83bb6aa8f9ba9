package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
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
)

// offerMethods changes the methods the catalogue lists for resource code,
// as its provider would, and lets every exchange instance know.
func offerMethods(t *testing.T, m *Main, cfg Config, code string, methods ...string) {
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
	catalog.NewInvalidator(rdb, nil).ResourceChanged(ctx, code)
	// The exchange drops its cached copy when the announcement arrives,
	// well within the one-second bound.
	time.Sleep(300 * time.Millisecond)
}

type sseEvent struct {
	ID, Event string
	Data      string
}

// stream is an open subscription read in the background.
type stream struct {
	RequestID  string
	First      string // the id of the opening block: the starting cursor
	events     chan sseEvent
	heartbeats chan struct{}
	ended      chan struct{}
	cancel     context.CancelFunc
}

// subscribe opens GET …/events; a non-200 answer is returned decoded
// instead of a stream.
func subscribe(t *testing.T, m *Main, token, query, lastEventID string) (*stream, *response) {
	t.Helper()
	return subscribeTo(t, m, "population.identity", token, query, lastEventID)
}

// subscribeTo is subscribe to another resource's events.
func subscribeTo(t *testing.T, m *Main, resource, token, query, lastEventID string) (*stream, *response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", m.URL()+"/v1/resources/"+resource+"/events?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		out := &response{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
		if err := json.NewDecoder(resp.Body).Decode(&out.Body); err != nil {
			t.Fatalf("decode error answer: %v", err)
		}
		return nil, out
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type = %q", ct)
	}
	s := &stream{RequestID: resp.Header.Get("X-Request-Id"), events: make(chan sseEvent, 64), ended: make(chan struct{}), cancel: cancel,
		heartbeats: make(chan struct{}, 64)}
	first := make(chan string, 1)
	go func() {
		defer close(s.ended)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		opened := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if !opened {
					opened = true
					first <- ev.ID
				} else if ev.Data != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case line == ": heartbeat":
				select {
				case s.heartbeats <- struct{}{}:
				default:
				}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[6:]
			}
		}
	}()
	select {
	case s.First = <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no opening block on the stream")
	}
	t.Cleanup(cancel)
	return s, nil
}

func (s *stream) next(t *testing.T) (sseEvent, exchange.EventMessage) {
	t.Helper()
	select {
	case ev := <-s.events:
		var msg exchange.EventMessage
		if err := json.Unmarshal([]byte(ev.Data), &msg); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		return ev, msg
	case <-s.ended:
		t.Fatal("stream ended")
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15s")
	}
	panic("unreachable")
}

// quiet asserts that nothing more arrives for a while.
func (s *stream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-s.events:
		t.Fatalf("unexpected event: %+v", ev)
	case <-time.After(d):
	}
}

// normalResidents returns the ID numbers of n seeded residents whose status
// is normal.
func normalResidents(n int) []string {
	g := population.NewGenerator(DemoSeed)
	var out []string
	for i := 0; i < testResidents && len(out) < n; i++ {
		if r := g.Resident(i); r.Status == population.StatusNormal {
			out = append(out, r.IDNumber)
		}
	}
	return out
}

func setStatus(t *testing.T, m *Main, id, status string) {
	t.Helper()
	if _, err := population.NewStore(m.Pool).SetStatus(context.Background(), m.PopulationOutbox, id, status, "test"); err != nil {
		t.Fatalf("SetStatus(%s, %s): %v", id, status, err)
	}
}

// published waits until the population outbox is empty: every event is in
// the broker.
func published(t *testing.T, m *Main) {
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
	cfg := testConfig(t)
	m := mustRun(t, cfg)
	tok := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	noScope := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"legal-entity.basic"}})
	ids := normalResidents(5)
	for _, id := range ids[:4] {
		mustConsent(t, m, id, "case:events-1", population.ResourceIdentity)
	}
	q := "purpose=case%3Aevents-1&fields=status,name"

	refused := func(name, token, query, lastEventID string, status int, code string) {
		t.Helper()
		s, r := subscribe(t, m, token, query, lastEventID)
		if s != nil {
			t.Fatalf("%s: subscription opened", name)
		}
		if r.Status != status || r.errorCode() != code {
			t.Fatalf("%s: got %d %q, want %d %q", name, r.Status, r.errorCode(), status, code)
		}
		if err := doc.CheckResponse("GET", "/v1/resources/{code}/events", r.Status, "application/json", r.Body); err != nil {
			t.Errorf("%s: answer does not match the OpenAPI document: %v", name, err)
		}
		if a := mustAudit(t, m, r.RequestID); a.Outcome != ledger.Refused || a.Code != code {
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
	s, _ := subscribe(t, m, tok, q, "")
	setStatus(t, m, ids[4], population.StatusMovedOut)
	setStatus(t, m, ids[0], population.StatusMovedOut)
	ev, msg := s.next(t)
	if msg.Key != ids[0] || msg.Type != population.EventStatusChanged || msg.Resource != "population.identity" || msg.Provider != "population" {
		t.Errorf("event = %+v", msg)
	}
	if len(msg.Record) != 2 || msg.Record["status"] != population.StatusMovedOut || msg.Record["name"] == nil {
		t.Errorf("record = %v, want exactly name and status moved_out", msg.Record)
	}
	a := mustAuditKey(t, m, s.RequestID, ids[0])
	if a.Outcome != ledger.Answered || strings.Join(a.Fields, ",") != "name,status" || a.Consumer != catalog.DeptServiceCenter {
		t.Errorf("audit of the delivered event = %+v", a)
	}
	if a := mustAuditKey(t, m, s.RequestID, ""); a.Outcome != ledger.Answered {
		t.Errorf("audit of the subscription = %+v", a)
	}
	afterFirst := ev.ID

	// Shutting the exchange down ends the open stream, well before the
	// server's shutdown timeout.
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-s.ended:
	case <-time.After(8 * time.Second):
		t.Fatal("the stream outlived the exchange's shutdown")
	}
	<-closed

	// Changes while no one listens, and while the exchange is down for
	// good measure: they wait in the broker.
	m = mustRun(t, cfg)
	setStatus(t, m, ids[1], population.StatusDeceased)
	setStatus(t, m, ids[2], population.StatusMovedOut)
	published(t, m)
	m.Close()
	m = mustRun(t, cfg)

	// Resuming delivers what was missed, and nothing twice.
	s, _ = subscribe(t, m, tok, q, afterFirst)
	var got []string
	for range 2 {
		_, msg := s.next(t)
		got = append(got, msg.Key+"="+msg.Record["status"].(string))
	}
	slices.Sort(got)
	want := []string{ids[1] + "=" + population.StatusDeceased, ids[2] + "=" + population.StatusMovedOut}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("missed events = %v, want %v", got, want)
	}
	setStatus(t, m, ids[3], population.StatusMovedOut)
	if _, msg := s.next(t); msg.Key != ids[3] {
		t.Errorf("live event after resuming: %+v, want %s", msg, ids[3])
	}
	s.quiet(t, 300*time.Millisecond)

	// ?after= resumes too; the whole history from the first cursor.
	s, _ = subscribe(t, m, tok, q+"&after="+url.QueryEscape(afterFirst), "")
	for range 3 {
		if _, msg := s.next(t); msg.Key == ids[0] {
			t.Errorf("event before the cursor delivered again: %+v", msg)
		}
	}
	s.quiet(t, 300*time.Millisecond)

	rep, err := ledger.Verify(context.Background(), m.Pool)
	if err != nil || rep.Broken != nil {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

func mustAuditKey(t *testing.T, m *Main, requestID, key string) auditRow {
	t.Helper()
	var r auditRow
	err := m.Pool.QueryRow(context.Background(), `SELECT caller, consumer, resource, provider, subject_key, outcome, code, fields, status
		FROM exchange.audit WHERE request_id = $1 AND subject_key = $2`, requestID, key).
		Scan(&r.Caller, &r.Consumer, &r.Resource, &r.Provider, &r.SubjectKey, &r.Outcome, &r.Code, &r.Fields, &r.Status)
	if err != nil {
		t.Fatalf("audit record of %s for %q: %v", requestID, key, err)
	}
	return r
}

func TestSetStatusCommand(t *testing.T) {
	cfg := testConfig(t)
	m := mustRun(t, cfg)
	t.Setenv("GOVX_POSTGRES_URL", cfg.PostgresURL)
	id := normalResidents(1)[0]
	var out strings.Builder
	if err := run(context.Background(), []string{"population", "set-status", id, "moved_out", "--reason", "moved to Shanghai"}, &out, io.Discard); err != nil {
		t.Fatalf("set-status: %v", err)
	}
	if r, err := population.NewStore(m.Pool).Resident(context.Background(), id); err != nil || r.Status != population.StatusMovedOut {
		t.Errorf("after set-status: %+v, %v", r, err)
	}
	if !strings.Contains(out.String(), "moved_out") {
		t.Errorf("output %q", out.String())
	}
	for _, args := range [][]string{
		{"population", "set-status", id, "deceased"},                   // no reason
		{"population", "set-status", id, "emigrated", "--reason", "x"}, // unknown status
		{"population", "set-status", id, "moved_out", "--reason", "x"}, // unchanged
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// An idle stream gets heartbeats, and access is checked again at each: a
// token that expires ends the stream. An instance serves at most
// MaxSubscriptions streams; the next is refused until one ends.
func TestEventSubscriptionLimitAndHeartbeat(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxSubscriptions, cfg.EventHeartbeat = 1, 100*time.Millisecond
	m := mustRun(t, cfg)
	short := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}, TTL: 2 * time.Second})
	long := mustToken(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	q := "purpose=case:test&fields=status"
	s, r := subscribe(t, m, short, q, "")
	if s == nil {
		t.Fatalf("subscribe: %d %v", r.Status, r.Body)
	}
	select {
	case <-s.heartbeats:
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat on an idle stream")
	}
	if s2, r := subscribe(t, m, long, q, ""); s2 != nil || r.Status != http.StatusServiceUnavailable || r.errorCode() != "too_many_subscriptions" {
		t.Fatalf("second subscription past the limit: %v %+v", s2 != nil, r)
	}
	select {
	case <-s.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its token")
	}
	// The slot is free again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s3, r := subscribe(t, m, long, q, "")
		if s3 != nil {
			s3.cancel()
			break
		}
		if r.errorCode() != "too_many_subscriptions" || time.Now().After(deadline) {
			t.Fatalf("after the stream ended: %d %v", r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
