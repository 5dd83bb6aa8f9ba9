package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

// TestBannerTokens: the tokens the banner of `govx up` prints end up
// wherever its output is captured, so they live one hour, and the banner
// says so.
func TestBannerTokens(t *testing.T) {
	cfg := nodetest.Config(t)
	m := nodetest.Start(t, cfg)
	var out bytes.Buffer
	printBanner(&out, m, cfg, node.DemoRecords(cfg.Residents))
	banner := out.String()
	if !strings.Contains(banner, "valid for one hour") || !strings.Contains(banner, "token --role operator") {
		t.Errorf("the banner does not say how long its tokens live or how to read the metrics:\n%s", banner)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: node.Issuer, Audience: node.Audience}, m.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"TOKEN", "CITIZEN"} {
		tok := regexp.MustCompile(`(?m)^\s*` + name + `=(\S+)$`).FindStringSubmatch(banner)
		if tok == nil {
			t.Fatalf("no %s in the banner", name)
		}
		c, err := v.Verify(tok[1])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life != bannerTokenTTL || bannerTokenTTL > time.Hour {
			t.Errorf("%s lives %s", name, life)
		}
	}
}
