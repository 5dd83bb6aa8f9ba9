package adapters

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/postgres"
)

// The provider log: every request a department's runtime answered or
// refused, kept in the department's own database schema, so that the
// department can show whom it told what without the exchange's ledger.
// The table is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE.
// Keys are stored masked as the ledger's operator view masks them
// (govx.MaskSubject): the log says who asked about whom, not the record.

// Outcomes in the provider log.
const (
	LogAnswered = "answered" // a record went back
	LogError    = "error"    // an error reply went back (not found, invalid, order unsigned, …)
	LogRefused  = "refused"  // dead-lettered unanswered (unsigned, tampered, replayed, …)
)

// LogMigration is the migration, named name in the department whose
// schema is schema, that creates the department's provider log. Its text
// must not change once applied.
func LogMigration(name, schema string) postgres.Migration {
	t := pgx.Identifier{schema, "provider_log"}.Sanitize()
	fn := pgx.Identifier{schema, "provider_log_append_only"}.Sanitize()
	return postgres.Migration{Name: name, SQL: fmt.Sprintf(`-- Every request the department answered or refused (govx/adapters), append-only.
CREATE TABLE %[1]s (
    seq           bigserial   PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    request_id    text        NOT NULL,
    consumer      text        NOT NULL,
    caller        text        NOT NULL,
    resource      text        NOT NULL,
    subject_key   text        NOT NULL,
    outcome       text        NOT NULL,
    code          text        NOT NULL,
    signer_key_id text        NOT NULL,
    source        text        NOT NULL
);
CREATE INDEX ON %[1]s (request_id);
CREATE FUNCTION %[2]s() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the provider log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER provider_log_append_only BEFORE UPDATE OR DELETE ON %[1]s
    FOR EACH ROW EXECUTE FUNCTION %[2]s();
CREATE TRIGGER provider_log_no_truncate BEFORE TRUNCATE ON %[1]s
    FOR EACH STATEMENT EXECUTE FUNCTION %[2]s();
`, t, fn)}
}

// LogEntry is one line of the provider log.
type LogEntry struct {
	Seq         int64     `json:"seq"`
	At          time.Time `json:"at"`
	RequestID   string    `json:"request_id"`
	Consumer    string    `json:"consumer"` // as the request said (verified only when Outcome is not refused)
	Caller      string    `json:"caller"`
	Resource    string    `json:"resource"`
	SubjectKey  string    `json:"subject_key"` // masked
	Outcome     string    `json:"outcome"`
	Code        string    `json:"code"`          // "ok", the error's code or the refusal's
	SignerKeyID string    `json:"signer_key_id"` // the key the request was signed with, "" if none
	Source      string    `json:"source"`        // topic/partition/offset of the request
}

// ProviderLog is a department's provider log table. It is safe for
// concurrent use.
//
// Appends are group-committed: the entries of handlers appending at the
// same time go in as one COPY, one statement and one commit, and each
// Append returns once its own entry is committed (or the batch failed), so
// an answer is still logged before it is sent. Under load this takes the
// per-statement and per-commit work of one INSERT a request off the
// department's database.
type ProviderLog struct {
	pool  *pgxpool.Pool
	ident pgx.Identifier
	table string

	mu      sync.Mutex
	queue   []*logWait
	writing bool // a writer is draining queue
}

// logWait is an entry waiting for its batch's commit.
type logWait struct {
	row  []any
	done chan error
}

// maxLogBatch bounds the rows of one COPY.
const maxLogBatch = 256

// NewProviderLog returns the provider log in schema, which LogMigration
// creates.
func NewProviderLog(pool *pgxpool.Pool, schema string) *ProviderLog {
	id := pgx.Identifier{schema, "provider_log"}
	return &ProviderLog{pool: pool, ident: id, table: id.Sanitize()}
}

var logColumns = []string{"request_id", "consumer", "caller", "resource", "subject_key", "outcome", "code", "signer_key_id", "source"}

// Append writes e, its key masked and its text made storable, and returns
// once it is committed. Cancelling ctx stops the wait, not the write.
func (l *ProviderLog) Append(ctx context.Context, e LogEntry) error {
	s := func(v string, n int) string { return postgres.Storable(truncate(v, n)) }
	w := &logWait{done: make(chan error, 1), row: []any{s(e.RequestID, 64), s(e.Consumer, 100), s(govx.MaskText(e.Caller), 200),
		s(e.Resource, 100), govx.MaskSubject(truncate(e.SubjectKey, 64)), e.Outcome, s(e.Code, 64), s(e.SignerKeyID, 128), s(e.Source, 300)}}
	l.mu.Lock()
	l.queue = append(l.queue, w)
	lead := !l.writing
	l.writing = true
	l.mu.Unlock()
	if lead {
		// This caller writes what is queued, its own entry among it, and
		// hands what queued meanwhile to a writer of its own.
		l.writeBatch(context.WithoutCancel(ctx))
		if l.more() {
			go l.drain(context.WithoutCancel(ctx))
		}
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return postgres.Translate("adapters.ProviderLog.Append", ctx.Err(), "")
	}
}

// more reports whether entries are queued, else ends the writer's turn.
func (l *ProviderLog) more() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.queue) == 0 {
		l.writing = false
		return false
	}
	return true
}

// drain writes batches until nothing is queued.
func (l *ProviderLog) drain(ctx context.Context) {
	for {
		l.writeBatch(ctx)
		if !l.more() {
			return
		}
	}
}

// writeBatch takes up to maxLogBatch queued entries, copies them in and
// tells each the outcome.
func (l *ProviderLog) writeBatch(ctx context.Context) {
	l.mu.Lock()
	n := min(len(l.queue), maxLogBatch)
	batch := l.queue[:n:n]
	l.queue = l.queue[n:]
	l.mu.Unlock()
	if n == 0 {
		return
	}
	i := 0
	_, err := l.pool.CopyFrom(ctx, l.ident, logColumns, pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(batch) {
			return nil, nil
		}
		i++
		return batch[i-1].row, nil
	}))
	err = postgres.Translate("adapters.ProviderLog.Append", err, "")
	for _, w := range batch {
		w.done <- err
	}
}

// List returns the latest limit entries (default and at most 1000),
// newest first.
func (l *ProviderLog) List(ctx context.Context, limit int) ([]LogEntry, error) {
	const op = "adapters.ProviderLog.List"
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := l.pool.Query(ctx, fmt.Sprintf(`SELECT seq, at, request_id, consumer, caller, resource, subject_key, outcome, code, signer_key_id, source
		FROM %s ORDER BY seq DESC LIMIT $1`, l.table), limit)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LogEntry, error) {
		var e LogEntry
		err := r.Scan(&e.Seq, &e.At, &e.RequestID, &e.Consumer, &e.Caller, &e.Resource, &e.SubjectKey, &e.Outcome, &e.Code, &e.SignerKeyID, &e.Source)
		return e, err
	})
	return out, postgres.Translate(op, err, "")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
