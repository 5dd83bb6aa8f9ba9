package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/postgres"
	"govx/node"
	"govx/node/nodetest"
)

// The exchange signs checkpoints as it runs; an auditor exports one, and
// later proves with it that nothing before it changed; operators list the
// ledger with ID numbers masked, on the command line and over HTTP.
func TestAuditCheckpointsAndOperatorView(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.CheckpointInterval = 20 * time.Millisecond
	// Counts the ledger's entries: no case workflow, whose subscriptions to
	// register changes are audited too.
	cfg.Casework = false
	m := nodetest.Start(t, cfg)
	t.Setenv("GOVX_POSTGRES_URL", cfg.PostgresURL)
	t.Setenv("GOVX_DATA", cfg.DataDir)
	ctx := context.Background()

	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	id := population.NewGenerator(node.DemoSeed).Resident(7).IDNumber
	var firstRequest string
	for i := range 3 {
		nodetest.Consent(t, m, id, fmt.Sprintf("case:%s-%d", id, i), population.ResourceIdentity)
		resp := nodetest.Post(t, m.URL()+"/v1/resources/population.identity/query", tok,
			[]byte(fmt.Sprintf(`{"key":%q,"fields":["name"],"purpose":"case:%s-%d"}`, id, id, i)))
		if resp.Status != http.StatusOK {
			t.Fatalf("lookup: status %d: %v", resp.Status, resp.Body)
		}
		if i == 0 {
			firstRequest = resp.RequestID
		}
	}
	// The running exchange signs the head without being asked.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := ledger.LatestCheckpoint(ctx, m.Pool)
		if err == nil && c.Seq == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of entry 3 from the running exchange: %+v, %v", c, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	runAudit := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"audit"}, args...), &out, io.Discard)
		return out.String(), err
	}
	out, err := runAudit("checkpoint", "--export")
	if err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(t.TempDir(), "checkpoint.json")
	os.WriteFile(kept, []byte(out), 0o600)
	c, err := ledger.ParseCheckpoint([]byte(out))
	if err != nil || c.Seq != 3 || c.KeyID != m.Key.ID || c.Verify(auth.PublicKey(c.PublicKey)) != nil {
		t.Fatalf("exported artefact %s: %+v, %v", out, c, err)
	}
	if out, err := runAudit("checkpoint"); err != nil || !strings.Contains(out, "none taken") {
		t.Errorf("checkpoint of an unmoved head: %q, %v", out, err)
	}
	out, err = runAudit("verify", "--checkpoint", kept)
	if err != nil || !strings.Contains(out, "intact: 3 entries") || !strings.Contains(out, "1 kept checkpoints verified") {
		t.Fatalf("verify: %q, %v", out, err)
	}

	// The proof of the first lookup, checked offline.
	out, err = runAudit("proof", firstRequest)
	if err != nil {
		t.Fatalf("proof: %v\n%s", err, out)
	}
	proofFile := filepath.Join(t.TempDir(), "proof.json")
	os.WriteFile(proofFile, []byte(out), 0o600)
	if out, err := runAudit("verify", "--proof", proofFile); err != nil || !strings.Contains(out, "proof valid: audit entry 1") ||
		!strings.Contains(out, "later entries to the checkpoint at entry") || !strings.Contains(out, "provider population signed the reply") ||
		!strings.Contains(out, "carried by the proof") {
		t.Fatalf("verify --proof: %q, %v", out, err)
	}
	if out, err := runAudit("verify", "--proof", proofFile, "--data", cfg.DataDir); err != nil || !strings.Contains(out, "(the exchange's key)") {
		t.Fatalf("verify --proof --data: %q, %v", out, err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.json")
	os.WriteFile(tampered, bytes.Replace([]byte(out0(t, proofFile)), []byte(`"purpose": "case:`), []byte(`"purpose": "case:x`), 1), 0o600)
	if out, err := runAudit("verify", "--proof", tampered); err == nil || !strings.Contains(out, "proof INVALID: audit entry 1 was altered") {
		t.Errorf("verify of a tampered proof: %q, %v", out, err)
	}
	for _, bad := range [][]string{{"proof"}, {"proof", "no-such-request"}, {"verify", "--proof", proofFile, "--checkpoint", kept}} {
		if out, err := runAudit(bad...); err == nil {
			t.Errorf("audit %v accepted: %s", bad, out)
		}
	}

	out, err = runAudit("list", "--resource", population.ResourceIdentity, "--since", "1h", "--limit", "2")
	masked := id[:3] + strings.Repeat("*", 13) + id[16:]
	if err != nil || strings.Contains(out, id) || strings.Count(out, "case:"+masked) != 2 || !strings.Contains(out, "more: --before 2") {
		t.Errorf("list: %v\n%s", err, out)
	}
	// The population department's own log of the same three requests,
	// key masked, each signed by the exchange.
	out, err = runAudit("provider-log", "--department", population.Department)
	if err != nil || strings.Contains(out, id) || strings.Count(out, masked) != 3 || !strings.Contains(out, firstRequest) ||
		strings.Count(out, "answered") != 3 || strings.Count(out, "bus:") != 3 {
		t.Errorf("provider-log: %v\n%s", err, out)
	}
	if _, err := runAudit("provider-log", "--department", "nobody"); !errors.Is(err, errUsage) {
		t.Errorf("provider-log of an unknown department: %v", err)
	}
	for _, bad := range [][]string{{"list", "--limit", "0"}, {"list", "--since", "soon"}, {"list", "extra"}, {"frob"}, {}} {
		if _, err := runAudit(bad...); err == nil {
			t.Errorf("audit %v accepted", bad)
		}
	}

	// Over HTTP: operators only, masked.
	get := func(role string) (int, string) {
		req, _ := http.NewRequest("GET", m.URL()+"/v1/audit?limit=10", nil)
		req.Header.Set("Authorization", "Bearer "+nodetest.Token(t, m.Key, auth.TokenSpec{Role: role}))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get("service"); status != http.StatusForbidden || !strings.Contains(body, "role_required") {
		t.Errorf("service role: %d %s", status, body)
	}
	status, body := get(ledger.RoleOperator)
	var page ledger.Page
	if status != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil || len(page.Entries) != 3 || strings.Contains(body, id) {
		t.Errorf("operator: %d %s", status, body)
	}

	// A tamperer cuts the last entries and resets the head: the kept
	// checkpoint (the stored ones wiped too) still tells.
	m.Close()
	for _, q := range []string{
		`ALTER TABLE exchange.audit DISABLE TRIGGER audit_append_only`,
		`DELETE FROM exchange.audit WHERE seq > 1`,
		`ALTER TABLE exchange.audit ENABLE TRIGGER audit_append_only`,
		`UPDATE exchange.audit_head SET seq = 1, hash = (SELECT hash FROM exchange.audit WHERE seq = 1)`,
		`ALTER TABLE exchange.audit_checkpoints DISABLE TRIGGER audit_checkpoints_append_only`,
		`DELETE FROM exchange.audit_checkpoints`,
	} {
		if err := execSQL(cfg.PostgresURL, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if out, err := runAudit("verify"); err != nil {
		t.Fatalf("the cut chain holds by itself, yet verify says: %q, %v", out, err)
	}
	// The proof needs no database: it still holds after the cut.
	if out, err := runAudit("verify", "--proof", proofFile); err != nil || !strings.Contains(out, "proof valid") {
		t.Errorf("verify --proof after the cut: %q, %v", out, err)
	}
	out, err = runAudit("verify", "--checkpoint", kept)
	if err == nil || !strings.Contains(out, "BROKEN at entry 2") || !strings.Contains(out, "entries 2–3 were deleted") {
		t.Errorf("verify with the kept checkpoint: %q, %v", out, err)
	}
}

func out0(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func execSQL(url, q string) error {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, postgres.Config{URL: url})
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = pool.Exec(ctx, q)
	return err
}
