// Package ledger is the exchange's audit ledger: every query and every
// event subscription, answered or refused, as one hash-chained, append-only
// row in PostgreSQL, with signed checkpoints of the chain head, the
// operator's masked view of it (/v1/audit) and the data subject's view of
// who accessed their data (/v1/subjects/{subject}/accesses).
//
// The exchange writes to it through its own AuditLog interface; the ledger
// imports nothing of the exchange.
package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/auth"
	"govx/internal/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationSource is the audit ledger's schema migrations. They were the
// exchange's before the ledger had its own package and keep its component
// name and its schema ("exchange"), so databases that applied them stay
// as they are.
func MigrationSource() postgres.Source {
	return postgres.SourceDir("exchange", migrations, "migrations")
}

// Outcomes of a query.
//
// An entry is committed before the answer is written to the client (no
// answer leaves unaudited), so an entry of an answered query proves the
// exchange released the answer, not that the client received it: a
// process killed between the two leaves an entry whose client never got
// the answer. New entries say Released; entries written before it
// existed say Answered, which their hash covers, and mean the same.
const (
	Released = "released" // the provider answered with a record and the exchange released it to the client
	Answered = "answered" // Released, as entries written before it existed say
	Refused  = "refused"  // the exchange refused: token, scope, policy, input
	Failed   = "failed"   // the provider answered with an error, or not at all
)

// Outcomes are every outcome an entry may hold, for readers and filters.
var Outcomes = []string{Released, Answered, Refused, Failed}

// IsReleased reports whether outcome is that of an answer released to the
// client: Released, or Answered in entries written before it existed.
func IsReleased(outcome string) bool { return outcome == Released || outcome == Answered }

// Entry is one row of the audit ledger.
type Entry struct {
	Seq        int64
	At         time.Time
	RequestID  string
	Caller     string // subject of the caller's token, "" if none
	Consumer   string // caller's department
	Resource   string
	Provider   string
	SubjectKey string // whose data: the ID number or other key asked for
	Fields     []string
	Purpose    string
	Outcome    string
	Code       string // "ok" or the error code
	Status     int    // HTTP status answered
	Rule       string // the policy rule that decided: unconditional, grant:<id>, grant_required, …; "" if none was reached
	ConsentID  string // the consent that allowed the access; "" if none was needed or none allowed it
	// DataSubject is whose data: the ID number or USCC the record is
	// about (the key, or a licence's holder); "" if unknown.
	DataSubject string
	// ProviderKeyID, ProviderSignature and ReplyDigest are the provider's
	// bus signature on its reply (govx/bus) and the reply's bus.Digest,
	// which the signature covers; empty when no signed reply was verified.
	ProviderKeyID     string
	ProviderSignature []byte
	ReplyDigest       []byte
	PrevHash          []byte
	Hash              []byte
}

// sanitize makes every text field storable: PostgreSQL text holds neither
// NUL bytes nor invalid UTF-8, and one such value from a hostile caller
// would otherwise fail the whole group-committed batch, other callers'
// entries with it.
func (e *Entry) sanitize() {
	for _, f := range []*string{&e.RequestID, &e.Caller, &e.Consumer, &e.Resource, &e.Provider,
		&e.SubjectKey, &e.Purpose, &e.Outcome, &e.Code, &e.Rule, &e.ConsentID, &e.DataSubject, &e.ProviderKeyID} {
		*f = postgres.Storable(*f)
	}
	if e.Fields != nil {
		fields := make([]string, len(e.Fields))
		for i, f := range e.Fields {
			fields[i] = postgres.Storable(f)
		}
		e.Fields = fields
	}
}

// hash computes the entry's link: SHA-256 over the previous hash and every
// field, each length-prefixed so no two entries encode alike.
func (e *Entry) hash(prev []byte) []byte {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put(string(prev))
	put(strconv.FormatInt(e.Seq, 10))
	put(e.At.UTC().Format(time.RFC3339Nano))
	put(e.RequestID)
	put(e.Caller)
	put(e.Consumer)
	put(e.Resource)
	put(e.Provider)
	put(e.SubjectKey)
	put(strconv.Itoa(len(e.Fields)))
	for _, f := range e.Fields {
		put(f)
	}
	put(e.Purpose)
	put(e.Outcome)
	put(e.Code)
	put(strconv.Itoa(e.Status))
	// The rule came later (migration 002), consent and data subject later
	// still (003): an entry without them hashes as entries written before
	// they existed did, so those still verify.
	// The provider's signature later again (005), on the same terms.
	if e.ProviderKeyID != "" || e.ProviderSignature != nil || e.ReplyDigest != nil {
		put(e.Rule)
		put(e.ConsentID)
		put(e.DataSubject)
		put(e.ProviderKeyID)
		put(string(e.ProviderSignature))
		put(string(e.ReplyDigest))
	} else if e.ConsentID != "" || e.DataSubject != "" {
		put(e.Rule)
		put(e.ConsentID)
		put(e.DataSubject)
	} else if e.Rule != "" {
		put(e.Rule)
	}
	return h.Sum(nil)
}

