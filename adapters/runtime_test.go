package adapters_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"govx"
	"govx/adapters"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/internal/postgres"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

const (
	seed      = 1
	residents = 50
	// requestTimeout bounds how long the test waits for any reply. Requests
	// carry a deadline well past it, so a reply that comes at all came well
	// before the request's own deadline.
	requestTimeout  = 10 * time.Second
	requestDeadline = 30 * time.Second
)

// identity is population.identity as a consumer decodes it: a nil field was
// not sent.
type identity struct {
	IDNumber     *string `avro:"id_number"`
	Name         *string `avro:"name"`
	Sex          *string `avro:"sex"`
	BirthDate    *string `avro:"birth_date"`
	Ethnicity    *string `avro:"ethnicity"`
	Address      *string `avro:"address"`
	DivisionCode *string `avro:"division_code"`
	Status       *string `avro:"status"`
}

func (id identity) fields() map[string]*string {
	return map[string]*string{
		"id_number": id.IDNumber, "name": id.Name, "sex": id.Sex, "birth_date": id.BirthDate,
		"ethnicity": id.Ethnicity, "address": id.Address, "division_code": id.DivisionCode, "status": id.Status,
	}
}

func residentFields(r population.Resident) map[string]string {
	return map[string]string{
		"id_number": r.IDNumber, "name": r.Name, "sex": r.Sex, "birth_date": r.BirthDate.Format(time.DateOnly),
		"ethnicity": r.Ethnicity, "address": r.Address, "division_code": r.DivisionCode, "status": r.Status,
	}
}

var allFields = []string{"id_number", "name", "sex", "birth_date", "ethnicity", "address", "division_code", "status"}

// testBus is one embedded broker with a migrated, seeded database, a codec
// that knows every schema, and a requester to talk to the adapters.
type testBus struct {
	kcfg  kafka.Config
	pool  *pgxpool.Pool
	codec *avro.Codec
	prod  *kafka.Producer
	q     *kafka.Requester
	gen   *population.Generator
}

func newBus(t *testing.T) *testBus {
	t.Helper()
	ctx := context.Background()
	e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	b := &testBus{kcfg: kafka.Config{Brokers: e.Addrs(), ClientID: "adapters-test"}, gen: population.NewGenerator(seed)}

	b.pool = postgrestest.NewPool(t)
	if _, err := postgres.Migrate(ctx, b.pool, catalog.MigrationSource(), population.MigrationSource()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if n, err := population.NewStore(b.pool).Seed(ctx, b.gen, 0, residents); err != nil || n != residents {
		t.Fatalf("Seed = %d, %v", n, err)
	}
	b.codec = avro.NewCodec(catalog.NewStore(b.pool))
	if err := schemas.RegisterAll(ctx, b.codec); err != nil {
		t.Fatal(err)
	}

	b.prod, err = kafka.NewProducer(b.kcfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.prod.Close() })
	b.q, err = kafka.NewRequester(ctx, b.kcfg, kafka.RequesterConfig{ReplyTopic: "govx.replies.adapters-test", Timeout: requestTimeout}, b.prod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.q.Close() })
	return b
}

