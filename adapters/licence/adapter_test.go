package licence_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"govx/adapters"
	"govx/adapters/licence"
	"govx/bus"
	"govx/internal/kafka"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

// licenceRecord is a licence resource's record as a consumer decodes it.
type licenceRecord struct {
	ID            *string            `avro:"id"`
	Type          *string            `avro:"type"`
	Number        *string            `avro:"number"`
	HolderName    *string            `avro:"holder_name"`
	HolderCode    *string            `avro:"holder_code"`
	Authority     *string            `avro:"authority"`
	AuthorityCode *string            `avro:"authority_code"`
	IssueDate     *string            `avro:"issue_date"`
	ValidFrom     *string            `avro:"valid_from"`
	ValidUntil    *string            `avro:"valid_until"`
	Status        *string            `avro:"status"`
	Items         *map[string]string `avro:"items"`
	SealKeyID     *string            `avro:"seal_key_id"`
	Seal          *[]byte            `avro:"seal"`
	RevokedAt     *string            `avro:"revoked_at"`
	Reason        *string            `avro:"revocation_reason"`
}

// licence rebuilds the licence a consumer received, to check its seal.
func (r licenceRecord) licence(t *testing.T) licence.Licence {
	t.Helper()
	date := func(s *string) time.Time {
		d, err := time.Parse(time.DateOnly, *s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return licence.Licence{ID: *r.ID, Type: *r.Type, Number: *r.Number, HolderName: *r.HolderName, HolderCode: *r.HolderCode,
		Authority: *r.Authority, AuthorityCode: *r.AuthorityCode, IssueDate: date(r.IssueDate), ValidFrom: date(r.ValidFrom),
		ValidUntil: date(r.ValidUntil), Status: *r.Status, Items: *r.Items, SealKeyID: *r.SealKeyID, Seal: *r.Seal}
}

type byHolderRecord struct {
	HolderCode *string `avro:"holder_code"`
	Total      *int    `avro:"total"`
	Licences   *[]struct {
		Number string `avro:"number"`
		Type   string `avro:"type"`
		Status string `avro:"status"`
	} `avro:"licences"`
}

var requestSeq atomic.Int64

type testBus struct {
	e    *env
	kcfg kafka.Config
	prod *kafka.Producer
	q    *kafka.Requester
}

func newBus(t *testing.T, e *env) *testBus {
	t.Helper()
	broker, err := kafka.StartEmbedded(kafka.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	b := &testBus{e: e, kcfg: kafka.Config{Brokers: broker.Addrs(), ClientID: "licence-test"}}
	if b.prod, err = kafka.NewProducer(b.kcfg, kafka.ProducerConfig{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.prod.Close() })
	b.q, err = kafka.NewRequester(context.Background(), b.kcfg, kafka.RequesterConfig{ReplyTopic: "govx.replies.licence-test", Timeout: 10 * time.Second}, b.prod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.q.Close() })
	return b
}

// start runs the licensing adapter as department on store.
func (b *testBus) start(t *testing.T, department string, store *licence.Store) {
	t.Helper()
	b.run(t, department, func(rt *adapters.Runtime) { licence.Register(rt, store) })
}

// run runs a runtime for department with the routes register mounts.
func (b *testBus) run(t *testing.T, department string, register func(*adapters.Runtime)) {
	t.Helper()
	if err := kafka.EnsureTopics(context.Background(), b.kcfg,
		kafka.Topic{Name: bus.RequestTopic(department), Partitions: 2},
		kafka.Topic{Name: bus.DeadLetterTopic(department), Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := adapters.New(adapters.Config{Kafka: b.kcfg, Codec: b.e.codec, Producer: b.prod, Department: department, Partitions: 2, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	register(rt)
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

func (b *testBus) ask(t *testing.T, department, resource, key string, fields ...string) bus.Reply {
	t.Helper()
	id := fmt.Sprintf("req-%d", requestSeq.Add(1))
	now := time.Now().UTC()
	body, err := b.e.codec.Marshal(schemas.Request, bus.Request{RequestID: id, Resource: resource, Key: key, Fields: fields,
		Purpose: "case:2026-000001", Consumer: "service-center", Caller: "clerk-1", ReplyTo: b.q.ReplyTopic(),
		RequestedAt: now, Deadline: now.Add(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := b.q.Request(context.Background(), id, kafka.Message{Topic: bus.RequestTopic(department), Key: []byte(id), Value: body})
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	var reply bus.Reply
	if err := b.e.codec.UnmarshalAs(context.Background(), schemas.Reply, msg.Value, &reply); err != nil {
		t.Fatal(err)
	}
	return reply
}

func wantReplyError(t *testing.T, r bus.Reply, kind, code string) {
	t.Helper()
	if r.Error == nil || r.Error.Kind != kind || r.Error.Code != code || r.Record != nil {
		t.Fatalf("reply error %+v (record %d bytes), want %s %s", r.Error, len(r.Record), kind, code)
	}
}

func TestAdapter(t *testing.T) {
	e := newEnv(t)
	b := newBus(t, e)
	b.start(t, licence.Department, e.store)
	closed := postgrestest.NewPool(t)
	closed.Close()
	b.start(t, "licensing-down", licence.NewStore(closed, nil))
	ks := keys(e.gen)
	known := e.find(t, func(l *licence.Licence) bool { return l.Type == licence.TypeFoodBusiness })

	t.Run("every field, sealed", func(t *testing.T) {
		all := []string{"id", "type", "number", "holder_name", "holder_code", "authority", "authority_code", "issue_date",
			"valid_from", "valid_until", "status", "items", "seal_key_id", "seal"}
		reply := b.ask(t, licence.Department, licence.ResourceFoodBusiness, known.Number, all...)
		if reply.Error != nil {
			t.Fatalf("reply error %+v", *reply.Error)
		}
		var rec licenceRecord
		if err := e.codec.UnmarshalAs(context.Background(), licence.ResourceFoodBusiness, reply.Record, &rec); err != nil {
			t.Fatal(err)
		}
		got := rec.licence(t)
		if err := ks.Verify(got); err != nil {
			t.Errorf("licence received over the bus: %v", err)
		}
		if got.Items["premises"] == "" || got.Number != known.Number {
			t.Errorf("record %+v", got)
		}
	})

	t.Run("only the fields asked for", func(t *testing.T) {
		reply := b.ask(t, licence.Department, licence.ResourceFoodBusiness, known.Number, "holder_name", "valid_until", "no_such_field")
		var rec licenceRecord
		if err := e.codec.UnmarshalAs(context.Background(), licence.ResourceFoodBusiness, reply.Record, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.HolderName == nil || *rec.HolderName != known.HolderName || rec.ValidUntil == nil {
			t.Errorf("asked-for fields missing: %+v", rec)
		}
		if rec.HolderCode != nil || rec.Seal != nil || rec.Items != nil || rec.Number != nil {
			t.Errorf("fields not asked for were sent: %+v", rec)
		}
	})

	t.Run("by holder", func(t *testing.T) {
		reply := b.ask(t, licence.Department, licence.ResourceByHolder, known.HolderCode, "holder_code", "total", "licences")
		if reply.Error != nil {
			t.Fatalf("reply error %+v", *reply.Error)
		}
		var rec byHolderRecord
		if err := e.codec.UnmarshalAs(context.Background(), licence.ResourceByHolder, reply.Record, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Total == nil || *rec.Total < 1 || rec.Licences == nil || len(*rec.Licences) != *rec.Total ||
			!slices.ContainsFunc(*rec.Licences, func(h struct {
				Number string `avro:"number"`
				Type   string `avro:"type"`
				Status string `avro:"status"`
			}) bool {
				return h.Number == known.Number
			}) {
			t.Errorf("by-holder record %+v does not list %s", rec, known.Number)
		}
	})

	t.Run("errors", func(t *testing.T) {
		pharmacy := e.find(t, func(l *licence.Licence) bool { return l.Type == licence.TypePharmacy })
		unknown := seeded
		for e.gen.Licence(unknown).Type != licence.TypeFoodBusiness {
			unknown++
		}
		for _, tt := range []struct {
			name, dept, resource, key string
			kind, code                string
		}{
			{"unknown licence", licence.Department, licence.ResourceFoodBusiness, e.gen.Licence(unknown).Number, "NotFound", "licence_not_found"},
			{"malformed number", licence.Department, licence.ResourceFoodBusiness, "JY123", "Invalid", "invalid_licence_number"},
			{"another type's number", licence.Department, licence.ResourceFoodBusiness, pharmacy.Number, "Invalid", "invalid_licence_number"},
			{"malformed holder", licence.Department, licence.ResourceByHolder, "110105194912310021", "Invalid", "invalid_holder"},
			// The database is down: a malformed key is refused all the
			// same, so it was refused before the database.
			{"malformed number, database down", "licensing-down", licence.ResourcePharmacy, "粤AA1", "Invalid", "invalid_licence_number"},
			{"malformed holder, database down", "licensing-down", licence.ResourceByHolder, "x", "Invalid", "invalid_holder"},
			{"database down", "licensing-down", licence.ResourceFoodBusiness, known.Number, "Unavailable", "provider_unavailable"},
			{"database down, by holder", "licensing-down", licence.ResourceByHolder, known.HolderCode, "Unavailable", "provider_unavailable"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantReplyError(t, b.ask(t, tt.dept, tt.resource, tt.key, "number"), tt.kind, tt.code)
			})
		}
	})
}
