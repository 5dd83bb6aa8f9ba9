package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/postgres"
	"govx/internal/postgres/postgrestest"
)

// source builds a migration source from name → SQL.
func source(component string, files map[string]string) postgres.Source {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return postgres.Source{Name: component, FS: fsys}
}

// tableExists reports whether the table named (schema-qualified or in
// public) exists.
func tableExists(tb testing.TB, pool *pgxpool.Pool, name string) bool {
	tb.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
		tb.Fatalf("to_regclass(%s): %v", name, err)
	}
	return ok
}

// bookkeeping lists the rows of govx_migrations as component/name.
func bookkeeping(tb testing.TB, pool *pgxpool.Pool) []string {
	tb.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT component || '/' || name FROM govx_migrations ORDER BY component, name`)
	if err != nil {
		tb.Fatalf("read govx_migrations: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatalf("read govx_migrations: %v", err)
	}
	return out
}

func TestMigrateAppliesEachMigrationOnce(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewPool(t)
	// 010 sorts after 002 by name and depends on both earlier ones; the
	// second component has a file of the same name, which is its own.
	app := source("app", map[string]string{
		"001_accounts.sql": `CREATE TABLE accounts (id int PRIMARY KEY);`,
		"002_entries.sql":  `CREATE TABLE entries (id int PRIMARY KEY, account int REFERENCES accounts);`,
		"010_view.sql":     `CREATE VIEW balances AS SELECT a.id, count(e.id) FROM accounts a LEFT JOIN entries e ON e.account = a.id GROUP BY a.id;`,
		"README.md":        `not a migration`,
	})
	other := source("other", map[string]string{
		"001_accounts.sql": `CREATE SCHEMA other; CREATE TABLE other.accounts (id int);`,
	})

	applied, err := postgres.Migrate(ctx, pool, app, other)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	want := []string{"app/001_accounts", "app/002_entries", "app/010_view", "other/001_accounts"}
	if !slices.Equal(applied, want) {
		t.Fatalf("first Migrate applied %v, want %v", applied, want)
	}
	for _, table := range []string{"accounts", "entries", "balances", "other.accounts"} {
		if !tableExists(t, pool, table) {
			t.Errorf("%s does not exist after Migrate", table)
		}
	}
	wantRows := []string{"app/001_accounts.sql", "app/002_entries.sql", "app/010_view.sql", "other/001_accounts.sql"}
	if got := bookkeeping(t, pool); !slices.Equal(got, wantRows) {
		t.Errorf("govx_migrations = %v, want %v", got, wantRows)
	}
	var badSums int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM govx_migrations WHERE checksum !~ '^[0-9a-f]{64}$'`).Scan(&badSums); err != nil {
		t.Fatal(err)
	}
	if badSums != 0 {
		t.Errorf("%d bookkeeping rows without a sha256 checksum", badSums)
	}

	applied, err = postgres.Migrate(ctx, pool, app, other)
	if err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, want nothing", applied)
	}

	// A new migration added later is the only one applied.
	app.FS.(fstest.MapFS)["011_more.sql"] = &fstest.MapFile{Data: []byte(`ALTER TABLE accounts ADD COLUMN name text;`)}
	applied, err = postgres.Migrate(ctx, pool, app, other)
	if err != nil {
		t.Fatalf("third Migrate: %v", err)
	}
	if !slices.Equal(applied, []string{"app/011_more"}) {
		t.Fatalf("third Migrate applied %v, want [app/011_more]", applied)
	}
}

func TestMigrateFailureLeavesNothingHalfApplied(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewPool(t)
	files := map[string]string{
		"001_ok.sql": `CREATE TABLE ok (id int);`,
		// The first statement succeeds, the second fails: both must go.
		"002_broken.sql": `CREATE TABLE half (id int); INSERT INTO half VALUES (1); SELECT * FROM no_such_table;`,
		"003_later.sql":  `CREATE TABLE later (id int);`,
	}
	applied, err := postgres.Migrate(ctx, pool, source("app", files))
	if err == nil {
		t.Fatal("Migrate with a broken migration succeeded")
	}
	var ge *govx.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v is not a *govx.Error", err)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P01" {
		t.Errorf("error %v does not wrap the undefined_table PgError", err)
	}
	if !slices.Equal(applied, []string{"app/001_ok"}) {
		t.Errorf("applied %v, want [app/001_ok]", applied)
	}
	if !tableExists(t, pool, "ok") {
		t.Error("the migration before the broken one was rolled back too")
	}
	if tableExists(t, pool, "half") {
		t.Error("the broken migration's first statement was kept")
	}
	if tableExists(t, pool, "later") {
		t.Error("a migration after the broken one was applied")
	}
	if got := bookkeeping(t, pool); !slices.Equal(got, []string{"app/001_ok.sql"}) {
		t.Errorf("govx_migrations = %v, want only app/001_ok.sql", got)
	}

	// Once fixed, the migration and those after it apply.
	files["002_broken.sql"] = `CREATE TABLE half (id int);`
	applied, err = postgres.Migrate(ctx, pool, source("app", files))
	if err != nil {
		t.Fatalf("Migrate after the fix: %v", err)
	}
	if !slices.Equal(applied, []string{"app/002_broken", "app/003_later"}) {
		t.Errorf("applied after the fix %v, want [app/002_broken app/003_later]", applied)
	}
}

