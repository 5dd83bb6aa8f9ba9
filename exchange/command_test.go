package exchange_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"govx"
	"govx/bus"
	"govx/catalog"
	"govx/exchange"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/internal/postgres/postgrestest"
	"govx/internal/workday"
	"govx/schemas"
)

// memRegistry numbers the schemas in memory: these tests need a codec,
// not the catalogue's store.
type memRegistry struct {
	mu   sync.Mutex
	text []string
}

func (r *memRegistry) RegisterSchema(_ context.Context, _, schema string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.text = append(r.text, schema)
	return len(r.text), nil
}

func (r *memRegistry) SchemaByID(_ context.Context, id int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id < 1 || id > len(r.text) {
		return "", errors.New("unknown id")
	}
	return r.text[id-1], nil
}

// issuing is a licensing department on a stub bus: it answers every
// licence.issue request with a licence.issued record for the request's
// key, and remembers what it was sent.
type issuing struct {
	codec *avro.Codec
	mu    sync.Mutex
	got   []bus.Request
}

func (p *issuing) ReplyTopic() string { return bus.ReplyTopic("command-test") }

func (p *issuing) Request(ctx context.Context, id string, m kafka.Message) (kafka.Message, error) {
	var req bus.Request
	if err := p.codec.UnmarshalAs(ctx, schemas.Request, m.Value, &req); err != nil {
		return kafka.Message{}, err
	}
	p.mu.Lock()
	p.got = append(p.got, req)
	p.mu.Unlock()
	rec, err := p.codec.Marshal("licence.issued", map[string]any{
		"reference": req.Key, "id": "11440100MB2C98765X0010001", "number": "JY14401060000123", "type": "food-business",
		"holder_code": holderUSCC, "holder_name": "广州市示例餐饮有限公司", "authority": "广州市天河区市场监督管理局",
		"authority_code": "11440106MB2C98765X", "issue_date": "2026-12-01", "valid_from": "2026-12-01",
		"valid_until": "2031-11-30", "items": map[string]string{"premises": "天河路1号"}, "seal_key_id": "k1",
		"seal": make([]byte, 64)})
	if err != nil {
		return kafka.Message{}, err
	}
	body, err := p.codec.Marshal(schemas.Reply, bus.Reply{RequestID: req.RequestID, Resource: req.Resource,
		Provider: "licensing", Record: rec, AnsweredAt: time.Now().UTC()})
	return kafka.Message{Value: body}, err
}

func (p *issuing) sent() []bus.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]bus.Request(nil), p.got...)
}

const holderUSCC = "91440106MA5D0000X1"

// issuePolicy is the catalogue as far as licence.issue: a command shared
// on conditions, with the service center's approved grant.
type issuePolicy struct{}

var issueFields = []string{"reference", "id", "number", "type", "holder_code", "holder_name", "authority",
	"authority_code", "issue_date", "valid_from", "valid_until", "items", "seal_key_id", "seal"}

func (issuePolicy) Lookup(_ context.Context, code, dept string) (*catalog.Resource, []catalog.Grant, error) {
	if code != "licence.issue" {
		return nil, nil, govx.Errorf(govx.KindNotFound, "resource_not_found", "no resource %q", code)
	}
	res := &catalog.Resource{Code: code, Provider: "licensing", KeyType: catalog.KeyReference, Sharing: catalog.Conditional,
		Methods: []string{catalog.MethodCommand}, SchemaSubject: "licence.issued", Status: "active"}
	for _, f := range issueFields {
		res.Fields = append(res.Fields, catalog.Field{Name: f, Type: "string",
			Personal: f == "holder_code" || f == "holder_name", Subject: f == "holder_code"})
	}
	var grants []catalog.Grant
	if dept == catalog.DeptServiceCenter {
		today := workday.Date(time.Now())
		grants = []catalog.Grant{{ID: 7, Resource: code, Provider: "licensing", Consumer: dept, Status: catalog.GrantApproved,
			GrantedFields: issueFields, GrantedFrom: today, GrantedUntil: workday.Date(time.Now().AddDate(1, 0, 0))}}
	}
	return res, grants, nil
}

// DepartmentExists knows the two departments of the test.
func (issuePolicy) DepartmentExists(_ context.Context, code string) (bool, error) {
	return code == catalog.DeptServiceCenter || code == "licensing" || code == "tax", nil
}

