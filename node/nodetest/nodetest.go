// Package nodetest starts whole govx nodes for tests — each on port 0
// with a fresh database, a Redis key prefix and an embedded broker of its
// own — and has the small helpers the end-to-end tests share: tokens,
// JSON calls, consents and audit rows. Only tests import it.
package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/consent"
	"govx/internal/auth"
	"govx/internal/kafka"
	"govx/internal/postgres/postgrestest"
	"govx/internal/redis/redistest"
	"govx/node"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

const Residents = 300

// Config is a whole govx on port 0: a fresh database, its own Redis
// prefix, an embedded broker persisting under a temp dir.
func Config(t testing.TB) node.Config {
	t.Helper()
	return node.Config{
		DataDir:       t.TempDir(),
		PostgresURL:   postgrestest.NewURL(t),
		RedisURL:      redistest.URL(),
		RedisPrefix:   redistest.NewPrefix(t),
		EmbeddedKafka: true,
		HTTPAddr:      "127.0.0.1:0",
		Instance:      "test",
		Timeout:       5 * time.Second,
		Migrate:       true,
		Demo:          true,
		DemoLogin:     true,
		Residents:     Residents,
		Exchange:      true,
		Casework:      true,
		Adapters:      []string{population.Department},
		Logger:        slog.New(slog.NewTextHandler(LogOutput(), nil)),
	}
}