func TestMigrateRefusesChangedMigration(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewPool(t)
	files := map[string]string{"001_t.sql": `CREATE TABLE t (id int);`}
	if _, err := postgres.Migrate(ctx, pool, source("app", files)); err != nil {
		t.Fatal(err)
	}

	files["001_t.sql"] = `CREATE TABLE t (id int); CREATE TABLE sneaked_in (id int);`
	files["002_next.sql"] = `CREATE TABLE next (id int);`
	applied, err := postgres.Migrate(ctx, pool, source("app", files))
	if err == nil {
		t.Fatal("Migrate accepted an applied migration whose text changed")
	}
	if len(applied) != 0 {
		t.Errorf("applied %v after refusing, want nothing", applied)
	}
	for _, table := range []string{"sneaked_in", "next"} {
		if tableExists(t, pool, table) {
			t.Errorf("%s was created although Migrate refused", table)
		}
	}
}

// A migration rewritten after it was applied, whose source lists the
// checksum of the text applied, is taken as applied and recorded with its
// new checksum; a built migration sorts among the files.
func TestMigrateAcceptsReplacedMigration(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewPool(t)
	old := `CREATE TABLE t (id int); CREATE TABLE moved (id int PRIMARY KEY);`
	if _, err := postgres.Migrate(ctx, pool, source("app", map[string]string{"001_t.sql": old})); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(old))
	src := source("app", map[string]string{"001_t.sql": `CREATE TABLE t (id int);`, "003_after.sql": `CREATE TABLE after (id int REFERENCES moved (id));`})
	src.Built = []postgres.Migration{{Name: "002_moved.sql", SQL: `CREATE TABLE IF NOT EXISTS moved (id int PRIMARY KEY);`}}
	if _, err := postgres.Migrate(ctx, pool, src); err == nil {
		t.Fatal("Migrate accepted a changed migration its source does not say it replaces")
	}
	src.Replaces = map[string][]string{"001_t.sql": {hex.EncodeToString(sum[:])}}
	applied, err := postgres.Migrate(ctx, pool, src)
	if err != nil {
		t.Fatalf("Migrate with the replaced checksum: %v", err)
	}
	if want := []string{"app/002_moved", "app/003_after"}; !slices.Equal(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	if applied, err := postgres.Migrate(ctx, pool, source("app", map[string]string{"001_t.sql": `CREATE TABLE t (id int);`})); err != nil || len(applied) != 0 {
		t.Errorf("Migrate without Replaces after the new checksum was recorded = %v, %v", applied, err)
	}

	// A fresh database runs the built migration in its place.
	fresh := postgrestest.NewPool(t)
	if _, err := postgres.Migrate(ctx, fresh, src); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"t", "moved", "after"} {
		if !tableExists(t, fresh, table) {
			t.Errorf("fresh database has no table %s", table)
		}
	}

	// A built migration named like a file is refused.
	src.Built = append(src.Built, postgres.Migration{Name: "001_t.sql", SQL: `SELECT 1`})
	if _, err := postgres.Migrate(ctx, fresh, src); err == nil {
		t.Error("Migrate accepted two migrations of one name")
	}
}

// Several processes starting at once each run Migrate; the advisory lock
// lets exactly one of them apply each migration.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewPool(t)
	src := source("app", map[string]string{
		"001_a.sql": `CREATE TABLE a (id int);`,
		"002_b.sql": `CREATE TABLE b (id int); SELECT pg_sleep(0.05);`,
		"003_c.sql": `CREATE TABLE c (id int);`,
	})
	const migrators = 4
	var wg sync.WaitGroup
	results := make([][]string, migrators)
	errs := make([]error, migrators)
	for i := range migrators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = postgres.Migrate(ctx, pool, src)
		}()
	}
	wg.Wait()
	var all []string
	for i := range migrators {
		if errs[i] != nil {
			t.Errorf("migrator %d: %v", i, errs[i])
		}
		all = append(all, results[i]...)
	}
	slices.Sort(all)
	if want := []string{"app/001_a", "app/002_b", "app/003_c"}; !slices.Equal(all, want) {
		t.Errorf("together the migrators applied %v, want each of %v once", all, want)
	}
}

