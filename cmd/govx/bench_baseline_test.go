package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"testing"

	"govx/adapters/population"
	"govx/internal/auth"
	"govx/node"
	"govx/node/nodetest"
)

// govx bench --baseline end to end against a node serving the direct
// lookup in this process: the direct route answers what the exchange
// answers, both sides are measured in one run, and the server's CPU time
// is read from /proc.
func TestBenchBaseline(t *testing.T) {
	cfg := nodetest.Config(t)
	cfg.Baseline = true
	m := nodetest.Start(t, cfg)
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	id := population.NewGenerator(node.DemoSeed).IDNumber(5)
	nodetest.Consent(t, m, id, "case:test-1", population.ResourceIdentity)

	t.Run("direct answers the exchange's record", func(t *testing.T) {
		q := nodetest.Query(id, "name", "birth_date", "status")
		direct := nodetest.Post(t, m.URL()+population.DirectPath, tok, q)
		via := nodetest.Post(t, m.URL()+"/v1/resources/"+population.ResourceIdentity+"/query", tok, q)
		if direct.Status != http.StatusOK || via.Status != http.StatusOK {
			t.Fatalf("status direct %d, exchange %d", direct.Status, via.Status)
		}
		if !reflect.DeepEqual(direct.Body["record"], via.Body["record"]) || len(direct.Body["record"].(map[string]any)) != 3 {
			t.Errorf("direct record %v, exchange's %v", direct.Body["record"], via.Body["record"])
		}
	})
	t.Run("direct refuses", func(t *testing.T) {
		for _, tc := range []struct {
			name, token, key string
			want             int
			code             string
		}{
			{"no token", "", id, http.StatusUnauthorized, ""},
			{"no scope", nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{"legal-entity.basic"}}), id, http.StatusForbidden, "scope_missing"},
			{"bad key", tok, "123", http.StatusBadRequest, "invalid_id_number"},
		} {
			r := nodetest.Post(t, m.URL()+population.DirectPath, tc.token, nodetest.Query(tc.key, "status"))
			if r.Status != tc.want || (tc.code != "" && r.ErrorCode() != tc.code) {
				t.Errorf("%s: %d %s, want %d %s", tc.name, r.Status, r.ErrorCode(), tc.want, tc.code)
			}
		}
	})
	t.Run("command", func(t *testing.T) {
		var out bytes.Buffer
		err := runBench(context.Background(), cfg, []string{"--baseline", "--url", m.URL(), "--pid", strconv.Itoa(os.Getpid()),
			"--residents", strconv.Itoa(nodetest.Residents), "--subjects", "60", "--concurrency", "4",
			"--duration", "1s", "--warmup", "0", "--rounds", "1", "--json"}, &out, &out)
		if err != nil {
			t.Fatalf("govx bench --baseline: %v\n%s", err, out.String())
		}
		var rep struct {
			Direct, Govx struct {
				Lookups, Errors int
				CPU             float64 `json:"cpu_seconds"`
				PerLookup       float64 `json:"cpu_ms_per_lookup"`
			}
			Ratio float64
			PID   int `json:"server_pid"`
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		for name, s := range map[string]struct {
			Lookups, Errors int
			CPU             float64 `json:"cpu_seconds"`
			PerLookup       float64 `json:"cpu_ms_per_lookup"`
		}{"direct": rep.Direct, "govx": rep.Govx} {
			if s.Lookups == 0 || s.Errors != 0 || s.CPU <= 0 || s.PerLookup <= 0 {
				t.Errorf("%s: %+v, want lookups, no errors and the server's CPU time", name, s)
			}
		}
		if rep.Ratio <= 0 || rep.PID != os.Getpid() {
			t.Errorf("ratio %v, pid %d: %s", rep.Ratio, rep.PID, out.String())
		}
	})
}

// Without --baseline a node serves no direct lookup.
func TestBaselineOffByDefault(t *testing.T) {
	m := nodetest.Start(t, nodetest.Config(t))
	tok := nodetest.Token(t, m.Key, auth.TokenSpec{Scopes: []string{population.ResourceIdentity}})
	if r := nodetest.Post(t, m.URL()+population.DirectPath, tok, nodetest.Query(population.NewGenerator(node.DemoSeed).IDNumber(5), "status")); r.Status != http.StatusNotFound {
		t.Errorf("direct lookup without --baseline: %d, want 404", r.Status)
	}
}

// processCPU reads this process's CPU time, which only grows.
func TestProcessCPU(t *testing.T) {
	a, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	b, err := processCPU(os.Getpid())
	if err != nil || b < a || a <= 0 {
		t.Errorf("CPU %v then %v (%v; %d)", a, b, err, x)
	}
	if _, err := processCPU(-1); err == nil {
		t.Error("no error for a process that does not exist")
	}
}
