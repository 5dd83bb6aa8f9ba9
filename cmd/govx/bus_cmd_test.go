package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"govx/adapters/population"
	"govx/bus"
	"govx/internal/auth"
	"govx/internal/kafka"
	"govx/node"
	"govx/node/nodetest"
)

// govx bus reads the node's embedded broker as its admin principal, with
// the password from the data folder, and decodes what it tails through the
// schema registry with ID numbers masked; what is not Avro prints raw.
func TestBusCommands(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Casework = false
	m := nodetest.Start(t, cfg)
	t.Setenv("GOVX_POSTGRES_URL", cfg.PostgresURL)
	t.Setenv("GOVX_DATA", cfg.DataDir)
	t.Setenv("GOVX_KAFKA_BROKERS", strings.Join(m.Brokers, ","))
	for _, v := range []string{"GOVX_KAFKA_USER", "GOVX_KAFKA_PASSWORD", "GOVX_KAFKA_CREDENTIALS"} {
		t.Setenv(v, "")
	}
	ctx := context.Background()

	r := population.NewGenerator(node.DemoSeed).Resident(9)
	masked := r.IDNumber[:3] + strings.Repeat("*", 13) + r.IDNumber[16:]
	nodetest.Consent(t, m, r.IDNumber, "case:bus-1", population.ResourceIdentity)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	resp := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok,
		[]byte(`{"key":"`+r.IDNumber+`","fields":["id_number","name"],"purpose":"case:bus-1"}`))
	if resp.Status != http.StatusOK {
		t.Fatalf("lookup: %d %v", resp.Status, resp.Body)
	}

	runBus := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"bus"}, args...), &out, io.Discard)
		return out.String(), err
	}
	lines := func(t *testing.T, out string) []map[string]any {
		t.Helper()
		var ls []map[string]any
		for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
			var l map[string]any
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				t.Fatalf("not one JSON object a line: %q: %v", s, err)
			}
			ls = append(ls, l)
		}
		return ls
	}

	t.Run("tail requests", func(t *testing.T) {
		out, err := runBus("tail", bus.RequestTopic(population.Department), "--from-beginning")
		if err != nil {
			t.Fatalf("tail: %v\n%s", err, out)
		}
		if strings.Contains(out, r.IDNumber) {
			t.Errorf("an ID number unmasked:\n%s", out)
		}
		ls := lines(t, out)
		if len(ls) != 1 {
			t.Fatalf("%d requests on the topic, want the one lookup:\n%s", len(ls), out)
		}
		l := ls[0]
		v, _ := l["value"].(map[string]any)
		if l["topic"] != bus.RequestTopic(population.Department) || l["offset"] != 0.0 || l["schema_id"] == nil ||
			v["request_id"] != resp.RequestID || v["resource"] != population.ResourceIdentity || v["key"] != masked ||
			v["purpose"] != "case:bus-1" {
			t.Errorf("decoded request: %s", out)
		}
		var reqID bool
		hs, _ := l["headers"].([]any)
		for _, h := range hs {
			h, _ := h.(map[string]any)
			reqID = reqID || h["key"] == bus.HeaderRequestID && h["value"] == resp.RequestID
		}
		if !reqID {
			t.Errorf("headers %v lack the request id", l["headers"])
		}
	})

	t.Run("tail replies decodes the record inside", func(t *testing.T) {
		out, err := runBus("tail", bus.ReplyTopic(cfg.Instance), "-n", "1")
		if err != nil {
			t.Fatalf("tail: %v\n%s", err, out)
		}
		ls := lines(t, out)
		v, _ := ls[0]["value"].(map[string]any)
		rec, _ := v["record"].(map[string]any)
		if len(ls) != 1 || v["request_id"] != resp.RequestID || rec["name"] != r.Name || rec["id_number"] != masked ||
			strings.Contains(out, r.IDNumber) {
			t.Errorf("decoded reply: %s", out)
		}
	})

	t.Run("tail prints what is not Avro raw", func(t *testing.T) {
		creds, err := kafka.ReadCredentials(cfg.DataDir + "/kafka/credentials.json")
		if err != nil {
			t.Fatal(err)
		}
		admin, err := creds.Config(kafka.Config{Brokers: m.Brokers}, kafka.PrincipalAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if err := kafka.EnsureTopics(ctx, admin, kafka.Topic{Name: "test.raw"}); err != nil {
			t.Fatal(err)
		}
		p, err := kafka.NewProducer(admin, kafka.ProducerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		garbled := append([]byte{0, 0, 0, 0, 1}, 0xff, 0xff, 0xff)
		if err := p.Publish(ctx,
			kafka.Message{Topic: "test.raw", Key: []byte{0xff, 0xfe}, Value: []byte("plain text")},
			kafka.Message{Topic: "test.raw", Value: []byte{0, 0x7f, 0, 0, 1, 2, 3}},
			kafka.Message{Topic: "test.raw", Value: garbled},
			kafka.Message{Topic: "test.raw", Value: []byte{}},
		); err != nil {
			t.Fatal(err)
		}
		out, err := runBus("tail", "test.raw", "--from-beginning")
		if err != nil {
			t.Fatalf("tail: %v\n%s", err, out)
		}
		ls := lines(t, out)
		if len(ls) != 4 {
			t.Fatalf("%d lines, want 4:\n%s", len(ls), out)
		}
		for i, want := range []struct{ b64, note string }{
			{"cGxhaW4gdGV4dA==", "not Avro"},
			{"AH8AAAECAw==", "no schema with id 2130706433"},
			{"AAAAAAH///8=", "not decoded with schema 1"},
			{"", "empty value"},
		} {
			if ls[i]["value_base64"] != want.b64 || !strings.Contains(ls[i]["note"].(string), want.note) || ls[i]["value"] != nil {
				t.Errorf("line %d: %v, want value_base64 %q and a note saying %q", i, ls[i], want.b64, want.note)
			}
		}
		if ls[0]["key_base64"] != "//4=" || ls[0]["key"] != nil {
			t.Errorf("a key that is not text: %v", ls[0])
		}
	})

	t.Run("topics and groups", func(t *testing.T) {
		out, err := runBus("topics")
		if err != nil {
			t.Fatalf("topics: %v", err)
		}
		var found bool
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			found = found || len(f) == 5 && f[0] == bus.ReplyTopic(cfg.Instance) && f[1] == "0" && f[3] == "1"
		}
		if !found || !strings.Contains(out, bus.RequestTopic(population.Department)) || strings.Contains(out, "__") {
			t.Errorf("topics:\n%s", out)
		}
		out, err = runBus("groups")
		if err != nil {
			t.Fatalf("groups: %v", err)
		}
		group := bus.AdapterGroup(population.Department)
		if !strings.Contains(out, group) || !strings.Contains(out, "member of "+group+": ") ||
			!strings.Contains(out, bus.RequestTopic(population.Department)) {
			t.Errorf("groups:\n%s", out)
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, args := range [][]string{{}, {"frob"}, {"tail"}, {"tail", "--follow"}, {"tail", "x", "--from-beginning", "-n", "3"},
			{"tail", "x", "-n", "-1"}, {"topics", "extra"}} {
			if _, err := runBus(args...); !errors.Is(err, errUsage) {
				t.Errorf("bus %v: %v, want a usage error", args, err)
			}
		}
		if _, err := runBus("topics", "--user", "nobody"); err == nil || !strings.Contains(err.Error(), `no credentials for principal "nobody"`) {
			t.Errorf("unknown principal: %v", err)
		}
		if _, err := runBus("tail", "no.such.topic"); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("unknown topic: %v", err)
		}
	})
}
