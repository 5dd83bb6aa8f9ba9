package legalentity

import (
	"context"
	"embed"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/adapters"
	"govx/bus"
	"govx/internal/avro"
	"govx/internal/outbox"
	"govx/internal/postgres"
)

// Schema is the department's own database schema.
const Schema = "legal_entity"

// Migrations holds the SQL that creates the legal_entity schema.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// MigrationSource is the legal_entity schema's migrations, for
// postgres.Migrate.
func MigrationSource() postgres.Source {
	src := postgres.SourceDir(Schema, Migrations, "migrations")
	src.Built = []postgres.Migration{outbox.Migration("002_outbox.sql", Schema), adapters.LogMigration("003_provider_log.sql", Schema)}
	// 001 created the outbox table itself until 002 took it over.
	src.Replaces = map[string][]string{"001_legal_entity.sql": {"91e0bc777a4031271511ca9a17cfe20ae2632be958503e0fd1db148735b30759"}}
	return src
}

// NewOutbox returns the department's outbox, in its own schema, whose
// events codec encodes. Run its Relay to publish them.
func NewOutbox(pool *pgxpool.Pool, codec *avro.Codec, log *slog.Logger) *adapters.Outbox {
	return adapters.NewOutbox(pool, Schema, Department, codec, log)
}

// Store is the market entity register in PostgreSQL. It is safe for
// concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	outbox *adapters.Outbox
	now    func() time.Time
}

// NewStore returns a Store on pool, whose database must have the
// legal_entity migrations applied. Status changes write their change
// events into outbox (NewOutbox); a Store that only looks up and seeds may
// have a nil one.
func NewStore(pool *pgxpool.Pool, outbox *adapters.Outbox) *Store {
	return &Store{pool: pool, outbox: outbox, now: time.Now}
}

// registerZone is the register's time zone: a status change takes effect on
// the date in China.
var registerZone = time.FixedZone("CST", 8*3600)

// maxReason bounds the reason of a status change, in characters.
const maxReason = 500

const companyColumns = `uscc, name, entity_type, legal_representative, legal_representative_id_number,
	registered_capital, established_on, authority_name, authority_code, address, division_code,
	business_scope, status, status_date, status_reason, updated_at`

func scanCompany(row pgx.Row) (Company, error) {
	var c Company
	var capital *int64
	err := row.Scan(&c.USCC, &c.Name, &c.Type, &c.LegalRepresentative, &c.RepresentativeID,
		&capital, &c.EstablishedOn, &c.AuthorityName, &c.AuthorityCode, &c.Address, &c.DivisionCode,
		&c.BusinessScope, &c.Status, &c.StatusDate, &c.StatusReason, &c.UpdatedAt)
	if capital != nil {
		c.RegisteredCapital = *capital
	}
	c.EstablishedOn, c.StatusDate, c.UpdatedAt = c.EstablishedOn.UTC(), c.StatusDate.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// Company returns the entity with the unified social credit code uscc. A
// malformed code is KindInvalid ("invalid_uscc") and never reaches the
// database; a well-formed one that is not registered is KindNotFound
// ("entity_not_found"); a database that cannot be reached is
// KindUnavailable.
func (s *Store) Company(ctx context.Context, uscc string) (Company, error) {
	const op = "legalentity.Store.Company"
	if err := govx.ValidateUSCC(uscc); err != nil {
		return Company{}, govx.E(op, err)
	}
	c, err := scanCompany(s.pool.QueryRow(ctx, `SELECT `+companyColumns+` FROM legal_entity.entities WHERE uscc = $1`, uscc))
	if err != nil {
		return Company{}, postgres.Translate(op, err, "entity_not_found")
	}
	return c, nil
}

// Count returns the number of entities in the register, whatever their
// status.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM legal_entity.entities`).Scan(&n); err != nil {
		return 0, postgres.Translate("legalentity.Store.Count", err, "")
	}
	return n, nil
}

// seedBatch is how many companies Seed generates ahead at a time.
const seedBatch = 512

var seedColumns = []string{"uscc", "name", "entity_type", "legal_representative", "legal_representative_id_number",
	"registered_capital", "established_on", "authority_name", "authority_code", "address", "division_code",
	"business_scope", "status", "status_date", "status_reason", "updated_at"}

