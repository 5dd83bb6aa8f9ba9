package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"govx"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/internal/postgres"
	"govx/node"
)

const busUsage = `usage: govx bus <command> [flags]

  topics                          the topics, with each partition's first and end offset
  groups                          the consumer groups, their members and lag
  tail TOPIC [--from-beginning] [--follow] [-n N]
                                  the last N messages of each partition (10), or all
                                  with --from-beginning, then with --follow the new
                                  ones: one JSON object a line, Avro decoded through
                                  the schema registry, ID numbers masked

  --brokers LIST  the brokers (GOVX_KAFKA_BROKERS, else govx up's 127.0.0.1:19092)
  --user NAME     the principal to connect as (admin): its password comes from
                  GOVX_KAFKA_CREDENTIALS or <--data>/kafka/credentials.json;
                  GOVX_KAFKA_USER and GOVX_KAFKA_PASSWORD take precedence
  --data DIR      data folder holding the embedded broker's credentials (GOVX_DATA)
`

// defaultBrokers is where govx up's embedded broker listens.
const defaultBrokers = "127.0.0.1:19092"

// runBus is `govx bus`: what is on the message bus, read the way the
// node's components reach it (SASL SCRAM-SHA-512). It reads only: it
// joins no consumer group and commits nothing.
func runBus(ctx context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 {
		return usageError("%s", busUsage)
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("bus "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	brokers := fs.String("brokers", strings.Join(cfg.KafkaBrokers, ","), "comma-separated brokers")
	user := fs.String("user", kafka.PrincipalAdmin, "principal to connect as, with its password from the credentials file")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data folder holding the embedded broker's credentials")
	var topic string
	var fromStart, follow bool
	var n int
	switch sub {
	case "topics", "groups":
	case "tail":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return usageError("govx bus tail needs a TOPIC\n%s", busUsage)
		}
		topic, args = args[0], args[1:]
		fs.BoolVar(&fromStart, "from-beginning", false, "every message from each partition's start")
		fs.BoolVar(&follow, "follow", false, "keep printing new messages until interrupted")
		fs.IntVar(&n, "n", 10, "messages to print from the end of each partition")
	default:
		return usageError("%s", busUsage)
	}
	if err := fs.Parse(args); err != nil {
		return usageError("%v\n%s", err, busUsage)
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q\n%s", fs.Arg(0), busUsage)
	}
	nGiven := false
	fs.Visit(func(f *flag.Flag) { nGiven = nGiven || f.Name == "n" })
	if sub == "tail" && (n < 0 || fromStart && nGiven) {
		return usageError("-n must be 0 or more, and goes without --from-beginning\n%s", busUsage)
	}
	kcfg, err := busConfig(cfg, *brokers, *user)
	if err != nil {
		return err
	}
	switch sub {
	case "topics":
		return busTopics(ctx, kcfg, stdout)
	case "groups":
		return busGroups(ctx, kcfg, stdout)
	}
	return busTail(ctx, cfg, kcfg, topic, fromStart, follow, n, stdout)
}

// busConfig is how the tools reach the brokers. They read every topic and
// describe every group, which on the embedded broker only its superuser
// (admin) may: each service's own principal is allowed its own topics
// alone. So they connect as admin, with the password govx up keeps in
// <data>/kafka/credentials.json, unless told another principal (--user,
// or GOVX_KAFKA_USER and GOVX_KAFKA_PASSWORD on external brokers). No
// credentials at all is PLAINTEXT, for brokers without SASL.
func busConfig(cfg node.Config, brokers, user string) (kafka.Config, error) {
	if brokers == "" {
		brokers = defaultBrokers
	}
	kcfg := kafka.Config{Brokers: list(brokers), ClientID: "govx-bus-tool", TLS: cfg.KafkaTLS}
	if cfg.KafkaUser != "" {
		kcfg.User, kcfg.Password = cfg.KafkaUser, cfg.KafkaPassword
		return kcfg, kcfg.Validate()
	}
	file := cfg.KafkaCredentialsFile
	if file == "" {
		file = filepath.Join(cfg.DataDir, "kafka", "credentials.json")
	}
	creds, err := kafka.ReadCredentials(file)
	switch {
	case errors.Is(err, os.ErrNotExist) && cfg.KafkaCredentialsFile == "":
		return kcfg, kcfg.Validate() // no embedded broker's file here: PLAINTEXT
	case err != nil:
		return kcfg, err
	}
	if kcfg, err = creds.Config(kcfg, user); err != nil {
		return kcfg, fmt.Errorf("%w in %s", err, file)
	}
	return kcfg, kcfg.Validate()
}

func busTopics(ctx context.Context, kcfg kafka.Config, stdout io.Writer) error {
	topics, err := kafka.ListTopics(ctx, kcfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tSTART\tEND\tMESSAGES")
	for _, t := range topics {
		for _, p := range t.Partitions {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", t.Name, p.Partition, p.Start, p.End, p.Messages())
		}
	}
	return tw.Flush()
}

func busGroups(ctx context.Context, kcfg kafka.Config, stdout io.Writer) error {
	groups, err := kafka.ListGroups(ctx, kcfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tMEMBERS\tTOPIC\tPARTITION\tCOMMITTED\tEND\tLAG")
	for _, g := range groups {
		if len(g.Offsets) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%d\t-\t-\t-\t-\t-\n", g.ID, cell(g.State), len(g.Members))
		}
		for _, o := range g.Offsets {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\n", g.ID, cell(g.State), len(g.Members), o.Topic, o.Partition, o.Committed, o.End, o.Lag)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range groups {
		for _, m := range g.Members {
			var assigned []string
			for t, ps := range m.Assigned {
				sort.Ints(ps)
				assigned = append(assigned, fmt.Sprintf("%s%v", t, ps))
			}
			sort.Strings(assigned)
			fmt.Fprintf(stdout, "member of %s: %s (client %s, %s) assigned %s\n", g.ID, cell(m.ID), cell(m.ClientID),
				cell(m.Host), cell(strings.Join(assigned, " ")))
		}
	}
	return nil
}

// busTail prints topic's messages, one JSON object a line. Without
// follow it stops at each partition's end as it was when it began.
func busTail(ctx context.Context, cfg node.Config, kcfg kafka.Config, topic string, fromStart, follow bool, n int, stdout io.Writer) error {
	bounds, err := kafka.TopicOffsets(ctx, kcfg, topic)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, postgres.Config{URL: cfg.PostgresURL})
	if err != nil {
		return err
	}
	defer pool.Close()
	dec := &busDecoder{codec: avro.NewCodec(catalog.NewStore(pool))}

	from := map[int]int64{}
	pending := map[int]int64{} // partition: the end to reach before stopping
	for _, p := range bounds {
		from[p.Partition] = p.Start
		if !fromStart {
			from[p.Partition] = max(p.Start, p.End-int64(n))
		}
		if from[p.Partition] < p.End {
			pending[p.Partition] = p.End
		}
	}
	if !follow && len(pending) == 0 {
		return nil
	}
	t, err := kafka.OpenTail(ctx, kcfg, topic, from, fromStart)
	if err != nil {
		return err
	}
	defer t.Close()
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for follow || len(pending) > 0 {
		m, err := t.Next(ctx)
		if err != nil {
			if follow && errors.Is(err, ctx.Err()) {
				return nil // interrupted: the normal end of --follow
			}
			return err
		}
		line, err := dec.line(ctx, m)
		if err != nil {
			return err
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
		if end, ok := pending[m.Partition]; ok && m.Offset+1 >= end {
			delete(pending, m.Partition)
		}
	}
	return nil
}

// busLine is one message as govx bus tail prints it. Text is masked with
// govx.MaskText, as govx audit list masks its entries; bytes that are not
// UTF-8 text are printed as base64, under a name that says so.
type busLine struct {
	Topic       string      `json:"topic"`
	Partition   int         `json:"partition"`
	Offset      int64       `json:"offset"`
	Time        time.Time   `json:"time"`
	Key         *string     `json:"key"`
	KeyBase64   string      `json:"key_base64,omitempty"`
	Headers     []busHeader `json:"headers"`
	SchemaID    int         `json:"schema_id,omitempty"`
	Value       any         `json:"value,omitempty"`
	ValueBase64 *string     `json:"value_base64,omitempty"`
	Note        string      `json:"note,omitempty"`
}

type busHeader struct {
	Key         string `json:"key"`
	Value       string `json:"value,omitempty"`
	ValueBase64 string `json:"value_base64,omitempty"`
}

// busDecoder decodes bus messages through the schema registry.
type busDecoder struct {
	codec *avro.Codec
}

func (d *busDecoder) line(ctx context.Context, m kafka.Message) (busLine, error) {
	l := busLine{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Time: m.Time.UTC(), Headers: []busHeader{}}
	if len(m.Key) > 0 {
		if utf8.Valid(m.Key) {
			k := govx.MaskText(string(m.Key))
			l.Key = &k
		} else {
			l.KeyBase64 = base64.StdEncoding.EncodeToString(m.Key)
		}
	}
	for _, h := range m.Headers {
		bh := busHeader{Key: govx.MaskText(h.Key)}
		if utf8.Valid(h.Value) {
			bh.Value = govx.MaskText(string(h.Value))
		} else {
			bh.ValueBase64 = base64.StdEncoding.EncodeToString(h.Value)
		}
		l.Headers = append(l.Headers, bh)
	}
	raw := func(note string) busLine {
		b := base64.StdEncoding.EncodeToString(m.Value)
		l.SchemaID, l.Value, l.ValueBase64, l.Note = 0, nil, &b, note
		return l
	}
	id, err := avro.SchemaID(m.Value)
	if err != nil {
		if len(m.Value) == 0 {
			return raw("empty value"), nil
		}
		return raw("not Avro in the Confluent wire format"), nil
	}
	v, err := d.decode(ctx, m.Value, 0)
	switch {
	case govx.ErrorKind(err) == govx.KindUnavailable:
		return l, err // the registry is down: every message would print raw
	case err != nil:
		return raw(fmt.Sprintf("not decoded with schema %d: %s", id, govx.ErrorMessage(err))), nil
	}
	l.SchemaID, l.Value = id, v
	// A value JSON cannot hold (a NaN float) is printed raw, not dropped.
	if _, err := json.Marshal(l); err != nil {
		return raw(fmt.Sprintf("decoded with schema %d but not printable as JSON: %v", id, err)), nil
	}
	return l, nil
}

// maxNesting bounds how deep records carried as bytes inside records (a
// reply's record, a request's order) are decoded.
const maxNesting = 4

// decode decodes a wire-format message and masks it.
func (d *busDecoder) decode(ctx context.Context, data []byte, depth int) (any, error) {
	var v map[string]any
	if err := d.codec.Unmarshal(ctx, data, &v); err != nil {
		return nil, err
	}
	return d.mask(ctx, v, depth), nil
}

// mask masks the ID numbers in every text of a decoded value, and decodes
// the bytes that hold a message of a known schema (the record of a reply
// or an event, the order of a request); other bytes stay bytes (base64 in
// JSON).
func (d *busDecoder) mask(ctx context.Context, v any, depth int) any {
	switch v := v.(type) {
	case string:
		return govx.MaskText(v)
	case []byte:
		if depth < maxNesting {
			if _, err := avro.SchemaID(v); err == nil {
				if inner, err := d.decode(ctx, v, depth+1); err == nil {
					return inner
				}
			}
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[govx.MaskText(k)] = d.mask(ctx, x, depth)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = d.mask(ctx, x, depth)
		}
		return out
	}
	return v
}
