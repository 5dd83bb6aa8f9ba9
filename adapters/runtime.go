// Package adapters is the runtime a department uses to join the bus: it
// consumes the department's request topic in a consumer group, decodes each
// Avro request, calls the handler registered for the resource, and produces
// the Avro reply to the topic the request names. The reference adapters of
// the base registers live in the sub-packages (population, …).
//
// Delivery: a request's offset is committed only after its reply (or its
// dead letter) is acknowledged by the broker. A publish that keeps failing
// stops the runtime with the request uncommitted, so it is redelivered; the
// exchange drops a second reply to the same request id. Every request is
// answered (a record or an error reply) or dead-lettered with its reason.
package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"govx"
	"govx/bus"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/schemas"
)

// HandlerFunc answers one request. It returns the record as a value the
// resource's Avro schema encodes (a struct with avro tags or a
// map[string]any), holding no more than req.Fields; or an error, whose kind,
// code and message the caller receives. ctx ends at the request's deadline.
type HandlerFunc func(ctx context.Context, req *bus.Request) (any, error)

// Config is what a department's runtime needs and how it consumes.
type Config struct {
	// Kafka is the broker the requests come from (required).
	Kafka kafka.Config
	// Codec decodes requests and encodes replies (required).
	Codec *avro.Codec
	// Producer sends replies and dead letters (required).
	Producer *kafka.Producer

	Department  string // department code; requests come on bus.RequestTopic(Department)
	GroupID     string // default "govx.adapter.<department>"
	Partitions  int    // of the request topic when it is created; default 8
	MaxInFlight int    // requests handled at once; default 64
	// ShutdownTimeout is how long Run waits, once ctx is cancelled, for the
	// requests in flight; the ones still running are then abandoned
	// uncommitted and redelivered. Default 10s.
	ShutdownTimeout time.Duration
	// PublishAttempts bounds the tries of each reply or dead letter, with
	// backoff from 100 ms; default 5. When all fail, Run returns an error
	// with the request uncommitted.
	PublishAttempts int
	Logger          *slog.Logger // default slog.Default()

	// Verifier checks that each request is signed by an exchange instance
	// (a bus key of bus.ExchangeDepartment in the catalogue). A request
	// that is unsigned, signed by an unknown or retired key, tampered
	// with, past its deadline, replayed within it or naming a reply topic
	// outside govx.replies.* is refused: dead-lettered with its reason,
	// counted (govx_adapter_refused_total) and never answered. Nil accepts
	// unsigned requests, for tests of handlers alone; a department on a
	// shared bus always sets it.
	Verifier *bus.Verifier
	// Signer signs every reply with the department's key, which the
	// exchange checks against the catalogue; nil sends replies unsigned.
	Signer *bus.Signer
	// Log, when set, is the department's provider log: every request
	// answered or refused is written there before its answer or dead
	// letter leaves; a request that cannot be logged is not answered and
	// is redelivered.
	Log *ProviderLog
	// MaxDeadline is the furthest ahead a signed request's deadline may
	// be (default 5 minutes): request ids are remembered until their
	// deadline to refuse replays, so a deadline bounds the memory.
	MaxDeadline time.Duration
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if c.Department == "" {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "adapter: department is required")
	}
	if c.Codec == nil || c.Producer == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "adapter: a runtime needs a Codec and a Producer")
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if c.GroupID == "" {
		c.GroupID = bus.AdapterGroup(c.Department)
	}
	if c.Partitions <= 0 {
		c.Partitions = 8
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.PublishAttempts <= 0 {
		c.PublishAttempts = 5
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxDeadline <= 0 {
		c.MaxDeadline = 5 * time.Minute
	}
	return nil
}

// Codes of the refusals of requests the runtime does not answer, beside
// the bus's signature codes (bus.CodeUnsigned, bus.CodeUnknownKey,
// bus.CodeTampered, bus.CodeKeyRetired).
const (
	CodeDeadlinePassed = "deadline_passed" // the request is past its deadline (expired)
	CodeReplayed       = "replayed"        // a request with its id was taken within its deadline
	CodeBadReplyTo     = "bad_reply_to"    // the reply topic is not an exchange instance's (govx.replies.*)
	CodeDeadlineTooFar = "deadline_too_far"
	// CodeOrderUnsigned is the error a command's caller gets when its
	// order is not signed by the ordering (consumer) department.
	CodeOrderUnsigned = "order_unsigned"
)

// replyTopicPrefix is where every reply topic is (bus.ReplyTopic).
const replyTopicPrefix = "govx.replies."

// Dead-letter headers: the reason in words, its stable code, and where the
// message came from (topic/partition/offset).
const (
	HeaderDLQReason = "govx-dlq-reason"
	HeaderDLQCode   = "govx-dlq-code"
	HeaderDLQSource = "govx-dlq-source"
)

type route struct {
	subject string
	fn      HandlerFunc
	// orderScope, when set, is what the consumer department's signature
	// on the request's payload must be over (RequireSignedOrders).
	orderScope string
}

// Runtime runs one department's adapter. Run may be called again after it
// returns (a supervisor restarting it); not twice at once.
type Runtime struct {
	cfg   Config
	kcfg  kafka.Config
	codec *avro.Codec
	prod  *kafka.Producer

	mu     sync.RWMutex
	routes map[string]route

	running atomic.Bool
	Stats   Stats
	metrics counters
	seen    seenIDs
}

// Stats are the runtime's totals; Metrics has them by resource.
type Stats struct {
	Requests   atomic.Int64
	Errors     atomic.Int64
	DeadLetter atomic.Int64
	LatencyNs  atomic.Int64 // summed handling time
}

// New returns a department's runtime; register its handlers, then Run it.
func New(cfg Config) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runtime{cfg: cfg, kcfg: cfg.Kafka, codec: cfg.Codec, prod: cfg.Producer, routes: map[string]route{}, metrics: newCounters()}, nil
}