// Seed loads companies [from, from+n) of g into the register with COPY,
// generating each row as it is sent, and returns how many it loaded (n on
// success). It is all or nothing: the rows go in one transaction.
//
// Seed does not skip companies already there: if any of the range is, the
// whole load fails with KindConflict ("already_exists") and leaves the
// register as it was. A range outside [0, Capacity()) is KindInvalid.
func (s *Store) Seed(ctx context.Context, g *Generator, from, n int) (int64, error) {
	const op = "legalentity.Store.Seed"
	if from < 0 || n < 0 || from > Capacity()-n {
		return 0, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_range",
			"companies [%d, %d+%d) are outside [0, %d)", from, from, n, Capacity()))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit

	// Companies are generated ahead in batches while pgx encodes and sends
	// the previous ones, so generation overlaps with the server's work.
	gctx, stop := context.WithCancel(ctx)
	defer stop()
	batches := make(chan []Company, 4)
	go func() {
		defer close(batches)
		for at := from; at < from+n; at += seedBatch {
			b := make([]Company, min(seedBatch, from+n-at))
			for k := range b {
				b[k] = g.Company(at + k)
			}
			select {
			case batches <- b:
			case <-gctx.Done():
				return
			}
		}
	}()
	row := make([]any, len(seedColumns)) // reused: pgx encodes each row before asking for the next
	var batch []Company
	copied, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, "entities"}, seedColumns,
		pgx.CopyFromFunc(func() ([]any, error) {
			if len(batch) == 0 {
				var ok bool
				if batch, ok = <-batches; !ok {
					return nil, ctx.Err()
				}
			}
			c := &batch[0]
			batch = batch[1:]
			var capital any
			if c.RegisteredCapital > 0 {
				capital = c.RegisteredCapital
			}
			row[0], row[1], row[2], row[3], row[4] = c.USCC, c.Name, c.Type, c.LegalRepresentative, c.RepresentativeID
			row[5], row[6], row[7], row[8], row[9] = capital, c.EstablishedOn, c.AuthorityName, c.AuthorityCode, c.Address
			row[10], row[11], row[12], row[13], row[14] = c.DivisionCode, c.BusinessScope, c.Status, c.StatusDate, c.StatusReason
			row[15] = c.UpdatedAt
			return row, nil
		}))
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	return copied, nil
}

// Deregister records that the entity has been deregistered (注销) for
// reason, effective today, and writes a legal-entity.deregistered change
// event in the same transaction. It returns the entity as changed. An
// entity already deregistered or revoked is KindConflict
// ("status_terminal") and nothing is written.
func (s *Store) Deregister(ctx context.Context, uscc, reason string) (Company, error) {
	return s.leave(ctx, "legalentity.Store.Deregister", uscc, StatusDeregistered, reason)
}

// Revoke records that the entity's business licence has been revoked (吊销)
// for reason, effective today, and writes a legal-entity.revoked change
// event in the same transaction. It returns the entity as changed. An
// entity already deregistered or revoked is KindConflict
// ("status_terminal") and nothing is written.
func (s *Store) Revoke(ctx context.Context, uscc, reason string) (Company, error) {
	return s.leave(ctx, "legalentity.Store.Revoke", uscc, StatusRevoked, reason)
}

func (s *Store) leave(ctx context.Context, op, uscc, status, reason string) (Company, error) {
	if err := govx.ValidateUSCC(uscc); err != nil {
		return Company{}, govx.E(op, err)
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > maxReason || !utf8.ValidString(reason) {
		return Company{}, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_reason",
			"a status change needs a reason of 1 to %d characters", maxReason))
	}
	if s.outbox == nil {
		return Company{}, govx.E(op, govx.Errorf(govx.KindInternal, "no_outbox", "the store has no outbox for change events"))
	}
	now := s.now()
	return s.update(ctx, op, uscc, func(c *Company) (string, error) {
		if err := c.leave(status, reason, now); err != nil {
			return "", err
		}
		return "legal-entity." + status, nil
	})
}

// leave is the rule of a status change: only an entity in business can
// leave it, and it leaves on the day of now in China, never before it was
// established.
func (c *Company) leave(status, reason string, now time.Time) error {
	if c.Terminal() {
		return govx.Errorf(govx.KindConflict, "status_terminal",
			"the entity was %s on %s; its status cannot change any more", c.Status, c.StatusDate.Format(time.DateOnly))
	}
	y, m, d := now.In(registerZone).Date()
	on := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if on.Before(c.EstablishedOn) {
		on = c.EstablishedOn
	}
	c.Status, c.StatusDate, c.StatusReason, c.UpdatedAt = status, on, reason, now.UTC().Truncate(time.Microsecond) // as stored
	return nil
}

// update changes one entity in a transaction that holds its row lock: fn
// applies the domain's rule to the entity and names the change event's
// type, and the changed status and the event are written together or not
// at all.
func (s *Store) update(ctx context.Context, op, uscc string, fn func(*Company) (string, error)) (Company, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Company{}, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	c, err := scanCompany(tx.QueryRow(ctx, `SELECT `+companyColumns+` FROM legal_entity.entities WHERE uscc = $1 FOR UPDATE`, uscc))
	if err != nil {
		return Company{}, postgres.Translate(op, err, "entity_not_found")
	}
	typ, err := fn(&c)
	if err != nil {
		return Company{}, govx.E(op, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE legal_entity.entities
		SET status = $2, status_date = $3, status_reason = $4, updated_at = $5 WHERE uscc = $1`,
		c.USCC, c.Status, c.StatusDate, c.StatusReason, c.UpdatedAt); err != nil {
		return Company{}, postgres.Translate(op, err, "")
	}
	if _, err := s.outbox.Add(ctx, tx, bus.Change{Resource: ResourceStatus, Subject: ResourceStatus, Key: c.USCC,
		Type: typ, Reason: c.StatusReason, Record: statusRecord(c, statusFields)}); err != nil {
		return Company{}, govx.E(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Company{}, postgres.Translate(op, err, "")
	}
	return c, nil
}
