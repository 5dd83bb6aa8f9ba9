package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"govx"
	"govx/adapters/population"
	"govx/casework"
	"govx/catalog"
	"govx/consent"
	"govx/federation"
	"govx/internal/auth"
	"govx/internal/httpx/openapicheck"
	"govx/node"
	"govx/node/nodetest"

	"github.com/golang-jwt/jwt/v5"
)

// federationOf starts a province and two cities under it: Guangdong,
// Dongguan and Guangzhou, each a whole node with its own database, Redis
// prefix, embedded broker and keys. Guangzhou runs the population
// register; Dongguan runs none. They are linked as parent and children.
// Each of opts may change a node's configuration, by its name, before it
// starts.
func federationOf(t *testing.T, opts ...func(name string, cfg *node.Config)) (gd, dg, gz *node.Node) {
	t.Helper()
	start := func(name, level string, adapters ...string) *node.Node {
		cfg := nodetest.Config(t)
		cfg.Instance = name
		cfg.Casework = false
		cfg.Adapters = adapters
		cfg.Timeout = 3 * time.Second
		cfg.Federation = node.FederationConfig{Name: name, Level: level, Refresh: 200 * time.Millisecond}
		for _, o := range opts {
			o(name, &cfg)
		}
		return nodetest.Start(t, cfg)
	}
	gd = start("guangdong", federation.LevelProvince)
	dg = start("dongguan", federation.LevelCity)
	gz = start("guangzhou", federation.LevelCity, population.Department)
	link(t, gd, dg, federation.Child)
	link(t, gd, gz, federation.Child)
	link(t, dg, gd, federation.Parent)
	link(t, gz, gd, federation.Parent)
	return gd, dg, gz
}

// link links from to to, as relation.
func link(t *testing.T, from, to *node.Node, relation string) {
	t.Helper()
	level := map[string]string{"guangdong": federation.LevelProvince}[to.Federation.Name()]
	if level == "" {
		level = federation.LevelCity
	}
	if err := from.Federation.Link(federation.Peer{Name: to.Federation.Name(), Level: level, Relation: relation,
		URL: to.Addrs().HTTP, Key: to.NodeKey.Public}); err != nil {
		t.Fatal(err)
	}
}

