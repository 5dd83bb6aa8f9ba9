// Package redistest gives tests a client on the real Redis server that
// `make test` starts, with a key prefix of their own that is cleared when
// the test ends.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"govx/internal/redis"
)

// DefaultURL is the test database of the server scripts/services.sh starts;
// GOVX_TEST_REDIS_URL overrides it.
const DefaultURL = "redis://127.0.0.1:63799/15"

// URL is the server tests use.
func URL() string {
	if u := os.Getenv("GOVX_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewPrefix returns a fresh key prefix whose keys are deleted at cleanup.
func NewPrefix(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	prefix := "govxtest:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		c, err := redis.Open(context.Background(), redis.Config{URL: URL(), Prefix: prefix})
		if err != nil {
			return
		}
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// New returns a client with a fresh prefix, closed when the test ends.
func New(tb testing.TB) *redis.Client {
	tb.Helper()
	c, err := redis.Open(context.Background(), redis.Config{URL: URL(), Prefix: NewPrefix(tb)})
	if err != nil {
		tb.Fatalf("redistest: cannot reach Redis at %s (run the tests with `make test`, which starts it): %v", URL(), err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