// Config is what a Ledger needs, and how it group-commits.
type Config struct {
	Pool     *pgxpool.Pool // required: the database holding exchange.audit
	MaxBatch int           // entries per transaction; default 512
	Logger   *slog.Logger  // default slog.Default()
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if c.Pool == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "ledger: a Ledger needs a Pool")
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 512
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Ledger appends audit entries to PostgreSQL. Appends from concurrent
// requests are group-committed: one writer takes whatever is waiting, locks
// the chain head, links and inserts the batch in one transaction and wakes
// every caller. Append returns only once its entry is durable, so no answer
// leaves the exchange unrecorded.
type Ledger struct {
	pool *pgxpool.Pool
	cfg  Config
	in   chan *pending

	mu        sync.RWMutex // held for reading while queueing, so Close sees every queued entry
	closed    bool
	closeOnce sync.Once
	quit      chan struct{}
	done      chan struct{}
	stops     []func() // of the checkpointers started beside it (StartCheckpoints)
}

type pending struct {
	e    Entry
	errc chan error
}

// New starts a Ledger's writer; Close stops it.
func New(cfg Config) (*Ledger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Ledger{pool: cfg.Pool, cfg: cfg, in: make(chan *pending, 4096), quit: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l, nil
}

var errClosed = &govx.Error{Kind: govx.KindUnavailable, Code: "audit_unavailable", Message: "the audit ledger is closed"}

// Append records e and returns once it is committed.
func (l *Ledger) Append(ctx context.Context, e Entry) error {
	e.sanitize()
	p := &pending{e: e, errc: make(chan error, 1)}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errClosed
	}
	select {
	case l.in <- p:
	case <-l.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the entry will be written; wait for the outcome even if
	// the caller's context ends, so that the caller knows.
	return <-p.errc
}

// Close stops the checkpointers started beside the ledger, writes what is
// queued and stops the writer.
func (l *Ledger) Close() {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		stops := l.stops
		l.mu.Unlock()
		for _, stop := range stops {
			stop()
		}
		close(l.quit)
	})
	<-l.done
}

func (l *Ledger) run() {
	defer close(l.done)
	batch := make([]*pending, 0, l.cfg.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-l.in:
			batch = append(batch, p)
		case <-l.quit:
			// Drain what was queued before Close.
			for {
				select {
				case p := <-l.in:
					batch = append(batch, p)
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				l.commit(batch)
			}
			return
		}
	fill:
		for len(batch) < l.cfg.MaxBatch {
			select {
			case p := <-l.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		l.commit(batch)
	}
}

func (l *Ledger) commit(batch []*pending) {
	err := l.write(batch)
	if err != nil {
		l.cfg.Logger.Error("audit ledger write failed", "entries", len(batch), "err", err)
		err = &govx.Error{Kind: govx.KindUnavailable, Code: "audit_unavailable", Op: "ledger.Ledger",
			Message: "the audit ledger is unavailable", Err: err}
	}
	for _, p := range batch {
		p.errc <- err
	}
}

var auditColumns = []string{"seq", "at", "request_id", "caller", "consumer", "resource", "provider",
	"subject_key", "fields", "purpose", "outcome", "code", "status", "rule", "consent_id", "data_subject",
	"provider_key_id", "provider_signature", "reply_digest", "prev_hash", "hash"}

func (l *Ledger) write(batch []*pending) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := l.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	var seq int64
	var prev []byte
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM exchange.audit_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &prev); err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Microsecond) // what timestamptz keeps
	rows := make([][]any, len(batch))
	for i, p := range batch {
		e := &p.e
		seq++
		e.Seq = seq
		if e.At.IsZero() {
			e.At = now
		}
		e.At = e.At.UTC().Truncate(time.Microsecond)
		if e.Fields == nil {
			e.Fields = []string{}
		}
		e.PrevHash = prev
		e.Hash = e.hash(prev)
		prev = e.Hash
		rows[i] = []any{e.Seq, e.At, e.RequestID, e.Caller, e.Consumer, e.Resource, e.Provider,
			e.SubjectKey, e.Fields, e.Purpose, e.Outcome, e.Code, e.Status, e.Rule, e.ConsentID, e.DataSubject,
			e.ProviderKeyID, e.ProviderSignature, e.ReplyDigest, e.PrevHash, e.Hash}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"exchange", "audit"}, auditColumns, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE exchange.audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, prev); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Break describes the first place the chain does not hold.
