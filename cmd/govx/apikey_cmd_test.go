package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"govx/internal/postgres/postgrestest"
	"govx/node"
)

func TestAPIKeyCommand(t *testing.T) {
	ctx := context.Background()
	cfg := node.Config{PostgresURL: postgrestest.NewURL(t)}
	apikey := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runAPIKey(ctx, cfg, args, &out, io.Discard)
		return out.String(), err
	}
	out, err := apikey("create", "--name", "atlas", "--email", "atlas@example.org", "--purpose", "maps")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	m := regexp.MustCompile(`key id:\s+(k_[a-z2-7]{26})`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "X-API-Key:  "+m[1]+".") {
		t.Fatalf("create printed %q", out)
	}
	id := m[1]
	if _, err := apikey("create", "--name", "x", "--email", "bad", "--purpose", "p"); err == nil {
		t.Fatal("create with a bad email succeeded")
	}
	if out, err := apikey("set-limit", id, "--tier", "partner", "--rate", "5", "--per", "1m"); err != nil || !strings.Contains(out, "tier partner, 5/1m0s burst 10") {
		t.Fatalf("set-limit: %q %v", out, err)
	}
	if _, err := apikey("set-limit", id, "--tier", "gold"); err == nil {
		t.Fatal("set-limit to an unknown tier succeeded")
	}
	if out, err := apikey("revoke", id); err != nil || !strings.Contains(out, id+" revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	out, err = apikey("list", "--status", "revoked")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "5/1m0s burst 10") {
		t.Fatalf("list: %q %v", out, err)
	}
	if out, err := apikey("list", "--status", "active"); err != nil || strings.Contains(out, id) {
		t.Fatalf("list active: %q %v", out, err)
	}
	if _, err := apikey("revoke", "k_"+strings.Repeat("a", 26)); err == nil {
		t.Fatal("revoking an unknown key succeeded")
	}
}
