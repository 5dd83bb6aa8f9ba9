package node_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"govx/adapters/legalentity"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/node"
	"govx/node/nodetest"
	"govx/schemas"
)

// A company's record and its representative's identity come over the bus
// from two departments and agree; a deregistration reaches the event topic.
func TestLegalEntityEndToEnd(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = []string{population.Department, legalentity.Department}
	m := nodetest.Start(t, cfg)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{legalentity.ResourceBasic, legalentity.ResourceStatus, population.ResourceIdentity}})
	gen := legalentity.NewGenerator(node.DemoSeed, population.NewGenerator(node.DemoSeed), nodetest.Residents)
	var want legalentity.Company
	for i := range node.DemoCompanies {
		if want = gen.Company(i); want.Status == legalentity.StatusInBusiness {
			break
		}
	}

	nodetest.Consent(t, m, want.USCC, "case:test-1", legalentity.ResourceBasic)
	nodetest.Consent(t, m, want.RepresentativeID, "case:test-1", population.ResourceIdentity)
	resp := nodetest.Post(t, m.URL()+"/v1/resources/legal-entity.basic/query", tok,
		nodetest.Query(want.USCC, "name", "legal_representative", "legal_representative_id_number", "status"))
	if resp.Status != http.StatusOK {
		t.Fatalf("legal-entity.basic: status %d: %v", resp.Status, resp.Body)
	}
	rec := resp.Body["record"].(map[string]any)
	if rec["name"] != want.Name || rec["legal_representative_id_number"] != want.RepresentativeID ||
		rec["status"] != legalentity.StatusInBusiness || len(rec) != 4 {
		t.Errorf("legal-entity.basic record = %v, want %+v", rec, want)
	}
	resp = nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(want.RepresentativeID, "name"))
	if resp.Status != http.StatusOK || resp.Body["record"].(map[string]any)["name"] != rec["legal_representative"] {
		t.Errorf("the representative in the population register: %d %v, want name %v", resp.Status, resp.Body, rec["legal_representative"])
	}

	resp = nodetest.Post(t, m.URL()+"/v1/resources/legal-entity.status/query", tok, nodetest.Query(want.USCC[:17]+"I", "status"))
	if resp.Status != http.StatusBadRequest || resp.ErrorCode() != "invalid_uscc" {
		t.Errorf("malformed code: status %d %v, want 400 invalid_uscc", resp.Status, resp.Body)
	}

	// A deregistration is published by the department's outbox relay.
	codec := avro.NewCodec(catalog.NewStore(m.Pool))
	if err := codecRegister(codec); err != nil {
		t.Fatal(err)
	}
	store := legalentity.NewStore(m.Pool, legalentity.NewOutbox(m.Pool, codec, nil))
	if _, err := store.Deregister(context.Background(), want.USCC, "股东会决议解散"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: m.Brokers, Dialer: nodetest.KafkaDialer(t, m), Topic: bus.EventTopic(legalentity.ResourceStatus),
		GroupID: "legalentity-test", StartOffset: kafkago.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	km, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("no event on %s: %v", bus.EventTopic(legalentity.ResourceStatus), err)
	}
	var ev bus.Event
	if err := codec.UnmarshalAs(ctx, schemas.Event, km.Value, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "legal-entity.deregistered" || ev.Key != want.USCC || ev.Provider != legalentity.Department {
		t.Errorf("event %+v", ev)
	}
	resp = nodetest.Post(t, m.URL()+"/v1/resources/legal-entity.status/query", tok, nodetest.Query(want.USCC, "status"))
	if resp.Status != http.StatusOK || resp.Body["record"].(map[string]any)["status"] != legalentity.StatusDeregistered {
		t.Errorf("status after deregistration: %d %v", resp.Status, resp.Body)
	}
}

func codecRegister(c *avro.Codec) error {
	if err := schemas.RegisterAll(context.Background(), c); err != nil {
		return err
	}
	return nil
}
