package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"govx/federation"
)

// A node's link entry, as govx node-key prints it, is what the linked
// node's link file holds: it reads back as the same node and key.
func TestNodeKeyEntryReadsBackAsALink(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GOVX_DATA", dir)
	t.Setenv("GOVX_NODE_NAME", "dongguan")
	t.Setenv("GOVX_NODE_LEVEL", "city")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"node-key", "--url", "https://dongguan.example", "--relation", "child"}, &out, &out); err != nil {
		t.Fatalf("node-key: %v\n%s", err, out.String())
	}
	var again bytes.Buffer
	if err := run(context.Background(), []string{"node-key", "--url", "https://dongguan.example"}, &again, &again); err != nil || again.String() != out.String() {
		t.Errorf("a second node-key printed another key (%v):\n%s\n%s", err, out.String(), again.String())
	}
	links := filepath.Join(dir, "links.json")
	if err := os.WriteFile(links, []byte("["+out.String()+"]"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := federation.ReadLinks(links)
	if err != nil || len(got) != 1 || got[0].Name != "dongguan" || got[0].Level != "city" || got[0].Relation != "child" ||
		got[0].URL != "https://dongguan.example" || len(got[0].Key) != 32 {
		t.Fatalf("links read back: %+v %v", got, err)
	}
	t.Setenv("GOVX_FEDERATION_LINKS", links)
	fc, err := federationConfig()
	if err != nil || fc.Name != "dongguan" || len(fc.Links) != 1 {
		t.Errorf("federationConfig: %+v %v", fc, err)
	}

	// A link without its key, and links without a node name, are refused
	// at start with what is wrong.
	var e map[string]any
	json.Unmarshal(out.Bytes(), &e)
	delete(e, "key")
	bad, _ := json.Marshal([]any{e})
	os.WriteFile(links, bad, 0o600)
	if _, err := federationConfig(); err == nil || !strings.Contains(err.Error(), "public key") {
		t.Errorf("a link without a key: %v", err)
	}
	t.Setenv("GOVX_NODE_NAME", "")
	if _, err := federationConfig(); err == nil || !strings.Contains(err.Error(), "GOVX_NODE_NAME") {
		t.Errorf("links without a node name: %v", err)
	}
	t.Setenv("GOVX_FEDERATION_LINKS", "")
	if err := run(context.Background(), []string{"node-key"}, &out, &out); !errors.Is(err, errUsage) {
		t.Errorf("node-key without a node name: %v", err)
	}
}
