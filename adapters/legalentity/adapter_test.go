package legalentity_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx/adapters"
	"govx/adapters/legalentity"
	"govx/bus"
	"govx/internal/kafka"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

const requestTimeout = 10 * time.Second

// basic is legal-entity.basic as a consumer decodes it: a nil field was not
// sent.
type basic struct {
	USCC                *string `avro:"uscc"`
	Name                *string `avro:"name"`
	EntityType          *string `avro:"entity_type"`
	LegalRepresentative *string `avro:"legal_representative"`
	RepresentativeID    *string `avro:"legal_representative_id_number"`
	RegisteredCapital   *string `avro:"registered_capital"`
	EstablishedOn       *string `avro:"established_on"`
	Authority           *string `avro:"registration_authority"`
	AuthorityCode       *string `avro:"registration_authority_code"`
	Address             *string `avro:"address"`
	DivisionCode        *string `avro:"division_code"`
	BusinessScope       *string `avro:"business_scope"`
	Status              *string `avro:"status"`
	StatusDate          *string `avro:"status_date"`
	StatusReason        *string `avro:"status_reason"`
}

func (b basic) fields() map[string]*string {
	return map[string]*string{"uscc": b.USCC, "name": b.Name, "entity_type": b.EntityType,
		"legal_representative": b.LegalRepresentative, "legal_representative_id_number": b.RepresentativeID,
		"registered_capital": b.RegisteredCapital, "established_on": b.EstablishedOn,
		"registration_authority": b.Authority, "registration_authority_code": b.AuthorityCode,
		"address": b.Address, "division_code": b.DivisionCode, "business_scope": b.BusinessScope,
		"status": b.Status, "status_date": b.StatusDate, "status_reason": b.StatusReason}
}

// truth is what the register holds for c, as the records spell it; a field
// without a value is absent.
func truth(c legalentity.Company) map[string]string {
	m := map[string]string{"uscc": c.USCC, "name": c.Name, "entity_type": c.Type,
		"legal_representative": c.LegalRepresentative, "legal_representative_id_number": c.RepresentativeID,
		"established_on": c.EstablishedOn.Format(time.DateOnly), "registration_authority": c.AuthorityName,
		"registration_authority_code": c.AuthorityCode, "address": c.Address, "division_code": c.DivisionCode,
		"business_scope": c.BusinessScope, "status": c.Status, "status_date": c.StatusDate.Format(time.DateOnly)}
	if c.RegisteredCapital > 0 {
		m["registered_capital"] = strconv.FormatInt(c.RegisteredCapital, 10) + ".00"
	}
	if c.StatusReason != "" {
		m["status_reason"] = c.StatusReason
	}
	return m
}

var allBasic = []string{"uscc", "name", "entity_type", "legal_representative", "legal_representative_id_number",
	"registered_capital", "established_on", "registration_authority", "registration_authority_code", "address",
	"division_code", "business_scope", "status", "status_date", "status_reason"}

// testBus is an embedded broker, a seeded register and a requester.
type testBus struct {
	*register
	kcfg kafka.Config
	prod *kafka.Producer
	q    *kafka.Requester
}

func newBus(t *testing.T, companies int) *testBus {
	t.Helper()
	e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	b := &testBus{register: newRegister(t, companies), kcfg: kafka.Config{Brokers: e.Addrs(), ClientID: "legalentity-test"}}
	if b.prod, err = kafka.NewProducer(b.kcfg, kafka.ProducerConfig{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.prod.Close() })
	b.q, err = kafka.NewRequester(context.Background(), b.kcfg,
		kafka.RequesterConfig{ReplyTopic: "govx.replies.legalentity-test", Timeout: requestTimeout}, b.prod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.q.Close() })
	return b
}

