package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"govx"
	"govx/bus"
	"govx/internal/kafka"
)

// authBroker is an embedded broker with SASL and ACLs on, and the
// principals of two exchange instances, two departments' adapters and the
// case workflow.
type authBroker struct {
	e     *kafka.Embedded
	creds kafka.Credentials
}

func (b authBroker) as(t *testing.T, principal string) kafka.Config {
	t.Helper()
	cfg, err := b.creds.Config(kafka.Config{Brokers: b.e.Addrs(), ClientID: principal}, principal)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func startAuthBroker(t *testing.T) authBroker {
	t.Helper()
	creds, err := kafka.LoadOrCreateCredentials(t.TempDir()+"/credentials.json", kafka.PrincipalAdmin,
		bus.ExchangePrincipal("a"), bus.ExchangePrincipal("b"), bus.AdapterPrincipal("population"), bus.AdapterPrincipal("licence"), bus.CaseworkPrincipal)
	if err != nil {
		t.Fatal(err)
	}
	users := []kafka.User{
		{Name: bus.ExchangePrincipal("a"), Password: creds[bus.ExchangePrincipal("a")], ACLs: bus.ExchangeACLs("a")},
		{Name: bus.ExchangePrincipal("b"), Password: creds[bus.ExchangePrincipal("b")], ACLs: bus.ExchangeACLs("b")},
		{Name: bus.AdapterPrincipal("population"), Password: creds[bus.AdapterPrincipal("population")],
			ACLs: bus.AdapterACLs("population", []string{"population.identity"})},
		{Name: bus.AdapterPrincipal("licence"), Password: creds[bus.AdapterPrincipal("licence")],
			ACLs: bus.AdapterACLs("licence", []string{"licence.pharmacy"})},
		{Name: bus.CaseworkPrincipal, Password: creds[bus.CaseworkPrincipal], ACLs: bus.CaseworkACLs()},
	}
	e, err := kafka.StartEmbedded(kafka.EmbeddedConfig{AdminPassword: creds[kafka.PrincipalAdmin], Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	b := authBroker{e: e, creds: creds}
	admin := b.as(t, kafka.PrincipalAdmin)
	if err := kafka.EnsureTopics(context.Background(), admin,
		kafka.Topic{Name: bus.RequestTopic("population"), Partitions: 1}, kafka.Topic{Name: bus.RequestTopic("licence"), Partitions: 1},
		kafka.Topic{Name: bus.ReplyTopic("a"), Partitions: 1}, kafka.Topic{Name: bus.ReplyTopic("b"), Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	return b
}

// wantRefused: the broker refused outright, or hid a topic the principal
// may not describe (Kafka answers as if it did not exist).
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	switch govx.ErrorCode(err) {
	case kafka.CodeBusForbidden, kafka.CodeTopicNotFound, kafka.CodeTopicUnknown:
	default:
		t.Errorf("%s: %v (code %q), want a refusal", what, err, govx.ErrorCode(err))
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if govx.ErrorCode(err) != code {
		t.Errorf("%s: %v (code %q), want %s", what, err, govx.ErrorCode(err), code)
	}
}

// A client without credentials, or with a wrong password, gets nothing
// from the broker.
func TestBrokerRefusesUnauthenticated(t *testing.T) {
	b := startAuthBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	wrong := b.as(t, bus.ExchangePrincipal("a"))
	wrong.Password += "x"
	_, err := kafka.OpenTail(ctx, wrong, bus.ReplyTopic("a"), nil, false)
	wantCode(t, "wrong password", err, kafka.CodeBusAuthFailed)

	anonymous := kafka.Config{Brokers: b.e.Addrs(), ClientID: "anonymous"}
	if tail, err := kafka.OpenTail(ctx, anonymous, bus.RequestTopic("population"), nil, true); err == nil {
		tail.Close()
		t.Error("a client without credentials opened a request topic")
	}
	prod, err := kafka.NewProducer(anonymous, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Publish(ctx, kafka.Message{Topic: bus.RequestTopic("population"), Value: []byte("forged")}); err == nil {
		t.Error("a client without credentials wrote a request")
	}
	// Nothing reached the request topic.
	assertEmpty(t, b.as(t, kafka.PrincipalAdmin), bus.RequestTopic("population"))
}

// A department's adapter reads its own requests and nobody else's, and
// cannot write requests; an exchange instance reads its own replies and no
// other instance's.
func TestBrokerACLs(t *testing.T) {
	b := startAuthBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pop := b.as(t, bus.AdapterPrincipal("population"))

	admin := b.as(t, kafka.PrincipalAdmin)
	aprod, err := kafka.NewProducer(admin, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer aprod.Close()
	for _, topic := range []string{bus.RequestTopic("licence"), bus.ReplyTopic("a")} {
		if err := aprod.Publish(ctx, kafka.Message{Topic: topic, Value: []byte("secret")}); err != nil {
			t.Fatal(err)
		}
	}

	// A topic the principal may not even describe does not exist for it.
	_, err = kafka.OpenTail(ctx, pop, bus.RequestTopic("licence"), nil, true)
	wantRefused(t, "population reads licence's requests", err)
	_, err = kafka.OpenTail(ctx, b.as(t, bus.ExchangePrincipal("b")), bus.ReplyTopic("a"), nil, true)
	wantRefused(t, "instance b reads a's replies", err)
	// One it may write but not read gives up no message.
	tail, err := kafka.OpenTail(ctx, b.as(t, bus.ExchangePrincipal("a")), bus.RequestTopic("licence"), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tail.Next(ctx)
	tail.Close()
	wantCode(t, fmt.Sprintf("an exchange reads requests (got %q)", m.Value), err, kafka.CodeBusForbidden)

	prod, err := kafka.NewProducer(pop, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for _, topic := range []string{bus.RequestTopic("population"), bus.RequestTopic("licence"), bus.EventTopic("licence.pharmacy")} {
		err = prod.Publish(ctx, kafka.Message{Topic: topic, Value: []byte("forged")})
		wantRefused(t, "population writes "+topic, err)
	}
	err = kafka.EnsureTopics(ctx, pop, kafka.Topic{Name: bus.RequestTopic("elsewhere"), Partitions: 1})
	wantCode(t, "population creates a request topic", err, kafka.CodeBusForbidden)
	assertEmpty(t, admin, bus.RequestTopic("population"))

	// What each is allowed works end to end: instance a asks population,
	// population's adapter (in its group) answers on a's reply topic.
	xa := b.as(t, bus.ExchangePrincipal("a"))
	xprod, err := kafka.NewProducer(xa, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer xprod.Close()
	q, err := kafka.NewRequester(ctx, xa, kafka.RequesterConfig{ReplyTopic: bus.ReplyTopic("a"), Timeout: 20 * time.Second}, xprod)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	cons, err := kafka.NewConsumer(pop, kafka.ConsumerConfig{GroupID: bus.AdapterGroup("population"), Topics: []string{bus.RequestTopic("population")}})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go cons.Run(rctx, func(ctx context.Context, m kafka.Message) error {
		return prod.Publish(ctx, kafka.Message{Topic: m.Header(kafka.HeaderReplyTo), Value: append([]byte("re: "), m.Value...),
			Headers: []kafka.Header{{Key: kafka.HeaderRequestID, Value: []byte(m.Header(kafka.HeaderRequestID))}}})
	})
	reply, err := q.Request(ctx, "r1", kafka.Message{Topic: bus.RequestTopic("population"), Value: []byte("who")})
	if err != nil || string(reply.Value) != "re: who" {
		t.Fatalf("request over the allowed path: %q %v", reply.Value, err)
	}
}

// assertEmpty checks that nothing was ever written to topic (created
// fresh by the test): a tail opened at its end starts at offset 0.
func assertEmpty(t *testing.T, admin kafka.Config, topic string) {
	t.Helper()
	tail, err := kafka.OpenTail(context.Background(), admin, topic, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	for p, end := range tail.Start() {
		if end != 0 {
			t.Errorf("%s partition %d holds %d messages", topic, p, end)
		}
	}
}

// The case workflow writes its own cases' events and reads no event of a
// register: those reach it through the exchange's audited subscription.
func TestCaseworkACLs(t *testing.T) {
	b := startAuthBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := b.as(t, kafka.PrincipalAdmin)
	aprod, err := kafka.NewProducer(admin, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer aprod.Close()
	registerEvents := bus.EventTopic("licence.pharmacy")
	if err := kafka.EnsureTopics(ctx, admin, kafka.Topic{Name: registerEvents, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := aprod.Publish(ctx, kafka.Message{Topic: registerEvents, Value: []byte("revoked")}); err != nil {
		t.Fatal(err)
	}

	cw := b.as(t, bus.CaseworkPrincipal)
	if tail, err := kafka.OpenTail(ctx, cw, registerEvents, nil, true); err == nil {
		m, err := tail.Next(ctx)
		tail.Close()
		wantCode(t, fmt.Sprintf("casework reads a register's events (got %q)", m.Value), err, kafka.CodeBusForbidden)
	} else {
		wantRefused(t, "casework reads a register's events", err)
	}
	prod, err := kafka.NewProducer(cw, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	err = prod.Publish(ctx, kafka.Message{Topic: registerEvents, Value: []byte("forged")})
	wantRefused(t, "casework writes a register's events", err)
	if err := kafka.EnsureTopics(ctx, cw, kafka.Topic{Name: bus.CaseworkEventTopic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := prod.Publish(ctx, kafka.Message{Topic: bus.CaseworkEventTopic, Value: []byte("case accepted")}); err != nil {
		t.Errorf("casework writes its own events: %v", err)
	}
}