// start runs a runtime for department with the population handlers on
// store until the test ends.
func (b *testBus) start(t *testing.T, department string, store *population.Store) *adapters.Runtime {
	t.Helper()
	const partitions = 2
	// Create the topics before anything is sent to them.
	if err := kafka.EnsureTopics(context.Background(), b.kcfg,
		kafka.Topic{Name: bus.RequestTopic(department), Partitions: partitions},
		kafka.Topic{Name: bus.DeadLetterTopic(department), Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := adapters.New(adapters.Config{Kafka: b.kcfg, Codec: b.codec, Producer: b.prod, Department: department, Partitions: partitions, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	population.Register(rt, store)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := stopped(t, "Run("+department+")", done); err != nil {
			t.Errorf("Run(%s): %v", department, err)
		}
	})
	return rt
}

func (b *testBus) newRequest(id, resource, key string, fields ...string) bus.Request {
	now := time.Now().UTC()
	return bus.Request{RequestID: id, Resource: resource, Key: key, Fields: fields,
		Purpose: "case:2026-000001", Consumer: "service-center", Caller: "clerk-1",
		ReplyTo: b.q.ReplyTopic(), RequestedAt: now, Deadline: now.Add(requestDeadline)}
}

// send encodes req, sends it to department and decodes the reply.
func (b *testBus) send(t *testing.T, department string, req bus.Request) bus.Reply {
	t.Helper()
	body, err := b.codec.Marshal(schemas.Request, req)
	if err != nil {
		t.Fatalf("Marshal request: %v", err)
	}
	return b.sendRaw(t, department, req.RequestID, body)
}

// sendRaw sends body as it is, with the request-id and reply-to headers.
func (b *testBus) sendRaw(t *testing.T, department, id string, body []byte) bus.Reply {
	t.Helper()
	msg, err := b.q.Request(context.Background(), id, kafka.Message{Topic: bus.RequestTopic(department), Key: []byte(id), Value: body})
	if err != nil {
		t.Fatalf("Request %s: %v", id, err)
	}
	var reply bus.Reply
	if err := b.codec.Unmarshal(context.Background(), msg.Value, &reply); err != nil {
		t.Fatalf("Unmarshal reply to %s: %v", id, err)
	}
	if reply.RequestID != id {
		t.Fatalf("reply to %s carries request id %q", id, reply.RequestID)
	}
	if got := msg.Header(bus.HeaderRequestID); got != id {
		t.Errorf("reply to %s has %s header %q", id, bus.HeaderRequestID, got)
	}
	return reply
}

func wantReplyError(t *testing.T, reply bus.Reply, kind, code string) {
	t.Helper()
	if reply.Error == nil {
		t.Fatalf("reply has no error (record %x), want %s %s", reply.Record, kind, code)
	}
	if reply.Error.Kind != kind || reply.Error.Code != code {
		t.Fatalf("reply error = %+v, want %s %s", *reply.Error, kind, code)
	}
	if reply.Record != nil {
		t.Errorf("an error reply carries a record: %x", reply.Record)
	}
	if reply.Error.Message == "" {
		t.Error("error reply without a message")
	}
}

// deadLetter waits for the message on department's dead-letter topic whose
// header key has the value want.
func (b *testBus) deadLetter(t *testing.T, department, key, want string) kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.kcfg.Brokers, Topic: bus.DeadLetterTopic(department),
		Partition: 0, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond, ReadLagInterval: -1})
	defer r.Close()
	if err := r.SetOffset(kafkago.FirstOffset); err != nil {
		t.Fatal(err)
	}
	for {
		km, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("no dead letter with %s=%s on %s: %v", key, want, bus.DeadLetterTopic(department), err)
		}
		m := kafka.Message{Topic: km.Topic, Key: km.Key, Value: km.Value}
		for _, h := range km.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if m.Header(key) == want {
			return m
		}
	}
}

