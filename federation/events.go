package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"govx"
	"govx/bus"
	"govx/catalog"
	"govx/exchange"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/httpx"
)

// KindEventsRead is the service kind a node reads another node's change
// events with, for a subscriber of its own: one bounded read from a
// cursor, decided at the holding node as a subscription of its own
// departments is (see EventReader).
const KindEventsRead = "events.read"

// EventReader reads a resource's change events for a caller under the
// subscription policy, recording what it delivers. *exchange.Events
// satisfies it.
type EventReader interface {
	Read(ctx context.Context, caller *auth.Claims, rq exchange.ReadRequest) (*exchange.ReadResult, error)
}

var _ EventReader = (*exchange.Events)(nil)

// eventsRead is the request of KindEventsRead.
type eventsRead struct {
	// Subscription is the asking node's subscription: both nodes record
	// it, and every event it delivers, under this id.
	Subscription string   `json:"subscription"`
	Resource     string   `json:"resource"`
	Fields       []string `json:"fields,omitempty"`
	Purpose      string   `json:"purpose"`
	Cursor       string   `json:"cursor,omitempty"` // "" reads from now
	Max          int      `json:"max,omitempty"`
	WaitMillis   int64    `json:"wait_ms,omitempty"`
	Open         bool     `json:"open,omitempty"`
}

// EventsConfig is how a node serves its change events to other nodes and
// other nodes' events to its own subscribers.
type EventsConfig struct {
	// Local reads this node's events for other nodes' departments; nil
	// serves none.
	Local EventReader
	// MaxSubscriptions bounds the subscriptions to other nodes' events
	// this instance serves at once (default 256).
	MaxSubscriptions int
	// Heartbeat is how often an idle stream gets an SSE comment (default
	// 15 s).
	Heartbeat time.Duration
	// Wait is how long one read waits at the holding node for an event
	// (default a third of the federation's Timeout, at most that, so that
	// the answer crosses the links back in time).
	Wait time.Duration
}

// Events bridges subscriptions across nodes. At the holding node it
// serves KindEventsRead: the remote department's claims are built as for
// its queries (Caller) and the read decided and recorded by the node's own
// subscription policy. At the asking node it serves GET
// /v1/nodes/{node}/resources/{code}/events, the same Server-Sent Events
// as a local subscription, fed by reads over the node link. Each event's
// id is the holding node's cursor after it, so a subscriber that
// reconnects with it (Last-Event-ID, ?after=) gets what it missed and
// nothing twice; a link that goes down does not end the stream: it is
// read again from the same cursor until the node answers.
type Events struct {
	f     *Federation
	cfg   EventsConfig
	slots chan struct{}

	unreachable atomic.Int64

	base   context.Context
	close  context.CancelFunc
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewEvents returns the event bridge of f's node; with cfg.Local it
// serves KindEventsRead.
func NewEvents(f *Federation, cfg EventsConfig) *Events {
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = 256
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Wait <= 0 || cfg.Wait > f.cfg.Timeout/3 {
		cfg.Wait = f.cfg.Timeout / 3
	}
	base, cancel := context.WithCancel(context.Background())
	e := &Events{f: f, cfg: cfg, slots: make(chan struct{}, cfg.MaxSubscriptions), base: base, close: cancel}
	if cfg.Local != nil {
		f.Serve(KindEventsRead, e.serveRead)
	}
	return e
}

// Unreachable is the number of reads for open subscriptions that failed
// because the holding node could not be reached (each is tried again).
func (e *Events) Unreachable() int64 { return e.unreachable.Load() }

// Active is the number of open subscriptions to other nodes' events.
func (e *Events) Active() int { return len(e.slots) }

// EventsRoute is the route of Events' subscription endpoint.
const EventsRoute = "GET /v1/nodes/{node}/resources/{code}/events"

// Close ends every open subscription and waits for their streams to stop.
func (e *Events) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.close()
	e.wg.Wait()
}

// serveRead answers another node's KindEventsRead.
func (e *Events) serveRead(ctx context.Context, from Origin, payload json.RawMessage) (any, error) {
	var in eventsRead
	if err := httpx.Unmarshal(payload, &in, false); err != nil {
		return nil, err
	}
	if !requestID.MatchString(in.Subscription) {
		return nil, govx.Errorf(govx.KindInvalid, "invalid_envelope", "subscription is 32 lower-case hex digits")
	}
	var cursor exchange.Cursor
	if in.Cursor != "" {
		var err error
		if cursor, err = exchange.ParseCursor(in.Cursor); err != nil {
			return nil, err
		}
	}
	caller, err := e.f.Caller(ctx, from, in.Resource)
	if err != nil {
		return nil, err
	}
	wait := min(time.Duration(max(in.WaitMillis, 0))*time.Millisecond, e.f.cfg.Timeout/3)
	return e.cfg.Local.Read(ctx, caller, exchange.ReadRequest{RequestID: in.Subscription, Resource: in.Resource,
		Fields: in.Fields, Purpose: in.Purpose, Cursor: cursor, Max: in.Max, Wait: wait, Open: in.Open})
}

