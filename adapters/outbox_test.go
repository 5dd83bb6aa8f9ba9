package adapters_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"govx/adapters"
	"govx/adapters/population"
	"govx/bus"
	"govx/internal/auth"
	"govx/internal/kafka"
	"govx/internal/outbox"
	"govx/schemas"
)

func TestOutbox(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	if _, err := b.pool.Exec(ctx, `CREATE SCHEMA dept`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, outbox.Migration("001_outbox.sql", "dept").SQL); err != nil {
		t.Fatal(err)
	}
	ob := adapters.NewOutbox(b.pool, "dept", population.Department, b.codec, nil)
	// The relay signs each event with the department's bus key.
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := bus.NewSigner(population.Department, key)
	if err != nil {
		t.Fatal(err)
	}
	ob.SignWith(signer.Sign)
	verifier, err := bus.NewVerifier(bus.VerifierConfig{Keys: bus.KeySourceFunc(func(_ context.Context, dept string) ([]bus.PublicKey, error) {
		if dept != population.Department {
			return nil, nil
		}
		return []bus.PublicKey{{KeyID: signer.KeyID(), Key: signer.PublicKey()}}, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	topic := bus.EventTopic(population.ResourceIdentity)
	if err := kafka.EnsureTopics(ctx, b.kcfg, kafka.Topic{Name: topic, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	change := func(key, typ string) bus.Change {
		return bus.Change{Resource: population.ResourceIdentity, Subject: schemas.PopulationIdentity, Key: key,
			Type: typ, Reason: "test", Record: map[string]any{"status": typ}}
	}
	pending := func() int64 {
		t.Helper()
		n, err := ob.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A change that rolls back leaves no event.
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ob.Add(ctx, tx, change("rolled-back", "population.moved")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 0 {
		t.Fatalf("Pending after a rollback = %d", n)
	}

	// Committed changes, in order.
	var ids []string
	tx, err = b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, typ := range []string{"population.moved", "population.renamed", "population.deceased"} {
		id, err := ob.Add(ctx, tx, change(fmt.Sprintf("k%d", i), typ))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	// A broker that does not acknowledge: nothing is deleted.
	dead, err := kafka.NewProducer(b.kcfg, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	dead.Close()
	if n, err := ob.RelayOnce(ctx, dead, 10); err == nil || n != 0 {
		t.Fatalf("RelayOnce on a closed producer = %d, %v; want an error", n, err)
	}
	if n := pending(); n != 3 {
		t.Fatalf("Pending after a failed relay = %d, want 3", n)
	}

	if n, err := ob.RelayOnce(ctx, b.prod, 10); err != nil || n != 3 {
		t.Fatalf("RelayOnce = %d, %v; want 3", n, err)
	}
	if n := pending(); n != 0 {
		t.Fatalf("Pending after the relay = %d", n)
	}

	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: b.kcfg.Brokers, Topic: topic, Partition: 0,
		MaxWait: 100 * time.Millisecond, ReadLagInterval: -1})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for i, want := range []string{"population.moved", "population.renamed", "population.deceased"} {
		km, err := r.ReadMessage(rctx)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var ev bus.Event
		if err := b.codec.Unmarshal(ctx, km.Value, &ev); err != nil {
			t.Fatalf("decode event %d: %v", i, err)
		}
		if ev.EventID != ids[i] || header(km, "govx-event-id") != ids[i] || ev.Type != want ||
			ev.Key != fmt.Sprintf("k%d", i) || string(km.Key) != ev.Key || ev.Provider != population.Department ||
			ev.Resource != population.ResourceIdentity || ev.OccurredAt.IsZero() {
			t.Errorf("event %d = %+v (header id %q), want %s of k%d with id %s", i, ev, header(km, "govx-event-id"), want, i, ids[i])
		}
		m := kafka.Message{Topic: km.Topic, Value: km.Value}
		for _, h := range km.Headers {
			m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if sig, err := verifier.Verify(ctx, m, population.Department); err != nil || sig.KeyID != signer.KeyID() {
			t.Errorf("event %d: signature %+v, %v; want the department's", i, sig, err)
		}
		var rec identity
		if err := b.codec.Unmarshal(ctx, ev.Record, &rec); err != nil || rec.Status == nil || *rec.Status != want || rec.Name != nil {
			t.Errorf("event %d record = %+v (%v)", i, rec, err)
		}
	}
	// Nothing else was relayed (the rolled-back change above all).
	sctx, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	if km, err := r.ReadMessage(sctx); err == nil {
		t.Errorf("extra event relayed: key %q", km.Key)
	}
}
