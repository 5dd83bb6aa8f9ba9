package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The open-data API is served on the exchange's address with the demo
// dataset published, and its cursors survive a restart on the same data
// folder.
func TestOpenDataServedWithDemo(t *testing.T) {
	cfg := testConfig(t)
	m := mustRun(t, cfg)
	get := func(base, path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	status, d := get(m.URL(), "/open/v1/datasets/"+DemoOpenDataset)
	if status != 200 || d["rows"].(float64) != 12*14*24 {
		t.Fatalf("demo dataset = %d %v", status, d)
	}
	status, page := get(m.URL(), "/open/v1/datasets/air-quality/records?filter=pm25:gt:60&sort=-pm25&limit=5&count=true")
	if status != 200 || len(page["records"].([]any)) != 5 || page["next"] == nil {
		t.Fatalf("records = %d %v", status, page)
	}
	next := page["next"].(string)
	m.Close()

	// Restarted on the same data folder: nothing is published twice and
	// the cursor still works.
	m2 := mustRun(t, cfg)
	defer m2.Close()
	status, d = get(m2.URL(), "/open/v1/datasets/"+DemoOpenDataset)
	if status != 200 || d["version"].(float64) != 1 {
		t.Fatalf("after restart = %d %v", status, d)
	}
	status, page2 := get(m2.URL(), next)
	if status != 200 || len(page2["records"].([]any)) != 5 {
		t.Fatalf("next page after restart = %d %v", status, page2)
	}
	if strings.Contains(next, "count=") {
		t.Fatalf("next link repeats count: %s", next)
	}
}