// federated waits until m's federated catalogue lists code at node, or
// no longer does (present false).
func federated(t *testing.T, m *node.Node, node, code string, present bool) federation.Resource {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, r := range m.Federation.Search(federation.ResourceFilter{Node: node}) {
			if r.Code == code && present {
				return r
			}
		}
		if !present && !slices.ContainsFunc(m.Federation.Search(federation.ResourceFilter{Node: node}), func(r federation.Resource) bool { return r.Code == code }) {
			return federation.Resource{}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s at %s present=%v not reached in 30s", m.Federation.Name(), code, node, !present)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFederation(t *testing.T) {
	gd, dg, gz := federationOf(t)
	doc, err := openapicheck.Load(federation.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	// documented checks an answer against the federation's OpenAPI document.
	documented := func(method, path string, status int, body any) {
		t.Helper()
		if err := doc.CheckResponse(method, path, status, "", body); err != nil {
			t.Errorf("%s %s %d is not as documented: %v", method, path, status, err)
		}
	}
	const queryPath = "/v1/nodes/{node}/resources/{code}/query"
	ctx := context.Background()
	person := nodetest.NormalResidents(3)[2]
	const code = catalog.DemoHousehold // shared on conditions: Guangzhou decides who may have it
	remote := catalog.RemoteDepartment("dongguan", catalog.DeptServiceCenter)
	tok := nodetest.Token(t, dg.Key, auth.TokenSpec{Subject: "clerk:dg-1", Scopes: []string{code}})
	lookup := func() nodetest.Response {
		return nodetest.Post(t, dg.Addrs().HTTP+"/v1/nodes/guangzhou/resources/"+code+"/query", tok,
			nodetest.Query(person, "address", "household_no"))
	}

	// Dongguan's federated catalogue lists Guangzhou's household through
	// the province, and the province's own resources at province level.
	r := federated(t, dg, "guangzhou", code, true)
	if r.Level != federation.LevelCity || r.Via != "guangdong" || r.Hops != 2 || r.Sharing != catalog.Conditional {
		t.Errorf("Guangzhou's %s as Dongguan sees it: %+v", code, r)
	}
	status, body, _ := nodetest.Call(t, "GET", dg.Addrs().HTTP+"/v1/federation/resources?level=province", tok, nil)
	documented("GET", "/v1/federation/resources", status, body)
	if status, body, _ := nodetest.Call(t, "GET", dg.Addrs().HTTP+"/v1/federation/nodes", tok, nil); status != http.StatusOK || len(body["nodes"].([]any)) != 2 {
		t.Errorf("Dongguan's nodes: %d %v", status, body)
	} else {
		documented("GET", "/v1/federation/nodes", status, body)
	}
	if rs, _ := body["resources"].([]any); status != http.StatusOK || len(rs) == 0 {
		t.Errorf("province resources at Dongguan: %d %v", status, body)
	} else {
		for _, x := range rs {
			if m := x.(map[string]any); m["node"] != "guangdong" || m["level"] != federation.LevelProvince {
				t.Errorf("level=province listed %v", m)
			}
		}
	}

	t.Run("the federation's routes refuse a caller without a token", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"POST", "/v1/nodes/guangzhou/resources/" + code + "/query"},
			{"POST", "/v1/nodes/guangzhou/grants"},
			{"GET", "/v1/nodes/guangzhou/grants/1"},
			{"GET", "/v1/federation/resources"},
			{"GET", "/v1/federation/nodes"},
		} {
			if status, body, _ := nodetest.Call(t, c.method, dg.Addrs().HTTP+c.path, "", nil); status != http.StatusUnauthorized {
				t.Errorf("%s %s without a token: %d %v", c.method, c.path, status, body)
			}
		}
	})

	t.Run("refused without the remote grant, audited at both ends", func(t *testing.T) {
		resp := lookup()
		if resp.Status != http.StatusForbidden || resp.ErrorCode() != "grant_required" {
			t.Fatalf("lookup without Guangzhou's grant: %d %v", resp.Status, resp.Body)
		}
		documented("POST", queryPath, resp.Status, resp.Body)
		a, b := nodetest.Audit(t, dg, resp.RequestID), nodetest.Audit(t, gz, resp.RequestID)
		if a.Provider != "guangzhou/population" || a.Consumer != catalog.DeptServiceCenter || a.Code != "grant_required" {
			t.Errorf("Dongguan's ledger: %+v", a)
		}
		if b.Consumer != remote || b.Caller != "dongguan:clerk:dg-1" || b.Code != "grant_required" || b.Outcome != "refused" {
			t.Errorf("Guangzhou's ledger: %+v", b)
		}
	})

	// Dongguan's service center applies, through its node, for
	// Guangzhou's household; Guangzhou's population department decides,
	// on its own working-day clock.
	status, body, _ = nodetest.Call(t, "POST", dg.Addrs().HTTP+"/v1/nodes/guangzhou/grants", tok, map[string]any{
		"resource": code, "fields": []string{"address", "household_no"}, "legal_basis": "跨域通办",
		"purpose":    "verify the address of applicants at Dongguan's window",
		"valid_from": time.Now().Format(time.DateOnly), "valid_until": time.Now().AddDate(0, 1, 0).Format(time.DateOnly)})
	if status != http.StatusCreated || body["consumer"] != remote || body["status"] != "pending" || body["due_by"] == "" {
		t.Fatalf("grant application through Dongguan: %d %v", status, body)
	}
	documented("POST", "/v1/nodes/{node}/grants", status, body)
	id := strconv.Itoa(int(body["id"].(float64)))
	steward := nodetest.Token(t, gz.Key, auth.TokenSpec{Subject: "steward:gz", Dept: catalog.DeptPopulation, Role: catalog.RoleSteward,
		Scopes: []string{catalog.ScopeGrantDecide}})
	if status, body, _ := nodetest.Call(t, "POST", gz.Addrs().HTTP+"/v1/catalog/grants/"+id+"/approve", steward, nil); status != http.StatusOK {
		t.Fatalf("approval at Guangzhou: %d %v", status, body)
	}
	if status, body, _ := nodetest.Call(t, "GET", dg.Addrs().HTTP+"/v1/nodes/guangzhou/grants/"+id, tok, nil); status != http.StatusOK || body["status"] != "approved" {
		t.Errorf("the grant as Dongguan sees it: %d %v", status, body)
	} else {
		documented("GET", "/v1/nodes/{node}/grants/{id}", status, body)
	}
	other := nodetest.Token(t, dg.Key, auth.TokenSpec{Subject: "clerk:dg-2", Dept: casework.DeptMarket, Scopes: []string{code}})
	if status, body, _ := nodetest.Call(t, "GET", dg.Addrs().HTTP+"/v1/nodes/guangzhou/grants/"+id, other, nil); status != http.StatusNotFound {
		t.Errorf("another department's look at the grant: %d %v", status, body)
	}
	resident := &auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: person}, Role: consent.RoleCitizen}
	cons, err := gz.Consents.Create(ctx, resident, consent.Request{Subject: person, Consumer: remote, PurposeCode: "test",
		Purpose: "test", CaseID: "test-1", ValidUntil: time.Now().Add(time.Hour), Items: []consent.Item{{Resource: code}}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("answered under Guangzhou's grant and the resident's consent", func(t *testing.T) {
		resp := lookup()
		if resp.Status != http.StatusOK {
			t.Fatalf("lookup: %d %v", resp.Status, resp.Body)
		}
		documented("POST", queryPath, resp.Status, resp.Body)
		rec := resp.Body["record"].(map[string]any)
		receipt := resp.Body["receipt"].(map[string]any)
		if rec["address"] == nil || rec["household_no"] == nil || receipt["provider"] != "guangzhou/population" {
			t.Errorf("answer: %v", resp.Body)
		}
		a, b := nodetest.Audit(t, dg, resp.RequestID), nodetest.Audit(t, gz, resp.RequestID)
		if a.Outcome != "released" || a.Provider != "guangzhou/population" || a.SubjectKey != person {
			t.Errorf("Dongguan's ledger: %+v", a)
		}
		if b.Outcome != "released" || b.Consumer != remote || b.Provider != catalog.DeptPopulation {
			t.Errorf("Guangzhou's ledger: %+v", b)
		}
		// The resident's access view at Guangzhou names Dongguan's
		// department.
		ptok := nodetest.Token(t, gz.Key, auth.TokenSpec{Subject: person, Role: consent.RoleCitizen, Dept: "-"})
		_, view, raw := nodetest.Call(t, "GET", gz.Addrs().HTTP+"/v1/subjects/"+person+"/accesses", ptok, nil)
		if !bytes.Contains(raw, []byte(remote)) {
			t.Errorf("the resident's view at Guangzhou does not name %s: %v", remote, view)
		}
	})

	t.Run("a consent revoked at Guangzhou refuses the next lookup", func(t *testing.T) {
		if _, err := gz.Consents.Change(ctx, resident, cons.ID, "revoke", "changed my mind", 0); err != nil {
			t.Fatal(err)
		}
		if resp := lookup(); resp.Status != http.StatusForbidden || (resp.ErrorCode() != "consent_revoked" && resp.ErrorCode() != "consent_required") {
			t.Fatalf("lookup after the revocation: %d %v", resp.Status, resp.Body)
		}
	})

	t.Run("a service call travels through the province", func(t *testing.T) {
		gz.Federation.Serve("test.echo", func(_ context.Context, from federation.Origin, payload json.RawMessage) (any, error) {
			return map[string]any{"from": from.RemoteDepartment(), "caller": from.Caller, "payload": payload}, nil
		})
		var out struct {
			From, Caller string
			Payload      map[string]int
		}
		if err := dg.Federation.Call(ctx, "guangzhou", "test.echo", catalog.DeptServiceCenter, "clerk:dg-1", map[string]int{"n": 7}, &out); err != nil ||
			out.From != remote || out.Caller != "clerk:dg-1" || out.Payload["n"] != 7 {
			t.Errorf("echo: %+v %v", out, err)
		}
		if err := dg.Federation.Call(ctx, "guangzhou", "test.unknown", catalog.DeptServiceCenter, "clerk:dg-1", nil, nil); govx.ErrorCode(err) != "kind_not_served" {
			t.Errorf("a kind Guangzhou does not serve: %v", err)
		}
	})

	t.Run("a node down answers node_unavailable, and recovers", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		if err := gd.Federation.Link(federation.Peer{Name: "guangzhou", Level: federation.LevelCity, Relation: federation.Child,
			URL: dead.URL, Key: gz.NodeKey.Public}); err != nil {
			t.Fatal(err)
		}
		gd.Federation.Refresh(ctx) // a link replaced is read afresh
		resp := lookup()
		if resp.Status != http.StatusServiceUnavailable || resp.ErrorCode() != "node_unavailable" {
			t.Errorf("lookup with Guangzhou down: %d %v", resp.Status, resp.Body)
		} else if a := nodetest.Audit(t, dg, resp.RequestID); a.Outcome != "failed" {
			t.Errorf("Dongguan's ledger: %+v", a)
		}
		documented("POST", queryPath, resp.Status, resp.Body)
		// The next moment's queries fail at once, without dialling again.
		if resp := lookup(); resp.Status != http.StatusServiceUnavailable || resp.ErrorCode() != "node_unavailable" {
			t.Errorf("second lookup with Guangzhou down: %d %v", resp.Status, resp.Body)
		}
		link(t, gd, gz, federation.Child)
		for relinked := time.Now(); gd.Federation.ReadAt("guangzhou").Before(relinked); time.Sleep(50 * time.Millisecond) {
			if time.Since(relinked) > 30*time.Second {
				t.Fatal("Guangdong did not read Guangzhou's catalogue again in 30s")
			}
		}
		if resp := lookup(); resp.Status != http.StatusForbidden || resp.ErrorCode() != "consent_revoked" && resp.ErrorCode() != "consent_required" {
			t.Errorf("lookup with Guangzhou back: %d %v", resp.Status, resp.Body)
		}
	})

	t.Run("a slow node answers node_timeout", func(t *testing.T) {
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer slow.Close()
		defer close(release)
		if err := dg.Federation.Link(federation.Peer{Name: "shenzhen", Level: federation.LevelCity, Relation: federation.Peered,
			URL: slow.URL, Key: gz.NodeKey.Public}); err != nil {
			t.Fatal(err)
		}
		resp := nodetest.Post(t, dg.Addrs().HTTP+"/v1/nodes/shenzhen/resources/"+code+"/query", tok, nodetest.Query(person, "address"))
		if resp.Status != http.StatusGatewayTimeout || resp.ErrorCode() != "node_timeout" {
			t.Errorf("lookup at a node that does not answer: %d %v", resp.Status, resp.Body)
		}
	})

	t.Run("forged, unsigned and replayed link calls are refused", func(t *testing.T) {
		env := federation.Envelope{RequestID: "0123456789abcdef0123456789abcdef", Origin: "dongguan", Target: "guangzhou",
			Department: catalog.DeptServiceCenter, Caller: "x", Scopes: []string{code}, Resource: code, Key: person,
			Purpose: "case:test-1", SentAt: time.Now()}
		body, _ := json.Marshal(env)
		send := func(sign func(*http.Request)) (int, string) {
			req, _ := http.NewRequest("POST", gz.Addrs().HTTP+"/federation/v1/query", bytes.NewReader(body))
			sign(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Error struct{ Code string }
			}
			json.NewDecoder(resp.Body).Decode(&e)
			return resp.StatusCode, e.Error.Code
		}
		if s, c := send(func(*http.Request) {}); s != http.StatusUnauthorized || c != "link_unsigned" {
			t.Errorf("unsigned: %d %s", s, c)
		}
		forger, _ := auth.GenerateKey()
		if s, c := send(func(r *http.Request) { federation.SignCall(r, "guangdong", "guangzhou", forger, time.Now(), body) }); s != http.StatusUnauthorized || c != "link_unverified" {
			t.Errorf("signed with a key not Guangdong's: %d %s", s, c)
		}
		if s, c := send(func(r *http.Request) { federation.SignCall(r, "shenzhen", "guangzhou", forger, time.Now(), body) }); s != http.StatusUnauthorized || c != "link_unknown_node" {
			t.Errorf("from a node Guangzhou is not linked to: %d %s", s, c)
		}
		// Guangdong's own key, but for another node: the signature names
		// the node it is meant for.
		if s, c := send(func(r *http.Request) { federation.SignCall(r, "guangdong", "dongguan", gd.NodeKey, time.Now(), body) }); s != http.StatusUnauthorized || c != "link_unverified" {
			t.Errorf("a call signed for Dongguan, sent to Guangzhou: %d %s", s, c)
		}
		if s, c := send(func(r *http.Request) {
			federation.SignCall(r, "guangdong", "guangzhou", gd.NodeKey, time.Now().Add(-5*time.Minute), body)
		}); s != http.StatusUnauthorized || c != "link_stale" {
			t.Errorf("an old call: %d %s", s, c)
		}
		// A peer of Guangzhou's, with its own good key, may not speak for
		// Dongguan: it is not the way there.
		if err := gz.Federation.Link(federation.Peer{Name: "foshan", Level: federation.LevelCity, Relation: federation.Peered,
			URL: "http://127.0.0.1:1", Key: forger.Public}); err != nil {
			t.Fatal(err)
		}
		if s, c := send(func(r *http.Request) { federation.SignCall(r, "foshan", "guangzhou", forger, time.Now(), body) }); s != http.StatusForbidden || c != "link_not_relay" {
			t.Errorf("a peer passing itself off as Dongguan: %d %s", s, c)
		}
		var captured http.Header
		if s, _ := send(func(r *http.Request) {
			federation.SignCall(r, "guangdong", "guangzhou", gd.NodeKey, time.Now(), body)
			captured = r.Header.Clone()
		}); s == http.StatusUnauthorized || s == http.StatusConflict {
			t.Errorf("a call signed by Guangdong: %d", s)
		}
		if s, c := send(func(r *http.Request) { r.Header = captured }); s != http.StatusConflict || c != "link_replayed" {
			t.Errorf("the same call again: %d %s", s, c)
		}
	})

	t.Run("a resource retired at the province leaves the cities' view", func(t *testing.T) {
		var provincial string
		for _, r := range dg.Federation.Search(federation.ResourceFilter{Node: "guangdong"}) {
			provincial = r.Code
			break
		}
		if provincial == "" {
			t.Fatal("Dongguan lists no resource of Guangdong")
		}
		if _, err := catalog.NewStore(gd.Pool).UpdateResource(ctx, provincial, catalog.SystemActor, func(r *catalog.Resource) error {
			r.Status = catalog.StatusRetired
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		federated(t, dg, "guangdong", provincial, false)
	})
}
