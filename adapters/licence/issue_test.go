package licence_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"govx"
	"govx/adapters"
	"govx/adapters/licence"
	"govx/bus"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/schemas"
)

// issuing is a licensing adapter that takes orders, the real Runtime on
// the embedded broker, and an Issuer through busExchange on a real
// Requester.
type issuing struct {
	e      *env
	b      *testBus
	issuer *licence.Issuer
	order  licence.Order // a good order; tests change its reference
}

func newIssuing(t *testing.T) *issuing {
	t.Helper()
	e := newEnv(t)
	b := newBus(t, e)
	b.run(t, licence.Department, func(rt *adapters.Runtime) {
		licence.Register(rt, e.store)
		licence.RegisterIssuing(rt, e.store, e.codec, licence.IssuingConfig{})
	})
	holder, name := companies(7)
	var authority string
	for _, a := range licence.Authorities() {
		if strings.HasSuffix(a.Name, "市场监督管理局") {
			authority = a.Code
			break
		}
	}
	return &issuing{e: e, b: b, issuer: licence.NewIssuer(&busExchange{q: b.q, codec: e.codec, dept: licence.Department, timeout: 10 * time.Second}, e.codec, nil),
		order: licence.Order{Reference: "2026-000001", Type: licence.TypeFoodBusiness, HolderCode: holder, HolderName: name,
			AuthorityCode: authority, Variant: 2,
			Items: map[string]string{"business_type": "餐饮服务经营者", "business_items": "热食类食品制售", "premises": "天河路1号"}}}
}

// busExchange stands in for the exchange between an Issuer and the
// licensing adapter: it sends the command over the bus as the exchange
// does, with bus.Call, and answers the record as the exchange's JSON. It
// decides nothing; the token is taken for the ordering department, as the
// exchange reads it from a real token's dept claim. The exchange's own
// decision of an order is tested in package exchange.
type busExchange struct {
	q       bus.Requester
	codec   *avro.Codec
	dept    string // the licensing department
	timeout time.Duration
}

func (x *busExchange) Command(ctx context.Context, token, resource, key, purpose string, payload []byte, _ string, _ []byte) (json.RawMessage, error) {
	now := time.Now().UTC()
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	reply, err := bus.Call(ctx, x.q, x.codec, x.dept, []byte(key), bus.Request{RequestID: bus.NewRequestID(), Resource: resource,
		Key: key, Fields: []string{}, Purpose: purpose, Consumer: token, Caller: "svc:casework", RequestedAt: now,
		Deadline: now.Add(x.timeout), Payload: payload}, bus.CallOptions{})
	if err != nil {
		return nil, err
	}
	var rec map[string]any
	if err := x.codec.UnmarshalAs(ctx, licence.SubjectIssued, reply.Record, &rec); err != nil {
		return nil, err
	}
	return json.Marshal(rec)
}

func (s *issuing) orderWith(ref string) licence.Order {
	o := s.order
	o.Reference = ref
	o.Items = maps.Clone(o.Items)
	return o
}