// Department is the department this runtime answers for.
func (rt *Runtime) Department() string { return rt.cfg.Department }

// Running reports whether the runtime is consuming its request topic.
func (rt *Runtime) Running() bool { return rt.running.Load() }

// served returns resource if the runtime serves it, else "": what callers
// send must not grow the metrics' label set.
func (rt *Runtime) served(resource string) string {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	if _, ok := rt.routes[resource]; ok {
		return resource
	}
	return ""
}

// Handle routes requests for resource to fn; records are encoded with the
// registered schema of subject.
func (rt *Runtime) Handle(resource, subject string, fn HandlerFunc) {
	rt.mu.Lock()
	rt.routes[resource] = route{subject: subject, fn: fn}
	rt.mu.Unlock()
}

// RequireSignedOrders makes the command resource (already routed with
// Handle) honour an order only when the request's consumer department
// signed its payload (bus.Signer.SignDetached over scope, the order's
// subject, and the payload), in addition to the exchange's signature on
// the request. An order without a valid signature is answered with
// KindForbidden (CodeOrderUnsigned). A runtime without a Verifier checks
// no signatures, of requests or orders.
func (rt *Runtime) RequireSignedOrders(resource, scope string) {
	rt.mu.Lock()
	r := rt.routes[resource]
	r.orderScope = scope
	rt.routes[resource] = r
	rt.mu.Unlock()
}

// Run consumes requests until ctx is cancelled; requests in flight then are
// finished within ShutdownTimeout or left uncommitted for redelivery, and
// Run returns nil. It returns an error when the broker fails for longer than
// the client retries or a reply cannot be published: the request is then
// uncommitted, and calling Run again resumes with it.
func (rt *Runtime) Run(ctx context.Context) error {
	topic := bus.RequestTopic(rt.cfg.Department)
	if err := kafka.EnsureTopics(ctx, rt.kcfg,
		kafka.Topic{Name: topic, Partitions: rt.cfg.Partitions, Transient: true},
		kafka.Topic{Name: bus.DeadLetterTopic(rt.cfg.Department), Partitions: 1}); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	cons, err := kafka.NewConsumer(rt.kcfg, kafka.ConsumerConfig{
		GroupID: rt.cfg.GroupID, Topics: []string{topic}, MaxInFlight: rt.cfg.MaxInFlight,
		ShutdownTimeout: rt.cfg.ShutdownTimeout, Logger: rt.cfg.Logger,
	})
	if err != nil {
		return err
	}
	defer cons.Close()
	rt.cfg.Logger.Info("adapter consuming", "department", rt.cfg.Department, "topic", topic, "group", rt.cfg.GroupID)
	rt.running.Store(true)
	defer rt.running.Store(false)
	return cons.Run(ctx, rt.handle)
}