// start runs the department's runtime on store, under the name dept, until
// the test ends.
func (b *testBus) start(t *testing.T, dept string, store *legalentity.Store) {
	t.Helper()
	if err := kafka.EnsureTopics(context.Background(), b.kcfg,
		kafka.Topic{Name: bus.RequestTopic(dept), Partitions: 2},
		kafka.Topic{Name: bus.DeadLetterTopic(dept), Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := adapters.New(adapters.Config{Kafka: b.kcfg, Codec: b.codec, Producer: b.prod, Department: dept, Partitions: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	legalentity.Register(rt, store)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func (b *testBus) ask(t *testing.T, dept, id, resource, key string, fields ...string) bus.Reply {
	t.Helper()
	now := time.Now().UTC()
	req := bus.Request{RequestID: id, Resource: resource, Key: key, Fields: fields, Purpose: "case:2026-000042",
		Consumer: "service-center", Caller: "clerk-7", ReplyTo: b.q.ReplyTopic(), RequestedAt: now, Deadline: now.Add(30 * time.Second)}
	body, err := b.codec.Marshal(schemas.Request, req)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := b.q.Request(context.Background(), id, kafka.Message{Topic: bus.RequestTopic(dept), Key: []byte(key), Value: body})
	if err != nil {
		t.Fatalf("Request %s: %v", id, err)
	}
	var reply bus.Reply
	if err := b.codec.Unmarshal(context.Background(), msg.Value, &reply); err != nil || reply.RequestID != id {
		t.Fatalf("reply to %s: %+v, %v", id, reply, err)
	}
	return reply
}

func TestAdapter(t *testing.T) {
	const companies = 300
	b := newBus(t, companies)
	b.start(t, legalentity.Department, b.store)
	live := b.gen.Company(b.firstWith(t, legalentity.StatusInBusiness, 0, companies))
	gone := b.find(t, companies, func(c legalentity.Company) bool {
		return c.Status == legalentity.StatusRevoked && c.RegisteredCapital > 0
	})
	shop := b.find(t, companies, func(c legalentity.Company) bool { return c.Type == legalentity.TypeIndividualBusiness })

	tests := []struct {
		name     string
		resource string
		key      string
		fields   []string
		want     []string // fields the record holds; nil means an error reply
		code     string
	}{
		{"basic, two fields", legalentity.ResourceBasic, live.USCC, []string{"name", "legal_representative_id_number"}, []string{"name", "legal_representative_id_number"}, ""},
		{"basic, every field", legalentity.ResourceBasic, gone.USCC, allBasic, allBasic, ""},
		{"basic, in business has no reason", legalentity.ResourceBasic, live.USCC, allBasic, without(allBasic, "status_reason"), ""},
		{"basic, no capital", legalentity.ResourceBasic, shop.USCC, []string{"registered_capital", "entity_type"}, []string{"entity_type"}, ""},
		{"basic, a field the resource lacks", legalentity.ResourceBasic, live.USCC, []string{"status", "turnover"}, []string{"status"}, ""},
		{"status, every field", legalentity.ResourceStatus, gone.USCC, []string{"uscc", "name", "status", "status_date", "status_reason"}, []string{"uscc", "name", "status", "status_date", "status_reason"}, ""},
		{"status, basic fields are not in it", legalentity.ResourceStatus, live.USCC, []string{"status", "address", "legal_representative_id_number"}, []string{"status"}, ""},
		{"unknown entity", legalentity.ResourceBasic, b.gen.USCC(companies), []string{"name"}, nil, "entity_not_found"},
		{"unknown entity, status", legalentity.ResourceStatus, b.gen.USCC(companies + 1), []string{"status"}, nil, "entity_not_found"},
		{"wrong check character", legalentity.ResourceBasic, wrongCheck(live.USCC), []string{"name"}, nil, "invalid_uscc"},
		{"lower case", legalentity.ResourceStatus, strings.ToLower(live.USCC), []string{"status"}, nil, "invalid_uscc"},
		{"too short", legalentity.ResourceStatus, live.USCC[:17], []string{"status"}, nil, "invalid_uscc"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := b.ask(t, legalentity.Department, fmt.Sprintf("lookup-%d", i), tt.resource, tt.key, tt.fields...)
			if reply.Provider != legalentity.Department || reply.Resource != tt.resource {
				t.Errorf("reply from %q for %q", reply.Provider, reply.Resource)
			}
			if tt.want == nil {
				if reply.Error == nil || reply.Error.Code != tt.code || reply.Error.Message == "" || reply.Record != nil {
					t.Fatalf("reply error %+v record %x, want %s", reply.Error, reply.Record, tt.code)
				}
				return
			}
			if reply.Error != nil {
				t.Fatalf("reply error %+v", *reply.Error)
			}
			var rec basic // the status record's fields are a subset
			if err := b.codec.Unmarshal(context.Background(), reply.Record, &rec); err != nil {
				t.Fatalf("decode record: %v", err)
			}
			c, err := b.store.Company(context.Background(), tt.key)
			if err != nil {
				t.Fatal(err)
			}
			want := truth(c)
			for name, got := range rec.fields() {
				switch asked := contains(tt.want, name); {
				case asked && got == nil:
					t.Errorf("field %s was asked for and not sent", name)
				case asked && *got != want[name]:
					t.Errorf("field %s = %q, want %q", name, *got, want[name])
				case !asked && got != nil:
					t.Errorf("field %s = %q was sent without being asked for", name, *got)
				}
			}
		})
	}

	t.Run("a deregistration shows in the status", func(t *testing.T) {
		if _, err := b.store.Deregister(context.Background(), live.USCC, "简易注销"); err != nil {
			t.Fatal(err)
		}
		reply := b.ask(t, legalentity.Department, "after-deregistration", legalentity.ResourceStatus, live.USCC, "status", "status_reason")
		var rec basic
		if reply.Error != nil || b.codec.Unmarshal(context.Background(), reply.Record, &rec) != nil ||
			rec.Status == nil || *rec.Status != legalentity.StatusDeregistered || rec.StatusReason == nil || *rec.StatusReason != "简易注销" {
			t.Errorf("status after deregistration: %+v, error %+v", rec, reply.Error)
		}
	})
}

// Malformed codes are refused before the database, and a database that
// cannot be reached is Unavailable, promptly.
func TestAdapterDatabaseDown(t *testing.T) {
	b := newBus(t, 10)
	closed := postgrestest.NewPool(t)
	closed.Close()
	hung := hungPool(t)
	b.start(t, "market-regulation-closed", legalentity.NewStore(closed, nil))
	b.start(t, "market-regulation-hung", legalentity.NewStore(hung, nil))
	good := b.gen.USCC(3)
	for _, dept := range []string{"market-regulation-closed", "market-regulation-hung"} {
		t.Run(dept, func(t *testing.T) {
			reply := b.ask(t, dept, dept+"-bad", legalentity.ResourceBasic, wrongCheck(good), "name")
			if reply.Error == nil || reply.Error.Code != "invalid_uscc" {
				t.Errorf("malformed code with the database down: %+v, want invalid_uscc", reply.Error)
			}
			start := time.Now()
			reply = b.ask(t, dept, dept+"-good", legalentity.ResourceStatus, good, "status")
			if reply.Error == nil || reply.Error.Kind != "Unavailable" || reply.Error.Code != "provider_unavailable" {
				t.Fatalf("reply error %+v, want Unavailable provider_unavailable", reply.Error)
			}
			if strings.Contains(reply.Error.Message, "127.0.0.1") {
				t.Errorf("error message %q names the database", reply.Error.Message)
			}
			if took := time.Since(start); took > 8*time.Second {
				t.Errorf("the Unavailable reply took %s", took)
			}
		})
	}
}

// find returns the first of n companies that pred accepts.
func (b *testBus) find(t *testing.T, n int, pred func(legalentity.Company) bool) legalentity.Company {
	t.Helper()
	for i := range n {
		if c := b.gen.Company(i); pred(c) {
			return c
		}
	}
	t.Fatalf("none of %d companies fits", n)
	return legalentity.Company{}
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hungPool returns a pool on a server that accepts connections and never
// says a word, like a database host behind a dead link.
func hungPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+l.Addr().String()+"/x?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		pool.Close()
	})
	return pool
}
