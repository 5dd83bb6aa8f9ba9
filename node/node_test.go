package node_test

import (
	"context"
	"net/http"
	"testing"

	"govx/adapters/legalentity"
	"govx/adapters/population"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

// Two complete nodes with different configurations run side by side in
// one process, each on its own database, Redis prefix and embedded broker,
// and each answers from its own registers; closing one leaves the other
// serving.
func TestTwoNodesSideBySide(t *testing.T) {
	cfgA := nodetest.Config(t)
	cfgA.Instance = "node-a"
	cfgB := nodetest.Config(t)
	cfgB.Instance = "node-b"
	cfgB.Casework = false
	cfgB.Adapters = []string{legalentity.Department}
	cfgB.Residents = 400 // a register of another size: other residents, other companies

	a := node.New(cfgA)
	addrsA, err := a.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := nodetest.Start(t, cfgB)
	addrsB := b.Addrs()

	if addrsA.HTTP == "" || addrsA.HTTP == addrsB.HTTP {
		t.Fatalf("HTTP addresses: %q and %q", addrsA.HTTP, addrsB.HTTP)
	}
	if len(addrsA.Kafka) == 0 || len(addrsB.Kafka) == 0 || addrsA.Kafka[0] == addrsB.Kafka[0] {
		t.Fatalf("each node has its own embedded broker: %v and %v", addrsA.Kafka, addrsB.Kafka)
	}
	if a.Pool.Config().ConnConfig.Database == b.Pool.Config().ConnConfig.Database {
		t.Fatal("the nodes share a database")
	}

	// A resident at A, a company at B: each node answers from its own
	// adapters, and neither knows the other's tokens.
	person := population.NewGenerator(node.DemoSeed).IDNumber(3)
	nodetest.Consent(t, a, person, "case:test-1", population.ResourceIdentity)
	tokA := nodetest.Token(t, a.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	r := nodetest.Post(t, addrsA.HTTP+"/v1/resources/population.identity/query", tokA, nodetest.Query(person, "status"))
	if r.Status != http.StatusOK {
		t.Fatalf("lookup at A: %d %v", r.Status, r.Body)
	}

	gens, err := node.NewGenerators(node.DemoRegisters(cfgB.Residents))
	if err != nil {
		t.Fatal(err)
	}
	company := gens.Companies.Company(5)
	tokB := nodetest.Token(t, b.Key, auth.TokenSpec{Scopes: []string{legalentity.ResourceStatus}})
	r = nodetest.Post(t, addrsB.HTTP+"/v1/resources/legal-entity.status/query", tokB, nodetest.Query(company.USCC, "status"))
	if r.Status != http.StatusOK || r.Body["record"].(map[string]any)["status"] != company.Status {
		t.Fatalf("lookup at B: %d %v, want status %s", r.Status, r.Body, company.Status)
	}
	if r := nodetest.Post(t, addrsB.HTTP+"/v1/resources/legal-entity.status/query", tokA, nodetest.Query(company.USCC, "status")); r.Status != http.StatusUnauthorized {
		t.Errorf("A's token at B: %d %v", r.Status, r.Body)
	}
	// B runs no case workflow: its router has no window.
	if resp, err := http.Get(addrsB.HTTP + "/ui/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("B's /ui/: %v %v", resp.StatusCode, err)
	}

	// A closed, B still answers.
	a.Close()
	r = nodetest.Post(t, addrsB.HTTP+"/v1/resources/legal-entity.status/query", tokB, nodetest.Query(company.USCC, "status"))
	if r.Status != http.StatusOK {
		t.Fatalf("lookup at B after A closed: %d %v", r.Status, r.Body)
	}
}
