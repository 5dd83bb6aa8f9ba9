package node_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"govx"
	"govx/adapters"
	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/catalog"
	"govx/consent"
	"govx/exchange"
	"govx/federation"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/node"
	"govx/node/nodetest"
)

// Licences across nodes: a licence issued and sealed at Guangzhou, with a
// seal key only Guangzhou's catalogue lists, verifies at Dongguan by the
// keys Dongguan reads from Guangzhou over the node link; a forged seal or
// a key that is not Guangzhou's does not. A subscriber at Dongguan to
// Guangzhou's licences receives their revocation, and after the link to
// Guangzhou was down, what was revoked meanwhile, once each.
func TestLicencesAcrossNodes(t *testing.T) {
	gd, dg, gz := federationOf(t, func(name string, cfg *node.Config) {
		if name == "guangzhou" {
			cfg.Adapters = []string{population.Department, licence.Department}
		}
	})
	ctx := context.Background()
	const code = licence.ResourceFoodBusiness
	issuer := catalog.RemoteDepartment("guangzhou", licence.Department)
	remote := catalog.RemoteDepartment("dongguan", catalog.DeptServiceCenter)
	doc, err := openapicheck.Load(exchange.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	fedDoc, err := openapicheck.Load(federation.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	documented := func(method, path string, status int, contentType string, body any) {
		t.Helper()
		if err := fedDoc.CheckResponse(method, path, status, contentType, body); err != nil {
			t.Errorf("%s %s %d is not as documented: %v", method, path, status, err)
		}
	}

	// Guangzhou's licensing department gives its authority a seal key of
	// its own, published in Guangzhou's catalogue only, and issues a
	// licence with it.
	outbox := adapters.NewOutbox(gz.Pool, licence.Schema, licence.Department, gz.Codec, nil)
	store := licence.NewStore(gz.Pool, outbox)
	authority, err := store.DefaultAuthority(ctx)
	if err != nil || authority == "" {
		t.Fatalf("default authority: %q %v", authority, err)
	}
	var a licence.Authority
	a.Code = authority
	if err := gz.Pool.QueryRow(ctx, `SELECT authority, division_code FROM licence.issuer_keys WHERE authority_code = $1 AND retired_at IS NULL`,
		authority).Scan(&a.Name, &a.Division); err != nil {
		t.Fatal(err)
	}
	if _, err := gz.Pool.Exec(ctx, `UPDATE licence.issuer_keys SET retired_at = now() WHERE authority_code = $1`, authority); err != nil {
		t.Fatal(err)
	}
	gzKey := newIssuerKey(t, a)
	if err := store.PutIssuerKeys(ctx, []licence.IssuerKey{gzKey}); err != nil {
		t.Fatal(err)
	}
	if err := catalog.NewStore(gz.Pool).PutDepartmentKey(ctx, gzKey.Public()); err != nil {
		t.Fatal(err)
	}
	gens, err := node.NewGenerators(node.DemoRegisters(nodetest.Residents))
	if err != nil {
		t.Fatal(err)
	}
	holder := gens.Companies.Company(0)
	issued, err := store.Issue(ctx, licence.Draft{Type: licence.TypeFoodBusiness, HolderCode: holder.USCC, HolderName: holder.Name,
		AuthorityCode: authority, Variant: 1, Items: map[string]string{"premises": "广州市天河区体育西路1号", "business_items": "预包装食品销售"}})
	if err != nil {
		t.Fatal(err)
	}
	if issued.SealKeyID != gzKey.KeyID {
		t.Fatalf("issued with key %s, not Guangzhou's new key %s", issued.SealKeyID, gzKey.KeyID)
	}
	holderClaims := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: holder.USCC}, Role: consent.RoleLegalPerson}
	if _, err := gz.Consents.Create(ctx, holderClaims, consent.Request{Subject: holder.USCC, Consumer: remote, PurposeCode: "test",
		Purpose: "test", CaseID: "test-1", ValidUntil: time.Now().Add(time.Hour), Items: []consent.Item{{Resource: code}}}); err != nil {
		t.Fatal(err)
	}

	// A key of Dongguan's own licensing department for the same authority.
	dgKey := newIssuerKey(t, a)
	if err := catalog.NewStore(dg.Pool).PutDepartmentKey(ctx, dgKey.Public()); err != nil {
		t.Fatal(err)
	}

	// Dongguan's window looks the licence up at Guangzhou.
	federated(t, dg, "guangzhou", code, true)
	tok := nodetest.Token(t, dg.Key, auth.TokenSpec{Subject: "clerk:dg-1", Scopes: []string{code}})
	var resp nodetest.Response
	for attempt := 1; attempt <= 5; attempt++ {
		resp = nodetest.Post(t, dg.URL()+"/v1/nodes/guangzhou/resources/"+code+"/query", tok, nodetest.Query(issued.Number,
			"id", "type", "number", "holder_name", "holder_code", "authority", "authority_code", "issue_date", "valid_from",
			"valid_until", "items", "seal_key_id", "seal", "status"))
		// Guangzhou's licence adapter may still be joining its
		// consumer group: the first lookups can time out.
		if resp.Status != http.StatusGatewayTimeout && resp.Status != http.StatusServiceUnavailable {
			break
		}
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("lookup of Guangzhou's licence at Dongguan: %d %v", resp.Status, resp.Body)
	}
	rec := resp.Body["record"].(map[string]any)
	if p := resp.Body["receipt"].(map[string]any)["provider"]; p != issuer {
		t.Fatalf("provider %v, want %s", p, issuer)
	}

	verify := func(issuer string, rec map[string]any) nodetest.Response {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"issuer": issuer, "licence": rec})
		r := nodetest.Post(t, dg.URL()+"/v1/licences/verify", tok, body)
		if err := doc.CheckResponse("POST", "/v1/licences/verify", r.Status, "application/json", r.Body); err != nil {
			t.Errorf("verification answer does not match the OpenAPI document: %d %v", r.Status, err)
		}
		return r
	}
	with := func(rec map[string]any, k string, v any) map[string]any {
		out := map[string]any{}
		for key, val := range rec {
			out[key] = val
		}
		out[k] = v
		return out
	}

	t.Run("sealed at Guangzhou, verified at Dongguan", func(t *testing.T) {
		r := verify(issuer, rec)
		if r.Status != http.StatusOK || r.Body["valid"] != true || r.Body["node"] != "guangzhou" || r.Body["key_id"] != gzKey.KeyID {
			t.Fatalf("verification at Dongguan: %d %v", r.Status, r.Body)
		}
		// The window's check is the same.
		if err := dg.Seals.CheckSeal(ctx, issuer, rec); err != nil {
			t.Errorf("the window's seal check: %v", err)
		}
		// Dongguan's own catalogue does not list Guangzhou's key: the
		// licence is not Dongguan's.
		if r := verify(licence.Department, rec); r.Status != http.StatusBadRequest || r.ErrorCode() != "seal_key_unknown" {
			t.Errorf("as a licence of Dongguan's: %d %v", r.Status, r.Body)
		}
		// Dongguan offers the keys it read to offline verifiers.
		const keysPath = "/v1/nodes/{node}/departments/{code}/keys"
		status, body, _ := nodetest.Call(t, "GET", dg.URL()+"/v1/nodes/guangzhou/departments/licensing/keys", tok, nil)
		documented("GET", keysPath, status, "application/jwk-set+json", body)
		keys, _ := body["keys"].([]any)
		found := false
		for _, k := range keys {
			found = found || k.(map[string]any)["kid"] == gzKey.KeyID
		}
		if status != http.StatusOK || !found {
			t.Errorf("Guangzhou's licensing keys at Dongguan: %d %v", status, body)
		}
		status, body, _ = nodetest.Call(t, "GET", dg.URL()+"/v1/nodes/guangzhou/departments/licensing/keys", "", nil)
		if status != http.StatusUnauthorized {
			t.Errorf("the keys of another node without a token: %d", status)
		}
		documented("GET", keysPath, status, "", body)
		status, body, _ = nodetest.Call(t, "GET", dg.URL()+"/v1/nodes/guangzhou/departments/no-such-dept/keys", tok, nil)
		if status != http.StatusNotFound || nodetest.ErrCode(body) != "department_not_found" {
			t.Errorf("a department Guangzhou does not have: %d %v", status, body)
		}
		documented("GET", keysPath, status, "", body)
	})

	t.Run("a forged seal or a key not Guangzhou's fails", func(t *testing.T) {
		if r := verify(issuer, with(rec, "holder_name", holder.Name+"（分店）")); r.Status != http.StatusBadRequest || r.ErrorCode() != "seal_invalid" {
			t.Errorf("an altered licence: %d %v", r.Status, r.Body)
		}
		l, err := licence.FromRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		// A forger's key passed off under Guangzhou's key id.
		_, forger, _ := ed25519.GenerateKey(nil)
		forged := with(rec, "seal", base64.StdEncoding.EncodeToString(ed25519.Sign(forger, licence.Canonical(&l))))
		if r := verify(issuer, forged); r.Status != http.StatusBadRequest || r.ErrorCode() != "seal_invalid" {
			t.Errorf("sealed by a forger under Guangzhou's key id: %d %v", r.Status, r.Body)
		}
		// A key of Dongguan's own licensing department: valid as
		// Dongguan's, not as Guangzhou's.
		l.SealKeyID = dgKey.KeyID
		l.Seal = ed25519.Sign(dgKey.Private, licence.Canonical(&l))
		ours := with(with(rec, "seal_key_id", l.SealKeyID), "seal", base64.StdEncoding.EncodeToString(l.Seal))
		if r := verify(issuer, ours); r.Status != http.StatusBadRequest || r.ErrorCode() != "seal_key_unknown" {
			t.Errorf("sealed with a key of Dongguan's, as Guangzhou's: %d %v", r.Status, r.Body)
		}
		if err := dg.Seals.CheckSeal(ctx, licence.Department, ours); err != nil {
			t.Errorf("sealed with a key of Dongguan's, as Dongguan's: %v", err)
		}
		if r := verify(catalog.RemoteDepartment("guangzhou", catalog.DeptPopulation), rec); r.Status != http.StatusBadRequest || r.ErrorCode() != "seal_issuer_unknown" {
			t.Errorf("a department that issues no licences: %d %v", r.Status, r.Body)
		}
		if r := verify(catalog.RemoteDepartment("shanghai", licence.Department), rec); r.Status != http.StatusNotFound || r.ErrorCode() != "node_not_found" {
			t.Errorf("a node Dongguan is not federated with: %d %v", r.Status, r.Body)
		}
	})

	// Subscriptions to Guangzhou's licences at Dongguan.
	published := func() {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if n, err := outbox.Pending(ctx); err == nil && n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("Guangzhou's licence outbox not published in 15s")
			}
		}
	}
	published() // the issuance is not what the subscriber waits for
	valid := validLicences(t, gz, 3)
	revoke := func(number string) {
		t.Helper()
		if _, err := store.Revoke(ctx, number, "经营场所灭失"); err != nil {
			t.Fatal(err)
		}
	}
	eventsAt := func(fields string) string {
		return dg.URL() + "/v1/nodes/guangzhou/resources/" + code + "/events?" +
			url.Values{"purpose": {"case:test-1"}, "fields": {fields}}.Encode()
	}
	events := eventsAt("number,status")
	delivered := func(m *node.Node, requestID, key string) int {
		t.Helper()
		var n int
		if err := m.Pool.QueryRow(ctx, `SELECT count(*) FROM exchange.audit WHERE request_id = $1 AND subject_key = $2`, requestID, key).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	down := func() {
		t.Helper()
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		if err := gd.Federation.Link(federation.Peer{Name: "guangzhou", Level: federation.LevelCity, Relation: federation.Child,
			URL: dead.URL, Key: gz.NodeKey.Public}); err != nil {
			t.Fatal(err)
		}
	}

	// subscribe opens a subscription at Dongguan, trying again, as
	// exchange.Client does, while the way to Guangzhou answers 503 or 504.
	subscribe := func(lastEventID string) *nodetest.Stream {
		t.Helper()
		for attempt := 1; ; attempt++ {
			s, r := nodetest.SubscribeURL(t, events, tok, lastEventID)
			switch {
			case s != nil:
				return s
			case attempt < 5 && (r.Status == http.StatusServiceUnavailable || r.Status == http.StatusGatewayTimeout):
				time.Sleep(500 * time.Millisecond)
			default:
				t.Fatalf("subscription at Dongguan: %+v", r)
			}
		}
	}
	var last string
	t.Run("a revocation at Guangzhou reaches a subscriber at Dongguan", func(t *testing.T) {
		for _, tc := range []struct {
			name, query, token string
			status             int
			code               string
		}{
			{"scope missing", events, nodetest.Token(t, dg.Key, auth.TokenSpec{Scopes: []string{licence.ResourceByHolder}}), http.StatusForbidden, "scope_missing"},
			// Guangzhou decides: Dongguan does not know the resource's fields.
			{"unknown field", eventsAt("number,status,salary"), tok, http.StatusBadRequest, "unknown_field"},
			{"bad cursor", events + "&after=0:1,x", tok, http.StatusBadRequest, "invalid_cursor"},
		} {
			s, r := nodetest.SubscribeURL(t, tc.query, tc.token, "")
			if s != nil || r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Errorf("%s: %v %+v", tc.name, s != nil, r)
				continue
			}
			documented("GET", "/v1/nodes/{node}/resources/{code}/events", r.Status, "", r.Body)
			if a := nodetest.Audit(t, dg, r.RequestID); a.Code != tc.code || a.Outcome == "released" {
				t.Errorf("%s: Dongguan's ledger %+v", tc.name, a)
			}
		}
		s := subscribe("")
		defer s.Close()
		revoke(issued.Number)
		ev, msg := s.Next(t)
		if msg.Key != issued.Number || msg.Type != licence.EventRevoked || msg.Record["status"] != licence.StatusRevoked ||
			msg.Provider != issuer || len(msg.Record) != 2 {
			t.Fatalf("event at Dongguan: %+v", msg)
		}
		last = ev.ID
		// Both nodes record the subscription and the delivery under one id.
		if a := nodetest.Audit(t, dg, s.RequestID); a.Provider != issuer || a.Consumer != catalog.DeptServiceCenter || a.Outcome != "released" {
			t.Errorf("Dongguan's ledger: %+v", a)
		}
		if a := nodetest.Audit(t, gz, s.RequestID); a.Consumer != remote || a.Caller != "dongguan:clerk:dg-1" || a.Provider != licence.Department {
			t.Errorf("Guangzhou's ledger: %+v", a)
		}
		if a, b := delivered(dg, s.RequestID, issued.Number), delivered(gz, s.RequestID, issued.Number); a != 1 || b < 1 {
			t.Errorf("the delivery recorded %d times at Dongguan, %d at Guangzhou", a, b)
		}

		// Guangzhou cannot be reached: the stream stays open, and what is
		// revoked meanwhile follows once the link is back, once each.
		failed := dg.FederationEvents.Unreachable()
		down()
		// A read in flight when the link went down may still bring what
		// it finds; from the first read that fails, nothing can.
		for deadline := time.Now().Add(15 * time.Second); dg.FederationEvents.Unreachable() == failed; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the subscription did not notice the link was down in 15s")
			}
		}
		revoke(valid[0])
		revoke(valid[1])
		published()
		s.Quiet(t, time.Second)
		link(t, gd, gz, federation.Child)
		got := map[string]int{}
		for range 2 {
			ev, msg := s.Next(t)
			got[msg.Key]++
			last = ev.ID
		}
		s.Quiet(t, time.Second)
		if got[valid[0]] != 1 || got[valid[1]] != 1 {
			t.Errorf("after the outage: %v, want %s and %s once each", got, valid[0], valid[1])
		}
		// Guangzhou records every release; a read whose answer was lost
		// on the link is read and recorded again. Dongguan delivered once.
		for _, n := range valid[:2] {
			if a, b := delivered(dg, s.RequestID, n), delivered(gz, s.RequestID, n); a != 1 || b < 1 {
				t.Errorf("%s recorded %d times at Dongguan, %d at Guangzhou", n, a, b)
			}
		}
	})

	t.Run("a subscriber resumes from its cursor", func(t *testing.T) {
		if last == "" {
			t.Skip("no cursor")
		}
		// While Guangzhou is down a subscription cannot open.
		down()
		if s, r := nodetest.SubscribeURL(t, events, tok, last); s != nil || r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "node_unavailable" {
			t.Errorf("subscribing with Guangzhou down: %v %+v", s != nil, r)
		} else {
			documented("GET", "/v1/nodes/{node}/resources/{code}/events", r.Status, "", r.Body)
		}
		revoke(valid[2])
		published()
		link(t, gd, gz, federation.Child)
		s := subscribe(last)
		defer s.Close()
		if s.First != last {
			t.Errorf("the stream resumes at %s, not at %s", s.First, last)
		}
		if _, msg := s.Next(t); msg.Key != valid[2] {
			t.Errorf("resumed with %+v, want %s", msg, valid[2])
		}
		s.Quiet(t, time.Second)
	})

	t.Run("exchange.Client follows another node's events", func(t *testing.T) {
		client, err := exchange.NewClient(dg.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var got []string
		err = client.Subscribe(cctx, exchange.Subscription{Node: "guangzhou", Resource: code, Purpose: "case:test-1",
			Fields: []string{"number", "status"}, Cursor: exchange.FromStart,
			Token: func(context.Context) (string, error) { return tok, nil }}, func(ev exchange.Event) error {
			if ev.Type == licence.EventRevoked {
				got = append(got, ev.Key)
			}
			if len(got) == 4 {
				return errDone
			}
			return nil
		})
		if err != errDone || len(got) != 4 {
			t.Errorf("from the start: %v (%v)", got, err)
		}
	})
}

var errDone = govx.Errorf(govx.KindInternal, "done", "done")

// newIssuerKey is a fresh seal key of authority a.
func newIssuerKey(t *testing.T, a licence.Authority) licence.IssuerKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return licence.IssuerKey{KeyID: licence.KeyID(a.Code, auth.Thumbprint(pub)), Authority: a, Private: priv, CreatedAt: time.Now()}
}

// validLicences are n valid food business licences of m's register.
func validLicences(t *testing.T, m *node.Node, n int) []string {
	t.Helper()
	rows, err := m.Pool.Query(context.Background(), `SELECT number FROM licence.licences
		WHERE type = $1 AND status = 'valid' AND valid_until > now() ORDER BY number LIMIT $2`, licence.TypeFoodBusiness, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if len(out) != n {
		t.Fatalf("%d valid licences, want %d", len(out), n)
	}
	return out
}
