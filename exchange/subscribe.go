package exchange

import (
	"bufio"
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

// FromStart is a cursor before every event a resource's topic still holds:
// a subscriber that resumes from it receives the whole history first.
const FromStart = "0:0"

// Event is one change event received on a subscription. ID is the cursor
// after it: a subscription resumed from ID receives what came after this
// event and nothing before.
type Event struct {
	ID string
	EventMessage
}

// Subscription is what Client.Subscribe asks the exchange for.
type Subscription struct {
	// Node, when set, is the node of the federation that holds Resource:
	// its events are read through this exchange's node link (GET
	// /v1/nodes/{node}/resources/{code}/events), and the cursors are
	// that node's.
	Node     string
	Resource string
	Purpose  string
	// Fields are the record fields to receive. Ask for no personal field
	// and events of personal records are delivered without the data
	// subject's consent, with nothing personal in them; ask for one and
	// each such event is delivered only under consent.
	Fields []string
	// Cursor is where to resume: an Event's ID, FromStart, or "" for the
	// events published from now on.
	Cursor string
	// Token returns the bearer token of each connection. A subscription
	// outlives its tokens: when one expires the exchange ends the stream
	// and Subscribe connects again with a fresh one.
	Token func(ctx context.Context) (string, error)
	// Idle is how long a connection may stay silent (no event, no
	// heartbeat) before it is taken for dead and made again (default 1
	// min; the exchange sends a heartbeat every 15 s by default).
	Idle time.Duration
}

// Subscribe reads the resource's change events (GET
// /v1/resources/{code}/events) and calls fn with each, in order, one at a
// time. A connection that drops, goes silent or is ended by the exchange
// (token expired, shutting down, events unavailable) is made again from
// the last event received, so fn sees every event once per Subscribe
// (a subscriber that restarts resumes from the last ID it handled and may
// see again the events after it that it had not recorded).
//
// It returns when ctx ends (ctx.Err()), when fn returns an error (that
// error; the event is not taken as handled), or when the exchange refuses
// the subscription for good (its *govx.Error: scope_missing,
// subscribe_not_offered, resource_not_found, …).
func (c *Client) Subscribe(ctx context.Context, s Subscription, fn func(Event) error) error {
	if s.Token == nil || s.Resource == "" {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "exchange subscription: a Resource and a Token source are required")
	}
	if s.Idle <= 0 {
		s.Idle = time.Minute
	}
	// A stream lives longer than any one request timeout: the same
	// transport, no overall timeout.
	hc := &http.Client{Transport: c.hc.Transport, CheckRedirect: c.hc.CheckRedirect, Jar: c.hc.Jar}
	cursor := s.Cursor
	backoff := 500 * time.Millisecond
	for {
		delivered, err := c.stream(ctx, hc, s, &cursor, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var handler handlerError
		if errors.As(err, &handler) {
			return handler.err
		}
		if err != nil && !retryable(err) {
			return err
		}
		if delivered {
			backoff = 500 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// handlerError is the subscriber's own error, which ends Subscribe.
type handlerError struct{ err error }

func (h handlerError) Error() string { return h.err.Error() }

// retryable reports whether a subscription that ended with err is worth
// making again: the exchange or the network were unavailable, or the
// token expired (the next connection brings a fresh one).
func retryable(err error) bool {
	switch govx.ErrorKind(err) {
	case govx.KindUnavailable, govx.KindTimeout:
		return true
	}
	return govx.ErrorCode(err) == "token_expired"
}

// stream makes one connection and reads it until it ends; cursor follows
// the events received. delivered reports whether the connection opened.
func (c *Client) stream(ctx context.Context, hc *http.Client, s Subscription, cursor *string, fn func(Event) error) (delivered bool, err error) {
	const op = "exchange.Client.Subscribe"
	token, err := s.Token(ctx)
	if err != nil {
		return false, govx.E(op, err)
	}
	q := url.Values{"purpose": {s.Purpose}}
	if len(s.Fields) > 0 {
		q.Set("fields", strings.Join(s.Fields, ","))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	path := "/v1/resources/" + url.PathEscape(s.Resource) + "/events?"
	if s.Node != "" {
		path = "/v1/nodes/" + url.PathEscape(s.Node) + path[len("/v1"):]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path+q.Encode(), nil)
	if err != nil {
		return false, govx.E(op, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	if *cursor != "" {
		req.Header.Set("Last-Event-ID", *cursor)
	}
	// Silence for longer than Idle drops the connection.
	idle := time.AfterFunc(s.Idle, cancel)
	defer idle.Stop()
	resp, err := hc.Do(req)
	if err != nil {
		return false, &govx.Error{Kind: govx.KindUnavailable, Code: "exchange_unavailable", Op: op, Message: "the exchange could not be reached", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var eb httpx.ErrorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
			return false, &govx.Error{Kind: kindOfStatus(resp.StatusCode), Code: "exchange_error", Op: op, Message: "the exchange answered HTTP " + resp.Status}
		}
		return false, &govx.Error{Kind: kindOfStatus(resp.StatusCode), Code: eb.Error.Code, Op: op, Message: eb.Error.Message}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var id, typ, data string
	for sc.Scan() {
		idle.Reset(s.Idle)
		line := sc.Text()
		switch {
		case line == "":
			switch {
			case typ == "error":
				var eb httpx.ErrorBody
				json.Unmarshal([]byte(data), &eb)
				kind := govx.KindUnavailable
				if eb.Error.Code == "token_expired" {
					kind = govx.KindUnauthenticated
				} else if eb.Error.Code != "events_unavailable" && eb.Error.Code != "shutting_down" && eb.Error.Code != "" {
					kind = govx.KindForbidden
				}
				return true, &govx.Error{Kind: kind, Code: eb.Error.Code, Op: op, Message: eb.Error.Message}
			case data != "":
				var ev Event
				if err := json.Unmarshal([]byte(data), &ev.EventMessage); err != nil {
					return true, &govx.Error{Kind: govx.KindUnavailable, Code: "exchange_error", Op: op, Message: "an event did not decode", Err: err}
				}
				ev.ID = id
				if err := fn(ev); err != nil {
					return true, handlerError{err}
				}
				*cursor = id
			case id != "":
				// The opening block: where this connection started, so a
				// reconnect before the first event misses nothing.
				*cursor = id
			}
			id, typ, data = "", "", ""
		case strings.HasPrefix(line, ":"):
			// A comment: the opening line, or a heartbeat.
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimPrefix(strings.TrimPrefix(line, "id:"), " ")
		case strings.HasPrefix(line, "event:"):
			typ = strings.TrimPrefix(strings.TrimPrefix(line, "event:"), " ")
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
	return true, &govx.Error{Kind: govx.KindUnavailable, Code: "exchange_unavailable", Op: op, Message: "the event stream broke off", Err: sc.Err()}
}
