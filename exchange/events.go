package exchange

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"govx"
	"govx/bus"
	"govx/catalog"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/kafka"
	"govx/schemas"
)

// EventsConfig is what event subscriptions need and how many are served.
type EventsConfig struct {
	// Service decides each subscription and each event (required).
	Service  *Service
	Verifier httpx.Verifier // required
	// Audit records every subscription and delivered event (required).
	Audit AuditLog
	Kafka kafka.Config
	// MaxSubscriptions bounds the subscriptions one exchange instance
	// serves at once; more are refused with 503 too_many_subscriptions.
	MaxSubscriptions int // default 256
	// Heartbeat is how often an idle stream gets an SSE comment, so that
	// proxies keep it open and a dead client is noticed. Access is checked
	// again at every heartbeat.
	Heartbeat time.Duration // default 15s
	Logger    *slog.Logger  // default slog.Default()
	// Signatures checks that each event is signed by the resource's
	// provider department (its bus key in the catalogue, govx/bus); an
	// event that is not is skipped, logged and counted (Unverified), so
	// that no one who can write to an event topic speaks for a register.
	// Nil delivers unsigned events, for tests of unsigned buses.
	Signatures *bus.Verifier
}

// Validate checks c and fills in defaults.
func (c *EventsConfig) Validate() error {
	if c.Service == nil || c.Verifier == nil || c.Audit == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "exchange: events need a Service, a Verifier and an Audit log")
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = 256
	}
	if c.MaxSubscriptions < 0 {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "exchange: MaxSubscriptions must be positive")
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.Heartbeat < 0 {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "exchange: Heartbeat must be positive")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Events serves GET /v1/resources/{code}/events: a resource's change events
// as Server-Sent Events, to callers the access policy (Service.Authorize)
// admits for the resource, trimmed to the fields they may see. Every
// subscription and every delivered event is written to the audit ledger
// before anything leaves.
//
// Each SSE event's id is a cursor: the position in every partition of the
// resource's event topic after that event. A client that reconnects with
// it (Last-Event-ID, or ?after=) receives what it missed and nothing twice.
type Events struct {
	svc      *Service
	verifier httpx.Verifier
	audit    AuditLog
	cfg      EventsConfig
	log      *slog.Logger
	slots    chan struct{}

	unverified atomic.Int64

	base   context.Context // cancelled by Close: every stream ends
	close  context.CancelFunc
	mu     sync.Mutex // orders wg.Add before Close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

// NewEvents returns the subscription endpoint; mount it on the exchange's
// Handler under "GET /v1/resources/{code}/events" and call Close when the
// server shuts down (http.Server.RegisterOnShutdown): open streams keep a
// server's Shutdown waiting otherwise.
func NewEvents(cfg EventsConfig) (*Events, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, cancel := context.WithCancel(context.Background())
	return &Events{svc: cfg.Service, verifier: cfg.Verifier, audit: cfg.Audit, cfg: cfg, log: cfg.Logger,
		slots: make(chan struct{}, cfg.MaxSubscriptions), base: base, close: cancel}, nil
}

// Close ends every open subscription and waits for their streams to stop.
// Subscriptions opened afterwards end at once.
func (e *Events) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.close()
	e.wg.Wait()
}

// Unverified is the number of events skipped because they did not carry
// a valid signature of their resource's provider (each counted once per
// subscription that met it).
func (e *Events) Unverified() int64 { return e.unverified.Load() }

// Active is the number of open subscriptions.
func (e *Events) Active() int { return len(e.slots) }

// subscription is an opened subscription: allowed, counted, reading.
type subscription struct {
	id      string
	caller  *auth.Claims
	code    string
	fields  []string
	purpose string
	res     *catalog.Resource
	acc     *Access
	tail    *kafka.Tail
	cursor  Cursor
	// consent: each event is delivered only under its data subject's
	// consent — when personal fields are asked for, or the key itself is
	// a person's ID number.
	consent bool
}

func (e *Events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := bus.NewRequestID()
	w.Header().Set("X-Request-Id", id)
	code := r.PathValue("code")
	entry := ledger.Entry{RequestID: id, Resource: httpx.Truncate(code, 100)}
	sub, err := e.open(r, id, code, &entry)

	err = e.recordOpen(r.Context(), &entry, err)
	if err != nil {
		if sub != nil {
			sub.tail.Close()
			<-e.slots
		}
		httpx.WriteError(w, e.log, id, err)
		return
	}
	defer func() {
		sub.tail.Close()
		<-e.slots
	}()
	e.stream(w, r, sub, entry)
}

