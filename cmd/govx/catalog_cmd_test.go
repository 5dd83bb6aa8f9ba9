package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"govx/adapters/population"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

const foodLicence = `{
  "code": "licence.fishing-permit",
  "name": "食品经营许可证 (Food business licence)",
  "classification": "主题信息资源/证照 (theme/licences)",
  "provider": "licence",
  "summary": "Licences to sell or serve food, by licence number.",
  "key_type": "licence_number",
  "fields": [
    {"name": "licence_number", "type": "string", "personal": false},
    {"name": "holder_uscc", "type": "string", "description": "unified social credit code of the holder", "personal": false},
    {"name": "valid_until", "type": "date", "personal": false}
  ],
  "sharing": "conditional",
  "conditions": "for licensing and market-supervision cases",
  "methods": ["query", "subscribe"],
  "open_class": "conditionally_open",
  "update_cycle": "daily",
  "legal_basis": "《中华人民共和国食品安全法》",
  "published_on": "2024-06-30",
  "related": ["population.identity"]
}`

// The catalog commands, end to end: the real program serving, the CLI
// talking to it over HTTP with tokens it mints from the local key.
func TestCatalogCommand(t *testing.T) {
	t.Setenv("GOVX_TOKEN", "")
	t.Setenv("GOVX_URL", "")
	cfg := nodetest.Config(t)
	m := nodetest.Start(t, cfg)
	ctx := context.Background()
	dir := t.TempDir()

	govx := func(t *testing.T, stdin string, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		args = append(args, "--url", m.URL(), "--data", cfg.DataDir)
		var err error
		if stdin != "" {
			err = catalogCommand(ctx, cfg, args, strings.NewReader(stdin), &out)
		} else {
			err = run(ctx, append([]string{"catalog"}, args...), &out, io.Discard)
		}
		return out.String(), err
	}
	mustGovx := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := govx(t, "", args...)
		if err != nil {
			t.Fatalf("govx catalog %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	wantAPIError := func(t *testing.T, err error, code string) {
		t.Helper()
		var ae *apiError
		if !errors.As(err, &ae) || ae.Code != code || !strings.Contains(err.Error(), code) {
			t.Fatalf("error = %v, want API error %s", err, code)
		}
	}
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("search and show the demo catalogue", func(t *testing.T) {
		out := mustGovx(t, "search", "--q", "居民身份")
		if !strings.Contains(out, "population.identity") || !strings.Contains(out, "1 of 1") {
			t.Errorf("search:\n%s", out)
		}
		out = mustGovx(t, "show", "population.identity")
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil || !strings.Contains(r["legal_basis"].(string), "居民身份证法") || r["published_on"] != "2025-01-01" {
			t.Errorf("show: %v\n%s", err, out)
		}
		if out := mustGovx(t, "departments"); !strings.Contains(out, "population") || !strings.Contains(out, "service-center") {
			t.Errorf("departments:\n%s", out)
		}
	})

	t.Run("departments put needs role admin", func(t *testing.T) {
		_, err := govx(t, "", "departments", "put", "licence", "--name", "Licensing office", "--role", "service")
		wantAPIError(t, err, "admin_required")
		mustGovx(t, "departments", "put", "licence", "--name", "Licensing office", "--contact", "licence@example.gov.cn")
		if out := mustGovx(t, "departments", "licence"); !strings.Contains(out, `"Licensing office"`) {
			t.Errorf("departments licence:\n%s", out)
		}
	})

	lic := file("licence.json", foodLicence)
	t.Run("register", func(t *testing.T) {
		_, err := govx(t, "", "register", "--file", lic) // as service-center
		wantAPIError(t, err, "not_provider")
		out := mustGovx(t, "register", "--file", lic, "--dept", "licence")
		if !strings.Contains(out, `"version": 1`) || !strings.Contains(out, `"provider_name": "Licensing office"`) {
			t.Errorf("register:\n%s", out)
		}
		_, err = govx(t, "", "register", "--file", lic, "--dept", "licence")
		wantAPIError(t, err, "resource_exists")
		bad := file("bad.json", strings.Replace(foodLicence, "2024-06-30", "30.06.2024", 1))
		_, err = govx(t, "", "register", "--file", bad, "--dept", "licence")
		wantAPIError(t, err, "invalid_date")
		_, err = govx(t, "", "register", "--file", filepath.Join(dir, "missing.json"), "--dept", "licence")
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("missing file: %v", err)
		}
	})

	t.Run("update with the version seen", func(t *testing.T) {
		changed := file("changed.json", strings.Replace(foodLicence, "daily", "weekly", 1))
		out := mustGovx(t, "update", "licence.fishing-permit", "--file", changed, "--version", "1", "--dept", "licence")
		if !strings.Contains(out, `"version": 2`) || !strings.Contains(out, `"update_cycle": "weekly"`) {
			t.Errorf("update:\n%s", out)
		}
		_, err := govx(t, "", "update", "licence.fishing-permit", "--file", lic, "--version", "1", "--dept", "licence")
		wantAPIError(t, err, "version_conflict")
		// The provider's tokens other than its steward's read only.
		_, err = govx(t, "", "update", "licence.fishing-permit", "--file", lic, "--version", "2", "--dept", "licence", "--role", "reviewer")
		wantAPIError(t, err, "role_required")
		// From standard input.
		out, err = govx(t, foodLicence, "update", "licence.fishing-permit", "--version", "2", "--dept", "licence")
		if err != nil || !strings.Contains(out, `"version": 3`) {
			t.Errorf("update from stdin: %v\n%s", err, out)
		}
	})

	t.Run("retire and the history", func(t *testing.T) {
		_, err := govx(t, "", "retire", "licence.fishing-permit", "--dept", "population")
		wantAPIError(t, err, "not_provider")
		out := mustGovx(t, "retire", "licence.fishing-permit", "--dept", "licence", "--version", "3")
		if !strings.Contains(out, `"status": "retired"`) {
			t.Errorf("retire:\n%s", out)
		}
		out = mustGovx(t, "versions", "licence.fishing-permit")
		for _, want := range []string{"register", "update", "retire", "cli:licence"} {
			if !strings.Contains(out, want) {
				t.Errorf("versions lack %q:\n%s", want, out)
			}
		}
		if n := strings.Count(out, "\n"); n != 5 {
			t.Errorf("versions: %d lines, want a header and 4 versions:\n%s", n, out)
		}
		if out := mustGovx(t, "search", "--status", "retired"); !strings.Contains(out, "licence.fishing-permit") || !strings.Contains(out, "1 of 1") {
			t.Errorf("search --status retired:\n%s", out)
		}
		// The demo's population department provides two resources,
		// population.household and population.identity: two pages of one.
		out = mustGovx(t, "search", "--provider", "population", "--status", "all", "--limit", "1", "--json")
		var page struct {
			Total int    `json:"total"`
			Next  string `json:"next"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil || page.Total != 2 || page.Next == "" {
			t.Errorf("search --json: %v\n%s", err, out)
		}
		if out := mustGovx(t, "search", "--provider", "population", "--status", "all", "--limit", "1", "--cursor", page.Next); !strings.Contains(out, "population.identity") || !strings.Contains(out, "of 2") {
			t.Errorf("second page:\n%s", out)
		}
	})

	t.Run("errors print their code", func(t *testing.T) {
		_, err := govx(t, "", "show", "licence.nothing")
		wantAPIError(t, err, "resource_not_found")
		_, err = govx(t, "", "search", "--limit", "500")
		wantAPIError(t, err, "invalid_limit")
		_, err = govx(t, "", "search", "--token", "not-a-token")
		wantAPIError(t, err, "token_invalid")
		if _, err := govx(t, "", "frobnicate"); err == nil {
			t.Error("unknown catalog command accepted")
		}
		if _, err := govx(t, "", "show"); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("show without a code: %v", err)
		}
		var out bytes.Buffer
		err = run(ctx, []string{"catalog", "search", "--url", "http://127.0.0.1:1", "--data", cfg.DataDir}, &out, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "is govx running") {
			t.Errorf("no server: %v", err)
		}
	})

	// Through the wiring's change hook, a retired resource is gone from the
	// exchange within the second, though the exchange had it cached.
	t.Run("retire reaches the exchange's cache", func(t *testing.T) {
		tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"population.identity"}})
		id := population.NewGenerator(node.DemoSeed).IDNumber(1)
		nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)
		url := m.URL() + "/v1/resources/population.identity/query"
		if r := nodetest.Post(t, url, tok, nodetest.Query(id, "name")); r.Status != http.StatusOK {
			t.Fatalf("query before retiring: %d %v", r.Status, r.Body)
		}
		mustGovx(t, "retire", "population.identity", "--dept", "population")
		deadline := time.Now().Add(time.Second)
		for {
			r := nodetest.Post(t, url, tok, nodetest.Query(id, "name"))
			if r.Status == http.StatusNotFound && r.ErrorCode() == "resource_not_found" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("query a second after retiring: %d %v", r.Status, r.Body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
