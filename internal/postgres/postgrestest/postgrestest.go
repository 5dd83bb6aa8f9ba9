// Package postgrestest gives tests a fresh, empty database on the real
// PostgreSQL server that `make test` starts, and drops it afterwards.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx/internal/postgres"
)

// DefaultURL is the maintenance database of the server scripts/services.sh
// starts; GOVX_TEST_POSTGRES_URL overrides it.
const DefaultURL = "postgres://postgres@127.0.0.1:54329/postgres?sslmode=disable"

// NewURL creates a database with a random name and returns its URL. The
// database is dropped when the test ends.
func NewURL(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv("GOVX_TEST_POSTGRES_URL")
	if admin == "" {
		admin = DefaultURL
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("postgrestest: cannot reach PostgreSQL at %s (run the tests with `make test`, which starts it): %v", admin, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "govx_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("postgrestest: create database: %v", err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewPool returns a pool on a fresh database, closed when the test ends.
func NewPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), NewURL(tb))
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// NewMigrated returns a pool on a fresh database with the sources' migrations
// applied.
func NewMigrated(tb testing.TB, sources ...postgres.Source) *pgxpool.Pool {
	tb.Helper()
	pool := NewPool(tb)
	if _, err := postgres.Migrate(context.Background(), pool, sources...); err != nil {
		tb.Fatalf("postgrestest: migrate: %v", err)
	}
	return pool
}

// CheckUpgrade checks that a database migrated with earlier texts of src's
// migrations migrates with src, and then has the same tables, columns,
// constraints and indexes in schema as a fresh database migrated with src.
// earlier holds the earlier texts by file name; src's other files are taken
// as they are and its Built migrations are left out of the earlier run.
func CheckUpgrade(t *testing.T, src postgres.Source, earlier fs.FS, schema string) {
	t.Helper()
	ctx := context.Background()
	old := fstest.MapFS{}
	for _, fsys := range []fs.FS{src.FS, earlier} {
		names, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatal(err)
			}
			old[name] = &fstest.MapFile{Data: b}
		}
	}
	upgraded := NewMigrated(t, postgres.Source{Name: src.Name, FS: old})
	if _, err := postgres.Migrate(ctx, upgraded, src); err != nil {
		t.Fatalf("migrate a database migrated with the earlier texts: %v", err)
	}
	if applied, err := postgres.Migrate(ctx, upgraded, src); err != nil || len(applied) != 0 {
		t.Fatalf("migrate the upgraded database again = %v, %v; want nothing applied", applied, err)
	}
	fresh := NewMigrated(t, src)
	got, want := describe(t, upgraded, schema), describe(t, fresh, schema)
	if !slices.Equal(got, want) {
		t.Errorf("schema %s upgraded:\n%s\nfresh:\n%s", schema, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// describe lists schema's columns, constraints and indexes, one a line.
func describe(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT format('column %s.%s %s null=%s default=%s', table_name, column_name, data_type, is_nullable, coalesce(column_default, ''))
		  FROM information_schema.columns WHERE table_schema = $1
		UNION ALL
		SELECT format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
		  FROM pg_constraint WHERE connamespace = $1::regnamespace
		UNION ALL
		SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = $1
		ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("schema %s is empty", schema)
	}
	return out
}
