package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	kafkago "github.com/segmentio/kafka-go"

	"govx"
	"govx/adapters"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/exchange"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/kafka"
	"govx/node"
	"govx/node/nodetest"
	"govx/schemas"
)

// A reply the provider did not sign is not relied on: with the population
// adapter absent and a forger answering its request topic, unsigned,
// with a key the catalogue does not know, or with another department's
// genuine key, the exchange answers reply_unverified (503) and records
// the query as failed, with no record leaving.
func TestForgedRepliesAreRefused(t *testing.T) {
	ctx := context.Background()
	cfg := nodetest.Config(t)
	cfg.Adapters = []string{licence.Department}
	m := nodetest.Start(t, cfg)

	strangerKey, _ := auth.GenerateKey()
	stranger, _ := bus.NewSigner(population.Department, strangerKey)
	licKey, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "keys", "bus", licence.Department))
	if err != nil {
		t.Fatal(err)
	}
	otherDept, _ := bus.NewSigner(licence.Department, licKey) // published, but the licensing department's
	impostor, _ := bus.NewSigner(population.Department, licKey)
	ids := nodetest.NormalResidents(4)
	signWith := map[string]func(*kafka.Message){ids[0]: nil, ids[1]: stranger.Sign, ids[2]: otherDept.Sign, ids[3]: impostor.Sign}

	// The forger takes the exchange's requests to population and answers
	// each with a record of its own making.
	kcfg := nodetest.Kafka(t, m, kafka.PrincipalAdmin)
	topic := bus.RequestTopic(population.Department)
	if err := kafka.EnsureTopics(ctx, kcfg, kafka.Topic{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	prod, err := kafka.NewProducer(kcfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := kafka.NewConsumer(kcfg, kafka.ConsumerConfig{GroupID: "forger", Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cons.Run(fctx, func(ctx context.Context, msg kafka.Message) error {
			var req bus.Request
			if err := m.Codec.UnmarshalAs(ctx, schemas.Request, msg.Value, &req); err != nil {
				return nil
			}
			rec, err := m.Codec.Marshal(schemas.PopulationIdentity, map[string]any{"name": "forged", "status": "normal"})
			if err != nil {
				t.Error(err)
				return nil
			}
			body, err := m.Codec.Marshal(schemas.Reply, bus.Reply{RequestID: req.RequestID, Resource: req.Resource,
				Provider: population.Department, Record: rec, AnsweredAt: time.Now().UTC()})
			if err != nil {
				t.Error(err)
				return nil
			}
			out := kafka.Message{Topic: req.ReplyTo, Key: []byte(req.RequestID), Value: body,
				Headers: []kafka.Header{{Key: bus.HeaderRequestID, Value: []byte(req.RequestID)}}}
			if sign := signWith[req.Key]; sign != nil {
				sign(&out)
			}
			return prod.Publish(ctx, out)
		})
	}()
	defer func() { stop(); cons.Close(); <-done }()

	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	for i, id := range ids {
		nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)
		r := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(id, "name", "status"))
		if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != bus.CodeReplyUnverified || r.Body["record"] != nil {
			t.Errorf("forgery %d: %d %v, want 503 %s", i, r.Status, r.Body, bus.CodeReplyUnverified)
			continue
		}
		if a := nodetest.Audit(t, m, r.RequestID); a.Outcome != ledger.Failed || a.Code != bus.CodeReplyUnverified || a.Status != http.StatusServiceUnavailable {
			t.Errorf("forgery %d: audit = %+v, want failed %s", i, a, bus.CodeReplyUnverified)
		}
	}
}

// A licence order passes the exchange (scope, grant, audit) and reaches
// the licensing department signed by the exchange instance, but the
// department honours it only with the ordering department's own signature:
// an order without one, with a key the catalogue does not list for the
// service center, or with the exchange's key, is refused (order_unsigned)
// and issues nothing.
func TestUnsignedOrdersIssueNothing(t *testing.T) {
	ctx := context.Background()
	cfg := nodetest.Config(t)
	cfg.Adapters = []string{licence.Department}
	m := nodetest.Start(t, cfg)
	client, err := exchange.NewClient(m.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	authority, err := licence.NewStore(m.Pool, nil).DefaultAuthority(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Subject: "svc:casework", Scopes: []string{licence.ResourceIssue}})

	strangerKey, _ := auth.GenerateKey()
	stranger, _ := bus.NewSigner(catalog.DeptServiceCenter, strangerKey)
	exKey, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "keys", "bus", "exchange-"+cfg.Instance))
	if err != nil {
		t.Fatal(err)
	}
	exSigner, _ := bus.NewSigner(bus.ExchangeDepartment, exKey)
	holder := uscc(t, "30000007")
	order := func(ref string) licence.Order {
		return licence.Order{Reference: ref, Type: licence.TypeFoodBusiness, HolderCode: holder, HolderName: "某某餐饮有限公司",
			AuthorityCode: authority, Variant: 2,
			Items: map[string]string{"business_type": "餐饮服务经营者", "business_items": "热食类食品制售", "premises": "天河路1号"}}
	}
	// The same order signed by the case workflow's key is honoured.
	cwKey, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "keys", "bus", "casework"))
	if err != nil {
		t.Fatal(err)
	}
	cw, _ := bus.NewSigner(catalog.DeptServiceCenter, cwKey)
	if _, err := licence.NewIssuer(client, m.Codec, cw).Issue(ctx, tok, order("signed-1")); err != nil {
		t.Fatalf("an order signed by the case workflow: %v", err)
	}
	for _, tc := range []struct {
		name   string
		signer *bus.Signer
	}{{"unsigned", nil}, {"unknown key", stranger}, {"exchange key", exSigner}} {
		t.Run(tc.name, func(t *testing.T) {
			ref := "unsigned-" + tc.name[:4]
			_, err := licence.NewIssuer(client, m.Codec, tc.signer).Issue(ctx, tok, order(ref))
			if govx.ErrorKind(err) != govx.KindForbidden || govx.ErrorCode(err) != "order_unsigned" {
				t.Fatalf("Issue = %v (%s), want Forbidden order_unsigned", err, govx.ErrorCode(err))
			}
			var n int
			if err := m.Pool.QueryRow(ctx, `SELECT count(*) FROM licence.issue_orders WHERE reference = $1`, ref).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d licences issued on the order", n)
			}
			var outcome, code string
			if err := m.Pool.QueryRow(ctx, `SELECT outcome, code FROM exchange.audit WHERE resource = $1 AND subject_key = $2`,
				licence.ResourceIssue, ref).Scan(&outcome, &code); err != nil {
				t.Fatal(err)
			}
			if outcome != ledger.Refused || code != "order_unsigned" {
				t.Errorf("audit = %s %s, want refused order_unsigned", outcome, code)
			}
		})
	}
}

