// Package redis is govx's Redis plumbing: a go-redis client opened from a
// URL and checked before use. Redis holds only caches and counters; nothing
// in it is the only copy of anything.
package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"govx"
)

// Config says where Redis is. Prefix namespaces every key govx writes, so
// several deployments (or tests) can share one server.
type Config struct {
	URL    string
	Prefix string // default "govx:"
}

func (c *Config) Validate() error {
	if c.URL == "" {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "redis: URL is required")
	}
	if c.Prefix == "" {
		c.Prefix = "govx:"
	}
	return nil
}

// Client is a go-redis client that knows its key prefix.
type Client struct {
	*goredis.Client
	Prefix string
}

// Key returns the namespaced key for name.
func (c *Client) Key(name string) string { return c.Prefix + name }

// Open connects and pings.
func Open(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opt, err := goredis.ParseURL(cfg.URL)
	if err != nil {
		return nil, govx.Errorf(govx.KindInvalid, "config_invalid", "redis: bad URL: %v", err)
	}
	opt.DialTimeout = 3 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	opt.PoolSize = 64
	// Redis holds only caches: when it is down, fall back fast rather than
	// retrying dials (go-redis retries five times by default).
	opt.DialerRetries = 1
	opt.MaxRetries = 1
	c := goredis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, &govx.Error{Kind: govx.KindUnavailable, Code: "cache_unavailable", Op: "redis.Open",
			Message: "redis is unavailable", Err: err}
	}
	return &Client{Client: c, Prefix: cfg.Prefix}, nil
}

// IsNil reports whether err is Redis's "no such key".
func IsNil(err error) bool { return err == goredis.Nil }