func TestRuntime(t *testing.T) {
	b := newBus(t)
	rt := b.start(t, population.Department, population.NewStore(b.pool))
	known := b.gen.Resident(17)

	t.Run("lookups", func(t *testing.T) {
		tests := []struct {
			name   string
			key    string
			fields []string
			want   []string // fields the record holds; nil means an error reply
			kind   string
			code   string
		}{
			{name: "known resident, two fields", key: known.IDNumber, fields: []string{"name", "birth_date"}, want: []string{"name", "birth_date"}},
			{name: "known resident, every field", key: known.IDNumber, fields: allFields, want: allFields},
			{name: "known resident, a field the resource lacks", key: known.IDNumber, fields: []string{"status", "income"}, want: []string{"status"}},
			{name: "another known resident", key: b.gen.IDNumber(residents - 1), fields: []string{"id_number", "address"}, want: []string{"id_number", "address"}},
			{name: "unknown resident", key: b.gen.IDNumber(residents), fields: []string{"name"}, kind: "NotFound", code: "resident_not_found"},
			{name: "malformed ID number", key: "11010519491231002x", fields: []string{"name"}, kind: "Invalid", code: "invalid_id_number"},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				id := fmt.Sprintf("lookup-%d", i)
				reply := b.send(t, population.Department, b.newRequest(id, population.ResourceIdentity, tt.key, tt.fields...))
				if reply.Resource != population.ResourceIdentity || reply.Provider != population.Department {
					t.Errorf("reply resource %q provider %q", reply.Resource, reply.Provider)
				}
				if reply.AnsweredAt.IsZero() {
					t.Error("reply without answered_at")
				}
				if tt.want == nil {
					wantReplyError(t, reply, tt.kind, tt.code)
					return
				}
				if reply.Error != nil {
					t.Fatalf("reply error %+v, want a record", *reply.Error)
				}
				if id, err := avro.SchemaID(reply.Record); err != nil {
					t.Fatalf("record is not in the wire format: %v", err)
				} else if text, err := catalog.NewStore(b.pool).SchemaByID(context.Background(), id); err != nil ||
					!strings.Contains(text, `"name": "Identity"`) {
					t.Errorf("record schema %d is not population.identity (%v)", id, err)
				}
				// A consumer that never registered the resource's schema
				// decodes the record by its id.
				var rec identity
				if err := avro.NewCodec(catalog.NewStore(b.pool)).Unmarshal(context.Background(), reply.Record, &rec); err != nil {
					t.Fatalf("decode record: %v", err)
				}
				r, err := population.NewStore(b.pool).Resident(context.Background(), tt.key)
				if err != nil {
					t.Fatal(err)
				}
				truth := residentFields(r)
				for name, got := range rec.fields() {
					asked := false
					for _, w := range tt.want {
						asked = asked || w == name
					}
					switch {
					case asked && got == nil:
						t.Errorf("field %s was asked for and not sent", name)
					case asked && *got != truth[name]:
						t.Errorf("field %s = %q, want %q", name, *got, truth[name])
					case !asked && got != nil:
						t.Errorf("field %s = %q was sent without being asked for", name, *got)
					}
				}
			})
		}
	})

	t.Run("resource not served", func(t *testing.T) {
		before := rt.Stats.DeadLetter.Load()
		req := b.newRequest("not-served", "population.marriage", known.IDNumber, "name")
		reply := b.send(t, population.Department, req)
		wantReplyError(t, reply, "NotFound", "resource_not_served")
		if reply.Resource != "population.marriage" {
			t.Errorf("reply resource %q, want population.marriage", reply.Resource)
		}
		m := b.deadLetter(t, population.Department, bus.HeaderRequestID, "not-served")
		if reason := m.Header("govx-dlq-reason"); !strings.Contains(reason, "population.marriage") {
			t.Errorf("govx-dlq-reason = %q, want it to name the resource", reason)
		}
		if src := m.Header("govx-dlq-source"); !strings.HasPrefix(src, bus.RequestTopic(population.Department)+"/") {
			t.Errorf("govx-dlq-source = %q", src)
		}
		var parked bus.Request
		if err := b.codec.Unmarshal(context.Background(), m.Value, &parked); err != nil || parked.RequestID != "not-served" {
			t.Errorf("dead letter holds %+v (%v), want the request as sent", parked, err)
		}
		if got := rt.Stats.DeadLetter.Load(); got <= before {
			t.Errorf("Stats.DeadLetter = %d, was %d", got, before)
		}
	})

	t.Run("garbage with reply headers", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			body []byte
		}{
			{"not Avro", []byte("this is not avro")},
			{"empty", nil},
			{"unknown schema id", []byte{0, 0x7f, 0, 0, 1, 2, 3}},
			{"a reply instead of a request", mustMarshal(t, b.codec, schemas.Reply, bus.Reply{RequestID: "x", AnsweredAt: time.Now()})},
		} {
			t.Run(tt.name, func(t *testing.T) {
				id := "garbage-" + strings.ReplaceAll(tt.name, " ", "-")
				reply := b.sendRaw(t, population.Department, id, tt.body)
				wantReplyError(t, reply, "Invalid", "invalid_request")
				if reply.Provider != population.Department {
					t.Errorf("reply provider %q", reply.Provider)
				}
				m := b.deadLetter(t, population.Department, bus.HeaderRequestID, id)
				if m.Header("govx-dlq-reason") == "" {
					t.Error("dead letter without govx-dlq-reason")
				}
				if string(m.Value) != string(tt.body) {
					t.Errorf("dead letter holds %q, want the message as sent %q", m.Value, tt.body)
				}
				if m.Header(bus.HeaderReplyTo) != b.q.ReplyTopic() {
					t.Error("dead letter lost the original headers")
				}
			})
		}
	})

	// kafka-go's reader reports an empty value and a null one (a
	// tombstone) alike as nil; the dead letter must still carry the
	// 0-byte request as a present, empty value, so it is read back with
	// franz-go, which tells the two apart.
	t.Run("empty request is dead-lettered empty, not as a tombstone", func(t *testing.T) {
		reply := b.sendRaw(t, population.Department, "empty-value", []byte{})
		wantReplyError(t, reply, "Invalid", "invalid_request")
		sent := rawRecord(t, b.kcfg.Brokers, bus.RequestTopic(population.Department), bus.HeaderRequestID, "empty-value")
		if sent.Value == nil || len(sent.Value) != 0 {
			t.Fatalf("the request on the bus is %v (nil: %t), want empty and present", sent.Value, sent.Value == nil)
		}
		dl := rawRecord(t, b.kcfg.Brokers, bus.DeadLetterTopic(population.Department), bus.HeaderRequestID, "empty-value")
		if dl.Value == nil {
			t.Fatal("the dead letter of an empty request is a tombstone (null value)")
		}
		if len(dl.Value) != 0 {
			t.Errorf("the dead letter holds %q, want the empty message as sent", dl.Value)
		}
	})

	t.Run("garbage without reply headers is only dead-lettered", func(t *testing.T) {
		err := b.prod.Publish(context.Background(), kafka.Message{Topic: bus.RequestTopic(population.Department),
			Value: []byte("orphan"), Headers: []kafka.Header{{Key: "test-marker", Value: []byte("orphan-1")}}})
		if err != nil {
			t.Fatal(err)
		}
		m := b.deadLetter(t, population.Department, "test-marker", "orphan-1")
		if string(m.Value) != "orphan" || m.Header("govx-dlq-reason") == "" {
			t.Errorf("dead letter = %q with reason %q", m.Value, m.Header("govx-dlq-reason"))
		}
	})

	t.Run("request naming no reply topic is only dead-lettered", func(t *testing.T) {
		req := b.newRequest("no-reply-to", population.ResourceIdentity, known.IDNumber, "name")
		req.ReplyTo = ""
		if err := b.prod.Publish(context.Background(), kafka.Message{Topic: bus.RequestTopic(population.Department),
			Value: mustMarshal(t, b.codec, schemas.Request, req), Headers: []kafka.Header{{Key: "test-marker", Value: []byte("no-reply-to")}}}); err != nil {
			t.Fatal(err)
		}
		m := b.deadLetter(t, population.Department, "test-marker", "no-reply-to")
		if m.Header(adapters.HeaderDLQCode) != "invalid_request" || !strings.Contains(m.Header(adapters.HeaderDLQReason), "reply topic") {
			t.Errorf("dead letter code %q reason %q", m.Header(adapters.HeaderDLQCode), m.Header(adapters.HeaderDLQReason))
		}
	})

	t.Run("request past its deadline is dead-lettered, not answered", func(t *testing.T) {
		req := b.newRequest("expired", population.ResourceIdentity, known.IDNumber, "name")
		req.Deadline = req.RequestedAt.Add(-time.Second)
		body := mustMarshal(t, b.codec, schemas.Request, req)
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		_, err := b.q.Request(ctx, "expired", kafka.Message{Topic: bus.RequestTopic(population.Department), Value: body})
		if govx.ErrorKind(err) != govx.KindTimeout {
			t.Fatalf("Request past its deadline: %v, want no reply (a timeout)", err)
		}
		m := b.deadLetter(t, population.Department, bus.HeaderRequestID, "expired")
		if reason := m.Header(adapters.HeaderDLQReason); !strings.Contains(reason, "deadline passed") {
			t.Errorf("dead letter reason %q, want it to say the deadline passed", reason)
		}
		if code := m.Header(adapters.HeaderDLQCode); code != "deadline_passed" {
			t.Errorf("dead letter code %q, want deadline_passed", code)
		}
		// The runtime is still answering.
		reply := b.send(t, population.Department, b.newRequest("after-expired", population.ResourceIdentity, known.IDNumber, "name"))
		if reply.Error != nil {
			t.Errorf("reply after the expired request: %+v", *reply.Error)
		}
	})

	t.Run("concurrent lookups", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := b.gen.Resident(i)
				reply := b.send(t, population.Department, b.newRequest(fmt.Sprintf("many-%d", i), population.ResourceIdentity, r.IDNumber, "name"))
				var rec identity
				if reply.Error != nil {
					t.Errorf("resident %d: %+v", i, *reply.Error)
				} else if err := b.codec.Unmarshal(context.Background(), reply.Record, &rec); err != nil || rec.Name == nil || *rec.Name != r.Name {
					t.Errorf("resident %d: record %+v (%v), want name %q", i, rec, err, r.Name)
				}
			}()
		}
		wg.Wait()
	})
}