// uscc is a unified social credit code with correct check characters.
func uscc(t *testing.T, body string) string {
	t.Helper()
	oc, err := govx.OrgCodeCheckChar(body)
	if err != nil {
		t.Fatal(err)
	}
	first17 := "91440106" + body + string(oc)
	c, err := govx.USCCCheckChar(first17)
	if err != nil {
		t.Fatal(err)
	}
	return first17 + string(c)
}

// An answered query's audit entry keeps the provider's signature on its
// reply: the key the population department publishes, a signature that
// verifies over the reply as it crossed the bus, and the reply's digest;
// the ledger still verifies.
func TestAnsweredQueryKeepsProviderSignature(t *testing.T) {
	ctx := context.Background()
	cfg := nodetest.Config(t)
	m := nodetest.Start(t, cfg)
	id := nodetest.NormalResidents(1)[0]
	nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	r := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(id, "name"))
	if r.Status != http.StatusOK {
		t.Fatalf("query: %d %v", r.Status, r.Body)
	}
	var kid string
	var sig, digest []byte
	if err := m.Pool.QueryRow(ctx, `SELECT provider_key_id, provider_signature, reply_digest FROM exchange.audit WHERE request_id = $1`,
		r.RequestID).Scan(&kid, &sig, &digest); err != nil {
		t.Fatal(err)
	}
	popKey, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "keys", "bus", population.Department))
	if err != nil {
		t.Fatal(err)
	}
	pub := popKey.Private.Public().(ed25519.PublicKey)
	if kid != bus.KeyID(pub) || len(sig) != ed25519.SignatureSize || len(digest) != sha256.Size {
		t.Fatalf("audit keeps key %q, signature %x, digest %x; want the population key %s", kid, sig, digest, bus.KeyID(pub))
	}
	reply := findReply(t, m, m.Requester.ReplyTopic(), r.RequestID)
	if sum := bus.Digest(reply.Topic, reply.Value); !bytes.Equal(sum, digest) {
		t.Errorf("reply digest %x, the reply on the bus digests to %x", digest, sum)
	}
	if !bus.VerifyDigest(pub, digest, sig) {
		t.Error("the kept signature does not verify over the reply's digest")
	}
	rep, err := ledger.Verify(ctx, m.Pool)
	if err != nil || rep.Broken != nil {
		t.Errorf("Verify = %+v, %v", rep, err)
	}
}

