// Package outbox makes a change and the message announcing it one
// transaction: a component writes the already-encoded message into the
// outbox table of its own database schema in the transaction that makes the
// change (Add), and Relay publishes committed messages to Kafka in order,
// deleting each only after the broker has acknowledged it. A message is
// therefore published at least once, and never for a change that rolled
// back.
//
// The package stores and relays bytes; what a message says (the event
// envelope of a change) is the caller's. Like all of internal/, it imports
// no domain package.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/kafka"
	"govx/internal/postgres"
)

// EventIDHeader is the Kafka header that carries a message's event id, so
// consumers can drop the duplicates at-least-once delivery brings.
const EventIDHeader = "govx-event-id"

// Migration is the migration, named name in the component whose database
// schema is schema, that creates the schema's outbox table. Every component
// with an outbox lists it among its migrations (postgres.Source.Built), so
// the table is defined here once. Its text must not change once applied: a
// change to the table is a further migration.
func Migration(name, schema string) postgres.Migration {
	return postgres.Migration{Name: name, SQL: fmt.Sprintf(`-- Messages committed but not yet published to the bus (govx/internal/outbox).
CREATE TABLE IF NOT EXISTS %s (
    id         bigserial   PRIMARY KEY,
    topic      text        NOT NULL,
    key        bytea       NOT NULL,
    value      bytea       NOT NULL,
    event_id   text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
`, table(schema))}
}

func table(schema string) string { return pgx.Identifier{schema, "outbox"}.Sanitize() }

// Message is an encoded message waiting in an outbox.
type Message struct {
	Topic   string
	Key     []byte
	Value   []byte
	EventID string // sent as the EventIDHeader header
}

// Outbox is the outbox table of one database schema. It is safe for
// concurrent use.
type Outbox struct {
	pool  *pgxpool.Pool
	table string // "<schema>"."outbox"
	log   *slog.Logger
	sign  func(*kafka.Message)
}

// New returns the outbox in schema, whose table Migration creates. log
// (default slog.Default) hears of failed relays.
func New(pool *pgxpool.Pool, schema string, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.Default()
	}
	return &Outbox{pool: pool, table: table(schema), log: log}
}

// SignWith makes the relay sign every message as it is published: sign
// adds the sender's signature to m (its headers), computed over m.Topic
// and m.Value as they are written. The signature is made at publish time,
// with the key in use then, so messages committed before a key rotation
// go out under the new key. Call it before Relay; nil publishes unsigned.
func (o *Outbox) SignWith(sign func(m *kafka.Message)) { o.sign = sign }

// Add writes m into the outbox inside tx, the caller's transaction: m is
// published if and only if tx commits.
func (o *Outbox) Add(ctx context.Context, tx pgx.Tx, m Message) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (topic, key, value, event_id) VALUES ($1, $2, $3, $4)`, o.table),
		m.Topic, m.Key, m.Value, m.EventID)
	return postgres.Translate("outbox.Add", err, "")
}

// Pending counts the messages not yet published.
func (o *Outbox) Pending(ctx context.Context) (int64, error) {
	var n int64
	err := o.pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s`, o.table)).Scan(&n)
	return n, postgres.Translate("outbox.Pending", err, "")
}

// RelayOnce publishes up to batch committed messages, oldest first, and
// deletes them once the broker has acknowledged them. It returns how many
// it published. Relays of one outbox in several processes take turns: the
// batch is locked for the length of the publish.
func (o *Outbox) RelayOnce(ctx context.Context, prod *kafka.Producer, batch int) (int, error) {
	const op = "outbox.Relay"
	tx, err := o.pool.Begin(ctx)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// One relay at a time per outbox keeps messages of one key in order.
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
		m.Headers = []kafka.Header{{Key: EventIDHeader, Value: []byte(eventID)}}
		if o.sign != nil {
			o.sign(&m)
		}
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
		// Published but not deleted: the messages go out again, which
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