// handle answers one request. It returns an error only when the answer (or
// dead letter) could not be published: the request is then redelivered.
func (rt *Runtime) handle(ctx context.Context, m kafka.Message) (err error) {
	start := time.Now()
	rt.Stats.Requests.Add(1)
	rt.metrics.inFlight.Add(1)
	resource := ""
	defer func() {
		d := time.Since(start)
		rt.Stats.LatencyNs.Add(int64(d))
		rt.metrics.inFlight.Add(-1)
		rt.metrics.observe(resource, d)
	}()
	replyTo := m.Header(bus.HeaderReplyTo)
	id := m.Header(bus.HeaderRequestID)
	kid := ""
	if rt.cfg.Verifier != nil {
		// Nothing is taken from a request that an exchange instance did
		// not sign, and nothing from its unsigned headers.
		sig, err := rt.cfg.Verifier.Verify(ctx, m, bus.ExchangeDepartment)
		kid = sig.KeyID
		if err != nil {
			if govx.ErrorKind(err) == govx.KindUnavailable {
				return err // the catalogue is down: redeliver once it is back
			}
			return rt.refuse(ctx, m, govx.ErrorCode(err), err)
		}
		replyTo, id = "", ""
	}

	var req bus.Request
	err = rt.codec.UnmarshalAs(ctx, schemas.Request, m.Value, &req)
	if err == nil && (req.RequestID == "" || req.Resource == "" || req.Deadline.IsZero() || (req.ReplyTo == "" && replyTo == "")) {
		// Without these a request could be neither answered nor judged.
		err = govx.Errorf(govx.KindInvalid, "invalid_request", "the request lacks its id, resource, deadline or reply topic")
	}
	if err != nil {
		if err := rt.deadLetter(ctx, m, "", "invalid_request", err); err != nil {
			return err
		}
		if replyTo != "" && id != "" {
			return rt.reply(ctx, m, replyTo, bus.Reply{RequestID: id, Provider: rt.cfg.Department,
				Error: bus.NewReplyError(govx.Errorf(govx.KindInvalid, "invalid_request", "the provider could not decode the request"))})
		}
		return nil
	}
	if req.ReplyTo == "" {
		req.ReplyTo = replyTo
	}
	if !strings.HasPrefix(req.ReplyTo, replyTopicPrefix) || len(req.ReplyTo) == len(replyTopicPrefix) {
		return rt.refuse(ctx, m, CodeBadReplyTo, govx.Errorf(govx.KindForbidden, CodeBadReplyTo,
			"reply topic %q is not an exchange instance's (%s*)", req.ReplyTo, replyTopicPrefix))
	}
	rt.mu.RLock()
	r, ok := rt.routes[req.Resource]
	rt.mu.RUnlock()
	if ok {
		resource = req.Resource
	}
	reply := bus.Reply{RequestID: req.RequestID, Resource: req.Resource, Provider: rt.cfg.Department}
	now := time.Now()
	if now.After(req.Deadline) {
		// The caller has given up and would drop an answer; the request is
		// parked so that it is still accounted for.
		return rt.refuse(ctx, m, CodeDeadlinePassed,
			govx.Errorf(govx.KindTimeout, CodeDeadlinePassed, "deadline passed (%s) before the request was handled",
				req.Deadline.UTC().Format(time.RFC3339Nano)))
	}
	if rt.cfg.Verifier != nil {
		if req.Deadline.Sub(now) > rt.cfg.MaxDeadline {
			return rt.refuse(ctx, m, CodeDeadlineTooFar, govx.Errorf(govx.KindInvalid, CodeDeadlineTooFar,
				"the deadline is more than %v ahead", rt.cfg.MaxDeadline))
		}
		// A signed request is taken once: its id is remembered until its
		// deadline, after which it would be refused as expired anyway.
		if !rt.seen.add(req.RequestID, req.Deadline, now) {
			return rt.refuse(ctx, m, CodeReplayed, govx.Errorf(govx.KindForbidden, CodeReplayed,
				"request %s was already taken", req.RequestID))
		}
		defer func() {
			if err != nil {
				// Not answered: the redelivery must be taken.
				rt.seen.forget(req.RequestID)
			}
		}()
	}
	if !ok {
		err := govx.Errorf(govx.KindNotFound, "resource_not_served", "%s does not serve %s", rt.cfg.Department, req.Resource)
		if err := rt.deadLetter(ctx, m, "", "resource_not_served", err); err != nil {
			return err
		}
		rt.Stats.Errors.Add(1)
		rt.metrics.countError("", err)
		reply.Error = bus.NewReplyError(err)
		return rt.answer(ctx, m, &req, kid, reply)
	}
	if r.orderScope != "" {
		if err := rt.checkOrder(ctx, m, &req, r.orderScope); err != nil {
			rt.metrics.countRefused(CodeOrderUnsigned)
			rt.Stats.Errors.Add(1)
			rt.metrics.countError(resource, err)
			reply.Error = bus.NewReplyError(err)
			return rt.answer(ctx, m, &req, kid, reply)
		}
	}
	hctx, cancel := context.WithDeadline(ctx, req.Deadline)
	rec, err := r.fn(hctx, &req)
	cancel()
	if err == nil {
		reply.Record, err = rt.codec.Marshal(r.subject, rec)
		if err != nil {
			if err := rt.deadLetter(ctx, m, resource, "encode_failed", err); err != nil {
				return err
			}
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			// Abandoned at shutdown: the handler was cut short by us, not
			// by the request; leave it for redelivery.
			return ctx.Err()
		}
		// Only an error the handler left unclassified becomes a timeout: a
		// handler that bounds its own database call (population's
		// adapters.Lookup) and says Unavailable means it.
		if errors.Is(err, context.DeadlineExceeded) && govx.ErrorKind(err) == govx.KindInternal {
			err = &govx.Error{Kind: govx.KindTimeout, Code: "provider_timeout", Message: "the provider did not answer in time", Err: err}
		}
		rt.Stats.Errors.Add(1)
		rt.metrics.countError(resource, err)
		if govx.ErrorKind(err) == govx.KindInternal {
			rt.cfg.Logger.Error("adapter handler failed", "department", rt.cfg.Department, "resource", req.Resource,
				"request_id", req.RequestID, "err", err)
		}
		reply.Record = nil
		reply.Error = bus.NewReplyError(err)
	}
	return rt.answer(ctx, m, &req, kid, reply)
}