// When the department's database is down, callers get Unavailable from the
// adapter, promptly: the requester gives up long before the requests'
// deadline, so a reply that arrives at all was not held to the deadline.
func TestRuntimeDatabaseDown(t *testing.T) {
	b := newBus(t)
	closed := postgrestest.NewPool(t)
	closed.Close()
	cases := []struct {
		name     string
		pool     *pgxpool.Pool
		requests int // the first may meet a broken connection, the second a fresh dial
	}{
		{"pool closed", closed, 2},
		{"database dropped", droppedPool(t), 2},
		{"server not answering", hungPool(t), 1}, // each waits out the adapter's own database timeout
	}
	// Every department's topics exist before the first request is sent, so
	// no request waits for a producer's metadata to catch up.
	dept := func(name string) string { return "population-" + strings.ReplaceAll(name, " ", "-") }
	for _, tt := range cases {
		b.start(t, dept(tt.name), population.NewStore(tt.pool))
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			d := dept(tt.name)
			for i := range tt.requests {
				id := fmt.Sprintf("%s-%d", d, i)
				reply := b.send(t, d, b.newRequest(id, population.ResourceIdentity, b.gen.IDNumber(3), "name"))
				if reply.Error == nil || reply.Error.Kind != "Unavailable" {
					t.Fatalf("request %d: reply error %+v, want Unavailable", i, reply.Error)
				}
				if reply.Error.Message == "" || strings.Contains(reply.Error.Message, "127.0.0.1") {
					t.Errorf("request %d: error message %q, want a caller-safe one", i, reply.Error.Message)
				}
			}
		})
	}
}