// recordOpen records the opening of a subscription, or its refusal
// (err), in the ledger; it returns err, or the ledger's error when the
// entry could not be recorded.
func (e *Events) recordOpen(ctx context.Context, entry *ledger.Entry, err error) error {
	entry.Outcome, entry.Code, entry.Status = ledger.Released, "ok", http.StatusOK
	if err != nil {
		entry.Outcome, entry.Code, entry.Status = ledger.Refused, govx.ErrorCode(err), httpx.StatusOf(err)
		if k := govx.ErrorKind(err); k == govx.KindUnavailable || k == govx.KindInternal {
			entry.Outcome = ledger.Failed
		}
	}
	if aerr := e.audit.Append(context.WithoutCancel(ctx), *entry); aerr != nil && err == nil {
		return aerr
	}
	return err
}

// open authenticates and authorises the subscription, takes a slot and
// positions the reader. entry is filled in as far as it got.
func (e *Events) open(r *http.Request, id, code string, entry *ledger.Entry) (*subscription, error) {
	claims, err := httpx.Authenticate(r, e.verifier)
	if err != nil {
		return nil, err
	}
	entry.Caller, entry.Consumer = claims.Subject, claims.Dept
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
	if len(fields) > 64 {
		return nil, govx.Errorf(govx.KindInvalid, "too_many_fields", "at most 64 fields may be asked for")
	}
	// A reconnecting EventSource sends Last-Event-ID and repeats the URL it
	// first used, ?after= included: the header is the newer position.
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = q.Get("after")
	}
	var cursor Cursor
	if after != "" {
		if cursor, err = ParseCursor(after); err != nil {
			return nil, err
		}
	}

	return e.openRead(r.Context(), claims, ReadRequest{RequestID: id, Resource: code, Fields: fields, Purpose: purpose, Cursor: cursor}, entry)
}

// openTail reads the resource's event topic from cursor, or from now when
// cursor is empty. A topic no event has been published on yet is created,
// so that subscribing does not depend on the provider having started.
func (e *Events) openTail(ctx context.Context, resource string, cursor Cursor) (*kafka.Tail, error) {
	topic := bus.EventTopic(resource)
	tail, err := kafka.OpenTail(ctx, e.cfg.Kafka, topic, cursor, cursor != nil)
	if govx.ErrorCode(err) == kafka.CodeTopicNotFound {
		if err := kafka.EnsureTopics(ctx, e.cfg.Kafka, kafka.Topic{Name: topic, Partitions: bus.EventPartitions}); err != nil {
			return nil, eventsUnavailable(err)
		}
		tail, err = kafka.OpenTail(ctx, e.cfg.Kafka, topic, cursor, cursor != nil)
	}
	if err != nil {
		return nil, eventsUnavailable(err)
	}
	return tail, nil
}

func eventsUnavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &govx.Error{Kind: govx.KindUnavailable, Code: "events_unavailable", Op: "exchange.Events",
		Message: "the event stream is unavailable; try again", Err: err}
}

// EventMessage is the data of one SSE event: the change, with the record
// after it trimmed to the subscriber's fields. Key names the record that
// changed (whose ID number, which company), as a query's key does.
type EventMessage struct {
	EventID    string         `json:"event_id"`
	Resource   string         `json:"resource"`
	Provider   string         `json:"provider"`
	Key        string         `json:"key"`
	Type       string         `json:"type"`
	Reason     string         `json:"reason,omitempty"`
	OccurredAt time.Time      `json:"occurred_at"`
	Record     map[string]any `json:"record"`
}

