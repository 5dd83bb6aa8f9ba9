package ledger_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"govx/exchange/ledger"
	"govx/internal/postgres/postgrestest"

	"github.com/jackc/pgx/v5/pgxpool"
)

func mustLedger(t *testing.T) (*ledger.Ledger, *pgxpool.Pool) {
	t.Helper()
	pool := postgrestest.NewMigrated(t, ledger.MigrationSource())
	l, err := ledger.New(ledger.Config{Pool: pool, MaxBatch: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l, pool
}

// mustAppend writes n entries from n goroutines at once, as concurrent
// queries do.
func mustAppend(t *testing.T, l *ledger.Ledger, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- l.Append(context.Background(), ledger.Entry{
				RequestID: fmt.Sprintf("req-%03d", i), Caller: "svc:w", Consumer: "service-center",
				Resource: "population.identity", Provider: "population", SubjectKey: "110101199003074477",
				Fields: []string{"name"}, Purpose: "case:1", Outcome: ledger.Answered, Code: "ok", Status: 200,
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustVerify(t *testing.T, pool *pgxpool.Pool) *ledger.VerifyReport {
	t.Helper()
	rep, err := ledger.Verify(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// tamper runs SQL with the append-only trigger disabled, as an attacker
// with database rights would.
func tamper(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{`ALTER TABLE exchange.audit DISABLE TRIGGER audit_append_only`, sql,
		`ALTER TABLE exchange.audit ENABLE TRIGGER audit_append_only`} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestLedgerChainsConcurrentAppends(t *testing.T) {
	l, pool := mustLedger(t)
	mustAppend(t, l, 100)
	rep := mustVerify(t, pool)
	if rep.Broken != nil || rep.Checked != 100 || rep.HeadSeq != 100 {
		t.Fatalf("report = %+v, want 100 intact entries", rep)
	}
	var distinct int
	pool.QueryRow(context.Background(), `SELECT count(DISTINCT request_id) FROM exchange.audit`).Scan(&distinct)
	if distinct != 100 {
		t.Errorf("%d distinct entries stored, want 100", distinct)
	}
}

func TestLedgerIsAppendOnly(t *testing.T) {
	l, pool := mustLedger(t)
	mustAppend(t, l, 3)
	for _, q := range []string{
		`UPDATE exchange.audit SET outcome = 'refused' WHERE seq = 2`,
		`DELETE FROM exchange.audit WHERE seq = 3`,
	} {
		_, err := pool.Exec(context.Background(), q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only trigger to refuse", q, err)
		}
	}
	if rep := mustVerify(t, pool); rep.Broken != nil {
		t.Errorf("chain broken after refused changes: %+v", rep.Broken)
	}
}

func TestVerifyFindsTheFirstBrokenLink(t *testing.T) {
	cases := []struct {
		name   string
		sql    string
		seq    int64
		reason string
	}{
		{"altered field", `UPDATE exchange.audit SET consumer = 'someone-else' WHERE seq = 5`, 5, "altered"},
		{"altered fields list", `UPDATE exchange.audit SET fields = '{name,address}' WHERE seq = 7`, 7, "altered"},
		{"altered and rehashed", `UPDATE exchange.audit SET hash = sha256(hash) WHERE seq = 4`, 4, "altered"},
		{"deleted in the middle", `DELETE FROM exchange.audit WHERE seq = 6`, 6, "missing"},
		{"deleted from the end", `DELETE FROM exchange.audit WHERE seq >= 9`, 9, "deleted from the end"},
		{"replaced predecessor", `UPDATE exchange.audit SET prev_hash = sha256(prev_hash) WHERE seq = 3`, 3, "does not link"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, pool := mustLedger(t)
			mustAppend(t, l, 10)
			if rep := mustVerify(t, pool); rep.Broken != nil {
				t.Fatalf("broken before tampering: %+v", rep.Broken)
			}
			tamper(t, pool, tc.sql)
			rep := mustVerify(t, pool)
			if rep.Broken == nil {
				t.Fatal("tampering went unnoticed")
			}
			if rep.Broken.Seq != tc.seq || !strings.Contains(rep.Broken.Reason, tc.reason) {
				t.Errorf("broken = %+v, want entry %d (%s)", rep.Broken, tc.seq, tc.reason)
			}
		})
	}
}

func TestLedgerCloseFailsLaterAppends(t *testing.T) {
	l, _ := mustLedger(t)
	mustAppend(t, l, 2)
	l.Close()
	if err := l.Append(context.Background(), ledger.Entry{RequestID: "late", Outcome: ledger.Refused}); err == nil {
		t.Error("append after Close succeeded")
	}
}

// One hostile value must not fail the batch it is group-committed with.
func TestLedgerStoresHostileText(t *testing.T) {
	l, pool := mustLedger(t)
	var wg sync.WaitGroup
	errs := make(chan error, 21)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- l.Append(context.Background(), ledger.Entry{RequestID: fmt.Sprintf("good-%d", i), Outcome: ledger.Refused, Code: "x"})
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- l.Append(context.Background(), ledger.Entry{RequestID: "hostile", Resource: "a\x00b", SubjectKey: "\xff\xfe",
			Purpose: "p\x00", Fields: []string{"\x00"}, Outcome: ledger.Refused, Code: "x"})
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	var resource, key string
	if err := pool.QueryRow(context.Background(), `SELECT resource, subject_key FROM exchange.audit WHERE request_id = 'hostile'`).Scan(&resource, &key); err != nil {
		t.Fatal(err)
	}
	if resource != `a\0b` || key != "\uFFFD" {
		t.Errorf("stored resource %q key %q", resource, key)
	}
	if rep := mustVerify(t, pool); rep.Broken != nil || rep.Checked != 21 {
		t.Errorf("report = %+v", rep)
	}
}