// An order is a request to the exchange like a query: refused without the
// scope or the grant, and recorded in the ledger either way.
func TestCommandThroughTheExchange(t *testing.T) {
	ctx := context.Background()
	codec := avro.NewCodec(&memRegistry{})
	if err := schemas.RegisterAll(ctx, codec); err != nil {
		t.Fatal(err)
	}
	provider := &issuing{codec: codec}
	pool := postgrestest.NewMigrated(t, ledger.MigrationSource())
	l, err := ledger.New(ledger.Config{Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	svc, err := exchange.NewService(exchange.Config{Policy: issuePolicy{}, Requester: provider, Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: "govx", Audience: "govx"}, key)
	if err != nil {
		t.Fatal(err)
	}
	h, err := exchange.NewHandler(exchange.HandlerConfig{Service: svc, Verifier: v, Audit: l, Metrics: exchange.NewMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/resources/{code}/query", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client, err := exchange.NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	token := func(dept string, scopes ...string) string {
		tok, err := key.Mint(auth.TokenSpec{Issuer: "govx", Audience: "govx", Subject: "casework", Dept: dept, Role: "service", Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	order, err := codec.Marshal("licence.issue-order", map[string]any{"reference": "2026-000001", "type": "food-business",
		"holder_code": holderUSCC, "holder_name": "广州市示例餐饮有限公司", "authority_code": "11440106MB2C98765X", "variant": 2,
		"items": map[string]string{}, "valid_from": nil, "valid_until": nil})
	if err != nil {
		t.Fatal(err)
	}
	// audit reads the ledger's entry of the latest request for reference.
	audit := func(t *testing.T, ref string) (outcome, code, consumer, caller, rule, subject string, status int) {
		t.Helper()
		err := pool.QueryRow(ctx, `SELECT outcome, code, consumer, caller, rule, data_subject, status FROM exchange.audit
			WHERE resource = 'licence.issue' AND subject_key = $1 ORDER BY seq DESC LIMIT 1`, ref).
			Scan(&outcome, &code, &consumer, &caller, &rule, &subject, &status)
		if err != nil {
			t.Fatalf("no audit entry for %s: %v", ref, err)
		}
		return
	}

	t.Run("refused without the scope", func(t *testing.T) {
		_, err := client.Command(ctx, token(catalog.DeptServiceCenter, "licence.food-business"), "licence.issue", "2026-000001", "licence.issue:2026-000001", order, "", nil)
		if govx.ErrorKind(err) != govx.KindForbidden || govx.ErrorCode(err) != "scope_missing" {
			t.Fatalf("err = %v (%s), want Forbidden scope_missing (403)", err, govx.ErrorCode(err))
		}
		if n := len(provider.sent()); n != 0 {
			t.Errorf("%d requests reached the provider", n)
		}
		if outcome, code, _, _, _, _, status := audit(t, "2026-000001"); outcome != ledger.Refused || code != "scope_missing" || status != 403 {
			t.Errorf("audit: %s %s %d, want refused scope_missing 403", outcome, code, status)
		}
	})
	t.Run("refused without a grant", func(t *testing.T) {
		_, err := client.Command(ctx, token("tax", "licence.issue"), "licence.issue", "2026-000002", "licence.issue:2026-000002", order, "", nil)
		if govx.ErrorCode(err) != "grant_required" {
			t.Fatalf("err = %v, want grant_required", err)
		}
	})
	t.Run("refused without an order", func(t *testing.T) {
		_, err := client.Command(ctx, token(catalog.DeptServiceCenter, "licence.issue"), "licence.issue", "2026-000003", "licence.issue:2026-000003", nil, "", nil)
		if govx.ErrorCode(err) != "payload_required" {
			t.Fatalf("err = %v, want payload_required", err)
		}
	})
	t.Run("allowed and recorded", func(t *testing.T) {
		raw, err := client.Command(ctx, token(catalog.DeptServiceCenter, "licence.issue"), "licence.issue", "2026-000001", "licence.issue:2026-000001", order, "", nil)
		if err != nil {
			t.Fatalf("Command: %v", err)
		}
		var rec struct {
			Seal []byte `json:"seal"`
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatal(err)
		}
		if m["reference"] != "2026-000001" || m["number"] != "JY14401060000123" || m["holder_code"] != holderUSCC || len(rec.Seal) != 64 {
			t.Errorf("record = %s", raw)
		}
		sent := provider.sent()
		if len(sent) != 1 {
			t.Fatalf("%d requests reached the provider, want 1", len(sent))
		}
		if r := sent[0]; string(r.Payload) != string(order) || r.Key != "2026-000001" || r.Consumer != catalog.DeptServiceCenter || r.Caller != "casework" {
			t.Errorf("request sent: %+v", r)
		}
		outcome, code, consumer, caller, rule, subject, status := audit(t, "2026-000001")
		if outcome != ledger.Released || code != "ok" || status != 200 || consumer != catalog.DeptServiceCenter ||
			caller != "casework" || rule != "grant:7" || subject != holderUSCC {
			t.Errorf("audit: %s %s %d by %s/%s under %s about %q", outcome, code, status, consumer, caller, rule, subject)
		}
		if rep, err := ledger.Verify(context.Background(), pool); err != nil || rep.Broken != nil {
			t.Errorf("ledger: %v, broken: %+v", err, rep)
		}
	})
}