// findReply reads topic, every partition, for the message keyed id.
func findReply(t *testing.T, m *node.Node, topic, id string) kafka.Message {
	t.Helper()
	conn, err := nodetest.KafkaDialer(t, m).Dial("tcp", m.Brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: m.Brokers, Dialer: nodetest.KafkaDialer(t, m), Topic: topic, Partition: p.ID, MaxWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		for {
			msg, err := r.ReadMessage(ctx)
			if err != nil {
				break
			}
			if string(msg.Key) == id {
				cancel()
				r.Close()
				return kafka.Message{Topic: msg.Topic, Key: msg.Key, Value: msg.Value}
			}
		}
		cancel()
		r.Close()
	}
	t.Fatalf("no reply keyed %s on %s", id, topic)
	return kafka.Message{}
}

// The population department's own log holds every request it answered or
// refused, keys masked, and refuses to be rewritten.
func TestProviderLog(t *testing.T) {
	ctx := context.Background()
	cfg := nodetest.Config(t)
	m := nodetest.Start(t, cfg)
	id := nodetest.NormalResidents(1)[0]
	nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	r := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(id, "name"))
	if r.Status != http.StatusOK {
		t.Fatalf("query: %d %v", r.Status, r.Body)
	}
	// A forged request, unsigned, as an outsider writes it.
	rec, err := m.Codec.Marshal(schemas.Request, bus.Request{RequestID: "forged-log-1", Resource: population.ResourceIdentity,
		Key: id, Fields: []string{"name"}, Purpose: "case:forged", Consumer: catalog.DeptServiceCenter, Caller: "svc:window-01",
		ReplyTo: bus.ReplyTopic("forger"), RequestedAt: time.Now().UTC(), Deadline: time.Now().Add(time.Minute).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, m, kafka.Message{Topic: bus.RequestTopic(population.Department), Key: []byte(id), Value: rec})
	readDeadLetters(t, m, bus.DeadLetterTopic(population.Department), 1)

	entries, err := adapters.NewProviderLog(m.Pool, population.Schema).List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	exKey, err := auth.LoadOrCreateKey(filepath.Join(cfg.DataDir, "keys", "bus", "exchange-"+cfg.Instance))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]adapters.LogEntry{}
	for _, e := range entries {
		got[e.RequestID] = e
	}
	masked := govx.MaskSubject(id)
	if e := got[r.RequestID]; e.Outcome != adapters.LogAnswered || e.Code != "ok" || e.Consumer != catalog.DeptServiceCenter ||
		e.Caller != "svc:test-window" || e.Resource != population.ResourceIdentity || e.SubjectKey != masked ||
		e.SignerKeyID != bus.KeyID(exKey.Private.Public().(ed25519.PublicKey)) {
		t.Errorf("answered request logged as %+v", e)
	}
	if e := got["forged-log-1"]; e.Outcome != adapters.LogRefused || e.Code != bus.CodeUnsigned || e.SubjectKey != masked ||
		e.Consumer != catalog.DeptServiceCenter || e.SignerKeyID != "" {
		t.Errorf("forged request logged as %+v", e)
	}
	for _, stmt := range []string{`UPDATE population.provider_log SET outcome = 'answered'`, `DELETE FROM population.provider_log`,
		`TRUNCATE population.provider_log`} {
		_, err := m.Pool.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s: %v, want refused (42501)", stmt, err)
		}
	}
	if after, err := adapters.NewProviderLog(m.Pool, population.Schema).List(ctx, 10); err != nil || len(after) != len(entries) {
		t.Errorf("after the rewrites: %d entries (%v), want %d", len(after), err, len(entries))
	}
}