// answer logs reply to req in the provider log, then sends it.
func (rt *Runtime) answer(ctx context.Context, m kafka.Message, req *bus.Request, kid string, reply bus.Reply) error {
	if rt.cfg.Log != nil {
		e := LogEntry{RequestID: req.RequestID, Consumer: req.Consumer, Caller: req.Caller, Resource: req.Resource,
			SubjectKey: req.Key, Outcome: LogAnswered, Code: "ok", SignerKeyID: kid, Source: source(m)}
		if reply.Error != nil {
			e.Outcome, e.Code = LogError, govx.ErrorCode(reply.Error.Err())
		}
		if err := rt.cfg.Log.Append(ctx, e); err != nil {
			return fmt.Errorf("adapter %s: provider log: %w", rt.cfg.Department, err)
		}
	}
	return rt.reply(ctx, m, req.ReplyTo, reply)
}

func source(m kafka.Message) string { return fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset) }

// reply sends reply to topic. A topic that does not exist even after the
// retries has no reader (an exchange instance gone, or a forged reply-to):
// the request m is parked instead, since redelivering it would fail alike
// and hold up its partition for good.
func (rt *Runtime) reply(ctx context.Context, m kafka.Message, topic string, reply bus.Reply) error {
	reply.AnsweredAt = time.Now().UTC()
	body, err := rt.codec.Marshal(schemas.Reply, reply)
	if err != nil {
		// The reply schema is ours: this is a bug, and retrying would not
		// mend it. The request was already parked or is lost to a bug
		// either way; say so loudly.
		rt.cfg.Logger.Error("encode reply", "request_id", reply.RequestID, "err", err)
		return nil
	}
	msg := kafka.Message{Topic: topic, Key: []byte(reply.RequestID), Value: body,
		Headers: []kafka.Header{{Key: bus.HeaderRequestID, Value: []byte(reply.RequestID)}}}
	if rt.cfg.Signer != nil {
		rt.cfg.Signer.Sign(&msg)
	}
	err = rt.publish(ctx, "reply", msg)
	if err != nil && ctx.Err() == nil && kafka.IsUnknownTopic(err) {
		rt.cfg.Logger.Warn("reply topic unknown; request dead-lettered", "department", rt.cfg.Department,
			"request_id", reply.RequestID, "topic", topic)
		return rt.deadLetter(ctx, m, rt.served(reply.Resource), "reply_topic_unknown",
			govx.Errorf(govx.KindNotFound, "reply_topic_unknown", "reply topic %q does not exist", topic))
	}
	return err
}

