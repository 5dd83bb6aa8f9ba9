package node_test

import (
	"context"
	"encoding/binary"
	"net/http"
	"reflect"
	"testing"
	"time"

	hamba "github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/registry"

	"govx/adapters/population"
	"govx/bus"
	"govx/internal/auth"
	"govx/internal/kafka"
	"govx/node"
	"govx/node/nodetest"
	"govx/schemas"
)

// The running program serves its schema registry under /registry: a Kafka
// tool pointed at http://host:port/registry fetches the schema of a real
// bus message by the id in its bytes and decodes it.
func TestRegistryServesBusSchemas(t *testing.T) {
	ctx := context.Background()
	m := nodetest.Start(t, nodetest.Config(t))
	client, err := registry.NewClient(m.URL() + "/registry")
	if err != nil {
		t.Fatal(err)
	}

	subjects, err := client.GetSubjects(ctx)
	if err != nil {
		t.Fatalf("GetSubjects: %v", err)
	}
	for _, s := range schemas.Subjects() {
		if !contains(subjects, s) {
			t.Errorf("subjects %v lack %s", subjects, s)
		}
	}

	// A query through the exchange puts a request on the provider's topic;
	// read it back as any Kafka tool would.
	id5 := population.NewGenerator(node.DemoSeed).IDNumber(5)
	nodetest.Consent(t, m, id5, "case:test-1", population.ResourceIdentity)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
	if r := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(id5, "name")); r.Status != http.StatusOK {
		t.Fatalf("query: %d %v", r.Status, r.Body)
	}
	msg := mustReadOne(t, m, bus.RequestTopic(population.Department))
	if len(msg) < 5 || msg[0] != 0 {
		t.Fatalf("not a wire-format message: %x", msg)
	}
	id := int(binary.BigEndian.Uint32(msg[1:5]))
	s, err := client.GetSchema(ctx, id)
	if err != nil {
		t.Fatalf("GetSchema(%d): %v", id, err)
	}
	var got bus.Request
	if err := hamba.Unmarshal(s, msg[5:], &got); err != nil {
		t.Fatal(err)
	}
	if got.Resource != "population.identity" || got.Key != id5 || !reflect.DeepEqual(got.Fields, []string{"name"}) || got.Purpose != "case:test-1" {
		t.Errorf("decoded request %+v", got)
	}
	if info, err := client.GetLatestSchemaInfo(ctx, schemas.Request); err != nil || info.ID != id {
		t.Errorf("latest %s = %+v, %v; want id %d", schemas.Request, info, err, id)
	}

	// Writes need the deployment's token: admin for an envelope.
	text, _ := schemas.Text(schemas.Request)
	if _, _, err := client.CreateSchema(ctx, schemas.Request, text); err == nil {
		t.Error("an anonymous client registered a schema")
	}
	adminTok := nodetest.Token(t, m.Key, auth.TokenSpec{Role: "admin", Scopes: []string{"registry:write"}})
	admin, err := registry.NewClient(m.URL()+"/registry", registry.WithHTTPClient(&http.Client{Transport: bearer(adminTok)}))
	if err != nil {
		t.Fatal(err)
	}
	if again, _, err := admin.CreateSchema(ctx, schemas.Request, text); err != nil || again != id {
		t.Errorf("re-registering the envelope = %d, %v; want its id %d", again, err, id)
	}
}

// mustReadOne reads the first message of topic with a consumer group of
// its own.
func mustReadOne(t *testing.T, m *node.Node, topic string) []byte {
	t.Helper()
	c, err := kafka.NewConsumer(nodetest.Kafka(t, m, kafka.PrincipalAdmin),
		kafka.ConsumerConfig{GroupID: "registry-test", Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan []byte, 1)
	go c.Run(ctx, func(_ context.Context, msg kafka.Message) error {
		select {
		case got <- msg.Value:
		default:
		}
		return nil
	})
	select {
	case b := <-got:
		return b
	case <-ctx.Done():
		t.Fatalf("no message on %s", topic)
		return nil
	}
}

type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