func (s *issuing) count(t *testing.T) int64 {
	t.Helper()
	n, err := s.e.store.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// events returns the change events in the outbox for licence number.
func (s *issuing) events(t *testing.T, number string) []bus.Event {
	t.Helper()
	ctx := context.Background()
	rows, err := s.e.pool.Query(ctx, `SELECT topic, value FROM licence.outbox WHERE key = $1 ORDER BY id`, []byte(number))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []bus.Event
	for rows.Next() {
		var topic string
		var value []byte
		if err := rows.Scan(&topic, &value); err != nil {
			t.Fatal(err)
		}
		var ev bus.Event
		if err := s.e.codec.UnmarshalAs(ctx, schemas.Event, value, &ev); err != nil {
			t.Fatal(err)
		}
		if topic != bus.EventTopic(ev.Resource) {
			t.Errorf("event of %s on topic %s", ev.Resource, topic)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// raw sends a licence.issue request with payload as it stands, as a bus
// client other than Issuer could.
func (s *issuing) raw(t *testing.T, consumer, key string, payload []byte) bus.Reply {
	t.Helper()
	id := fmt.Sprintf("req-%d", requestSeq.Add(1))
	now := time.Now().UTC()
	body, err := s.e.codec.Marshal(schemas.Request, bus.Request{RequestID: id, Resource: licence.ResourceIssue, Key: key,
		Fields: []string{}, Purpose: "licence.issue:" + key, Consumer: consumer, Caller: "clerk-1", ReplyTo: s.b.q.ReplyTopic(),
		RequestedAt: now, Deadline: now.Add(30 * time.Second), Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.b.q.Request(context.Background(), id, kafka.Message{Topic: bus.RequestTopic(licence.Department), Key: []byte(id), Value: body})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	var reply bus.Reply
	if err := s.e.codec.UnmarshalAs(context.Background(), schemas.Reply, msg.Value, &reply); err != nil {
		t.Fatal(err)
	}
	return reply
}

// orderPayload is an order message as the wire carries it, with fields
// set as given over a good order's.
func (s *issuing) orderPayload(t *testing.T, ref string, set map[string]any) []byte {
	t.Helper()
	o := s.order
	rec := map[string]any{"reference": ref, "type": o.Type, "holder_code": o.HolderCode, "holder_name": o.HolderName,
		"authority_code": o.AuthorityCode, "variant": o.Variant, "items": o.Items, "valid_from": nil, "valid_until": nil}
	maps.Copy(rec, set)
	b, err := s.e.codec.Marshal(licence.SubjectOrder, rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIssueOrder(t *testing.T) {
	ctx := context.Background()
	s := newIssuing(t)
	before := s.count(t)

	o := s.orderWith("2026-000101")
	o.ValidFrom = time.Now().UTC().AddDate(0, 0, 3)
	got, err := s.issuer.Issue(ctx, catalog.DeptServiceCenter, o)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if got.Reference != o.Reference || got.Type != o.Type || got.HolderCode != o.HolderCode || got.HolderName != o.HolderName ||
		got.AuthorityCode != o.AuthorityCode || !maps.Equal(got.Items, o.Items) || got.Authority == "" {
		t.Errorf("issued %+v for %+v", got, o)
	}
	wantFrom := time.Date(o.ValidFrom.Year(), o.ValidFrom.Month(), o.ValidFrom.Day(), 0, 0, 0, 0, time.UTC)
	if !got.ValidFrom.Equal(wantFrom) || !got.ValidUntil.Equal(wantFrom.AddDate(5, 0, -1)) ||
		!got.IssuedAt.Equal(time.Now().UTC().Truncate(24*time.Hour)) {
		t.Errorf("issued on %v, valid %v to %v; want valid from %v", got.IssuedAt, got.ValidFrom, got.ValidUntil, wantFrom)
	}
	if err := keys(s.e.gen).Verify(got.Licence()); err != nil {
		t.Errorf("the seal in the answer: %v", err)
	}

	// The register serves it as any licence from now on, sealed.
	stored, err := s.e.store.Licence(ctx, got.Number)
	if err != nil {
		t.Fatalf("Licence(%s): %v", got.Number, err)
	}
	if stored.ID != got.ID || stored.Status != licence.StatusValid || string(stored.Seal) != string(got.Seal) {
		t.Errorf("stored %+v, issued %+v", stored, got)
	}
	if err := keys(s.e.gen).Verify(stored); err != nil {
		t.Errorf("stored licence: %v", err)
	}
	if r := s.b.ask(t, licence.Department, licence.Resource(o.Type), got.Number, "number", "holder_code"); r.Error != nil {
		t.Errorf("licence.%s answers the new licence with %+v", o.Type, r.Error)
	}
	if n := s.count(t); n != before+1 {
		t.Errorf("%d licences after one order, want %d", n, before+1)
	}

	// Subscribers learn of it through the outbox.
	evs := s.events(t, got.Number)
	if len(evs) != 1 || evs[0].Type != licence.EventIssued || evs[0].Resource != licence.Resource(o.Type) ||
		evs[0].Provider != licence.Department || evs[0].Key != got.Number {
		t.Fatalf("events %+v, want one %s", evs, licence.EventIssued)
	}
	var rec licenceRecord
	if err := s.e.codec.UnmarshalAs(ctx, licence.Resource(o.Type), evs[0].Record, &rec); err != nil {
		t.Fatal(err)
	}
	if err := keys(s.e.gen).Verify(rec.licence(t)); err != nil {
		t.Errorf("the event's record: %v", err)
	}

	t.Run("retry returns the same licence", func(t *testing.T) {
		again, err := s.issuer.Issue(ctx, catalog.DeptServiceCenter, o)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if again.Number != got.Number || again.ID != got.ID || string(again.Seal) != string(got.Seal) {
			t.Errorf("retry issued %s, first %s", again.Number, got.Number)
		}
		if n := s.count(t); n != before+1 {
			t.Errorf("%d licences after a retry, want %d", n, before+1)
		}
		if evs := s.events(t, got.Number); len(evs) != 1 {
			t.Errorf("%d events after a retry, want 1", len(evs))
		}
	})

	t.Run("same reference, different order", func(t *testing.T) {
		other := o
		other.Items = maps.Clone(o.Items)
		other.Items["premises"] = "天河路2号"
		_, err := s.issuer.Issue(ctx, catalog.DeptServiceCenter, other)
		wantErr(t, err, govx.KindConflict, "issue_reference_conflict")
		var ge *govx.Error
		if !errors.As(err, &ge) {
			t.Errorf("error %T is not a *govx.Error", err)
		}
		other = o
		other.Variant = 1
		_, err = s.issuer.Issue(ctx, catalog.DeptServiceCenter, other)
		wantErr(t, err, govx.KindConflict, "issue_reference_conflict")
		if n := s.count(t); n != before+1 {
			t.Errorf("%d licences after refused orders, want %d", n, before+1)
		}
	})

	t.Run("concurrent orders of one reference issue once", func(t *testing.T) {
		const n = 8
		o := s.orderWith("2026-000102")
		start := s.count(t)
		numbers := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				iss, err := s.issuer.Issue(ctx, catalog.DeptServiceCenter, o)
				numbers[i], errs[i] = iss.Number, err
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || numbers[i] != numbers[0] {
				t.Errorf("order %d: %s, %v; order 0: %s", i, numbers[i], errs[i], numbers[0])
			}
		}
		if got := s.count(t); got != start+1 {
			t.Errorf("%d concurrent orders issued %d licences, want 1", n, got-start)
		}
		if evs := s.events(t, numbers[0]); len(evs) != 1 {
			t.Errorf("%d events, want 1", len(evs))
		}
	})

	// The bus keeps one reference's orders on one partition, which may
	// serialise them; the register must hold on its own.
	t.Run("concurrent orders in the register issue once", func(t *testing.T) {
		const n = 8
		o := s.orderWith("2026-000103")
		start := s.count(t)
		numbers := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				l, err := s.e.store.IssueOrder(ctx, o)
				numbers[i], errs[i] = l.Number, err
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || numbers[i] != numbers[0] {
				t.Errorf("order %d: %s, %v; order 0: %s", i, numbers[i], errs[i], numbers[0])
			}
		}
		if got := s.count(t); got != start+1 {
			t.Errorf("%d concurrent orders issued %d licences, want 1", n, got-start)
		}
		var rows int
		if err := s.e.pool.QueryRow(ctx, `SELECT count(*) FROM licence.issue_orders WHERE reference = $1 AND number = $2`,
			o.Reference, numbers[0]).Scan(&rows); err != nil || rows != 1 {
			t.Errorf("issue_orders has %d rows linking the reference to its licence, %v", rows, err)
		}
	})
}

func TestIssueOrderRefused(t *testing.T) {
	ctx := context.Background()
	s := newIssuing(t)
	before := s.count(t)

	t.Run("forbidden consumer", func(t *testing.T) {
		_, err := s.issuer.Issue(ctx, "market-regulation", s.orderWith("2026-000201"))
		wantErr(t, err, govx.KindForbidden, "issue_forbidden")
		wantReplyError(t, s.raw(t, "", "2026-000201", s.orderPayload(t, "2026-000201", nil)), "Forbidden", "issue_forbidden")
	})
	t.Run("request without payload", func(t *testing.T) {
		wantReplyError(t, s.raw(t, catalog.DeptServiceCenter, "2026-000202", nil), "Invalid", "issue_order_missing")
	})
	t.Run("malformed payload", func(t *testing.T) {
		wantReplyError(t, s.raw(t, catalog.DeptServiceCenter, "2026-000203", []byte("not avro")), "Invalid", "invalid_order")
		truncated := s.orderPayload(t, "2026-000203", nil)
		wantReplyError(t, s.raw(t, catalog.DeptServiceCenter, "2026-000203", truncated[:len(truncated)-3]), "Invalid", "invalid_order")
		// A well-formed message of another record is not an order.
		other, err := s.e.codec.Marshal(schemas.Event, bus.Event{EventID: "e", OccurredAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		wantReplyError(t, s.raw(t, catalog.DeptServiceCenter, "2026-000203", other), "Invalid", "invalid_order")
	})
	t.Run("bad orders", func(t *testing.T) {
		for _, tt := range []struct {
			name       string
			key        string
			set        map[string]any
			kind, code string
		}{
			{"bad date", "2026-000204", map[string]any{"valid_from": "2026-13-01"}, "Invalid", "invalid_validity"},
			{"validity reversed", "2026-000205", map[string]any{"valid_from": "2030-01-02", "valid_until": "2030-01-01"}, "Invalid", "invalid_validity"},
			{"bad holder", "2026-000206", map[string]any{"holder_code": "123"}, "Invalid", "invalid_holder"},
			{"unknown type", "2026-000207", map[string]any{"type": "fishing"}, "Invalid", "invalid_licence_type"},
			{"no business type", "2026-000208", map[string]any{"variant": 0}, "Invalid", "invalid_variant"},
			{"unknown authority", "2026-000209", map[string]any{"authority_code": s.order.HolderCode}, "NotFound", "authority_not_found"},
			{"empty reference", "", map[string]any{"reference": ""}, "Invalid", "invalid_reference"},
			{"reference with a space", "2026 000210", map[string]any{"reference": "2026 000210"}, "Invalid", "invalid_reference"},
			{"key is not the reference", "2026-000211", map[string]any{"reference": "2026-000212"}, "Invalid", "invalid_reference"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				ref := tt.key
				if _, ok := tt.set["reference"]; !ok {
					tt.set["reference"] = ref
				}
				wantReplyError(t, s.raw(t, catalog.DeptServiceCenter, tt.key, s.orderPayload(t, ref, tt.set)), tt.kind, tt.code)
			})
		}
		// A refused order does not use up its reference.
		if _, err := s.issuer.Issue(ctx, catalog.DeptServiceCenter, s.orderWith("2026-000206")); err != nil {
			t.Errorf("a good order under a refused one's reference: %v", err)
		}
	})
	t.Run("bad reference is refused before the bus", func(t *testing.T) {
		_, err := s.issuer.Issue(ctx, catalog.DeptServiceCenter, s.orderWith(strings.Repeat("x", licence.MaxReference+1)))
		wantErr(t, err, govx.KindInvalid, "invalid_reference")
	})
	if n := s.count(t); n != before+1 {
		t.Errorf("%d licences after refusals and one good order, want %d", n, before+1)
	}
}

// A licensing department that does not answer leaves the order with a
// timeout, as the Requester gives it; one that never joined the bus is
// unavailable.
func TestIssuerNoAnswer(t *testing.T) {
	ctx := context.Background()
	s := newIssuing(t)
	const silent = "licensing-silent"
	if err := kafka.EnsureTopics(ctx, s.b.kcfg, kafka.Topic{Name: bus.RequestTopic(silent), Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	is := licence.NewIssuer(&busExchange{q: s.b.q, codec: s.e.codec, dept: silent, timeout: 300 * time.Millisecond}, s.e.codec, nil)
	_, err := is.Issue(ctx, catalog.DeptServiceCenter, s.orderWith("2026-000301"))
	wantErr(t, err, govx.KindTimeout, "provider_timeout")

	is = licence.NewIssuer(&busExchange{q: s.b.q, codec: s.e.codec, dept: "licensing-absent", timeout: 10 * time.Second}, s.e.codec, nil)
	_, err = is.Issue(ctx, catalog.DeptServiceCenter, s.orderWith("2026-000302"))
	wantErr(t, err, govx.KindUnavailable, "provider_unavailable")
}
