// Package postgrestest gives tests a fresh, empty database on the real
// PostgreSQL server that `make test` starts, and drops it afterwards.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

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
