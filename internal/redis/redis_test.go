package redis_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"govx"
	"govx/internal/redis"
	"govx/internal/redis/redistest"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "redis://" + l.Addr().String() + "/0"
	l.Close()

	tests := []struct {
		name string
		url  string
		kind govx.Kind
		code string
	}{
		{name: "no URL", url: "", kind: govx.KindInvalid, code: "config_invalid"},
		{name: "not a redis URL", url: "http://127.0.0.1:63799", kind: govx.KindInvalid, code: "config_invalid"},
		{name: "server down", url: down, kind: govx.KindUnavailable, code: "cache_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := redis.Open(ctx, redis.Config{URL: tt.url})
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if govx.ErrorKind(err) != tt.kind || govx.ErrorCode(err) != tt.code {
				t.Errorf("Open error = %v (kind %v, code %q), want %v %q", err, govx.ErrorKind(err), govx.ErrorCode(err), tt.kind, tt.code)
			}
		})
	}

	t.Run("default prefix", func(t *testing.T) {
		c, err := redis.Open(ctx, redis.Config{URL: redistest.URL()})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer c.Close()
		if got := c.Key("catalog:x"); got != "govx:catalog:x" {
			t.Errorf("Key = %q, want govx:catalog:x", got)
		}
	})
}

func TestClient(t *testing.T) {
	ctx := context.Background()
	c := redistest.New(t)
	other := redistest.New(t)
	if c.Prefix == other.Prefix {
		t.Fatalf("two test clients share the prefix %q", c.Prefix)
	}
	key := c.Key("counter")
	if key != c.Prefix+"counter" {
		t.Errorf("Key = %q, want %q", key, c.Prefix+"counter")
	}

	_, err := c.Get(ctx, key).Result()
	if !redis.IsNil(err) {
		t.Errorf("Get of a missing key: %v, IsNil = false", err)
	}
	if err := c.Set(ctx, key, "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, key).Result(); redis.IsNil(err) || err != nil {
		t.Errorf("Get of a present key: %v", err)
	}
	if n, err := other.Exists(ctx, other.Key("counter")).Result(); err != nil || n != 0 {
		t.Errorf("the other prefix sees the key (%d, %v)", n, err)
	}
	for _, err := range []error{nil, errors.New("redis: nil"), context.DeadlineExceeded} {
		if redis.IsNil(err) {
			t.Errorf("IsNil(%v) = true", err)
		}
	}
}