// refuse parks m unanswered with the reason code and counts the refusal.
func (rt *Runtime) refuse(ctx context.Context, m kafka.Message, code string, reason error) error {
	if rt.cfg.Log != nil {
		// What the request claims, signed or not: the log shows who
		// tried, as well as it can tell.
		var req bus.Request
		if rt.codec.UnmarshalAs(ctx, schemas.Request, m.Value, &req) != nil || req.RequestID == "" {
			req.RequestID = m.Header(bus.HeaderRequestID)
		}
		if err := rt.cfg.Log.Append(ctx, LogEntry{RequestID: req.RequestID, Consumer: req.Consumer, Caller: req.Caller,
			Resource: req.Resource, SubjectKey: req.Key, Outcome: LogRefused, Code: code,
			SignerKeyID: m.Header(bus.HeaderKeyID), Source: source(m)}); err != nil {
			return fmt.Errorf("adapter %s: provider log: %w", rt.cfg.Department, err)
		}
	}
	if err := rt.deadLetter(ctx, m, "", code, reason); err != nil {
		return err
	}
	rt.metrics.countRefused(code)
	rt.cfg.Logger.Warn("adapter refused a request", "department", rt.cfg.Department, "reason", code,
		"source", fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset))
	return nil
}

// checkOrder checks the consumer department's signature on req's payload.
func (rt *Runtime) checkOrder(ctx context.Context, m kafka.Message, req *bus.Request, scope string) error {
	if rt.cfg.Verifier == nil {
		return nil // a runtime that checks no signatures (tests of handlers alone)
	}
	kid, sig := bus.PayloadSignature(m)
	if err := rt.cfg.Verifier.VerifyDetached(ctx, req.Consumer, kid, scope, req.Payload, sig); err != nil {
		if govx.ErrorKind(err) == govx.KindUnavailable {
			return err
		}
		return &govx.Error{Kind: govx.KindForbidden, Code: CodeOrderUnsigned,
			Message: fmt.Sprintf("the order is not signed by the ordering department %s (%s)", req.Consumer, govx.ErrorCode(err)), Err: err}
	}
	return nil
}

// seenIDs are the ids of the signed requests taken, each until its
// deadline. They are kept in memory, per process: a replay within the
// deadline window (seconds) to another instance of the department would
// be answered again, but only to the reply topic the exchange signed, whose
// requester drops a second reply; what this refuses is a request handled
// twice by one instance, for instance an order taken twice.
type seenIDs struct {
	mu      sync.Mutex
	m       map[string]time.Time
	sweepAt int
}

// add records id until until; false if it is already recorded.
func (s *seenIDs) add(id string, until, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m, s.sweepAt = map[string]time.Time{}, 1024
	}
	if t, ok := s.m[id]; ok && now.Before(t) {
		return false
	}
	if len(s.m) >= s.sweepAt {
		for k, t := range s.m {
			if !now.Before(t) {
				delete(s.m, k)
			}
		}
		s.sweepAt = max(1024, 2*len(s.m))
	}
	s.m[id] = until
	return true
}

func (s *seenIDs) forget(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// deadLetter parks m with the reason; code is its stable name, resource the
// served resource it was for ("" when none).
func (rt *Runtime) deadLetter(ctx context.Context, m kafka.Message, resource, code string, reason error) error {
	headers := append([]kafka.Header{}, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderDLQReason, Value: []byte(reason.Error())},
		kafka.Header{Key: HeaderDLQCode, Value: []byte(code)},
		kafka.Header{Key: HeaderDLQSource, Value: []byte(fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset))})
	// kafka-go's reader hands over an empty value as nil, and its writer
	// sends nil as null: a tombstone, which a compacted topic or a tool
	// takes for a delete. Request topics carry no tombstones, so a value
	// read as nil was sent empty, and is parked empty.
	value := m.Value
	if value == nil {
		value = []byte{}
	}
	if err := rt.publish(ctx, "dead letter", kafka.Message{Topic: bus.DeadLetterTopic(rt.cfg.Department), Key: m.Key, Value: value, Headers: headers}); err != nil {
		return err
	}
	rt.Stats.DeadLetter.Add(1)
	rt.metrics.countDeadLetter(resource, code)
	return nil
}

// publish writes msg, retrying with backoff up to PublishAttempts times.
func (rt *Runtime) publish(ctx context.Context, what string, msg kafka.Message) error {
	backoff := 100 * time.Millisecond
	var err error
	for attempt := 1; ; attempt++ {
		if err = rt.prod.Publish(ctx, msg); err == nil {
			return nil
		}
		if attempt >= rt.cfg.PublishAttempts || ctx.Err() != nil {
			break
		}
		rt.metrics.publishRetries.Add(1)
		rt.cfg.Logger.Warn("adapter publish failed; retrying", "what", what, "topic", msg.Topic,
			"request_id", string(msg.Key), "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
	rt.metrics.publishFailures.Add(1)
	return fmt.Errorf("adapter %s: %s to %s not acknowledged: %w", rt.cfg.Department, what, msg.Topic, err)
}