// remoteSub is a subscription of one of this node's callers to another
// node's resource.
type remoteSub struct {
	id       string
	node     string
	code     string
	caller   *auth.Claims
	fields   []string
	purpose  string
	cursor   string
	provider string // node/department
	rule     string
}

func (e *Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := bus.NewRequestID()
	w.Header().Set("X-Request-Id", id)
	node, code := r.PathValue("node"), r.PathValue("code")
	entry := ledger.Entry{RequestID: id, Resource: httpx.Truncate(code, 100)}
	sub, first, sent, err := e.open(r, id, node, code, &entry)
	if sub != nil {
		defer func() { <-e.slots }()
	}
	if first != nil {
		entry.Provider = catalog.RemoteDepartment(node, first.Provider)
		entry.Fields, entry.Rule = first.Fields, "remote:"+first.Rule
	}
	entry.Outcome, entry.Code, entry.Status = exchange.Outcome(err, sent)
	if aerr := e.f.cfg.Audit.Append(context.WithoutCancel(r.Context()), entry); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		httpx.WriteError(w, e.f.log, id, err)
		return
	}
	e.stream(w, r, sub, first, entry)
}

// open checks what this node can check of a subscription (the token, its
// department, its scope, the purpose, the cursor), takes a slot and makes
// the first read at the holding node, which decides it. entry is filled
// in as far as it got; sent says whether the holding node was asked.
func (e *Events) open(r *http.Request, id, node, code string, entry *ledger.Entry) (*remoteSub, *exchange.ReadResult, bool, error) {
	caller, err := e.f.localCaller(r)
	if caller != nil {
		entry.Caller, entry.Consumer = caller.Subject, caller.Dept
	}
	if err != nil {
		return nil, nil, false, err
	}
	q := r.URL.Query()
	purpose := q.Get("purpose")
	entry.Purpose = httpx.Truncate(purpose, 200)
	var fields []string
	for _, v := range q["fields"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				fields = append(fields, f)
			}
		}
	}
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = q.Get("after")
	}
	if after != "" {
		if _, err := exchange.ParseCursor(after); err != nil {
			return nil, nil, false, err
		}
	}
	switch {
	case node == e.f.cfg.Name:
		return nil, nil, false, govx.Errorf(govx.KindInvalid, "node_is_local", "%s is this node: subscribe at /v1/resources/%s/events", node, httpx.Truncate(code, 64))
	case !catalog.ValidCode(code):
		return nil, nil, false, govx.Errorf(govx.KindNotFound, "resource_not_found", "no resource %q", httpx.Truncate(code, 64))
	case !caller.HasScope(code):
		return nil, nil, false, govx.Errorf(govx.KindForbidden, "scope_missing", "the token's scope does not include %s", code)
	case purpose == "":
		return nil, nil, false, govx.Errorf(govx.KindInvalid, "purpose_required", "state the purpose the data is used for, e.g. case:<id>")
	case len(purpose) > 200 || strings.IndexFunc(purpose, unicode.IsControl) >= 0:
		return nil, nil, false, govx.Errorf(govx.KindInvalid, "purpose_invalid", "purpose is at most 200 bytes without control characters")
	case len(fields) > 64:
		return nil, nil, false, govx.Errorf(govx.KindInvalid, "too_many_fields", "at most 64 fields may be asked for")
	}
	res, _, err := e.f.route(node, code)
	if err != nil {
		return nil, nil, false, err
	}
	if res.Provider != "" {
		entry.Provider = catalog.RemoteDepartment(node, res.Provider)
	}
	select {
	case e.slots <- struct{}{}:
	default:
		return nil, nil, false, govx.Errorf(govx.KindUnavailable, "too_many_subscriptions",
			"this node serves %d subscriptions to other nodes' events already; try again later", cap(e.slots))
	}
	sub := &remoteSub{id: id, node: node, code: code, caller: caller, fields: fields, purpose: purpose, cursor: after}
	first, err := e.read(r.Context(), sub, true, 0)
	if err != nil {
		<-e.slots
		return nil, nil, true, err
	}
	sub.provider, sub.rule = catalog.RemoteDepartment(node, first.Provider), "remote:"+first.Rule
	return sub, first, true, nil
}

// read makes one read at the holding node from sub's cursor.
func (e *Events) read(ctx context.Context, sub *remoteSub, open bool, wait time.Duration) (*exchange.ReadResult, error) {
	var out exchange.ReadResult
	err := e.f.Call(ctx, sub.node, KindEventsRead, sub.caller.Dept, sub.caller.Subject, eventsRead{Subscription: sub.id,
		Resource: sub.code, Fields: sub.fields, Purpose: sub.purpose, Cursor: sub.cursor, Max: exchange.MaxRead,
		WaitMillis: wait.Milliseconds(), Open: open}, &out)
	if err != nil {
		return nil, err
	}
	if out.Cursor == "" {
		return nil, govx.Errorf(govx.KindUnavailable, "node_unavailable", "node %s answered a read without its cursor", sub.node)
	}
	if _, err := exchange.ParseCursor(out.Cursor); err != nil {
		return nil, govx.Errorf(govx.KindUnavailable, "node_unavailable", "node %s answered a cursor that is not one", sub.node)
	}
	return &out, nil
}

