package adapters

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/bus"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/internal/postgres"
	"govx/schemas"
)

// OutboxDDL is the table a department keeps its unsent change events in,
// in its own database schema. A department's migration creates it with
// fmt.Sprintf(OutboxDDL, schema).
const OutboxDDL = `CREATE TABLE %[1]s.outbox (
    id         bigserial   PRIMARY KEY,
    topic      text        NOT NULL,
    key        bytea       NOT NULL,
    value      bytea       NOT NULL,
    event_id   text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);`

// Outbox makes a change and its event one transaction: the department
// writes the event into its outbox table in the transaction that changes
// the record (Add), and Relay publishes committed events to the bus in
// order, deleting each only after the broker has acknowledged it. An event
// is therefore published at least once and never for a change that rolled
// back.
type Outbox struct {
	pool     *pgxpool.Pool
	table    string // "<schema>.outbox"
	provider string
	codec    *avro.Codec
	log      *slog.Logger
}

// NewOutbox returns the outbox of the department whose database schema is
// schema and whose catalogue code is provider.
func NewOutbox(pool *pgxpool.Pool, schema, provider string, codec *avro.Codec, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.Default()
	}
	return &Outbox{pool: pool, table: pgx.Identifier{schema, "outbox"}.Sanitize(), provider: provider, codec: codec, log: log}
}

// Change describes a change event to be published.
type Change struct {
	Resource string // catalogue code; the event goes to bus.EventTopic(Resource)
	Subject  string // schema subject the record is encoded with (usually Resource)
	Key      string // the record's key
	Type     string // e.g. "licence.revoked"
	Reason   string
	Record   any // the record after the change, encodable with Subject's schema
}

// Add writes the event of a change into the outbox inside tx, the caller's
// transaction. It returns the event id.
func (o *Outbox) Add(ctx context.Context, tx pgx.Tx, c Change) (string, error) {
	const op = "adapters.Outbox.Add"
	var rec []byte
	if c.Record != nil {
		var err error
		if rec, err = o.codec.Marshal(c.Subject, c.Record); err != nil {
			return "", govx.E(op, err)
		}
	}
	ev := bus.Event{EventID: bus.NewRequestID(), Resource: c.Resource, Provider: o.provider, Key: c.Key,
		Type: c.Type, Reason: c.Reason, OccurredAt: time.Now().UTC().Truncate(time.Millisecond), Record: rec}
	value, err := o.codec.Marshal(schemas.Event, ev)
	if err != nil {
		return "", govx.E(op, err)
	}
	_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (topic, key, value, event_id) VALUES ($1, $2, $3, $4)`, o.table),
		bus.EventTopic(c.Resource), []byte(c.Key), value, ev.EventID)
	if err != nil {
		return "", postgres.Translate(op, err, "")
	}
	return ev.EventID, nil
}

// Pending counts the events not yet published.
func (o *Outbox) Pending(ctx context.Context) (int64, error) {
	var n int64
	err := o.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s`, o.table)).Scan(&n)
	return n, postgres.Translate("adapters.Outbox.Pending", err, "")
}

// RelayOnce publishes up to batch committed events, oldest first, and
// deletes them once the broker has acknowledged them. It returns how many
// it published. Relays of one outbox in several processes take turns: the
// batch is locked for the length of the publish.
func (o *Outbox) RelayOnce(ctx context.Context, prod *kafka.Producer, batch int) (int, error) {
	const op = "adapters.Outbox.Relay"
	tx, err := o.pool.Begin(ctx)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// One relay at a time per outbox keeps events of one key in order.
	var got bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtext($1))`, o.table).Scan(&got); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if !got {
		return 0, nil
	}
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT id, topic, key, value, event_id FROM %s ORDER BY id LIMIT $1`, o.table), batch)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	var ids []int64
	var msgs []kafka.Message
	for rows.Next() {
		var id int64
		var m kafka.Message
		var eventID string
		if err := rows.Scan(&id, &m.Topic, &m.Key, &m.Value, &eventID); err != nil {
			rows.Close()
			return 0, postgres.Translate(op, err, "")
		}
		m.Headers = []kafka.Header{{Key: "govx-event-id", Value: []byte(eventID)}}
		ids = append(ids, id)
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := prod.Publish(ctx, msgs...); err != nil {
		return 0, govx.E(op, err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE id = ANY($1)`, o.table), ids); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		// Published but not deleted: the events go out again, which
		// consumers absorb by event id.
		return 0, postgres.Translate(op, err, "")
	}
	return len(msgs), nil
}

// Relay publishes the outbox until ctx ends, polling every interval
// (default 100 ms) while it is empty.
func (o *Outbox) Relay(ctx context.Context, prod *kafka.Producer, interval time.Duration) {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	backoff := interval
	for ctx.Err() == nil {
		n, err := o.RelayOnce(ctx, prod, 256)
		switch {
		case err != nil && ctx.Err() == nil:
			o.log.Warn("outbox relay", "outbox", o.table, "err", err)
			backoff = min(2*backoff, 5*time.Second)
		case err == nil:
			backoff = interval
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
	}
}