func (e *Events) stream(w http.ResponseWriter, r *http.Request, sub *subscription, entry ledger.Entry) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		httpx.WriteError(w, e.log, sub.id, govx.Errorf(govx.KindUnavailable, "shutting_down", "the exchange is shutting down; subscribe again"))
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(e.base, cancel)()

	rc := httpx.StartEventStream(w)
	// The starting position, so a client that is cut off before the first
	// event still resumes from here.
	fmt.Fprintf(w, ": subscribed %s\nretry: 2000\nid: %s\n\n", sub.res.Code, sub.cursor)
	if rc.Flush() != nil {
		return
	}

	var expiry <-chan time.Time
	if exp := sub.caller.ExpiresAt; exp != nil {
		t := time.NewTimer(time.Until(exp.Time))
		defer t.Stop()
		expiry = t.C
	}
	heartbeat := time.Now().Add(e.cfg.Heartbeat)
	for {
		nctx, ncancel := context.WithDeadline(ctx, heartbeat)
		m, err := sub.tail.Next(nctx)
		ncancel()
		select {
		case <-expiry:
			e.endWith(w, rc, govx.Errorf(govx.KindUnauthenticated, "token_expired", "the token has expired; subscribe again with a fresh one"))
			return
		default:
		}
		switch {
		case ctx.Err() != nil:
			return // client gone or server shutting down
		case errors.Is(err, context.DeadlineExceeded):
			// Access can be withdrawn while a stream is open (grant
			// revoked, resource no longer offered): check it again.
			if err := e.recheck(ctx, sub); err != nil {
				e.endWith(w, rc, err)
				return
			}
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			heartbeat = time.Now().Add(e.cfg.Heartbeat)
			continue
		case err != nil:
			e.log.Warn("event stream", "subscription", sub.id, "resource", sub.res.Code, "err", err)
			e.endWith(w, rc, eventsUnavailable(err))
			return
		}
		msg, _, err := e.take(ctx, sub, m, entry)
		if err != nil {
			// Nothing leaves unchecked or unrecorded; the client resumes
			// from the last event it received, before this one.
			e.endWith(w, rc, err)
			return
		}
		sub.cursor[m.Partition] = m.Offset + 1
		if msg == nil {
			continue
		}
		data, err := json.Marshal(msg)
		if err != nil {
			e.endWith(w, rc, govx.E("exchange.Events", err))
			return
		}
		if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", sub.cursor, data); err != nil || rc.Flush() != nil {
			return
		}
	}
}

// take decides what of message m reaches sub's subscriber: the event,
// trimmed, recorded in the ledger under entry's request id; nil when it is
// skipped (not signed by the provider, undecodable, of another resource,
// withheld for want of the data subject's consent). An error means the
// delivery stops before m: the provider's keys or the ledger cannot be
// reached.
//
// The ledger entry recorded comes back with the event.
func (e *Events) take(ctx context.Context, sub *subscription, m kafka.Message, entry ledger.Entry) (*EventMessage, *ledger.Entry, error) {
	if err := e.verify(ctx, sub, m); err != nil {
		if govx.ErrorKind(err) == govx.KindUnavailable {
			return nil, nil, eventsUnavailable(err)
		}
		return nil, nil, nil
	}
	msg, subject, ok := e.decode(ctx, sub, m)
	if !ok {
		return nil, nil, nil
	}
	ev := entry
	ev.SubjectKey = httpx.Truncate(msg.Key, 64)
	ev.DataSubject = httpx.Truncate(subject, 64)
	ev.At = time.Time{}
	if sub.consent {
		// Without the data subject's consent the event is withheld:
		// nothing of it reaches the subscriber, so nothing is recorded.
		var d Decision
		c, err := e.svc.Consent(ctx, sub.caller, sub.acc, subject, sub.purpose, "", &d)
		if err == nil {
			err = e.svc.Spend(ctx, c, ev.RequestID, &d)
		}
		if err != nil {
			if govx.ErrorKind(err) != govx.KindForbidden {
				e.log.Warn("event withheld: consent could not be checked", "subscription", sub.id, "err", err)
			}
			return nil, nil, nil
		}
		ev.ConsentID = c.ID
	}
	if err := e.audit.Append(context.WithoutCancel(ctx), ev); err != nil {
		return nil, nil, err
	}
	return &msg, &ev, nil
}

// verify checks that m is signed by the provider of the subscribed
// resource. A forged or unsigned event is logged, counted and refused
// (KindForbidden); a catalogue that cannot be asked is KindUnavailable.
func (e *Events) verify(ctx context.Context, sub *subscription, m kafka.Message) error {
	if e.cfg.Signatures == nil {
		return nil
	}
	_, err := e.cfg.Signatures.Verify(ctx, m, sub.res.Provider)
	if err != nil && govx.ErrorKind(err) != govx.KindUnavailable {
		e.unverified.Add(1)
		e.log.Warn("event not signed by its provider skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset,
			"provider", sub.res.Provider, "reason", govx.ErrorCode(err), "signer", httpx.Truncate(m.Header(bus.HeaderSigner), 64))
	}
	return err
}

