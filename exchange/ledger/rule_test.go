package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"testing"
	"time"

	"govx/exchange/ledger"
)

// oldHash is the link as computed before entries carried a rule
// (migration 001): entries written then must verify for ever.
func oldHash(e ledger.Entry, prev []byte) []byte {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(string(prev))
	put(strconv.FormatInt(e.Seq, 10))
	put(e.At.UTC().Format(time.RFC3339Nano))
	for _, s := range []string{e.RequestID, e.Caller, e.Consumer, e.Resource, e.Provider, e.SubjectKey, strconv.Itoa(len(e.Fields))} {
		put(s)
	}
	for _, f := range e.Fields {
		put(f)
	}
	put(e.Purpose)
	put(e.Outcome)
	put(e.Code)
	put(strconv.Itoa(e.Status))
	return h.Sum(nil)
}

func TestLedgerRule(t *testing.T) {
	l, pool := mustLedger(t)
	ctx := context.Background()
	base := ledger.Entry{Caller: "svc:w", Consumer: "service-center", Resource: "population.household",
		Provider: "population", SubjectKey: "110101199003074477", Fields: []string{"name"}, Purpose: "case:1",
		Outcome: ledger.Answered, Code: "ok", Status: 200}
	for i, rule := range []string{"", "grant:7", "field_not_granted"} {
		e := base
		e.RequestID, e.Rule = "req-"+strconv.Itoa(i), rule
		if err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT seq, at, request_id, caller, consumer, resource, provider, subject_key, fields,
		purpose, outcome, code, status, rule, prev_hash, hash FROM exchange.audit ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []ledger.Entry
	for rows.Next() {
		var e ledger.Entry
		if err := rows.Scan(&e.Seq, &e.At, &e.RequestID, &e.Caller, &e.Consumer, &e.Resource, &e.Provider, &e.SubjectKey,
			&e.Fields, &e.Purpose, &e.Outcome, &e.Code, &e.Status, &e.Rule, &e.PrevHash, &e.Hash); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	if len(got) != 3 || got[1].Rule != "grant:7" || got[2].Rule != "field_not_granted" {
		t.Fatalf("stored = %+v", got)
	}
	// Without a rule an entry hashes exactly as before the column existed;
	// with one, differently.
	if string(oldHash(got[0], got[0].PrevHash)) != string(got[0].Hash) {
		t.Error("an entry without a rule no longer hashes as entries written before migration 002")
	}
	if string(oldHash(got[1], got[1].PrevHash)) == string(got[1].Hash) {
		t.Error("the rule is not covered by the hash")
	}
	if rep := mustVerify(t, pool); rep.Broken != nil || rep.Checked != 3 {
		t.Fatalf("Verify = %+v", rep)
	}
	tamper(t, pool, `UPDATE exchange.audit SET rule = 'grant:8' WHERE seq = 2`)
	if rep := mustVerify(t, pool); rep.Broken == nil || rep.Broken.Seq != 2 {
		t.Fatalf("altered rule: Verify = %+v, want broken at 2", rep)
	}
}
