package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"govx"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

// A lookup's audit entry, exported as a proof from a running node, checks
// offline: the chain to a signed checkpoint and the population adapter's
// signature on its reply, under the key the catalogue publishes for it.
func TestAuditProofEndToEnd(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))
	ctx := context.Background()
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	id := population.NewGenerator(node.DemoSeed).Resident(11).IDNumber
	nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)
	resp := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query(id, "name"))
	if resp.Status != http.StatusOK {
		t.Fatalf("status %d: %v", resp.Status, resp.Body)
	}
	resp2 := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok, nodetest.Query("110101199001019999", "name"))
	if resp2.Status == http.StatusOK {
		t.Fatalf("an unconsented lookup was answered: %v", resp2.Body)
	}

	cp, err := ledger.NewCheckpointer(ledger.CheckpointConfig{Pool: m.Pool, Key: m.Key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	keys := node.BusKeySource(catalog.NewStore(m.Pool))
	p, err := ledger.ExportProof(ctx, m.Pool, resp.RequestID, keys, m.Key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	m.Close() // offline from here

	parsed, err := ledger.ParseProof(data)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.VerifyProof(parsed, auth.PublicKey(m.Key.Public))
	if err != nil {
		t.Fatal(err)
	}
	if rep.RequestID != resp.RequestID || rep.Outcome != ledger.Released || !rep.ProviderSigned || rep.Provider != "population" ||
		!strings.HasPrefix(rep.ProviderKeyID, bus.KeyIDPrefix) || !rep.CheckpointKeyTrusted || rep.Links != 1 {
		t.Errorf("report %+v", rep)
	}

	// Each kind of tampering fails, saying where.
	for _, tc := range []struct {
		name, code string
		tamper     func(p *ledger.Proof)
	}{
		{"entry", ledger.CodeProofEntryAltered, func(p *ledger.Proof) { p.Entry.Fields = []string{"name", "address"} }},
		{"chain link", ledger.CodeProofChainBroken, func(p *ledger.Proof) { p.Links[0].Consumer = "tax" }},
		{"checkpoint signature", ledger.CodeProofCheckpointInvalid, func(p *ledger.Proof) { p.Checkpoint.Signature[0] ^= 1 }},
		{"provider key", ledger.CodeProofProviderSignature, func(p *ledger.Proof) { p.ProviderKey = m.Key.Public }},
	} {
		q, err := ledger.ParseProof(data)
		if err != nil {
			t.Fatal(err)
		}
		tc.tamper(q)
		if _, err := ledger.VerifyProof(q, auth.PublicKey(m.Key.Public)); govx.ErrorCode(err) != tc.code || govx.ErrorMessage(err) == "" {
			t.Errorf("%s tampered: %v, want %s", tc.name, err, tc.code)
		}
	}
}
