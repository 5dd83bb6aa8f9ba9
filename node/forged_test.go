package node_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/registry"
	kafkago "github.com/segmentio/kafka-go"

	"govx/adapters"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/kafka"
	"govx/node"
	"govx/node/nodetest"
	"govx/schemas"
)

// The forged-envelope attack: a request built from the registry's own
// schema, as an outsider with the broker's address and the public registry
// would, naming service-center as the consumer and written straight to a
// department's request topic. Unsigned, signed with a key the catalogue
// does not know, tampered with, expired, replayed or sent to a reply topic
// that is not an exchange's, it is dead-lettered with its reason and never
// answered; a licence order needs the ordering department's signature too.
func TestForgedEnvelopesAreRefused(t *testing.T) {
	ctx := context.Background()
	cfg := nodetest.Config(t)
	cfg.Adapters = []string{population.Department, licence.Department}
	m := nodetest.Start(t, cfg)

	// The outsider's envelope, from the registry over HTTP.
	reg, err := registry.NewClient(m.URL() + "/registry")
	if err != nil {
		t.Fatal(err)
	}
	info, err := reg.GetLatestSchemaInfo(ctx, schemas.Request)
	if err != nil {
		t.Fatal(err)
	}
	envelope := func(id, resource, key, replyTo string, deadline time.Time, payload []byte) []byte {
		now := time.Now().UTC()
		body, err := hamba.Marshal(info.Schema, map[string]any{
			"request_id": id, "resource": resource, "key": key, "fields": []string{"name", "address", "birth_date"},
			"purpose": "case:forged", "consumer": catalog.DeptServiceCenter, "caller": "svc:window-01", "reply_to": replyTo,
			"requested_at": now, "deadline": deadline, "payload": payload})
		if err != nil {
			t.Fatal(err)
		}
		out := []byte{0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(out[1:], uint32(info.ID))
		return append(out, body...)
	}
	kcfg := nodetest.Kafka(t, m, kafka.PrincipalAdmin)
	outsiderReplies, insiderReplies := bus.ReplyTopic("forger"), bus.ReplyTopic("replay-test")
	if err := kafka.EnsureTopics(ctx, kcfg, kafka.Topic{Name: outsiderReplies, Partitions: 1}, kafka.Topic{Name: insiderReplies, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(m.Brokers...), Transport: nodetest.KafkaTransport(t, m), AllowAutoTopicCreation: false, RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	write := func(msg kafka.Message) {
		t.Helper()
		km := kafkago.Message{Topic: msg.Topic, Key: msg.Key, Value: msg.Value}
		for _, h := range msg.Headers {
			km.Headers = append(km.Headers, kafkago.Header{Key: h.Key, Value: h.Value})
		}
		if err := w.WriteMessages(ctx, km); err != nil {
			t.Fatal(err)
		}
	}

	// The exchange instance's own key, for the cases an insider signs,
	// and a key no catalogue lists.
	exKey, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "keys", "bus", "exchange-"+cfg.Instance))
	if err != nil {
		t.Fatal(err)
	}
	exSigner, _ := bus.NewSigner(bus.ExchangeDepartment, exKey)
	strangerKey, _ := auth.GenerateKey()
	stranger, _ := bus.NewSigner(bus.ExchangeDepartment, strangerKey)

	resident := population.NewGenerator(node.DemoSeed).IDNumber(7)
	topic := bus.RequestTopic(population.Department)
	soon := func() time.Time { return time.Now().Add(time.Minute) }
	msg := func(id, replyTo string, deadline time.Time) kafka.Message {
		return kafka.Message{Topic: topic, Key: []byte(id), Value: envelope(id, population.ResourceIdentity, resident, replyTo, deadline, nil)}
	}

	want := map[string]string{} // request id → dead-letter code
	// Unsigned.
	write(msg("forged-unsigned", outsiderReplies, soon()))
	want["forged-unsigned"] = bus.CodeUnsigned
	// Signed by a key the catalogue does not publish.
	m1 := msg("forged-unknown-key", outsiderReplies, soon())
	stranger.Sign(&m1)
	write(m1)
	want["forged-unknown-key"] = bus.CodeUnknownKey
	// Signed by the exchange, then altered.
	m2 := msg("forged-tampered", outsiderReplies, soon())
	exSigner.Sign(&m2)
	m2.Value = envelope("forged-tampered", population.ResourceIdentity, population.NewGenerator(node.DemoSeed).IDNumber(8), outsiderReplies, soon(), nil)
	write(m2)
	want["forged-tampered"] = bus.CodeTampered
	// Signed, but past its deadline.
	m3 := msg("forged-expired", outsiderReplies, time.Now().Add(-time.Second))
	exSigner.Sign(&m3)
	write(m3)
	want["forged-expired"] = adapters.CodeDeadlinePassed
	// Signed, with a reply topic outside govx.replies.*.
	m4 := msg("forged-reply-to", "govx.events.population.identity", soon())
	exSigner.Sign(&m4)
	write(m4)
	want["forged-reply-to"] = adapters.CodeBadReplyTo
	// Signed and sent twice: answered once, then refused as a replay.
	m5 := msg("forged-replayed", insiderReplies, soon())
	exSigner.Sign(&m5)
	write(m5)
	write(m5)
	// A licence order straight to the licensing department, unsigned.
	order := envelope("forged-order", licence.ResourceIssue, "forged-ref-1", outsiderReplies, soon(), []byte{0, 0, 0, 0, 1})
	write(kafka.Message{Topic: bus.RequestTopic(licence.Department), Key: []byte("forged-order"), Value: order})

	got := readDeadLetters(t, m, bus.DeadLetterTopic(population.Department), len(want)+1)
	for id, code := range want {
		if got[id] != code {
			t.Errorf("%s: dead-letter code %q, want %q", id, got[id], code)
		}
	}
	if got["forged-replayed"] != adapters.CodeReplayed {
		t.Errorf("replayed request: dead-letter code %q, want %q", got["forged-replayed"], adapters.CodeReplayed)
	}
	if lic := readDeadLetters(t, m, bus.DeadLetterTopic(licence.Department), 1); lic["forged-order"] != bus.CodeUnsigned {
		t.Errorf("licence order: dead letters %v", lic)
	}
	// Every refusal was handled before the replay's refusal was parked;
	// only the one genuine request was answered.
	if n := topicSize(t, m, outsiderReplies); n != 0 {
		t.Errorf("%d replies reached the forger's reply topic", n)
	}
	if r := readOne(t, m, insiderReplies); r.Header(bus.HeaderSigner) != population.Department {
		t.Errorf("the genuine request's reply is signed by %q", r.Header(bus.HeaderSigner))
	}
	if n := topicSize(t, m, insiderReplies); n != 1 {
		t.Errorf("%d replies to the replayed request, want 1", n)
	}
	var orders int
	if err := m.Pool.QueryRow(ctx, `SELECT count(*) FROM licence.issue_orders WHERE reference LIKE 'forged-%'`).Scan(&orders); err != nil {
		t.Fatal(err)
	}
	if orders != 0 {
		t.Errorf("%d licences issued on forged orders", orders)
	}

	body := []byte(metricsText(t, m))
	for _, line := range []string{
		`govx_adapter_refused_total{department="population",reason="unsigned"} 1`,
		`govx_adapter_refused_total{department="population",reason="replayed"} 1`,
		`govx_adapter_refused_total{department="licensing",reason="unsigned"} 1`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// readDeadLetters reads n dead letters of topic: request id (the message
// key) → dead-letter code.
func readDeadLetters(t *testing.T, m *node.Node, topic string, n int) map[string]string {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: m.Brokers, Dialer: nodetest.KafkaDialer(t, m), Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]string{}
	for len(out) < n {
		msg, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("dead letters of %s after %v: %v", topic, out, err)
		}
		for _, h := range msg.Headers {
			if h.Key == adapters.HeaderDLQCode {
				out[string(msg.Key)] = string(h.Value)
			}
		}
	}
	return out
}

// readOne reads the first message of partition 0 of topic.
func readOne(t *testing.T, m *node.Node, topic string) kafka.Message {
	t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: m.Brokers, Dialer: nodetest.KafkaDialer(t, m), Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("no message on %s: %v", topic, err)
	}
	out := kafka.Message{Topic: msg.Topic, Value: msg.Value}
	for _, h := range msg.Headers {
		out.Headers = append(out.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return out
}

// topicSize is how many messages partition 0 of topic holds.
func topicSize(t *testing.T, m *node.Node, topic string) int64 {
	t.Helper()
	conn, err := nodetest.KafkaDialer(t, m).DialLeader(context.Background(), "tcp", m.Brokers[0], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	first, last, err := conn.ReadOffsets()
	if err != nil {
		t.Fatal(err)
	}
	return last - first
}

// Change events speak for a register: an event written straight to an
// event topic, unsigned, signed with a key the catalogue does not list, or
// signed with another department's genuine key, is skipped, counted and
// never delivered to a subscriber; the register's own event is.
func TestForgedEventsAreNotDelivered(t *testing.T) {
	ctx := context.Background()
	cfg := nodetest.Config(t)
	m := nodetest.Start(t, cfg)
	offerMethods(t, m, cfg, population.ResourceIdentity, catalog.MethodQuery, catalog.MethodSubscribe)
	ids := nodetest.NormalResidents(2)
	for _, id := range ids {
		nodetest.Consent(t, m, id, "case:forged-events", population.ResourceIdentity)
	}
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	s, r := nodetest.Subscribe(t, m, population.ResourceIdentity, tok, "purpose=case%3Aforged-events&fields=status", "")
	if s == nil {
		t.Fatalf("subscribe: %d %v", r.Status, r.Body)
	}

	forged := func(sign func(*kafka.Message)) kafka.Message {
		ob, err := bus.ChangeMessage(m.Codec, population.Department, bus.Change{Resource: population.ResourceIdentity,
			Subject: schemas.PopulationIdentity, Key: ids[0], Type: population.EventStatusChanged, Reason: "forged",
			Record: map[string]any{"status": population.StatusDeceased}})
		if err != nil {
			t.Fatal(err)
		}
		msg := kafka.Message{Topic: ob.Topic, Key: ob.Key, Value: ob.Value}
		if sign != nil {
			sign(&msg)
		}
		return msg
	}
	strangerKey, _ := auth.GenerateKey()
	stranger, _ := bus.NewSigner(population.Department, strangerKey)
	// The legal-entity register's own bus key, naming itself as signer.
	leKey, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "keys", "bus", legalentity.Department))
	if err != nil {
		t.Fatal(err)
	}
	otherDept, _ := bus.NewSigner(legalentity.Department, leKey)
	// The same, claiming to be the population register.
	impostor, _ := bus.NewSigner(population.Department, leKey)
	writeRaw(t, m, forged(nil), forged(stranger.Sign), forged(otherDept.Sign), forged(impostor.Sign))

	// The register's own change, after the forgeries.
	setStatus(t, m, ids[1], population.StatusMovedOut)
	_, msg := s.Next(t)
	if msg.Key != ids[1] || msg.Record["status"] != population.StatusMovedOut {
		t.Fatalf("first event delivered = %+v, want the register's change of %s", msg, ids[1])
	}
	// The forgeries were met and skipped, not merely not yet read.
	const line = "govx_exchange_events_unverified_total 4"
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(metricsText(t, m), line); {
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %s:\n%s", line, metricsText(t, m))
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	if err := m.Pool.QueryRow(ctx, `SELECT count(*) FROM exchange.audit WHERE request_id = $1 AND subject_key = $2`, s.RequestID, ids[0]).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d audit entries of a forged event's delivery", n)
	}
}

// writeRaw writes msgs to the node's broker as an outsider would, with
// whatever headers they carry.
func writeRaw(t *testing.T, m *node.Node, msgs ...kafka.Message) {
	t.Helper()
	w := &kafkago.Writer{Addr: kafkago.TCP(m.Brokers...), Transport: nodetest.KafkaTransport(t, m), RequiredAcks: kafkago.RequireAll}
	defer w.Close()
	for _, msg := range msgs {
		km := kafkago.Message{Topic: msg.Topic, Key: msg.Key, Value: msg.Value}
		for _, h := range msg.Headers {
			km.Headers = append(km.Headers, kafkago.Header{Key: h.Key, Value: h.Value})
		}
		if err := w.WriteMessages(context.Background(), km); err != nil {
			t.Fatal(err)
		}
	}
}

func metricsText(t *testing.T, m *node.Node) string {
	t.Helper()
	// On the API port the metrics are an operator's.
	code, body := getBody(t, m.URL()+"/metrics", nodetest.Token(t, m.Key, auth.TokenSpec{Role: node.RoleOperator}))
	if code != http.StatusOK {
		t.Fatalf("metrics: %d %s", code, body)
	}
	return body
}