type Break struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
	// Checkpoint is the seq of the checkpoint that caught the break, when
	// one did; Seq is then the first entry it may concern.
	Checkpoint int64 `json:"checkpoint,omitempty"`
}

// VerifyReport is the result of checking the whole chain.
type VerifyReport struct {
	Checked int64  `json:"checked"`
	HeadSeq int64  `json:"head_seq"`
	Broken  *Break `json:"broken,omitempty"`
	// Checkpoints is how many are stored, CheckpointsVerified how many
	// matched the chain (with a good signature when SignaturesChecked),
	// KeptVerified how many of VerifyConfig.Kept did; LastCheckpoint is
	// the seq up to which a signature vouches for the chain.
	Checkpoints         int   `json:"checkpoints"`
	CheckpointsVerified int   `json:"checkpoints_verified"`
	KeptVerified        int   `json:"kept_verified,omitempty"`
	LastCheckpoint      int64 `json:"last_checkpoint,omitempty"`
	SignaturesChecked   bool  `json:"signatures_checked"`
}

// VerifyConfig is what Verify trusts besides the chain itself.
type VerifyConfig struct {
	// Keys are the public keys checkpoints may be signed with. A checkpoint
	// under any other key breaks verification. With none, signatures are
	// not checked, but the chain must still match every checkpoint.
	Keys []*auth.Key
	// Kept are checkpoints kept outside the database (exported artefacts):
	// each must verify under Keys and match the chain.
	Kept []Checkpoint
}

// Verify is VerifyWith checking checkpoint signatures under keys.
func Verify(ctx context.Context, pool *pgxpool.Pool, keys ...*auth.Key) (*VerifyReport, error) {
	return VerifyWith(ctx, pool, VerifyConfig{Keys: keys})
}

// Verify walks the ledger in order, recomputing every hash, and reports the
// first broken link: a row whose content no longer matches its hash (it was
// altered), a row whose predecessor is missing or different (one was deleted
// or altered), or a head that does not match the last row (rows deleted from
// the end). Then every checkpoint must match: an entry at a checkpoint's
// seq whose hash is not the one signed means the chain up to it was
// rewritten, hashes and head recomputed, which the chain alone cannot see.
func VerifyWith(ctx context.Context, pool *pgxpool.Pool, cfg VerifyConfig) (*VerifyReport, error) {
	const op = "ledger.Verify"
	rep := &VerifyReport{}
	cps, err := loadCheckpoints(ctx, pool, cfg, rep)
	if err != nil {
		return nil, govx.E(op, err)
	}
	var head []byte
	if err := pool.QueryRow(ctx, `SELECT seq, hash FROM exchange.audit_head WHERE id = 1`).Scan(&rep.HeadSeq, &head); err != nil {
		return nil, postgres.Translate(op, err, "audit_head_missing")
	}
	rows, err := pool.Query(ctx, `SELECT `+strings.Join(auditColumns, ", ")+` FROM exchange.audit ORDER BY seq`)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	prev := make([]byte, sha256.Size)
	var last int64
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.Seq, &e.At, &e.RequestID, &e.Caller, &e.Consumer, &e.Resource, &e.Provider,
			&e.SubjectKey, &e.Fields, &e.Purpose, &e.Outcome, &e.Code, &e.Status, &e.Rule, &e.ConsentID, &e.DataSubject,
			&e.ProviderKeyID, &e.ProviderSignature, &e.ReplyDigest, &e.PrevHash, &e.Hash); err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		rep.Checked++
		switch {
		case e.Seq != last+1:
			rep.Broken = &Break{Seq: last + 1, Reason: fmt.Sprintf("entry %d is missing (next entry is %d)", last+1, e.Seq)}
		case !bytes.Equal(e.PrevHash, prev):
			rep.Broken = &Break{Seq: e.Seq, Reason: fmt.Sprintf("entry %d does not link to entry %d: the earlier entry was altered or replaced", e.Seq, last)}
		case !bytes.Equal(e.hash(prev), e.Hash):
			rep.Broken = &Break{Seq: e.Seq, Reason: fmt.Sprintf("entry %d was altered: its content no longer matches its hash", e.Seq)}
		}
		if rep.Broken == nil {
			rep.Broken = cps.at(&e)
		}
		if rep.Broken != nil {
			return rep, nil
		}
		prev, last = e.Hash, e.Seq
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if last != rep.HeadSeq || (last > 0 && !bytes.Equal(prev, head)) {
		rep.Broken = &Break{Seq: last + 1, Reason: fmt.Sprintf("the chain head is at entry %d but the ledger ends at %d: entries were deleted from the end", rep.HeadSeq, last)}
	}
	if rep.Broken == nil {
		rep.Broken = cps.end(last)
	}
	return rep, nil
}
