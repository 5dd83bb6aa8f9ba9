package ledger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

// CheckpointFormat names the signed byte string and the exported artefact.
// It is the domain separator: the exchange's key also signs JWTs, whose
// signing input (base64url header "." payload) can never begin with it, so
// a checkpoint signature can never pass for a token and the reverse.
const CheckpointFormat = "govx-audit-checkpoint/v1"

// ReceiptFormat names a receipt's signed byte string and artefact: a
// checkpoint signed on request over one entry's place in the chain, not
// over the head (Checkpointer.Receipt). Its own format line keeps a
// receipt from ever passing for one of the ledger's series of checkpoints.
const ReceiptFormat = "govx-audit-receipt/v1"

// DefaultCheckpointInterval is how often the Checkpointer signs the head
// when CheckpointConfig.Interval is zero.
const DefaultCheckpointInterval = time.Minute

// checkpointLock is the advisory lock key that serialises checkpointers of
// every exchange instance (pg_advisory_xact_lock), so one head is signed
// once and checkpoints chain in order.
const checkpointLock int64 = 0x676f76782d637031 // "govx-cp1"

// Checkpoint is the audit chain's head at one moment, signed with the
// exchange's Ed25519 key. Verify proves every entry up to Seq is unchanged
// since SignedAt: the entry at Seq must still hash to HeadHash, and that
// hash covers every entry before it.
type Checkpoint struct {
	Seq      int64
	HeadHash []byte
	SignedAt time.Time
	KeyID    string
	// PrevSignature is the signature of the checkpoint before this one
	// (nil for the first), so that deleting a checkpoint row breaks the
	// next one's link.
	PrevSignature []byte
	Signature     []byte
	// Receipt marks a checkpoint signed over one entry on request
	// (ReceiptFormat): Seq and HeadHash are that entry's, and
	// PrevSignature is the signature of the ledger's checkpoint that
	// covers it, which the chain was checked against before signing.
	Receipt bool
	// PublicKey travels only in an exported artefact, so that an auditor
	// holds everything needed to check it. It is never trusted by itself:
	// Verify takes keys from its caller, and ParseCheckpoint insists that
	// KeyID is this key's thumbprint.
	PublicKey ed25519.PublicKey
}

// signedBytes is the canonical byte string the signature covers: the
// format line, then one "name=value" line per field, the key ID quoted so
// that no value can smuggle in a line of its own.
func (c *Checkpoint) signedBytes() []byte {
	var b bytes.Buffer
	b.WriteString(c.format() + "\n")
	b.WriteString("seq=" + strconv.FormatInt(c.Seq, 10) + "\n")
	b.WriteString("head_hash=" + hex.EncodeToString(c.HeadHash) + "\n")
	b.WriteString("signed_at=" + c.SignedAt.UTC().Format(time.RFC3339Nano) + "\n")
	b.WriteString("kid=" + strconv.Quote(c.KeyID) + "\n")
	b.WriteString("prev_signature=" + hex.EncodeToString(c.PrevSignature) + "\n")
	return b.Bytes()
}

// format is c's format line: CheckpointFormat, or ReceiptFormat.
func (c *Checkpoint) format() string {
	if c.Receipt {
		return ReceiptFormat
	}
	return CheckpointFormat
}

// sign fills in KeyID and Signature with key.
func (c *Checkpoint) sign(key *auth.Key) {
	c.KeyID = key.ID
	c.Signature = ed25519.Sign(key.Private, c.signedBytes())
}

// checkSignature returns why c's signature cannot be trusted under keys
// (by key ID), or "" when it verifies.
func (c *Checkpoint) checkSignature(keys map[string]ed25519.PublicKey) string {
	pub, ok := keys[c.KeyID]
	switch {
	case !ok:
		return fmt.Sprintf("it is signed by key %s, which is not one of the keys given to verify with", strconv.Quote(c.KeyID))
	case !ed25519.Verify(pub, c.signedBytes(), c.Signature):
		return fmt.Sprintf("its signature does not verify under key %s: it was forged or altered", c.KeyID)
	}
	return ""
}

