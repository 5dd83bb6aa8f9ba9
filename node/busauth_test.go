package node_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"govx"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/bus"
	"govx/internal/kafka"
	"govx/node/nodetest"
)

// The node's broker speaks only to its principals, and to each only as
// far as its ACLs go: a forged request written straight to a department's
// topic never gets there.
func TestBusAuthenticatesAndAuthorises(t *testing.T) {
	cfg := nodetest.Config(t)
	m := nodetest.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	fi, err := os.Stat(filepath.Join(cfg.DataDir, "kafka", "credentials.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	reqTopic := bus.RequestTopic(population.Department)

	anonymous := kafka.Config{Brokers: m.Brokers, ClientID: "stranger"}
	prod, err := kafka.NewProducer(anonymous, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.Publish(ctx, kafka.Message{Topic: reqTopic, Value: []byte("forged")}); err == nil {
		t.Error("a client without credentials wrote a request")
	}

	wrong := nodetest.Kafka(t, m, bus.ExchangePrincipal(cfg.Instance))
	wrong.Password = "guessed"
	_, err = kafka.OpenTail(ctx, wrong, bus.ReplyTopic(cfg.Instance), nil, true)
	if govx.ErrorCode(err) != kafka.CodeBusAuthFailed {
		t.Errorf("wrong password: %v, want %s", err, kafka.CodeBusAuthFailed)
	}

	// Another department's adapter neither reads population's requests
	// nor writes any.
	lic := nodetest.Kafka(t, m, bus.AdapterPrincipal(licence.Department))
	if tail, err := kafka.OpenTail(ctx, lic, reqTopic, nil, true); err == nil {
		_, err = tail.Next(ctx)
		tail.Close()
		if govx.ErrorCode(err) != kafka.CodeBusForbidden {
			t.Errorf("licence reads population's requests: %v", err)
		}
	}
	lprod, err := kafka.NewProducer(lic, kafka.ProducerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer lprod.Close()
	if err := lprod.Publish(ctx, kafka.Message{Topic: reqTopic, Value: []byte("forged")}); err == nil {
		t.Error("licence's adapter wrote a request")
	}
	// The case workflow reads no reply topic.
	if tail, err := kafka.OpenTail(ctx, nodetest.Kafka(t, m, bus.CaseworkPrincipal), bus.ReplyTopic(cfg.Instance), nil, true); err == nil {
		_, err = tail.Next(ctx)
		tail.Close()
		if govx.ErrorCode(err) != kafka.CodeBusForbidden {
			t.Errorf("casework reads the exchange's replies: %v", err)
		}
	}

	// Nor a register's events: it subscribes to those through the
	// exchange.
	if tail, err := kafka.OpenTail(ctx, nodetest.Kafka(t, m, bus.CaseworkPrincipal), bus.EventTopic(licence.ResourceFoodBusiness), nil, true); err == nil {
		_, err = tail.Next(ctx)
		tail.Close()
		if govx.ErrorCode(err) != kafka.CodeBusForbidden {
			t.Errorf("casework reads the licence register's events: %v", err)
		}
	} else if c := govx.ErrorCode(err); c != kafka.CodeBusForbidden && c != kafka.CodeTopicNotFound && c != kafka.CodeTopicUnknown {
		t.Errorf("casework reads the licence register's events: %v", err)
	}

	// Nothing forged reached the request topic.
	tail, err := kafka.OpenTail(ctx, nodetest.Kafka(t, m, kafka.PrincipalAdmin), reqTopic, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer tail.Close()
	for p, end := range tail.Start() {
		if end != 0 {
			t.Errorf("%s partition %d holds %d messages", reqTopic, p, end)
		}
	}
}