func Start(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	m := node.New(cfg)
	if _, err := m.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func Token(t testing.TB, key *auth.Key, spec auth.TokenSpec) string {
	t.Helper()
	if spec.Issuer == "" {
		spec.Issuer = node.Issuer
	}
	if spec.Audience == "" {
		spec.Audience = node.Audience
	}
	if spec.Subject == "" {
		spec.Subject = "svc:test-window"
	}
	switch spec.Dept {
	case "":
		spec.Dept = catalog.DeptServiceCenter
	case "-":
		spec.Dept = ""
	}
	if spec.TTL == 0 {
		spec.TTL = time.Hour
	}
	tok, err := key.Mint(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type Response struct {
	Status    int
	RequestID string
	Body      map[string]any
}

func (r Response) ErrorCode() string {
	e, _ := r.Body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func Post(t testing.TB, url, token string, body []byte) Response {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := Response{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON", ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out.Body); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return out
}

func Query(key string, fields ...string) []byte {
	b, _ := json.Marshal(map[string]any{"key": key, "fields": fields, "purpose": "case:test-1"})
	return b
}

// Consent records, as the service center's clerk at the window, the
// data subject's consent to resources for purpose: a
// "case:<id>" purpose names the case, anything else is the purpose code.
func Consent(t testing.TB, m *node.Node, subject, purpose string, resources ...string) *consent.Consent {
	t.Helper()
	r := consent.Request{Subject: subject, Purpose: "test", ValidUntil: time.Now().Add(time.Hour)}
	if id, ok := strings.CutPrefix(purpose, "case:"); ok {
		r.CaseID, r.PurposeCode = id, "test"
	} else {
		r.PurposeCode = purpose
	}
	for _, res := range resources {
		// "resource:f1,f2" names fields; a bare code covers every field.
		code, fields, _ := strings.Cut(res, ":")
		it := consent.Item{Resource: code}
		if fields != "" {
			it.Fields = strings.Split(fields, ",")
		}
		r.Items = append(r.Items, it)
	}
	c, err := m.Consents.Create(context.Background(), node.DemoClerk, r)
	if err != nil {
		t.Fatalf("consent of %s: %v", subject, err)
	}
	return c
}

type AuditRow struct {
	Caller, Consumer, Resource, Provider, SubjectKey, Outcome, Code string
	Fields                                                          []string
	Status                                                          int
}

func Audit(t testing.TB, m *node.Node, requestID string) AuditRow {
	t.Helper()
	var r AuditRow
	err := m.Pool.QueryRow(context.Background(), `SELECT caller, consumer, resource, provider, subject_key, outcome, code, fields, status
		FROM exchange.audit WHERE request_id = $1`, requestID).
		Scan(&r.Caller, &r.Consumer, &r.Resource, &r.Provider, &r.SubjectKey, &r.Outcome, &r.Code, &r.Fields, &r.Status)
	if err != nil {
		t.Fatalf("audit record of %s: %v", requestID, err)
	}
	return r
}

// LogOutput is where a test govx logs: nowhere, unless GOVX_TEST_LOG is
// set.
func LogOutput() io.Writer {
	if os.Getenv("GOVX_TEST_LOG") != "" {
		return os.Stderr
	}
	return io.Discard
}

// Call sends method url with an optional JSON body and returns the status,
// the decoded JSON body and the raw bytes.
func Call(t testing.TB, method, url, token string, body any) (int, map[string]any, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out, raw
}

func ErrCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// normalResidents returns the ID numbers of n seeded residents whose status
// is normal.
// NormalResidents are the ID numbers of up to n living residents of a test
// node's demo register.
func NormalResidents(n int) []string {
	g := population.NewGenerator(node.DemoSeed)
	var out []string
	for i := 0; i < Residents && len(out) < n; i++ {
		if r := g.Resident(i); r.Status == population.StatusNormal {
			out = append(out, r.IDNumber)
		}
	}
	return out
}

// Kafka is how a test reaches m's broker as principal (kafka.PrincipalAdmin
// to watch or act on any topic).
func Kafka(t testing.TB, m *node.Node, principal string) kafka.Config {
	t.Helper()
	cfg, err := m.KafkaConfig(principal)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ClientID = "test"
	return cfg
}

// ExchangeSigner is a bus signer of a new key published in m's catalogue
// as an exchange instance's: what a test that writes requests to the bus
// itself signs them with, as an exchange would.
func ExchangeSigner(t testing.TB, m *node.Node) *bus.Signer {
	t.Helper()
	ctx := context.Background()
	store := catalog.NewStore(m.Pool)
	if _, err := store.Department(ctx, bus.ExchangeDepartment); err != nil {
		if err := store.PutDepartment(ctx, catalog.Department{Code: bus.ExchangeDepartment, Name: "govx exchange"}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := bus.NewSigner(bus.ExchangeDepartment, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutDepartmentKey(ctx, catalog.DepartmentKey{Department: bus.ExchangeDepartment, KeyID: s.KeyID(), PublicKey: s.PublicKey()}); err != nil {
		t.Fatal(err)
	}
	return s
}

// KafkaTransport is a kafka-go transport to m's broker as its admin, for
// tests that write to the bus as an outside client would.
func KafkaTransport(t testing.TB, m *node.Node) *kafkago.Transport {
	t.Helper()
	tr, err := Kafka(t, m, kafka.PrincipalAdmin).Transport()
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// KafkaDialer is a kafka-go dialer to m's broker as its admin, for tests
// that read the bus as an outside client would.
func KafkaDialer(t testing.TB, m *node.Node) *kafkago.Dialer {
	t.Helper()
	d, err := Kafka(t, m, kafka.PrincipalAdmin).Dialer()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// SecondInstance is cfg (the Config m was started with) for a second
// exchange instance beside m: the same database and Redis, m's broker, no
// adapters, migrations or demo data of its own. m's broker knows the
// principals of m's own instance only, so the second speaks as its admin.
func SecondInstance(t testing.TB, cfg node.Config, m *node.Node, instance string) node.Config {
	t.Helper()
	cfg.Instance, cfg.HTTPAddr = instance, "127.0.0.1:0"
	cfg.EmbeddedKafka, cfg.KafkaBrokers = false, m.Brokers
	cfg.KafkaUser, cfg.KafkaPassword = kafka.PrincipalAdmin, m.KafkaCredentials()[kafka.PrincipalAdmin]
	cfg.Migrate, cfg.Demo, cfg.Adapters = false, false, nil
	return cfg
}
