// Package adapters is the runtime a department uses to join the bus: it
// consumes the department's request topic in a consumer group, decodes each
// Avro request, calls the handler registered for the resource, and produces
// the Avro reply to the topic the request names. The reference adapters of
// the base registers live in the sub-packages (population, …).
package adapters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"govx"
	"govx/catalog"
	"govx/exchange"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/schemas"
)

// HandlerFunc answers one request. It returns the record as a value the
// resource's Avro schema encodes (a struct with avro tags or a
// map[string]any), holding no more than req.Fields; or an error, whose kind,
// code and message the caller receives. ctx ends at the request's deadline.
type HandlerFunc func(ctx context.Context, req *exchange.Request) (any, error)

// Config configures a department's runtime.
type Config struct {
	Department  string // department code; requests come on catalog.RequestTopic(Department)
	GroupID     string // default "govx.adapter.<department>"
	Partitions  int    // of the request topic when it is created; default 8
	MaxInFlight int    // requests handled at once; default 64
	Logger      *slog.Logger
}

func (c *Config) Validate() error {
	if c.Department == "" {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "adapter: department is required")
	}
	if c.GroupID == "" {
		c.GroupID = "govx.adapter." + c.Department
	}
	if c.Partitions <= 0 {
		c.Partitions = 8
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// DeadLetterTopic is where a department's undecodable or unanswerable
// requests are parked with the reason.
func DeadLetterTopic(department string) string { return "govx.dlq." + department }

type route struct {
	subject string
	fn      HandlerFunc
}

// Runtime runs one department's adapter.
type Runtime struct {
	cfg   Config
	kcfg  kafka.Config
	codec *avro.Codec
	prod  *kafka.Producer

	mu     sync.RWMutex
	routes map[string]route

	Stats Stats
}

// Stats are the runtime's counters, for health and metrics.
type Stats struct {
	Requests   atomic.Int64
	Errors     atomic.Int64
	DeadLetter atomic.Int64
	LatencyNs  atomic.Int64 // summed handling time
}

func New(cfg Config, kcfg kafka.Config, codec *avro.Codec, prod *kafka.Producer) (*Runtime, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Runtime{cfg: cfg, kcfg: kcfg, codec: codec, prod: prod, routes: map[string]route{}}, nil
}

// Handle routes requests for resource to fn; records are encoded with the
// registered schema of subject.
func (rt *Runtime) Handle(resource, subject string, fn HandlerFunc) {
	rt.mu.Lock()
	rt.routes[resource] = route{subject: subject, fn: fn}
	rt.mu.Unlock()
}

// Run consumes requests until ctx is cancelled; requests in flight then are
// finished (or, past the shutdown timeout, left uncommitted for redelivery).
func (rt *Runtime) Run(ctx context.Context) error {
	topic := catalog.RequestTopic(rt.cfg.Department)
	if err := kafka.EnsureTopics(ctx, rt.kcfg,
		kafka.Topic{Name: topic, Partitions: rt.cfg.Partitions},
		kafka.Topic{Name: DeadLetterTopic(rt.cfg.Department), Partitions: 1}); err != nil {
		return err
	}
	cons, err := kafka.NewConsumer(rt.kcfg, kafka.ConsumerConfig{
		GroupID: rt.cfg.GroupID, Topics: []string{topic}, MaxInFlight: rt.cfg.MaxInFlight, Logger: rt.cfg.Logger,
	})
	if err != nil {
		return err
	}
	defer cons.Close()
	rt.cfg.Logger.Info("adapter consuming", "department", rt.cfg.Department, "topic", topic, "group", rt.cfg.GroupID)
	return cons.Run(ctx, rt.handle)
}

func (rt *Runtime) handle(ctx context.Context, m kafka.Message) {
	start := time.Now()
	rt.Stats.Requests.Add(1)
	defer func() { rt.Stats.LatencyNs.Add(int64(time.Since(start))) }()
	replyTo := m.Header(kafka.HeaderReplyTo)
	id := m.Header(kafka.HeaderRequestID)

	var req exchange.Request
	err := rt.codec.UnmarshalAs(ctx, schemas.Request, m.Value, &req)
	if err == nil && (req.RequestID == "" || req.Resource == "" || req.Deadline.IsZero()) {
		// Without these a request would be dropped below as past its
		// deadline, without a trace.
		err = govx.Errorf(govx.KindInvalid, "invalid_request", "the request lacks its id, resource or deadline")
	}
	if err != nil {
		rt.deadLetter(ctx, m, err)
		if replyTo != "" && id != "" {
			rt.reply(ctx, replyTo, exchange.Reply{RequestID: id, Provider: rt.cfg.Department,
				Error: exchange.NewReplyError(govx.Errorf(govx.KindInvalid, "invalid_request", "the provider could not decode the request"))})
		}
		return
	}
	if req.ReplyTo == "" {
		req.ReplyTo = replyTo
	}
	reply := exchange.Reply{RequestID: req.RequestID, Resource: req.Resource, Provider: rt.cfg.Department}
	if time.Now().After(req.Deadline) {
		// The caller has given up; answering would only be dropped.
		return
	}
	rt.mu.RLock()
	r, ok := rt.routes[req.Resource]
	rt.mu.RUnlock()
	if !ok {
		err := govx.Errorf(govx.KindNotFound, "resource_not_served", "%s does not serve %s", rt.cfg.Department, req.Resource)
		rt.deadLetter(ctx, m, err)
		reply.Error = exchange.NewReplyError(err)
		rt.reply(ctx, req.ReplyTo, reply)
		return
	}
	hctx, cancel := context.WithDeadline(ctx, req.Deadline)
	rec, err := r.fn(hctx, &req)
	cancel()
	if err == nil {
		reply.Record, err = rt.codec.Marshal(r.subject, rec)
		if err != nil {
			rt.deadLetter(ctx, m, err)
		}
	}
	if err != nil {
		// Only an error the handler left unclassified becomes a timeout: a
		// handler that bounds its own database call (population's
		// dbTimeout) and says Unavailable means it.
		if errors.Is(err, context.DeadlineExceeded) && govx.ErrorKind(err) == govx.KindInternal {
			err = &govx.Error{Kind: govx.KindTimeout, Code: "provider_timeout", Message: "the provider did not answer in time", Err: err}
		}
		rt.Stats.Errors.Add(1)
		if govx.ErrorKind(err) == govx.KindInternal {
			rt.cfg.Logger.Error("adapter handler failed", "department", rt.cfg.Department, "resource", req.Resource,
				"request_id", req.RequestID, "err", err)
		}
		reply.Record = nil
		reply.Error = exchange.NewReplyError(err)
	}
	rt.reply(ctx, req.ReplyTo, reply)
}

func (rt *Runtime) reply(ctx context.Context, topic string, reply exchange.Reply) {
	reply.AnsweredAt = time.Now().UTC()
	body, err := rt.codec.Marshal(schemas.Reply, reply)
	if err != nil {
		rt.cfg.Logger.Error("encode reply", "request_id", reply.RequestID, "err", err)
		return
	}
	err = rt.prod.Publish(ctx, kafka.Message{Topic: topic, Key: []byte(reply.RequestID), Value: body,
		Headers: []kafka.Header{{Key: kafka.HeaderRequestID, Value: []byte(reply.RequestID)}}})
	if err != nil {
		rt.cfg.Logger.Error("send reply", "request_id", reply.RequestID, "topic", topic, "err", err)
	}
}

func (rt *Runtime) deadLetter(ctx context.Context, m kafka.Message, reason error) {
	rt.Stats.DeadLetter.Add(1)
	headers := append([]kafka.Header{}, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: "govx-dlq-reason", Value: []byte(reason.Error())},
		kafka.Header{Key: "govx-dlq-source", Value: []byte(fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset))})
	if err := rt.prod.Publish(ctx, kafka.Message{Topic: DeadLetterTopic(rt.cfg.Department), Key: m.Key, Value: m.Value, Headers: headers}); err != nil {
		rt.cfg.Logger.Error("dead-letter", "department", rt.cfg.Department, "err", err)
	}
}
