package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

// A company closed and a licence revoked through the departments' register
// tools reach a subscriber through the exchange as events, and the
// registers then answer with the new status.
func TestRegisterToolsPublishChanges(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = node.ReferenceAdapters
	m := nodetest.Start(t, cfg)
	t.Setenv("GOVX_POSTGRES_URL", cfg.PostgresURL)
	ctx := context.Background()
	gens, err := node.NewGenerators(node.DemoRegisters(cfg.Residents))
	if err != nil {
		t.Fatal(err)
	}
	var uscc string
	for i := 0; i < node.DemoCompanies; i++ {
		if c := gens.Companies.Company(i); c.Status == legalentity.StatusInBusiness {
			uscc = c.USCC
			break
		}
	}
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{legalentity.ResourceStatus, licence.ResourceFoodBusiness}})
	s, r := nodetest.Subscribe(t, m, legalentity.ResourceStatus, tok, "purpose=case:test&fields=status,status_reason", "")
	if s == nil {
		t.Fatalf("subscribe: %d %v", r.Status, r.Body)
	}

	var out strings.Builder
	if err := run(ctx, []string{"legal-entity", "deregister", uscc, "--reason", "dissolved by resolution of the shareholders"}, &out, io.Discard); err != nil {
		t.Fatalf("deregister: %v", err)
	}
	if !strings.Contains(out.String(), "deregistered") {
		t.Errorf("output %q", out.String())
	}
	_, ev := s.Next(t)
	if ev.Key != uscc || ev.Type != "legal-entity."+legalentity.StatusDeregistered || ev.Record["status"] != legalentity.StatusDeregistered ||
		ev.Record["status_reason"] != "dissolved by resolution of the shareholders" || len(ev.Record) != 2 {
		t.Errorf("event = %+v", ev)
	}
	if rr := nodetest.Post(t, m.URL()+"/v1/resources/"+legalentity.ResourceStatus+"/query", tok, nodetest.Query(uscc, "status")); rr.Status != 200 ||
		rr.Body["record"].(map[string]any)["status"] != legalentity.StatusDeregistered {
		t.Errorf("status after deregistering: %d %v", rr.Status, rr.Body)
	}

	// A valid licence, revoked.
	var number string
	for i := 0; i < node.DemoLicences; i++ {
		if l := gens.Licences.Licence(i); l.Type == licence.TypeFoodBusiness && l.Status == licence.StatusValid {
			number = l.Number
			break
		}
	}
	out.Reset()
	if err := run(ctx, []string{"licence", "revoke", number, "--reason", "premises failed inspection"}, &out, io.Discard); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if rr := nodetest.Post(t, m.URL()+"/v1/resources/"+licence.ResourceFoodBusiness+"/query", tok, nodetest.Query(number, "status")); rr.Status != 200 ||
		rr.Body["record"].(map[string]any)["status"] != licence.StatusRevoked {
		t.Errorf("licence after revoking: %d %v", rr.Status, rr.Body)
	}

	for _, args := range [][]string{
		{"legal-entity", "deregister", uscc, "--reason", "again"}, // terminal
		{"legal-entity", "revoke", uscc},                          // no reason
		{"legal-entity", "close", uscc, "--reason", "x"},          // unknown change
		{"licence", "revoke", number, "--reason", "again"},        // terminal
		{"licence", "revoke", "not-a-number", "--reason", "x"},    // malformed
	} {
		if err := run(ctx, args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
