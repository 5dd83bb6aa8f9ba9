package ledger

// An internal test: the tamperer below recomputes hashes with the ledger's
// own hash function, as an attacker who read the code would.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/auth"
	"govx/internal/postgres/postgrestest"
)

type cpFixture struct {
	t    *testing.T
	pool *pgxpool.Pool
	l    *Ledger
	key  *auth.Key
	cp   *Checkpointer
	n    int
}

func newCPFixture(t *testing.T) *cpFixture {
	t.Helper()
	pool := postgrestest.NewMigrated(t, MigrationSource())
	l, err := New(Config{Pool: pool, MaxBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	key, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := NewCheckpointer(CheckpointConfig{Pool: pool, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return &cpFixture{t: t, pool: pool, l: l, key: key, cp: cp}
}

func (f *cpFixture) append(n int) {
	f.t.Helper()
	for range n {
		f.n++
		if err := f.l.Append(context.Background(), Entry{RequestID: fmt.Sprintf("req-%d", f.n), Caller: "svc:w",
			Consumer: "service-center", Resource: "population.identity", Provider: "population",
			SubjectKey: "110101199003074477", Fields: []string{"name"}, Purpose: "case:1",
			Outcome: Answered, Code: "ok", Status: 200}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *cpFixture) checkpoint() *Checkpoint {
	f.t.Helper()
	c, err := f.cp.Checkpoint(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *cpFixture) verify(cfg VerifyConfig) *VerifyReport {
	f.t.Helper()
	rep, err := VerifyWith(context.Background(), f.pool, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return rep
}

func (f *cpFixture) exec(sqls ...string) {
	f.t.Helper()
	for _, q := range sqls {
		if _, err := f.pool.Exec(context.Background(), q); err != nil {
			f.t.Fatalf("%s: %v", q, err)
		}
	}
}

// rewrite alters entry seq and recomputes every later hash and the head,
// with the append-only trigger disabled: what the hash chain alone cannot
// catch.
func (f *cpFixture) rewrite(seq int64) {
	f.t.Helper()
	ctx := context.Background()
	f.exec(`ALTER TABLE exchange.audit DISABLE TRIGGER audit_append_only`)
	defer f.exec(`ALTER TABLE exchange.audit ENABLE TRIGGER audit_append_only`)
	var prev []byte
	if err := f.pool.QueryRow(ctx, `SELECT prev_hash FROM exchange.audit WHERE seq = $1`, seq).Scan(&prev); err != nil {
		f.t.Fatal(err)
	}
	rows, err := f.pool.Query(ctx, `SELECT seq, at, request_id, caller, consumer, resource, provider, subject_key,
		fields, purpose, outcome, code, status, rule FROM exchange.audit WHERE seq >= $1 ORDER BY seq`, seq)
	if err != nil {
		f.t.Fatal(err)
	}
	var es []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.Seq, &e.At, &e.RequestID, &e.Caller, &e.Consumer, &e.Resource, &e.Provider,
			&e.SubjectKey, &e.Fields, &e.Purpose, &e.Outcome, &e.Code, &e.Status, &e.Rule); err != nil {
			f.t.Fatal(err)
		}
		es = append(es, e)
	}
	rows.Close()
	es[0].Consumer = "someone-else"
	for _, e := range es {
		e.Hash = e.hash(prev)
		if _, err := f.pool.Exec(ctx, `UPDATE exchange.audit SET consumer = $2, prev_hash = $3, hash = $4 WHERE seq = $1`,
			e.Seq, e.Consumer, prev, e.Hash); err != nil {
			f.t.Fatal(err)
		}
		prev = e.Hash
	}
	f.exec(fmt.Sprintf(`UPDATE exchange.audit_head SET hash = '\x%x' WHERE id = 1`, prev))
}

// tamperCheckpoints runs SQL on the checkpoints with their guard off.
func (f *cpFixture) tamperCheckpoints(sql string) {
	f.t.Helper()
	f.exec(`ALTER TABLE exchange.audit_checkpoints DISABLE TRIGGER audit_checkpoints_append_only`, sql,
		`ALTER TABLE exchange.audit_checkpoints ENABLE TRIGGER audit_checkpoints_append_only`)
}

func wantBroken(t *testing.T, rep *VerifyReport, seq, checkpoint int64, reason string) {
	t.Helper()
	if rep.Broken == nil {
		t.Fatalf("tampering went unnoticed: %+v", rep)
	}
	if rep.Broken.Seq != seq || rep.Broken.Checkpoint != checkpoint || !strings.Contains(rep.Broken.Reason, reason) {
		t.Errorf("broken = %+v, want entry %d, checkpoint %d, reason with %q", rep.Broken, seq, checkpoint, reason)
	}
}

func TestCheckpointSignsEachHeadOnceAndChains(t *testing.T) {
	f := newCPFixture(t)
	if c := f.checkpoint(); c != nil {
		t.Fatalf("checkpoint of an empty ledger: %+v", c)
	}
	f.append(10)
	first := f.checkpoint()
	if first == nil || first.Seq != 10 || first.PrevSignature != nil || first.KeyID != f.key.ID {
		t.Fatalf("first checkpoint = %+v, want seq 10, no predecessor, kid %s", first, f.key.ID)
	}
	if c := f.checkpoint(); c != nil {
		t.Errorf("head did not move but a checkpoint was taken: %+v", c)
	}
	f.append(5)
	second := f.checkpoint()
	if second == nil || second.Seq != 15 || string(second.PrevSignature) != string(first.Signature) {
		t.Fatalf("second checkpoint = %+v, want seq 15 chained to the first", second)
	}
	latest, err := LatestCheckpoint(context.Background(), f.pool)
	if err != nil || latest.Seq != 15 || latest.Verify(f.key) != nil {
		t.Fatalf("latest = %+v, %v; want seq 15 verifying", latest, err)
	}
	f.append(3)
	rep := f.verify(VerifyConfig{Keys: []*auth.Key{auth.PublicKey(f.key.Public)}})
	if rep.Broken != nil || rep.Checked != 18 || rep.Checkpoints != 2 || rep.CheckpointsVerified != 2 ||
		rep.LastCheckpoint != 15 || !rep.SignaturesChecked {
		t.Errorf("report = %+v, want intact with 2 verified checkpoints up to 15", rep)
	}
}

func TestLatestCheckpointNone(t *testing.T) {
	f := newCPFixture(t)
	_, err := LatestCheckpoint(context.Background(), f.pool)
	if govx.ErrorKind(err) != govx.KindNotFound || govx.ErrorCode(err) != "checkpoint_none" {
		t.Errorf("err = %v, want NotFound checkpoint_none", err)
	}
}

// Instances racing on one head store one checkpoint, and the checkpoints
// still form one chain.
func TestCheckpointersOfSeveralInstances(t *testing.T) {
	f := newCPFixture(t)
	other, err := NewCheckpointer(CheckpointConfig{Pool: f.pool, Key: f.key})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		f.append(3)
		var wg sync.WaitGroup
		taken := make(chan *Checkpoint, 4)
		for _, cp := range []*Checkpointer{f.cp, other, f.cp, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := cp.Checkpoint(context.Background())
				if err != nil {
					t.Error(err)
				}
				if c != nil {
					taken <- c
				}
			}()
		}
		wg.Wait()
		close(taken)
		if n := len(taken); n != 1 {
			t.Fatalf("round %d: %d checkpoints taken of one head, want 1", round, n)
		}
	}
	rep := f.verify(VerifyConfig{Keys: []*auth.Key{f.key}})
	if rep.Broken != nil || rep.Checkpoints != 5 || rep.CheckpointsVerified != 5 {
		t.Errorf("report = %+v, want 5 chained checkpoints", rep)
	}
}

// The whole chain after entry 13 rewritten, hashes and head recomputed:
// the chain holds, the checkpoint at 20 does not, and names the range
// since the last checkpoint that still matched.
func TestCheckpointCatchesARecomputedChain(t *testing.T) {
	f := newCPFixture(t)
	f.append(10)
	f.checkpoint()
	f.append(10)
	f.checkpoint()
	f.append(5)
	f.rewrite(13)
	if rep, err := Verify(context.Background(), f.pool); err != nil || rep.Broken == nil {
		t.Fatalf("Verify without keys = %+v, %v; the hashes still must match the checkpoints", rep, err)
	}
	// What the chain alone says: nothing wrong.
	f.exec(`CREATE TABLE checkpoints_aside AS SELECT * FROM exchange.audit_checkpoints`)
	f.tamperCheckpoints(`DELETE FROM exchange.audit_checkpoints`)
	if rep := f.verify(VerifyConfig{}); rep.Broken != nil {
		t.Fatalf("the recomputed chain should hold by itself, got %+v", rep.Broken)
	}
	f.exec(`INSERT INTO exchange.audit_checkpoints SELECT * FROM checkpoints_aside`)

	rep := f.verify(VerifyConfig{Keys: []*auth.Key{f.key}})
	wantBroken(t, rep, 11, 20, "entries 11–20 were rewritten")
	if rep.CheckpointsVerified != 1 || rep.LastCheckpoint != 10 {
		t.Errorf("report = %+v, want the checkpoint at 10 still verified", rep)
	}

	// The checkpointer refuses to sign the rewritten head.
	f.append(1)
	_, err := f.cp.Checkpoint(context.Background())
	if govx.ErrorCode(err) != "audit_chain_broken" {
		t.Errorf("checkpoint of a rewritten chain: err = %v, want audit_chain_broken", err)
	}
}

func TestVerifyJudgesCheckpointSignatures(t *testing.T) {
	stranger, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		tamper string
		keys   func(f *cpFixture) []*auth.Key
		seq    int64
		reason string
	}{
		{"forged signature", `UPDATE exchange.audit_checkpoints SET signature = sha512(signature) WHERE seq = 10`, nil, 10, "does not verify"},
		{"altered signing time", `UPDATE exchange.audit_checkpoints SET signed_at = signed_at + interval '1 second' WHERE seq = 20`, nil, 20, "does not verify"},
		{"unknown key", "", func(*cpFixture) []*auth.Key { return []*auth.Key{stranger} }, 10, "not one of the keys"},
		{"deleted checkpoint", `DELETE FROM exchange.audit_checkpoints WHERE seq = 20`, nil, 30, "between them was deleted"},
		{"deleted first checkpoint", `DELETE FROM exchange.audit_checkpoints WHERE seq = 10`, nil, 20, "no longer stored"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newCPFixture(t)
			for range 3 {
				f.append(10)
				f.checkpoint()
			}
			if tc.tamper != "" {
				f.tamperCheckpoints(tc.tamper)
			}
			keys := []*auth.Key{f.key}
			if tc.keys != nil {
				keys = tc.keys(f)
			}
			wantBroken(t, f.verify(VerifyConfig{Keys: keys}), tc.seq, tc.seq, tc.reason)
		})
	}
}

func TestCheckpointsAreAppendOnly(t *testing.T) {
	f := newCPFixture(t)
	f.append(2)
	f.checkpoint()
	for _, q := range []string{`UPDATE exchange.audit_checkpoints SET seq = 1`, `DELETE FROM exchange.audit_checkpoints`} {
		_, err := f.pool.Exec(context.Background(), q)
		if err == nil || !strings.Contains(err.Error(), "audit_checkpoints is append-only") {
			t.Errorf("%s: err = %v, want the append-only trigger to refuse", q, err)
		}
	}
}

// An exported checkpoint kept by an auditor still catches a tamperer who
// rewrote the chain and wiped every stored checkpoint.
func TestKeptCheckpointArtefact(t *testing.T) {
	f := newCPFixture(t)
	f.append(10)
	c := f.checkpoint()
	c.PublicKey = f.key.Public
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	json.Unmarshal(data, &fields)
	if fields["format"] != CheckpointFormat || fields["seq"] != float64(10) || fields["kid"] != f.key.ID {
		t.Errorf("artefact = %s", data)
	}
	kept, err := ParseCheckpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := kept.Verify(auth.PublicKey(kept.PublicKey)); err != nil {
		t.Fatalf("artefact does not verify with its own key: %v", err)
	}
	f.append(5)
	rep := f.verify(VerifyConfig{Keys: []*auth.Key{f.key}, Kept: []Checkpoint{*kept}})
	if rep.Broken != nil || rep.KeptVerified != 1 {
		t.Fatalf("report = %+v, want the kept checkpoint verified", rep)
	}

	f.rewrite(4)
	f.tamperCheckpoints(`DELETE FROM exchange.audit_checkpoints`)
	wantBroken(t, f.verify(VerifyConfig{Keys: []*auth.Key{f.key}, Kept: []Checkpoint{*kept}}), 1, 10, "entries 1–10 were rewritten")

	t.Run("deleted from the end", func(t *testing.T) {
		f := newCPFixture(t)
		f.append(10)
		kept := f.checkpoint()
		f.exec(`ALTER TABLE exchange.audit DISABLE TRIGGER audit_append_only`, `DELETE FROM exchange.audit WHERE seq > 6`,
			`ALTER TABLE exchange.audit ENABLE TRIGGER audit_append_only`,
			`UPDATE exchange.audit_head SET seq = 6, hash = (SELECT hash FROM exchange.audit WHERE seq = 6)`)
		f.tamperCheckpoints(`DELETE FROM exchange.audit_checkpoints`)
		wantBroken(t, f.verify(VerifyConfig{Keys: []*auth.Key{f.key}, Kept: []Checkpoint{*kept}}), 7, 10, "entries 7–10 were deleted")
	})
}

func TestParseCheckpointRejects(t *testing.T) {
	key, _ := auth.GenerateKey()
	other, _ := auth.GenerateKey()
	good := Checkpoint{Seq: 3, HeadHash: make([]byte, 32), SignedAt: time.Now().UTC(), PublicKey: key.Public}
	good.sign(key)
	mutate := func(fn func(m map[string]any)) []byte {
		b, _ := json.Marshal(good)
		var m map[string]any
		json.Unmarshal(b, &m)
		fn(m)
		b, _ = json.Marshal(m)
		return b
	}
	cases := map[string][]byte{
		"not json":       []byte("{"),
		"wrong format":   mutate(func(m map[string]any) { m["format"] = "other/v1" }),
		"unknown field":  mutate(func(m map[string]any) { m["extra"] = 1 }),
		"short hash":     mutate(func(m map[string]any) { m["head_hash"] = "00" }),
		"bad signature":  mutate(func(m map[string]any) { m["signature"] = "!!" }),
		"seq zero":       mutate(func(m map[string]any) { m["seq"] = 0 }),
		"kid of another": mutate(func(m map[string]any) { m["kid"] = other.ID }),
	}
	for name, data := range cases {
		if _, err := ParseCheckpoint(data); govx.ErrorCode(err) != "checkpoint_invalid" {
			t.Errorf("%s: err = %v, want checkpoint_invalid", name, err)
		}
	}
	if _, err := ParseCheckpoint(mutate(func(map[string]any) {})); err != nil {
		t.Errorf("good artefact refused: %v", err)
	}
}

func TestCheckpointerRunEveryEntries(t *testing.T) {
	f := newCPFixture(t)
	cp, err := NewCheckpointer(CheckpointConfig{Pool: f.pool, Key: f.key, Interval: time.Hour, Every: 5, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- cp.Run(ctx) }()
	f.append(5)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := LatestCheckpoint(context.Background(), f.pool)
		if err == nil {
			if c.Seq != 5 {
				t.Errorf("checkpoint at %d, want 5", c.Seq)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint after 5 entries")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after cancel, want nil", err)
	}
}

func TestNewCheckpointerNeedsAPrivateKey(t *testing.T) {
	key, _ := auth.GenerateKey()
	pool := new(pgxpool.Pool) // never used: the config is refused first
	if _, err := NewCheckpointer(CheckpointConfig{Pool: pool, Key: auth.PublicKey(key.Public)}); govx.ErrorCode(err) != "config_invalid" {
		t.Errorf("err = %v, want config_invalid", err)
	}
	if _, err := NewCheckpointer(CheckpointConfig{Key: key}); govx.ErrorCode(err) != "config_invalid" {
		t.Errorf("without a Pool: err = %v, want config_invalid", err)
	}
	if _, err := NewCheckpointer(CheckpointConfig{Pool: pool, Key: key, Every: -1}); govx.ErrorCode(err) != "config_invalid" {
		t.Errorf("err = %v, want config_invalid", err)
	}
}

// Checkpoints started beside a ledger sign its head and stop with it.
func TestStartCheckpointsStopsWithTheLedger(t *testing.T) {
	f := newCPFixture(t)
	if err := f.l.StartCheckpoints(CheckpointConfig{Key: f.key, Interval: time.Hour, Every: 3, Poll: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	f.append(3)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := LatestCheckpoint(context.Background(), f.pool); err == nil {
			if c.Seq != 3 {
				t.Errorf("checkpoint at %d, want 3", c.Seq)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint after 3 entries")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.l.Close()
	if err := f.l.StartCheckpoints(CheckpointConfig{Key: f.key}); govx.ErrorCode(err) != "audit_unavailable" {
		t.Errorf("StartCheckpoints after Close = %v, want audit_unavailable", err)
	}
}