func TestTranslate(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewPool(t)
	if _, err := pool.Exec(ctx, `
		CREATE TABLE parent (id int PRIMARY KEY);
		CREATE TABLE child (id int PRIMARY KEY, parent int NOT NULL REFERENCES parent, n int CHECK (n > 0));
		INSERT INTO parent VALUES (1);
		INSERT INTO child VALUES (1, 1, 1);`); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		run      func() error
		notFound string
		kind     govx.Kind
		code     string
		cause    error // errors.Is must still find it; nil skips the check
	}{
		{
			name: "unique violation",
			run:  func() error { _, err := pool.Exec(ctx, `INSERT INTO parent VALUES (1)`); return err },
			kind: govx.KindConflict,
			code: "already_exists",
		},
		{
			name: "no rows",
			run: func() error {
				var id int
				return pool.QueryRow(ctx, `SELECT id FROM parent WHERE id = 42`).Scan(&id)
			},
			notFound: "parent_not_found",
			kind:     govx.KindNotFound,
			code:     "parent_not_found",
			cause:    pgx.ErrNoRows,
		},
		{
			name: "foreign key violation",
			run:  func() error { _, err := pool.Exec(ctx, `INSERT INTO child VALUES (2, 99, 1)`); return err },
			kind: govx.KindInvalid,
			code: "constraint_violation",
		},
		{
			name: "check violation",
			run:  func() error { _, err := pool.Exec(ctx, `INSERT INTO child VALUES (2, 1, -1)`); return err },
			kind: govx.KindInvalid,
			code: "constraint_violation",
		},
		{
			name: "serialization failure",
			run: func() error {
				_, err := pool.Exec(ctx, `DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$`)
				return err
			},
			kind: govx.KindConflict,
			code: "retry",
		},
		{
			name: "deadlock",
			run: func() error {
				_, err := pool.Exec(ctx, `DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40P01'; END $$`)
				return err
			},
			kind: govx.KindConflict,
			code: "retry",
		},
		{
			name: "NUL in text",
			run:  func() error { _, err := pool.Exec(ctx, `SELECT $1::text`, "a\x00b"); return err },
			kind: govx.KindInvalid,
			code: "invalid_text",
		},
		{
			name: "invalid UTF-8 in text",
			run:  func() error { _, err := pool.Exec(ctx, `SELECT $1::text`, "\xff\xfe"); return err },
			kind: govx.KindInvalid,
			code: "invalid_text",
		},
		{
			name: "NUL escape in jsonb",
			run:  func() error { _, err := pool.Exec(ctx, `SELECT '"a\u0000b"'::jsonb::text`); return err },
			kind: govx.KindInvalid,
			code: "invalid_text",
		},
		{
			name: "syntax error is ours",
			run:  func() error { _, err := pool.Exec(ctx, `SELEC 1`); return err },
			kind: govx.KindInternal,
			code: "internal",
		},
		{
			name: "server unreachable",
			run: func() error {
				p, err := pgxpool.New(ctx, "postgres://postgres@"+closedAddr(t)+"/x?sslmode=disable&connect_timeout=2")
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				_, err = p.Exec(ctx, `SELECT 1`)
				return err
			},
			kind: govx.KindUnavailable,
			code: "database_unavailable",
		},
		{
			name: "query past its deadline",
			run: func() error {
				ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				defer cancel()
				_, err := pool.Exec(ctx, `SELECT pg_sleep(10)`)
				return err
			},
			kind: govx.KindUnavailable,
			code: "database_unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.run()
			if raw == nil {
				t.Fatal("the query did not fail")
			}
			err := postgres.Translate("test.op", raw, tt.notFound)
			var ge *govx.Error
			if !errors.As(err, &ge) {
				t.Fatalf("Translate(%v) = %v, not a *govx.Error", raw, err)
			}
			if ge.Kind != tt.kind || ge.Code != tt.code || ge.Op != "test.op" {
				t.Errorf("Translate(%v) = kind %v code %q op %q; want %v %q test.op", raw, ge.Kind, ge.Code, ge.Op, tt.kind, tt.code)
			}
			if !errors.Is(err, raw) {
				t.Errorf("Translate result %v does not wrap the cause", err)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("Translate result %v does not wrap %v", err, tt.cause)
			}
		})
	}

	t.Run("nil", func(t *testing.T) {
		if err := postgres.Translate("test.op", nil, "x"); err != nil {
			t.Errorf("Translate(nil) = %v, want nil", err)
		}
	})
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		url  string
		kind govx.Kind
		code string
	}{
		{name: "no URL", url: "", kind: govx.KindInvalid, code: "config_invalid"},
		{name: "bad URL", url: "postgres://%zz", kind: govx.KindInvalid, code: "config_invalid"},
		{name: "server down", url: "postgres://postgres@" + closedAddr(t) + "/x?sslmode=disable", kind: govx.KindUnavailable, code: "database_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := postgres.Open(ctx, postgres.Config{URL: tt.url, ConnectTimeout: 2 * time.Second})
			if err == nil {
				pool.Close()
				t.Fatal("Open succeeded")
			}
			if govx.ErrorKind(err) != tt.kind || govx.ErrorCode(err) != tt.code {
				t.Errorf("Open error = %v (kind %v, code %q), want %v %q", err, govx.ErrorKind(err), govx.ErrorCode(err), tt.kind, tt.code)
			}
		})
	}
	t.Run("server up", func(t *testing.T) {
		pool, err := postgres.Open(ctx, postgres.Config{URL: postgrestest.NewURL(t), MaxConns: 3})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer pool.Close()
		if got := pool.Config().MaxConns; got != 3 {
			t.Errorf("MaxConns = %d, want 3", got)
		}
		var one int
		if err := pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
			t.Errorf("SELECT 1 = %d, %v", one, err)
		}
	})
}