// Verify checks c's signature under one of keys.
func (c *Checkpoint) Verify(keys ...*auth.Key) error {
	if problem := c.checkSignature(keyMap(keys)); problem != "" {
		return govx.Errorf(govx.KindInvalid, "checkpoint_invalid", "the checkpoint at entry %d cannot be trusted: %s", c.Seq, problem)
	}
	return nil
}

func keyMap(keys []*auth.Key) map[string]ed25519.PublicKey {
	m := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		pub := k.Public
		if len(pub) != ed25519.PublicKeySize && len(k.Private) == ed25519.PrivateKeySize {
			pub = k.Private.Public().(ed25519.PublicKey)
		}
		if len(pub) == ed25519.PublicKeySize {
			m[auth.Thumbprint(pub)] = pub
		}
	}
	return m
}

// checkpointJSON is the exported artefact: self-contained, so an auditor
// who keeps it can later prove nothing at or before Seq changed.
type checkpointJSON struct {
	Format        string    `json:"format"`
	Seq           int64     `json:"seq"`
	HeadHash      string    `json:"head_hash"` // hex
	SignedAt      time.Time `json:"signed_at"`
	KeyID         string    `json:"kid"`
	PrevSignature string    `json:"prev_signature"` // base64url, "" for the first checkpoint
	Signature     string    `json:"signature"`      // base64url
	PublicKey     string    `json:"public_key,omitempty"`
}

var b64 = base64.RawURLEncoding

// MarshalJSON writes c as the exported artefact.
func (c Checkpoint) MarshalJSON() ([]byte, error) {
	j := checkpointJSON{Format: c.format(), Seq: c.Seq, HeadHash: hex.EncodeToString(c.HeadHash),
		SignedAt: c.SignedAt.UTC(), KeyID: c.KeyID, PrevSignature: b64.EncodeToString(c.PrevSignature),
		Signature: b64.EncodeToString(c.Signature)}
	if len(c.PublicKey) > 0 {
		j.PublicKey = b64.EncodeToString(c.PublicKey)
	}
	return json.Marshal(j)
}