// A new exchange instance creates its own reply topic after the adapter's
// producer has already cached the cluster's metadata; its requests must
// still be answered.
func TestRuntimeRepliesToNewReplyTopic(t *testing.T) {
	// kafka-go's Transport answers the Writer's metadata lookups from a
	// cache, where a topic created since is unknown; the producer keeps
	// that cache short and waits out an unknown topic briefly.
	b := newBus(t)
	b.start(t, population.Department, population.NewStore(b.pool))
	known := b.gen.Resident(5)
	// Warm the runtime's producer up: it has now cached the metadata.
	if reply := b.send(t, population.Department, b.newRequest("warm", population.ResourceIdentity, known.IDNumber, "name")); reply.Error != nil {
		t.Fatalf("warm-up: %+v", *reply.Error)
	}

	// The second instance has its own producer, so only the runtime's
	// producer can be stale.
	prod, err := kafka.NewProducer(b.kcfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prod.Close() })
	q2, err := kafka.NewRequester(context.Background(), b.kcfg, kafka.RequesterConfig{ReplyTopic: "govx.replies.instance-2", Timeout: 5 * time.Second}, prod)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q2.Close() })
	req := b.newRequest("from-instance-2", population.ResourceIdentity, known.IDNumber, "name")
	req.ReplyTo = q2.ReplyTopic()
	body := mustMarshal(t, b.codec, schemas.Request, req)
	if _, err := q2.Request(context.Background(), req.RequestID, kafka.Message{Topic: bus.RequestTopic(population.Department), Value: body}); err != nil {
		t.Fatalf("request from a new instance: %v", err)
	}
}