func (e *Events) stream(w http.ResponseWriter, r *http.Request, sub *remoteSub, first *exchange.ReadResult, entry ledger.Entry) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		httpx.WriteError(w, e.f.log, sub.id, govx.Errorf(govx.KindUnavailable, "shutting_down", "the exchange is shutting down; subscribe again"))
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(e.base, cancel)()

	rc := httpx.StartEventStream(w)
	// The position the subscription starts at: where a subscriber cut off
	// before the first event resumes. With a cursor given, that is it.
	start := sub.cursor
	if start == "" || len(first.Events) == 0 {
		start = first.Cursor
	}
	fmt.Fprintf(w, ": subscribed %s at node %s\nretry: 2000\nid: %s\n\n", sub.code, sub.node, start)
	if rc.Flush() != nil {
		return
	}

	var expiry <-chan time.Time
	if exp := sub.caller.ExpiresAt; exp != nil {
		t := time.NewTimer(time.Until(exp.Time))
		defer t.Stop()
		expiry = t.C
	}
	batch := first
	heartbeat := time.Now().Add(e.cfg.Heartbeat)
	backoff := 250 * time.Millisecond
	down := false
	for {
		if batch != nil {
			for _, ev := range batch.Events {
				if err := e.deliver(ctx, w, rc, sub, entry, ev); err != nil {
					e.endWith(w, rc, err)
					return
				}
				sub.cursor = ev.ID
			}
			sub.cursor = batch.Cursor
		}
		select {
		case <-expiry:
			e.endWith(w, rc, govx.Errorf(govx.KindUnauthenticated, "token_expired", "the token has expired; subscribe again with a fresh one"))
			return
		default:
		}
		if ctx.Err() != nil {
			return
		}
		if !time.Now().Before(heartbeat) {
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			heartbeat = time.Now().Add(e.cfg.Heartbeat)
		}
		var err error
		batch, err = e.read(ctx, sub, false, e.cfg.Wait)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if down {
				e.f.log.Info("events of another node read again", "node", sub.node, "resource", sub.code, "subscription", sub.id)
				down = false
			}
			backoff = 250 * time.Millisecond
		case govx.ErrorKind(err) == govx.KindUnavailable || govx.ErrorKind(err) == govx.KindTimeout:
			// The link or the node is down: read again from the same
			// cursor once it is back. The stream stays open.
			e.unreachable.Add(1)
			if !down {
				e.f.log.Warn("events of another node not read; retrying", "node", sub.node, "resource", sub.code, "subscription", sub.id, "err", err)
				down = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, e.cfg.Heartbeat, 5*time.Second)
		default:
			// The holding node refuses now (grant revoked, no longer
			// offered): the subscription ends.
			e.endWith(w, rc, err)
			return
		}
	}
}

// deliver records ev in this node's ledger and writes it to the
// subscriber.
func (e *Events) deliver(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, sub *remoteSub, entry ledger.Entry, ev exchange.ReadEvent) error {
	if _, err := exchange.ParseCursor(ev.ID); err != nil {
		return govx.Errorf(govx.KindUnavailable, "node_unavailable", "node %s answered an event without a cursor", sub.node)
	}
	le := entry
	le.At = time.Time{}
	le.Provider, le.Rule = sub.provider, sub.rule
	le.SubjectKey, le.DataSubject, le.ConsentID = httpx.Truncate(ev.Event.Key, 64), httpx.Truncate(ev.Subject, 64), httpx.Truncate(ev.Consent, 64)
	if err := e.f.cfg.Audit.Append(context.WithoutCancel(ctx), le); err != nil {
		return err
	}
	msg := ev.Event
	msg.Provider = catalog.RemoteDepartment(sub.node, msg.Provider)
	data, err := json.Marshal(msg)
	if err != nil {
		return govx.E("federation.Events", err)
	}
	if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", ev.ID, data); err != nil {
		return err
	}
	return rc.Flush()
}

// endWith tells the subscriber why the stream ends, as a local stream
// does: an SSE event of type "error" with the usual error body.
func (e *Events) endWith(w http.ResponseWriter, rc *http.ResponseController, err error) {
	if govx.ErrorKind(err) == govx.KindInternal {
		e.f.log.Error("event stream of another node ended", "err", err)
	}
	var body httpx.ErrorBody
	body.Error.Code, body.Error.Message = govx.ErrorCode(err), govx.ErrorMessage(err)
	data, _ := json.Marshal(body)
	fmt.Fprintf(w, "event: error\ndata: %s\n\n", data)
	rc.Flush()
}