// ParseCheckpoint reads an exported checkpoint artefact. It checks the
// artefact's shape and, when it carries a public key, that the key ID is
// that key's thumbprint; whether the key is trusted is Verify's question.
func ParseCheckpoint(data []byte) (*Checkpoint, error) {
	const op = "ledger.ParseCheckpoint"
	invalid := func(format string, args ...any) error {
		return govx.E(op, govx.Errorf(govx.KindInvalid, "checkpoint_invalid", format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j checkpointJSON
	if err := dec.Decode(&j); err != nil {
		return nil, invalid("the checkpoint is not a %s JSON artefact: %s", CheckpointFormat, httpx.Truncate(err.Error(), 120))
	}
	if j.Format != CheckpointFormat && j.Format != ReceiptFormat {
		return nil, invalid("the checkpoint's format is %q, want %q or %q", httpx.Truncate(j.Format, 40), CheckpointFormat, ReceiptFormat)
	}
	c := &Checkpoint{Seq: j.Seq, SignedAt: j.SignedAt.UTC(), KeyID: j.KeyID, Receipt: j.Format == ReceiptFormat}
	var err error
	if c.HeadHash, err = hex.DecodeString(j.HeadHash); err != nil || len(c.HeadHash) != 32 {
		return nil, invalid("head_hash must be 64 hex digits")
	}
	if c.PrevSignature, err = b64.DecodeString(j.PrevSignature); err != nil {
		return nil, invalid("prev_signature is not base64url")
	}
	if c.Signature, err = b64.DecodeString(j.Signature); err != nil || len(c.Signature) != ed25519.SignatureSize {
		return nil, invalid("signature must be a base64url Ed25519 signature")
	}
	if c.Seq <= 0 {
		return nil, invalid("seq must be positive")
	}
	if j.PublicKey != "" {
		pub, err := b64.DecodeString(j.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, invalid("public_key must be a base64url Ed25519 public key")
		}
		if auth.Thumbprint(pub) != c.KeyID {
			return nil, invalid("kid is not the thumbprint of public_key")
		}
		c.PublicKey = pub
	}
	return c, nil
}

const checkpointColumns = `seq, head_hash, signed_at, key_id, prev_signature, signature`

func scanCheckpoint(row pgx.Row) (Checkpoint, error) {
	var c Checkpoint
	err := row.Scan(&c.Seq, &c.HeadHash, &c.SignedAt, &c.KeyID, &c.PrevSignature, &c.Signature)
	c.SignedAt = c.SignedAt.UTC()
	if len(c.PrevSignature) == 0 {
		c.PrevSignature = nil
	}
	return c, err
}

// LatestCheckpoint returns the checkpoint with the highest seq; NotFound
// (checkpoint_none) when none has been taken.
func LatestCheckpoint(ctx context.Context, pool *pgxpool.Pool) (*Checkpoint, error) {
	c, err := scanCheckpoint(pool.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM exchange.audit_checkpoints ORDER BY seq DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, govx.E("ledger.LatestCheckpoint", govx.Errorf(govx.KindNotFound, "checkpoint_none", "no audit checkpoint has been taken yet"))
	}
	if err != nil {
		return nil, postgres.Translate("ledger.LatestCheckpoint", err, "")
	}
	return &c, nil
}

// Checkpoints returns every stored checkpoint in seq order.
func Checkpoints(ctx context.Context, pool *pgxpool.Pool) ([]Checkpoint, error) {
	const op = "ledger.Checkpoints"
	rows, err := pool.Query(ctx, `SELECT `+checkpointColumns+` FROM exchange.audit_checkpoints ORDER BY seq`)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	return out, nil
}

// CheckpointConfig is what a Checkpointer needs, and how often it signs.
type CheckpointConfig struct {
	Pool *pgxpool.Pool // required (StartCheckpoints fills in the ledger's)
	// Key signs the checkpoints; required, with its private half.
	Key *auth.Key
	// Interval between checkpoints; 0 means DefaultCheckpointInterval.
	Interval time.Duration
	// Every, when positive, also takes a checkpoint as soon as the head has
	// moved this many entries past the last one, checked every Poll.
	Every int64
	Poll  time.Duration // 0 means 5 seconds
	// Now is the clock that dates checkpoints; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Validate checks c and fills in defaults.
func (c *CheckpointConfig) Validate() error {
	switch {
	case c.Pool == nil:
		return govx.Errorf(govx.KindInvalid, "config_invalid", "ledger: the checkpointer needs a Pool")
	case c.Key == nil || len(c.Key.Private) != ed25519.PrivateKeySize:
		return govx.Errorf(govx.KindInvalid, "config_invalid", "ledger: the checkpointer needs a private Ed25519 key")
	case c.Interval < 0:
		return govx.Errorf(govx.KindInvalid, "config_invalid", "ledger: checkpoint Interval must not be negative")
	case c.Every < 0:
		return govx.Errorf(govx.KindInvalid, "config_invalid", "ledger: checkpoint Every must not be negative")
	case c.Poll < 0:
		return govx.Errorf(govx.KindInvalid, "config_invalid", "ledger: checkpoint Poll must not be negative")
	}
	if c.Interval == 0 {
		c.Interval = DefaultCheckpointInterval
	}
	if c.Poll == 0 {
		c.Poll = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Checkpointer signs the audit chain's head from time to time. It runs
// beside the Ledger and never takes the head's row lock, so appends do not
// wait for it. Several exchange instances may each run one: an advisory
// lock serialises them, and a head already signed is not signed again.
type Checkpointer struct {
	pool *pgxpool.Pool
	key  *auth.Key
	cfg  CheckpointConfig
}

// NewCheckpointer returns a Checkpointer signing with cfg.Key.
func NewCheckpointer(cfg CheckpointConfig) (*Checkpointer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Checkpointer{pool: cfg.Pool, key: cfg.Key, cfg: cfg}, nil
}

// Checkpoint signs the current head and stores the checkpoint in one
// transaction. It returns nil and no error when the head has not moved
// since the last checkpoint (or the ledger is empty). Before signing it
// checks that the entries since the last checkpoint link back to the hash
// that checkpoint signed, so it never signs a chain rewritten behind it;
// such a chain is refused with Internal audit_chain_broken.
func (cp *Checkpointer) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	const op = "ledger.Checkpointer.Checkpoint"
	tx, err := cp.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, checkpointLock); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	last, err := scanCheckpoint(tx.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM exchange.audit_checkpoints ORDER BY seq DESC LIMIT 1`))
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, postgres.Translate(op, err, "")
	}
	c := &Checkpoint{}
	// A plain read: the head row is updated with the chain in one
	// transaction, so this is a committed head, and no lock is taken that
	// an append would wait for.
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM exchange.audit_head WHERE id = 1`).Scan(&c.Seq, &c.HeadHash); err != nil {
		return nil, postgres.Translate(op, err, "audit_head_missing")
	}
	if c.Seq == 0 || c.Seq <= last.Seq {
		return nil, nil
	}
	if err := checkLinks(ctx, tx, last, c); err != nil {
		return nil, govx.E(op, err)
	}
	c.SignedAt = cp.cfg.Now().UTC().Truncate(time.Microsecond) // what timestamptz keeps
	c.PrevSignature = last.Signature
	c.sign(cp.key)
	tag, err := tx.Exec(ctx, `INSERT INTO exchange.audit_checkpoints (`+checkpointColumns+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (seq) DO NOTHING`, c.Seq, c.HeadHash, c.SignedAt, c.KeyID, append([]byte{}, c.PrevSignature...), c.Signature)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if tag.RowsAffected() == 0 {
		return nil, nil
	}
	return c, nil
}

// Receipt signs a receipt (ReceiptFormat) over the audit entry at seq: its
// place in the chain and its hash, as a checkpoint of that one entry. It
// is what a data subject is given with their own access, so that the proof
// of it carries no other entry: a proof to the ledger's next checkpoint
// carries every entry in between, other people's accesses among them.
// Before signing it takes a checkpoint if none covers seq yet, and checks
// that the chain links from the checkpoint before seq through seq to the
// one after it, so it never vouches for an entry outside the signed chain.
// Receipts are not stored: a new one can be signed at any time.
func (cp *Checkpointer) Receipt(ctx context.Context, seq int64) (*Checkpoint, error) {
	const op = "ledger.Checkpointer.Receipt"
	covering := func(q pgx.Row) (Checkpoint, bool, error) {
		c, err := scanCheckpoint(q)
		if errors.Is(err, pgx.ErrNoRows) {
			return c, false, nil
		}
		return c, err == nil, err
	}
	const after = `SELECT ` + checkpointColumns + ` FROM exchange.audit_checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1`
	if _, ok, err := covering(cp.pool.QueryRow(ctx, after, seq)); err != nil {
		return nil, postgres.Translate(op, err, "")
	} else if !ok {
		if _, err := cp.Checkpoint(ctx); err != nil {
			return nil, govx.E(op, err)
		}
	}
	tx, err := cp.pool.Begin(ctx)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(ctx)
	next, ok, err := covering(tx.QueryRow(ctx, after, seq))
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if !ok {
		return nil, govx.E(op, govx.Errorf(govx.KindNotFound, CodeProofNoCheckpoint, "no signed checkpoint covers audit entry %d", seq))
	}
	last, err := scanCheckpoint(tx.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM exchange.audit_checkpoints WHERE seq < $1 ORDER BY seq DESC LIMIT 1`, seq))
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, postgres.Translate(op, err, "")
	}
	if err := checkLinks(ctx, tx, last, &next); err != nil {
		return nil, govx.E(op, err)
	}
	r := &Checkpoint{Seq: seq, Receipt: true, PrevSignature: next.Signature}
	if err := tx.QueryRow(ctx, `SELECT hash FROM exchange.audit WHERE seq = $1`, seq).Scan(&r.HeadHash); err != nil {
		return nil, postgres.Translate(op, err, "audit_entry_not_found")
	}
	r.SignedAt = cp.cfg.Now().UTC().Truncate(time.Microsecond)
	r.sign(cp.key)
	r.PublicKey = cp.key.Private.Public().(ed25519.PublicKey)
	return r, nil
}

// checkLinks walks the prev_hash links of the entries after last up to
// next.Seq: they must start from the hash last signed and end at the head.
// Only the two hash columns are read, which is cheap for a minute's
// entries; the full content check is Verify's.
func checkLinks(ctx context.Context, tx pgx.Tx, last Checkpoint, next *Checkpoint) error {
	broken := func(format string, args ...any) error {
		return govx.Errorf(govx.KindInternal, "audit_chain_broken", format, args...)
	}
	prev, want := last.HeadHash, last.Seq+1
	if last.Seq == 0 {
		prev = make([]byte, 32)
	}
	rows, err := tx.Query(ctx, `SELECT seq, prev_hash, hash FROM exchange.audit WHERE seq > $1 AND seq <= $2 ORDER BY seq`, last.Seq, next.Seq)
	if err != nil {
		return postgres.Translate("", err, "")
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var p, h []byte
		if err := rows.Scan(&seq, &p, &h); err != nil {
			return postgres.Translate("", err, "")
		}
		if seq != want || !bytes.Equal(p, prev) {
			return broken("audit entry %d does not link back to the checkpoint at entry %d; not signing", seq, last.Seq)
		}
		prev, want = h, seq+1
	}
	if err := rows.Err(); err != nil {
		return postgres.Translate("", err, "")
	}
	if want != next.Seq+1 || !bytes.Equal(prev, next.HeadHash) {
		return broken("the audit chain head at entry %d does not match the ledger; not signing", next.Seq)
	}
	return nil
}

// Run takes checkpoints until ctx ends: every Interval, and with Every set
// as soon as the head has moved that far. A failed round is logged and
// retried on the next tick. Run returns nil when ctx ends.
func (cp *Checkpointer) Run(ctx context.Context) error {
	interval := time.NewTicker(cp.cfg.Interval)
	defer interval.Stop()
	var poll <-chan time.Time
	if cp.cfg.Every > 0 {
		t := time.NewTicker(cp.cfg.Poll)
		defer t.Stop()
		poll = t.C
	}
	var signed int64 // seq of the last checkpoint this instance knows of
	round := func() {
		c, err := cp.Checkpoint(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			cp.cfg.Logger.Error("audit checkpoint failed", "err", err)
		case c != nil:
			signed = c.Seq
			cp.cfg.Logger.Debug("audit checkpoint signed", "seq", c.Seq, "kid", c.KeyID)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-interval.C:
			round()
		case <-poll:
			var head int64
			if err := cp.pool.QueryRow(ctx, `SELECT seq FROM exchange.audit_head WHERE id = 1`).Scan(&head); err != nil {
				continue // the interval round reports a database that is gone
			}
			if head-signed >= cp.cfg.Every {
				round()
			}
		}
	}
}

// StartCheckpoints runs a Checkpointer beside l, signing the chain head
// with cfg.Key as cfg says, until l is closed; cfg.Pool defaults to l's.
// Every exchange instance starts one; they agree through the database on
// who signs which head.
func (l *Ledger) StartCheckpoints(cfg CheckpointConfig) error {
	if cfg.Pool == nil {
		cfg.Pool = l.pool
	}
	cp, err := NewCheckpointer(cfg)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errClosed
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		cp.Run(ctx)
	}()
	l.stops = append(l.stops, func() { cancel(); <-done })
	return nil
}

// checkpointCheck is Verify's side of the checkpoints: it walks them in
// step with the chain.
type checkpointCheck struct {
	cps      []checkedCheckpoint // by seq
	next     int
	lastGood int64 // seq of the last checkpoint that matched
	rep      *VerifyReport
}

type checkedCheckpoint struct {
	Checkpoint
	what    string // "checkpoint" or "kept checkpoint"
	problem string // why it cannot be trusted; "" if it can
}

func (cc *checkedCheckpoint) name() string {
	return fmt.Sprintf("%s at entry %d (signed %s by key %s)", cc.what, cc.Seq, cc.SignedAt.Format(time.RFC3339), strconv.Quote(cc.KeyID))
}

// loadCheckpoints reads the stored checkpoints and judges each signature
// and link; trusted are checkpoints the caller kept outside the database.
// With no keys, signatures are not checked (rep.SignaturesChecked false),
// but the chain must still match every checkpoint's hash.
func loadCheckpoints(ctx context.Context, pool *pgxpool.Pool, cfg VerifyConfig, rep *VerifyReport) (*checkpointCheck, error) {
	stored, err := Checkpoints(ctx, pool)
	if err != nil {
		return nil, err
	}
	keys := keyMap(cfg.Keys)
	rep.SignaturesChecked = len(keys) > 0
	rep.Checkpoints = len(stored)
	cc := &checkpointCheck{rep: rep}
	var prevSig []byte
	for i, c := range stored {
		ck := checkedCheckpoint{Checkpoint: c, what: "checkpoint"}
		if len(keys) > 0 {
			ck.problem = c.checkSignature(keys)
		}
		if ck.problem == "" && !bytes.Equal(c.PrevSignature, prevSig) {
			if i == 0 {
				ck.problem = "it follows a checkpoint that is no longer stored: a checkpoint was deleted"
			} else {
				ck.problem = fmt.Sprintf("it does not follow the checkpoint at entry %d: a checkpoint between them was deleted or replaced", stored[i-1].Seq)
			}
		}
		prevSig = c.Signature
		cc.cps = append(cc.cps, ck)
	}
	for _, c := range cfg.Kept {
		ck := checkedCheckpoint{Checkpoint: c, what: "kept checkpoint"}
		ck.problem = c.checkSignature(keys)
		cc.cps = append(cc.cps, ck)
	}
	slices.SortStableFunc(cc.cps, func(a, b checkedCheckpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	return cc, nil
}

// at checks the checkpoints at entry e, which the chain has just proved
// consistent with everything before it.
func (cc *checkpointCheck) at(e *Entry) *Break {
	for cc.next < len(cc.cps) && cc.cps[cc.next].Seq <= e.Seq {
		c := &cc.cps[cc.next]
		cc.next++
		switch {
		case c.problem != "":
			return &Break{Seq: c.Seq, Checkpoint: c.Seq, Reason: c.name() + " cannot be trusted: " + c.problem}
		case c.Seq < e.Seq:
			return &Break{Seq: c.Seq, Checkpoint: c.Seq, Reason: c.name() + " names an entry the ledger does not hold"}
		case !bytes.Equal(c.HeadHash, e.Hash):
			return &Break{Seq: cc.lastGood + 1, Checkpoint: c.Seq, Reason: fmt.Sprintf(
				"entries %d–%d were rewritten: entry %d no longer has the hash signed in the %s", cc.lastGood+1, c.Seq, c.Seq, c.name())}
		}
		cc.lastGood = c.Seq
		cc.rep.LastCheckpoint = c.Seq
		if c.what == "checkpoint" {
			cc.rep.CheckpointsVerified++
		} else {
			cc.rep.KeptVerified++
		}
	}
	return nil
}

// end checks the checkpoints past the last entry, last.
func (cc *checkpointCheck) end(last int64) *Break {
	if cc.next >= len(cc.cps) {
		return nil
	}
	c := &cc.cps[cc.next]
	if c.problem != "" {
		return &Break{Seq: c.Seq, Checkpoint: c.Seq, Reason: c.name() + " cannot be trusted: " + c.problem}
	}
	return &Break{Seq: last + 1, Checkpoint: c.Seq, Reason: fmt.Sprintf(
		"the ledger ends at entry %d but the %s: entries %d–%d were deleted", last, c.name(), last+1, c.Seq)}
}