// droppedPool returns a pool whose database, migrated and seeded, was then
// dropped from under it.
func droppedPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	dbURL := postgrestest.NewURL(t)
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(ctx, pool, population.MigrationSource()); err != nil {
		t.Fatal(err)
	}
	if _, err := population.NewStore(pool).Seed(ctx, population.NewGenerator(seed), 0, 5); err != nil {
		t.Fatal(err)
	}
	admin := os.Getenv("GOVX_TEST_POSTGRES_URL")
	if admin == "" {
		admin = postgrestest.DefaultURL
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	return pool
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

func mustMarshal(tb testing.TB, c *avro.Codec, subject string, v any) []byte {
	tb.Helper()
	b, err := c.Marshal(subject, v)
	if err != nil {
		tb.Fatalf("Marshal(%s): %v", subject, err)
	}
	return b
}

// Nothing is lost when adapters die mid-load: 2,000 requests go through a
// requester while the adapter serving them is killed twice — first its
// producer closed under it, then its context cancelled with no time to
// finish — and a new one takes over in the same group each time. Every
// request is then found answered on the reply topic or parked on the
// dead-letter topic with its reason, read back from the topics themselves.
func TestRuntimeKillAndRestartLosesNothing(t *testing.T) {
	const (
		requests = 2000
		expired  = 50 // sent already past their deadline: dead-lettered only
		inFlight = 100
	)
	b := newBus(t)
	const dept = "population-load"
	if err := kafka.EnsureTopics(context.Background(), b.kcfg,
		kafka.Topic{Name: bus.RequestTopic(dept), Partitions: 4},
		kafka.Topic{Name: bus.DeadLetterTopic(dept), Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	q, err := kafka.NewRequester(context.Background(), b.kcfg, kafka.RequesterConfig{ReplyTopic: "govx.replies.load", Timeout: 90 * time.Second}, b.prod)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	store := population.NewStore(b.pool)

	// adapter starts a runtime with its own producer, so that it can be
	// closed under it.
	type adapter struct {
		rt     *adapters.Runtime
		prod   *kafka.Producer
		cancel context.CancelFunc
		done   chan error
	}
	start := func(shutdown time.Duration) *adapter {
		prod, err := kafka.NewProducer(b.kcfg, kafka.ProducerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		rt, err := adapters.New(adapters.Config{Kafka: b.kcfg, Codec: b.codec, Producer: prod, Department: dept, Partitions: 4, MaxInFlight: 32,
			ShutdownTimeout: shutdown, PublishAttempts: 2, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		population.Register(rt, store)
		ctx, cancel := context.WithCancel(context.Background())
		a := &adapter{rt: rt, prod: prod, cancel: cancel, done: make(chan error, 1)}
		go func() { a.done <- rt.Run(ctx) }()
		return a
	}

	type kind int
	const (
		found kind = iota
		unknown
		unserved
	)
	kindOf := func(i int) kind {
		switch {
		case i%20 == 7:
			return unknown
		case i%20 == 13:
			return unserved
		}
		return found
	}
	first := start(time.Millisecond)

	var answered atomic.Int64
	errs := make(chan error, requests)
	var wg sync.WaitGroup
	sem := make(chan struct{}, inFlight)
	// Sent from the background, so that the adapters can be killed
	// while requests are still coming.
	wg.Add(requests)
	go func() {
		for i := range requests {
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				id := fmt.Sprintf("load-%d", i)
				var req bus.Request
				switch kindOf(i) {
				case found:
					req = b.newRequest(id, population.ResourceIdentity, b.gen.IDNumber(i%residents), "name")
				case unknown:
					req = b.newRequest(id, population.ResourceIdentity, b.gen.IDNumber(residents+i), "name")
				case unserved:
					req = b.newRequest(id, "population.marriage", b.gen.IDNumber(i%residents), "name")
				}
				req.ReplyTo = q.ReplyTopic()
				req.Deadline = req.RequestedAt.Add(2 * time.Minute)
				msg, err := q.Request(context.Background(), id, kafka.Message{Topic: bus.RequestTopic(dept), Key: []byte(id),
					Value: mustMarshal(t, b.codec, schemas.Request, req)})
				if err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					return
				}
				var reply bus.Reply
				if err := b.codec.Unmarshal(context.Background(), msg.Value, &reply); err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					return
				}
				wantErr := map[kind]string{found: "", unknown: "resident_not_found", unserved: "resource_not_served"}[kindOf(i)]
				switch {
				case reply.RequestID != id:
					errs <- fmt.Errorf("%s: reply for %s", id, reply.RequestID)
				case wantErr == "" && reply.Error != nil:
					errs <- fmt.Errorf("%s: error reply %+v", id, *reply.Error)
				case wantErr != "" && (reply.Error == nil || reply.Error.Code != wantErr):
					errs <- fmt.Errorf("%s: reply error %+v, want %s", id, reply.Error, wantErr)
				}
				answered.Add(1)
			}()
		}
	}()
	for i := range expired {
		id := fmt.Sprintf("expired-%d", i)
		req := b.newRequest(id, population.ResourceIdentity, b.gen.IDNumber(i), "name")
		req.Deadline = req.RequestedAt.Add(-time.Second)
		if err := b.prod.Publish(context.Background(), kafka.Message{Topic: bus.RequestTopic(dept), Key: []byte(id),
			Value:   mustMarshal(t, b.codec, schemas.Request, req),
			Headers: []kafka.Header{{Key: bus.HeaderRequestID, Value: []byte(id)}, {Key: bus.HeaderReplyTo, Value: []byte(q.ReplyTopic())}}}); err != nil {
			t.Fatal(err)
		}
	}

	waitAnswered := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for answered.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d answered", answered.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Kill one: the producer is closed under the requests in flight, so
	// their replies fail and the runtime stops with them uncommitted.
	waitAnswered(requests / 4)
	first.prod.Close()
	if err := stopped(t, "first adapter", first.done); err == nil {
		t.Error("first adapter kept running with its producer closed")
	} else {
		t.Logf("first adapter stopped: %v", err)
	}
	second := start(time.Millisecond)
	// Kill two: cancelled with no time to finish what it holds.
	for deadline := time.Now().Add(60 * time.Second); second.rt.Stats.Requests.Load() < requests/4; {
		select {
		case err := <-second.done:
			t.Fatalf("second adapter stopped after %d requests: %v", second.rt.Stats.Requests.Load(), err)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("second adapter took only %d requests in 60s", second.rt.Stats.Requests.Load())
		}
	}
	t.Logf("second adapter killed after taking %d requests", second.rt.Stats.Requests.Load())
	second.cancel()
	if err := stopped(t, "second adapter", second.done); err != nil {
		t.Errorf("second adapter: %v", err)
	}
	second.prod.Close()
	third := start(10 * time.Second)
	defer func() {
		third.cancel()
		if err := stopped(t, "third adapter", third.done); err != nil {
			t.Errorf("third adapter: %v", err)
		}
		third.prod.Close()
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Read both topics back.
	replies := readTopic(t, b, q.ReplyTopic(), func(m map[string][]kafkago.Message) bool {
		n := 0
		for id := range m {
			if strings.HasPrefix(id, "load-") {
				n++
			}
		}
		return n == requests
	}, bus.HeaderRequestID)
	dead := readTopic(t, b, bus.DeadLetterTopic(dept), func(m map[string][]kafkago.Message) bool {
		n := 0
		for id := range m {
			if strings.HasPrefix(id, "expired-") {
				n++
			}
		}
		return n == expired
	}, bus.HeaderRequestID)

	dups := 0
	for i := range requests {
		id := fmt.Sprintf("load-%d", i)
		if len(replies[id]) == 0 {
			t.Errorf("%s: no reply on the reply topic", id)
		}
		dups += len(replies[id]) - 1
		if kindOf(i) == unserved {
			if len(dead[id]) == 0 || header(dead[id][0], adapters.HeaderDLQCode) != "resource_not_served" {
				t.Errorf("%s: not dead-lettered as resource_not_served", id)
			}
		} else if len(dead[id]) != 0 {
			t.Errorf("%s: dead-lettered (%s)", id, header(dead[id][0], adapters.HeaderDLQReason))
		}
	}
	for i := range expired {
		id := fmt.Sprintf("expired-%d", i)
		if len(replies[id]) != 0 {
			t.Errorf("%s: answered past its deadline", id)
		}
		if len(dead[id]) == 0 || !strings.Contains(header(dead[id][0], adapters.HeaderDLQReason), "deadline passed") {
			t.Errorf("%s: not dead-lettered with deadline passed", id)
		}
	}
	// A request answered twice (redelivered after a reply that went out
	// unacknowledged) reached its caller once: the requester dropped the
	// second.
	if got := q.Late(); got < int64(dups) {
		t.Errorf("requester dropped %d late replies, but the topic holds %d duplicates", got, dups)
	}
	t.Logf("%d requests, %d duplicate replies dropped by the requester", requests, dups)
}

// stopped waits for an adapter's Run to return, failing the test rather
// than hanging the suite when it does not.
func stopped(t *testing.T, what string, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(90 * time.Second):
		t.Fatalf("%s: Run did not return within 90s", what)
		return nil
	}
}

// readTopic reads partition 0 of topic from the start until complete says
// the messages (by the value of header key) are all there, and a second
// more, to pick up duplicates.
func readTopic(t *testing.T, b *testBus, topic string, complete func(map[string][]kafkago.Message) bool, key string) map[string][]kafkago.Message {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.kcfg.Brokers, Topic: topic, Partition: 0,
		MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond, ReadLagInterval: -1})
	defer r.Close()
	got := map[string][]kafkago.Message{}
	deadline := time.Now().Add(30 * time.Second)
	var idleUntil time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		km, err := r.ReadMessage(ctx)
		cancel()
		if err == nil {
			got[header(km, key)] = append(got[header(km, key)], km)
		}
		if idleUntil.IsZero() && complete(got) {
			idleUntil = time.Now().Add(time.Second)
		}
		if !idleUntil.IsZero() && time.Now().After(idleUntil) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s incomplete after 30s: %d ids", topic, len(got))
		}
	}
}

func header(km kafkago.Message, key string) string {
	for _, h := range km.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// rawRecord reads topic from its start with franz-go, which, unlike
// kafka-go, reports a null value as nil and an empty one as empty, and
// returns the first record whose header key has the value want.
func rawRecord(t *testing.T, brokers []string, topic, key, want string) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no record with %s=%s on %s", key, want, topic)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("reading %s: %v", topic, errs[0].Err)
		}
		for _, r := range fs.Records() {
			for _, h := range r.Headers {
				if h.Key == key && string(h.Value) == want {
					return r
				}
			}
		}
	}
}
