package federation

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"testing"
	"time"

	"govx"
	"govx/catalog"
)

// The keys of other nodes' departments are kept for TTL, read again after
// it, read again early (at most every Retry) for a key id the set lacks,
// and served stale while their node cannot be reached, for at most Stale.
func TestKeysCache(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	f := &Federation{cfg: Config{Name: "dongguan"}, log: slog.New(slog.DiscardHandler)}
	k := NewKeys(f, KeysConfig{TTL: 10 * time.Minute, Stale: time.Hour, Retry: time.Minute, Now: func() time.Time { return now }})
	published := []string{"a"}
	var down error
	calls := 0
	k.fetch = func(_ context.Context, node, dept string) ([]catalog.DepartmentKey, error) {
		calls++
		if down != nil {
			return nil, down
		}
		if node != "guangzhou" || dept != "licensing" {
			return nil, govx.Errorf(govx.KindNotFound, "department_not_found", "no such department")
		}
		var out []catalog.DepartmentKey
		for _, id := range published {
			out = append(out, catalog.DepartmentKey{Department: node + "/" + dept, KeyID: id, PublicKey: make(ed25519.PublicKey, ed25519.PublicKeySize)})
		}
		return out, nil
	}
	ctx := context.Background()
	key := func(id string) error {
		t.Helper()
		_, err := k.DepartmentKey(ctx, "guangzhou", "licensing", id)
		return err
	}
	step := func(name string, id string, advance time.Duration, wantCalls int, wantCode string) {
		t.Helper()
		now = now.Add(advance)
		err := key(id)
		if calls != wantCalls || govx.ErrorCode(err) != wantCode && !(wantCode == "" && err == nil) {
			t.Errorf("%s: %d calls, %v; want %d calls, %q", name, calls, err, wantCalls, wantCode)
		}
	}
	step("first use reads the set", "a", 0, 1, "")
	step("within TTL, from memory", "a", 5*time.Minute, 1, "")
	published = append(published, "b")
	step("a key id the set lacks reads it again", "b", 0, 2, "")
	step("a made-up key id: read again", "x", time.Minute, 3, "key_unknown")
	step("and not again within Retry", "x", 30*time.Second, 3, "key_unknown")
	step("past TTL the set is read again", "a", 10*time.Minute, 4, "")
	down = govx.Errorf(govx.KindUnavailable, "node_unavailable", "node guangzhou cannot be reached")
	step("node down: the set read before serves", "b", 11*time.Minute, 5, "")
	step("and the node is not asked at every use", "b", time.Second, 5, "")
	step("after Retry it is asked again", "a", time.Minute, 6, "")
	step("past TTL+Stale nothing serves", "a", time.Hour, 7, "node_unavailable")
	down = nil
	step("back", "a", time.Minute, 8, "")
	if _, err := k.DepartmentKeys(ctx, "guangzhou", "no-such"); govx.ErrorCode(err) != "department_not_found" {
		t.Errorf("a department the node has not: %v", err)
	}
	if _, err := k.DepartmentKeys(ctx, "dongguan", "licensing"); govx.ErrorCode(err) != "node_is_local" {
		t.Errorf("this node's own: %v", err)
	}
}
