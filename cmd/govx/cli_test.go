package main

import (
	"bytes"
	"context"
	"errors"
	"govx"
	"govx/adapters/population"
	"govx/catalog"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
	"io"
	"os"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "govx up") {
		t.Errorf("help: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
	dir := t.TempDir()
	out.Reset()
	if err := run(context.Background(), []string{"token", "--data", dir, "--scope", "population.identity"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadOrCreateKey(dir + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := auth.NewVerifier(auth.Config{Issuer: node.Issuer, Audience: node.Audience}, key)
	claims, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil || !claims.HasScope("population.identity") || claims.Dept != catalog.DeptServiceCenter {
		t.Errorf("govx token: %v %+v", err, claims)
	}
}

func TestAdapterCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the message; with usage: an errUsage
	}{
		{[]string{"adapter"}, "usage: govx adapter population|market-regulation|licensing"},
		{[]string{"adapter", "nobody"}, "usage: govx adapter population|market-regulation|licensing"},
		{[]string{"adapter", "population", "--nope"}, "flag provided but not defined: -nope"},
	} {
		err := run(context.Background(), tc.args, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("govx %s accepted", strings.Join(tc.args, " "))
			continue
		}
		if errors.Is(err, errUsage) != strings.HasPrefix(tc.want, "usage:") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("govx %s: %v, want %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// `govx consent verify` checks an artefact offline against the published
// keys, read from the running service or from a saved file, and refuses an
// altered one.
func TestConsentVerifyCommand(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))
	c := nodetest.Consent(t, m, population.NewGenerator(node.DemoSeed).IDNumber(2), "case:cli-1", population.ResourceIdentity)
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"consent", "verify", "--keys", m.URL() + "/v1/consents/keys", c.Artefact}, &out, &out); err != nil {
		t.Fatalf("verify: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "consent "+c.ID+": signature valid") || !strings.Contains(out.String(), "cli-1") {
		t.Errorf("output:\n%s", out.String())
	}
	_, _, jwks := nodetest.Call(t, "GET", m.URL()+"/v1/consents/keys", "", nil)
	dir := t.TempDir()
	keys, art := dir+"/keys.json", dir+"/consent.jws"
	os.WriteFile(keys, jwks, 0o600)
	parts := strings.Split(c.Artefact, ".")
	parts[1] = parts[1][:len(parts[1])-2] + "AA"
	os.WriteFile(art, []byte(strings.Join(parts, ".")), 0o600)
	out.Reset()
	err := run(ctx, []string{"consent", "verify", "--keys", keys, art}, &out, &out)
	if govx.ErrorCode(err) != "consent_signature_invalid" {
		t.Errorf("altered artefact: %v\n%s", err, out.String())
	}
}

func TestSetStatusCommand(t *testing.T) {
	cfg := nodetest.Config(t)
	m := nodetest.Start(t, cfg)
	t.Setenv("GOVX_POSTGRES_URL", cfg.PostgresURL)
	id := nodetest.NormalResidents(1)[0]
	var out strings.Builder
	if err := run(context.Background(), []string{"population", "set-status", id, "moved_out", "--reason", "moved to Shanghai"}, &out, io.Discard); err != nil {
		t.Fatalf("set-status: %v", err)
	}
	if r, err := population.NewStore(m.Pool).Resident(context.Background(), id); err != nil || r.Status != population.StatusMovedOut {
		t.Errorf("after set-status: %+v, %v", r, err)
	}
	if !strings.Contains(out.String(), "moved_out") {
		t.Errorf("output %q", out.String())
	}
	for _, args := range [][]string{
		{"population", "set-status", id, "deceased"},                   // no reason
		{"population", "set-status", id, "emigrated", "--reason", "x"}, // unknown status
		{"population", "set-status", id, "moved_out", "--reason", "x"}, // unchanged
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
