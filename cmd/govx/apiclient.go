package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"govx/catalog"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/node"
)

// The command-line clients of the exchange's APIs (govx catalog, govx
// grant) share their flags, their token and their way of sending requests
// and reading error answers.

// apiFlags are the flags every API command takes.
type apiFlags struct {
	url, token, dept, role, data string
	// scopes go into a minted token: what the command needs (catalog:write
	// for a catalogue change, grant:decide for a grant decision).
	scopes []string
}

func (f *apiFlags) register(fs *flag.FlagSet, cfg node.Config, role string) {
	fs.StringVar(&f.url, "url", env("GOVX_URL", "http://127.0.0.1:8080"), "exchange API base URL")
	fs.StringVar(&f.token, "token", os.Getenv("GOVX_TOKEN"), "bearer token (default: mint one for --dept with the local key)")
	fs.StringVar(&f.dept, "dept", catalog.DeptServiceCenter, "department of a minted token")
	fs.StringVar(&f.role, "role", role, "role of a minted token")
	fs.StringVar(&f.data, "data", cfg.DataDir, "data folder holding the signing key")
}

// apiError is an error answer of the API: its status, stable code and
// message.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

func newAPIClient(f apiFlags) (*apiClient, error) {
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url %q is not an http(s) URL", f.url)
	}
	tok := f.token
	if tok == "" {
		key, err := node.LoadKey(f.data)
		if err != nil {
			return nil, fmt.Errorf("no --token or GOVX_TOKEN, and no local key to mint one: %w", err)
		}
		tok, err = key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: "cli:" + f.dept,
			Dept: f.dept, Role: f.role, Scopes: f.scopes, TTL: 5 * time.Minute})
		if err != nil {
			return nil, err
		}
	}
	return &apiClient{base: strings.TrimRight(f.url, "/"), token: tok, hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

// do sends a request and returns the answer's body; an error answer becomes
// an *apiError.
func (c *apiClient) do(ctx context.Context, method, path string, body []byte, header ...string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("exchange API at %s: %w (is govx running? set --url or GOVX_URL)", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var eb httpx.ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
			return nil, &apiError{Status: resp.StatusCode, Code: "http_error", Message: httpx.Truncate(strings.TrimSpace(string(b)), 200)}
		}
		return nil, &apiError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	return b, nil
}

// doJSON sends in (if not nil) as JSON and decodes the answer into out.
func (c *apiClient) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	b, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
