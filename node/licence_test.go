package node_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"govx/adapters/licence"
	"govx/adapters/population"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

// A licence fetched through the exchange verifies offline against the
// issuer keys the catalogue serves.
func TestLicenceEndToEnd(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Adapters = []string{population.Department, licence.Department}
	m := nodetest.Start(t, cfg)
	gens, err := node.NewGenerators(node.DemoRegisters(cfg.Residents))
	if err != nil {
		t.Fatal(err)
	}
	g := gens.Licences
	var want licence.Licence
	for i := 0; ; i++ {
		if want = g.Licence(i); want.Type == licence.TypeFoodBusiness {
			break
		}
	}
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{licence.ResourceFoodBusiness, licence.ResourceByHolder}})
	fields := []string{"id", "type", "number", "holder_name", "holder_code", "authority", "authority_code",
		"issue_date", "valid_from", "valid_until", "items", "seal_key_id", "seal"}
	nodetest.Consent(t, m, want.HolderCode, "case:test-1", licence.ResourceFoodBusiness, licence.ResourceByHolder)
	r := nodetest.Post(t, m.URL()+"/v1/resources/licence.food-business/query", tok, nodetest.Query(want.Number, fields...))
	if r.Status != http.StatusOK {
		t.Fatalf("query: %d %v", r.Status, r.Body)
	}
	rec, _ := r.Body["record"].(map[string]any)
	str := func(name string) string { s, _ := rec[name].(string); return s }
	date := func(name string) time.Time { d, _ := time.Parse(time.DateOnly, str(name)); return d }
	seal, err := base64.StdEncoding.DecodeString(str("seal"))
	if err != nil {
		t.Fatalf("seal %q: %v", str("seal"), err)
	}
	items := map[string]string{}
	// The face items arrive as a plain JSON object, not Avro's union form.
	raw, ok := rec["items"].(map[string]any)
	if _, wrapped := raw["map"]; !ok || wrapped {
		t.Fatalf("items = %#v, want a plain object", rec["items"])
	}
	for k, v := range raw {
		items[k], _ = v.(string)
	}
	got := licence.Licence{ID: str("id"), Type: str("type"), Number: str("number"), HolderName: str("holder_name"),
		HolderCode: str("holder_code"), Authority: str("authority"), AuthorityCode: str("authority_code"),
		IssueDate: date("issue_date"), ValidFrom: date("valid_from"), ValidUntil: date("valid_until"),
		Items: items, SealKeyID: str("seal_key_id"), Seal: seal}

	ks, err := licence.FetchKeySet(context.Background(), nil, m.URL())
	if err != nil {
		t.Fatalf("FetchKeySet: %v", err)
	}
	if err := ks.Verify(got); err != nil {
		t.Fatalf("licence from the exchange: %v (record %v)", err, rec)
	}
	got.HolderName += "x"
	if err := ks.Verify(got); err == nil {
		t.Error("an altered licence verifies")
	}

	r = nodetest.Post(t, m.URL()+"/v1/resources/licence.by-holder/query", tok, nodetest.Query(want.HolderCode, "total", "licences"))
	if total, _ := r.Body["record"].(map[string]any)["total"].(float64); r.Status != http.StatusOK || total < 1 {
		t.Errorf("by-holder: %d %v", r.Status, r.Body)
	}
	r = nodetest.Post(t, m.URL()+"/v1/resources/licence.by-holder/query", tok, nodetest.Query("91440106MA5D00000X", "total"))
	if r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_holder" {
		t.Errorf("malformed holder: %d %v", r.Status, r.Body)
	}
	r = nodetest.Post(t, m.URL()+"/v1/resources/licence.food-business/query", tok, nodetest.Query("JY 1", "number"))
	if r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_licence_number" {
		t.Errorf("malformed licence number: %d %v", r.Status, r.Body)
	}
}