// decode opens one event and trims its record. An event that cannot be
// read is logged and skipped: one bad message must not stop a stream.
// subject is the event's data subject: its key, or the value of the
// resource's subject field.
func (e *Events) decode(ctx context.Context, sub *subscription, m kafka.Message) (msg EventMessage, subject string, ok bool) {
	var ev bus.Event
	if err := e.svc.codec.UnmarshalAs(ctx, schemas.Event, m.Value, &ev); err != nil {
		e.log.Warn("undecodable event skipped", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		return EventMessage{}, "", false
	}
	if ev.Resource != sub.res.Code {
		e.log.Warn("event of another resource skipped", "topic", m.Topic, "offset", m.Offset, "resource", httpx.Truncate(ev.Resource, 100))
		return EventMessage{}, "", false
	}
	if catalog.KeyNamesSubject(sub.res.KeyType) {
		subject = ev.Key
	}
	out := EventMessage{EventID: ev.EventID, Resource: ev.Resource, Provider: ev.Provider, Key: ev.Key,
		Type: ev.Type, Reason: ev.Reason, OccurredAt: ev.OccurredAt}
	if ev.Record != nil {
		var rec map[string]any
		if err := e.svc.codec.UnmarshalAs(ctx, sub.res.SchemaSubject, ev.Record, &rec); err != nil {
			e.log.Warn("event with an undecodable record skipped", "topic", m.Topic, "offset", m.Offset, "err", err)
			return EventMessage{}, "", false
		}
		if f := sub.res.SubjectField(); f != "" {
			subject, _ = rec[f].(string)
		}
		// Whatever the provider sent, only the allowed fields leave.
		out.Record = Trim(rec, sub.fields)
	}
	return out, subject, true
}

// recheck runs the access policy again for an open subscription.
func (e *Events) recheck(ctx context.Context, sub *subscription) error {
	var d Decision
	acc, err := e.svc.Authorize(ctx, sub.caller, sub.code, sub.fields, sub.purpose, &d)
	if err != nil {
		return err
	}
	if !slices.Contains(acc.Resource.Methods, catalog.MethodSubscribe) {
		return govx.Errorf(govx.KindForbidden, "subscribe_not_offered", "%s is no longer offered by subscription", acc.Resource.Code)
	}
	return nil
}

// endWith tells the client why the stream ends, as an SSE event of type
// "error" carrying the usual error body, then ends it.
func (e *Events) endWith(w http.ResponseWriter, rc *http.ResponseController, err error) {
	if k := govx.ErrorKind(err); k == govx.KindInternal {
		e.log.Error("event stream ended", "err", err)
	}
	var body httpx.ErrorBody
	body.Error.Code, body.Error.Message = govx.ErrorCode(err), govx.ErrorMessage(err)
	data, _ := json.Marshal(body)
	fmt.Fprintf(w, "event: error\ndata: %s\n\n", data)
	rc.Flush()
}

// Cursor is a position in a resource's event topic: for each partition,
// the offset of the next event to deliver. Its text form ("0:12,1:7") is
// the SSE event id; clients treat it as opaque.
type Cursor map[int]int64

func (c Cursor) String() string {
	parts := make([]int, 0, len(c))
	for p := range c {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(p))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(c[p], 10))
	}
	return b.String()
}

// ParseCursor reads a cursor's text form. Anything else is KindInvalid
// (invalid_cursor).
func ParseCursor(s string) (Cursor, error) {
	bad := govx.Errorf(govx.KindInvalid, "invalid_cursor", "the event cursor (Last-Event-ID or after) is not one this exchange gave out")
	if len(s) > 4096 {
		return nil, bad
	}
	c := Cursor{}
	for item := range strings.SplitSeq(s, ",") {
		ps, offs, ok := strings.Cut(item, ":")
		if !ok {
			return nil, bad
		}
		p, err1 := strconv.Atoi(ps)
		o, err2 := strconv.ParseInt(offs, 10, 64)
		if err1 != nil || err2 != nil || p < 0 || p >= 1<<16 || o < 0 || ps != strconv.Itoa(p) {
			return nil, bad
		}
		if _, dup := c[p]; dup {
			return nil, bad
		}
		c[p] = o
	}
	return c, nil
}
