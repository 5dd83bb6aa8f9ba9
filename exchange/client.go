package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"govx"
	"govx/internal/httpx"
)

// Client asks the exchange's query API over HTTP, as any consumer
// department does. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the exchange at base ("http://host:port").
// hc nil uses a client with a 10-second timeout.
func NewClient(base string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, govx.Errorf(govx.KindInvalid, "config_invalid", "exchange client: %q is not an http(s) URL", base)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}}
	}
	return &Client{base: strings.TrimRight(base, "/"), hc: hc}, nil
}

// Query asks for one record of resource with the bearer token. An error
// answer comes back as the *govx.Error the exchange stated (kind from the
// status, its code and message); an exchange that cannot be reached is
// KindUnavailable ("exchange_unavailable").
func (c *Client) Query(ctx context.Context, token, resource string, q Query) (*Answer, error) {
	const op = "exchange.Client.Query"
	var ans Answer
	if err := c.post(ctx, op, token, resource, q, &ans); err != nil {
		return nil, err
	}
	return &ans, nil
}

// Command sends an order to the command resource (catalog.MethodCommand)
// with the bearer token: payload is the order, a wire-format message of
// the command's order subject, key its reference and purpose what it is
// for; keyID and sig the ordering department's bus signature on the
// payload ("" and nil for none). It returns the provider's record of what
// the order made, as the exchange answered it in JSON. Errors as Query.
func (c *Client) Command(ctx context.Context, token, resource, key, purpose string, payload []byte, keyID string, sig []byte) (json.RawMessage, error) {
	const op = "exchange.Client.Command"
	var ans struct {
		Record json.RawMessage `json:"record"`
	}
	q := Query{Key: key, Purpose: purpose, Payload: payload, PayloadKeyID: keyID, PayloadSignature: sig}
	if err := c.post(ctx, op, token, resource, q, &ans); err != nil {
		return nil, err
	}
	return ans.Record, nil
}

// post sends q to resource's query endpoint and decodes a 200 answer
// into v.
func (c *Client) post(ctx context.Context, op, token, resource string, q Query, v any) error {
	body, err := json.Marshal(q)
	if err != nil {
		return govx.E(op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/resources/"+url.PathEscape(resource)+"/query", bytes.NewReader(body))
	if err != nil {
		return govx.E(op, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		kind := govx.KindUnavailable
		if errors.Is(err, context.DeadlineExceeded) {
			kind = govx.KindTimeout
		}
		return &govx.Error{Kind: kind, Code: "exchange_unavailable", Op: op, Message: "the exchange could not be reached", Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return &govx.Error{Kind: govx.KindUnavailable, Code: "exchange_unavailable", Op: op, Message: "the exchange's answer broke off", Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		var eb httpx.ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
			return &govx.Error{Kind: kindOfStatus(resp.StatusCode), Code: "exchange_error", Op: op,
				Message: "the exchange answered HTTP " + resp.Status}
		}
		return &govx.Error{Kind: kindOfStatus(resp.StatusCode), Code: eb.Error.Code, Op: op, Message: eb.Error.Message}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return govx.E(op, err)
	}
	return nil
}

// kindOfStatus inverts httpx.StatusOf.
func kindOfStatus(status int) govx.Kind {
	for _, k := range govx.Kinds() {
		if httpx.StatusOf(&govx.Error{Kind: k}) == status {
			return k
		}
	}
	if status >= 500 {
		return govx.KindUnavailable
	}
	return govx.KindInvalid
}
