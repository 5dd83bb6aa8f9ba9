package adapters

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx/bus"
	"govx/internal/avro"
	"govx/internal/outbox"
)

// Outbox is a department's outbox (govx/internal/outbox) that takes
// changes: Add encodes a change as the department's event and writes it in
// the caller's transaction; Relay publishes committed events to the bus.
type Outbox struct {
	*outbox.Outbox
	provider string
	codec    *avro.Codec
}

// NewOutbox returns the outbox of the department whose database schema is
// schema and whose catalogue code is provider. The department's migrations
// create its table with outbox.Migration.
func NewOutbox(pool *pgxpool.Pool, schema, provider string, codec *avro.Codec, log *slog.Logger) *Outbox {
	return &Outbox{Outbox: outbox.New(pool, schema, log), provider: provider, codec: codec}
}

// Add writes the event of a change into the outbox inside tx, the caller's
// transaction. It returns the event id.
func (o *Outbox) Add(ctx context.Context, tx pgx.Tx, c bus.Change) (string, error) {
	m, err := bus.ChangeMessage(o.codec, o.provider, c)
	if err != nil {
		return "", err
	}
	return m.EventID, o.Outbox.Add(ctx, tx, m)
}
