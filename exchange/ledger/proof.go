package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/bus"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

// Proofs of one audit entry.
//
// A Proof is everything an auditor needs to check one entry offline, with
// no database and no network:
//
//   - the entry as the ledger holds it;
//   - the provider's bus signature on its reply (key id, signature and the
//     reply's bus.Digest, which the entry records and its hash covers),
//     with the provider's public key as the catalogue published it;
//   - the entries after it up to the nearest signed checkpoint at or after
//     it, in full, so the chain can be recomputed from the entry to the
//     checkpoint's head;
//   - that checkpoint, with the exchange's public key.
//
// VerifyProof recomputes the entry's hash and every link after it, checks
// that the last one is the checkpoint's head and the checkpoint's
// signature, and the provider's signature over the reply digest.
//
// What it establishes: the exchange's checkpoint key vouches (at the
// checkpoint's time) that the ledger held this entry unchanged at this
// place in the chain; and the holder of the provider's key signed a reply
// whose digest is the one recorded, so the provider cannot deny having
// sent a reply with that digest and the exchange cannot have made it up.
// What it does not: the reply's content (the ledger keeps its digest, not
// the personal data; whoever holds the reply's bytes and topic can match
// them with bus.Digest), that the client received the answer (see
// Released), or that the keys are the right ones: the proof carries them,
// and an auditor compares them with the catalogue's published keys (the
// exchange's JWKS and /v1/catalog/departments/{code}/keys) or passes the
// exchange's key to VerifyProof. The entries between the entry and the
// checkpoint travel in full (ID numbers included), because each link's
// hash covers its content: a proof is for auditors and courts, not to be
// published.
const ProofFormat = "govx-audit-proof/v1"

// Proof is one audit entry with what proves it; see ProofFormat.
type Proof struct {
	Entry Entry
	// ProviderKey is the public key of Entry.ProviderKeyID as the
	// catalogue published it under Entry.Provider; nil when the entry
	// holds no provider signature (refused and failed queries).
	ProviderKey ed25519.PublicKey
	// Links are the entries after Entry up to Checkpoint.Seq, in order.
	Links      []Entry
	Checkpoint Checkpoint // with its PublicKey
}

// ProofReport is what VerifyProof found.
type ProofReport struct {
	RequestID string `json:"request_id"`
	Seq       int64  `json:"seq"`
	Outcome   string `json:"outcome"`
	// ProviderSigned is whether the entry holds a provider signature, and
	// it verified over ReplyDigest (hex) under ProviderKeyID.
	ProviderSigned bool   `json:"provider_signed"`
	Provider       string `json:"provider,omitempty"`
	ProviderKeyID  string `json:"provider_key_id,omitempty"`
	ReplyDigest    string `json:"reply_digest,omitempty"`
	// Links is how many entries were recomputed between the entry and the
	// checkpoint.
	Links              int       `json:"links"`
	CheckpointSeq      int64     `json:"checkpoint_seq"`
	CheckpointKeyID    string    `json:"checkpoint_key_id"`
	CheckpointSignedAt time.Time `json:"checkpoint_signed_at"`
	// CheckpointKeyTrusted is whether the checkpoint's key was one the
	// caller of VerifyProof named; otherwise only the key the proof
	// carries vouches for it, and the auditor must compare CheckpointKeyID
	// with the exchange's published key.
	CheckpointKeyTrusted bool `json:"checkpoint_key_trusted"`
}

// Codes of a proof that does not hold (KindInvalid).
const (
	CodeProofMalformed         = "proof_malformed"          // not a proof artefact
	CodeProofEntryAltered      = "proof_entry_altered"      // the entry does not hash to its recorded hash
	CodeProofChainBroken       = "proof_chain_broken"       // a link is altered, missing, or does not end at the checkpoint
	CodeProofCheckpointInvalid = "proof_checkpoint_invalid" // the checkpoint's signature does not verify
	CodeProofProviderSignature = "proof_provider_signature" // the provider's signature does not verify over the reply digest
)

// CodeProofNoCheckpoint is the code (KindNotFound) of a proof asked for an
// entry no checkpoint covers yet: take one (govx audit checkpoint) first.
const CodeProofNoCheckpoint = "proof_no_checkpoint"

// ExportProof builds the proof of the audit entry of requestID (its first
// entry, should there be several): providerKeys gives the provider's
// published key, checkpointKeys the exchange's keys whose public halves
// the checkpoint may need. NotFound audit_entry_not_found when there is no
// such entry, NotFound CodeProofNoCheckpoint when no checkpoint covers it.
func ExportProof(ctx context.Context, pool *pgxpool.Pool, requestID string, providerKeys bus.KeySource, checkpointKeys ...*auth.Key) (*Proof, error) {
	const op = "ledger.ExportProof"
	p := &Proof{}
	var err error
	p.Entry, err = scanEntry(pool.QueryRow(ctx, `SELECT `+auditColumnList+` FROM exchange.audit WHERE request_id = $1 ORDER BY seq LIMIT 1`, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, govx.E(op, govx.Errorf(govx.KindNotFound, "audit_entry_not_found", "no audit entry has request id %q", httpx.Truncate(requestID, 80)))
	}
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	p.Checkpoint, err = scanCheckpoint(pool.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM exchange.audit_checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1`, p.Entry.Seq))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, govx.E(op, govx.Errorf(govx.KindNotFound, CodeProofNoCheckpoint,
			"no signed checkpoint covers audit entry %d yet; take one (govx audit checkpoint) and export again", p.Entry.Seq))
	}
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	for kid, pub := range keyMap(checkpointKeys) {
		if kid == p.Checkpoint.KeyID {
			p.Checkpoint.PublicKey = pub
		}
	}
	if p.Checkpoint.PublicKey == nil {
		return nil, govx.E(op, govx.Errorf(govx.KindNotFound, "checkpoint_key_unknown",
			"the checkpoint at entry %d is signed by key %s, which is not among the exchange's keys given", p.Checkpoint.Seq, strconv.Quote(p.Checkpoint.KeyID)))
	}
	rows, err := pool.Query(ctx, `SELECT `+auditColumnList+` FROM exchange.audit WHERE seq > $1 AND seq <= $2 ORDER BY seq`, p.Entry.Seq, p.Checkpoint.Seq)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	p.Links, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) { return scanEntry(row) })
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	if p.ProviderKey, err = providerKey(ctx, providerKeys, &p.Entry); err != nil {
		return nil, govx.E(op, err)
	}
	return p, nil
}

// ExportReceiptProof builds the proof of the audit entry of requestID (its
// first entry) with a receipt (Checkpointer.Receipt) over the entry in
// place of the ledger's next checkpoint: it carries that entry alone, no
// other, so it can be given to the data subject. VerifyProof checks it
// like any proof.
func ExportReceiptProof(ctx context.Context, cp *Checkpointer, requestID string, providerKeys bus.KeySource) (*Proof, error) {
	const op = "ledger.ExportReceiptProof"
	p := &Proof{}
	var err error
	p.Entry, err = scanEntry(cp.pool.QueryRow(ctx, `SELECT `+auditColumnList+` FROM exchange.audit WHERE request_id = $1 ORDER BY seq LIMIT 1`, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, govx.E(op, govx.Errorf(govx.KindNotFound, "audit_entry_not_found", "no audit entry has request id %q", httpx.Truncate(requestID, 80)))
	}
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	r, err := cp.Receipt(ctx, p.Entry.Seq)
	if err != nil {
		return nil, govx.E(op, err)
	}
	p.Checkpoint = *r
	if p.ProviderKey, err = providerKey(ctx, providerKeys, &p.Entry); err != nil {
		return nil, govx.E(op, err)
	}
	return p, nil
}

// providerKey is the catalogue's public key of e's provider signature; nil
// when e holds none.
func providerKey(ctx context.Context, providerKeys bus.KeySource, e *Entry) (ed25519.PublicKey, error) {
	if e.ProviderKeyID == "" {
		return nil, nil
	}
	keys, err := providerKeys.DepartmentKeys(ctx, e.Provider)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.KeyID == e.ProviderKeyID {
			return k.Key, nil
		}
	}
	return nil, govx.Errorf(govx.KindNotFound, "provider_key_unknown",
		"the catalogue no longer publishes key %s of %s", strconv.Quote(e.ProviderKeyID), e.Provider)
}

var auditColumnList = func() string {
	var b bytes.Buffer
	for i, c := range auditColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c)
	}
	return b.String()
}()

func scanEntry(row pgx.Row) (Entry, error) {
	var e Entry
	err := row.Scan(&e.Seq, &e.At, &e.RequestID, &e.Caller, &e.Consumer, &e.Resource, &e.Provider,
		&e.SubjectKey, &e.Fields, &e.Purpose, &e.Outcome, &e.Code, &e.Status, &e.Rule, &e.ConsentID, &e.DataSubject,
		&e.ProviderKeyID, &e.ProviderSignature, &e.ReplyDigest, &e.PrevHash, &e.Hash)
	e.At = e.At.UTC()
	return e, err
}

// VerifyProof checks p offline: the entry's hash, every link from it to
// the checkpoint's head, the checkpoint's signature and the provider's
// signature over the reply digest. With trusted keys, the checkpoint must
// be signed by one of them; without, by the key the proof carries (and
// the report says so). A proof that does not hold is KindInvalid with one
// of the CodeProof codes and a message saying where it fails.
func VerifyProof(p *Proof, trusted ...*auth.Key) (*ProofReport, error) {
	const op = "ledger.VerifyProof"
	fail := func(code, format string, args ...any) (*ProofReport, error) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, code, format, args...))
	}
	e, c := &p.Entry, &p.Checkpoint
	rep := &ProofReport{RequestID: e.RequestID, Seq: e.Seq, Outcome: e.Outcome, Provider: e.Provider, Links: len(p.Links),
		CheckpointSeq: c.Seq, CheckpointKeyID: c.KeyID, CheckpointSignedAt: c.SignedAt}

	if !bytes.Equal(e.hash(e.PrevHash), e.Hash) {
		return fail(CodeProofEntryAltered, "audit entry %d was altered: its content no longer matches its hash", e.Seq)
	}
	prev := e
	for i := range p.Links {
		l := &p.Links[i]
		switch {
		case l.Seq != prev.Seq+1:
			return fail(CodeProofChainBroken, "the chain skips from entry %d to entry %d", prev.Seq, l.Seq)
		case !bytes.Equal(l.PrevHash, prev.Hash):
			return fail(CodeProofChainBroken, "entry %d does not link to entry %d: the link was altered", l.Seq, prev.Seq)
		case !bytes.Equal(l.hash(l.PrevHash), l.Hash):
			return fail(CodeProofChainBroken, "entry %d in the chain was altered: its content no longer matches its hash", l.Seq)
		}
		prev = l
	}
	if prev.Seq != c.Seq || !bytes.Equal(prev.Hash, c.HeadHash) {
		return fail(CodeProofChainBroken, "the chain from entry %d ends at entry %d, not at the checkpoint's head (entry %d, hash %s)",
			e.Seq, prev.Seq, c.Seq, hex.EncodeToString(c.HeadHash))
	}

	keys := keyMap(trusted)
	if len(keys) > 0 {
		rep.CheckpointKeyTrusted = true
	} else if len(c.PublicKey) == ed25519.PublicKeySize && auth.Thumbprint(c.PublicKey) == c.KeyID {
		keys = map[string]ed25519.PublicKey{c.KeyID: c.PublicKey}
	}
	if problem := c.checkSignature(keys); problem != "" {
		return fail(CodeProofCheckpointInvalid, "the checkpoint at entry %d cannot be trusted: %s", c.Seq, problem)
	}

	if e.ProviderKeyID != "" || e.ProviderSignature != nil || e.ReplyDigest != nil {
		switch {
		case len(p.ProviderKey) != ed25519.PublicKeySize:
			return fail(CodeProofProviderSignature, "the proof carries no public key for the provider's key %s", strconv.Quote(e.ProviderKeyID))
		case bus.KeyID(p.ProviderKey) != e.ProviderKeyID:
			return fail(CodeProofProviderSignature, "the provider's public key in the proof is not key %s", strconv.Quote(e.ProviderKeyID))
		case !bus.VerifyDigest(p.ProviderKey, e.ReplyDigest, e.ProviderSignature):
			return fail(CodeProofProviderSignature, "the provider's signature does not verify over the reply digest under key %s: it is not %s's signature of that reply",
				e.ProviderKeyID, e.Provider)
		}
		rep.ProviderSigned, rep.ProviderKeyID, rep.ReplyDigest = true, e.ProviderKeyID, hex.EncodeToString(e.ReplyDigest)
	}
	return rep, nil
}

// entryJSON is an entry in a proof artefact: every column, hashes in hex,
// signatures in base64url.
type entryJSON struct {
	Seq               int64     `json:"seq"`
	At                time.Time `json:"at"`
	RequestID         string    `json:"request_id"`
	Caller            string    `json:"caller"`
	Consumer          string    `json:"consumer"`
	Resource          string    `json:"resource"`
	Provider          string    `json:"provider"`
	SubjectKey        string    `json:"subject_key"`
	Fields            []string  `json:"fields"`
	Purpose           string    `json:"purpose"`
	Outcome           string    `json:"outcome"`
	Code              string    `json:"code"`
	Status            int       `json:"status"`
	Rule              string    `json:"rule"`
	ConsentID         string    `json:"consent_id"`
	DataSubject       string    `json:"data_subject"`
	ProviderKeyID     string    `json:"provider_key_id"`
	ProviderSignature *string   `json:"provider_signature"` // base64url; null when none
	ReplyDigest       *string   `json:"reply_digest"`       // hex; null when none
	PrevHash          string    `json:"prev_hash"`
	Hash              string    `json:"hash"`
}

func toEntryJSON(e Entry) entryJSON {
	j := entryJSON{Seq: e.Seq, At: e.At.UTC(), RequestID: e.RequestID, Caller: e.Caller, Consumer: e.Consumer,
		Resource: e.Resource, Provider: e.Provider, SubjectKey: e.SubjectKey, Fields: e.Fields, Purpose: e.Purpose,
		Outcome: e.Outcome, Code: e.Code, Status: e.Status, Rule: e.Rule, ConsentID: e.ConsentID, DataSubject: e.DataSubject,
		ProviderKeyID: e.ProviderKeyID, PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash)}
	if j.Fields == nil {
		j.Fields = []string{}
	}
	if e.ProviderSignature != nil {
		s := b64.EncodeToString(e.ProviderSignature)
		j.ProviderSignature = &s
	}
	if e.ReplyDigest != nil {
		s := hex.EncodeToString(e.ReplyDigest)
		j.ReplyDigest = &s
	}
	return j
}

func (j entryJSON) entry() (Entry, error) {
	e := Entry{Seq: j.Seq, At: j.At.UTC(), RequestID: j.RequestID, Caller: j.Caller, Consumer: j.Consumer,
		Resource: j.Resource, Provider: j.Provider, SubjectKey: j.SubjectKey, Fields: j.Fields, Purpose: j.Purpose,
		Outcome: j.Outcome, Code: j.Code, Status: j.Status, Rule: j.Rule, ConsentID: j.ConsentID, DataSubject: j.DataSubject,
		ProviderKeyID: j.ProviderKeyID}
	var err error
	if e.PrevHash, err = hex.DecodeString(j.PrevHash); err != nil {
		return e, fmt.Errorf("entry %d: prev_hash is not hex", j.Seq)
	}
	if e.Hash, err = hex.DecodeString(j.Hash); err != nil {
		return e, fmt.Errorf("entry %d: hash is not hex", j.Seq)
	}
	if j.ProviderSignature != nil {
		if e.ProviderSignature, err = b64.DecodeString(*j.ProviderSignature); err != nil {
			return e, fmt.Errorf("entry %d: provider_signature is not base64url", j.Seq)
		}
	}
	if j.ReplyDigest != nil {
		if e.ReplyDigest, err = hex.DecodeString(*j.ReplyDigest); err != nil {
			return e, fmt.Errorf("entry %d: reply_digest is not hex", j.Seq)
		}
	}
	return e, nil
}

// proofJSON is the proof artefact.
type proofJSON struct {
	Format      string          `json:"format"`
	Entry       entryJSON       `json:"entry"`
	Provider    *providerJSON   `json:"provider,omitempty"`
	Chain       []entryJSON     `json:"chain"` // the entries after entry up to the checkpoint
	Checkpoint  json.RawMessage `json:"checkpoint"`
	Description string          `json:"description,omitempty"`
}

// providerJSON repeats the entry's provider signature beside the
// provider's public key, for a reader; VerifyProof insists they agree
// with the entry, whose hash covers them.
type providerJSON struct {
	Department  string `json:"department"`
	KeyID       string `json:"key_id"`
	PublicKey   string `json:"public_key"`   // base64url Ed25519
	Signature   string `json:"signature"`    // base64url, over bus.SignedBytes(reply_digest)
	ReplyDigest string `json:"reply_digest"` // hex bus.Digest of the reply
}

const proofDescription = "Audit entry, its place in the hash chain up to a signed checkpoint, and the provider's signature on its reply digest. Check offline with: govx audit verify --proof FILE"

// MarshalJSON writes p as the proof artefact.
func (p Proof) MarshalJSON() ([]byte, error) {
	cp, err := json.Marshal(p.Checkpoint)
	if err != nil {
		return nil, err
	}
	j := proofJSON{Format: ProofFormat, Entry: toEntryJSON(p.Entry), Chain: make([]entryJSON, len(p.Links)),
		Checkpoint: cp, Description: proofDescription}
	for i, l := range p.Links {
		j.Chain[i] = toEntryJSON(l)
	}
	if p.Entry.ProviderKeyID != "" {
		j.Provider = &providerJSON{Department: p.Entry.Provider, KeyID: p.Entry.ProviderKeyID,
			PublicKey: b64.EncodeToString(p.ProviderKey), Signature: b64.EncodeToString(p.Entry.ProviderSignature),
			ReplyDigest: hex.EncodeToString(p.Entry.ReplyDigest)}
	}
	return json.Marshal(j)
}

// ParseProof reads a proof artefact; KindInvalid CodeProofMalformed when
// it is not one. It checks the shape, not the proof: that is VerifyProof.
func ParseProof(data []byte) (*Proof, error) {
	const op = "ledger.ParseProof"
	malformed := func(format string, args ...any) error {
		return govx.E(op, govx.Errorf(govx.KindInvalid, CodeProofMalformed, format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j proofJSON
	if err := dec.Decode(&j); err != nil {
		return nil, malformed("the proof is not a %s JSON artefact: %s", ProofFormat, httpx.Truncate(err.Error(), 120))
	}
	if j.Format != ProofFormat {
		return nil, malformed("the proof's format is %q, want %q", httpx.Truncate(j.Format, 40), ProofFormat)
	}
	p := &Proof{}
	var err error
	if p.Entry, err = j.Entry.entry(); err != nil {
		return nil, malformed("%s", err)
	}
	for _, l := range j.Chain {
		e, err := l.entry()
		if err != nil {
			return nil, malformed("%s", err)
		}
		p.Links = append(p.Links, e)
	}
	c, err := ParseCheckpoint(j.Checkpoint)
	if err != nil {
		return nil, malformed("checkpoint: %s", govx.ErrorMessage(err))
	}
	p.Checkpoint = *c
	if j.Provider != nil {
		pub, err := b64.DecodeString(j.Provider.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, malformed("provider.public_key must be a base64url Ed25519 public key")
		}
		p.ProviderKey = pub
		if j.Provider.Department != p.Entry.Provider || j.Provider.KeyID != p.Entry.ProviderKeyID ||
			j.Provider.Signature != b64.EncodeToString(p.Entry.ProviderSignature) ||
			j.Provider.ReplyDigest != hex.EncodeToString(p.Entry.ReplyDigest) {
			return nil, govx.E(op, govx.Errorf(govx.KindInvalid, CodeProofProviderSignature,
				"the provider's signature in the proof is not the one audit entry %d records", p.Entry.Seq))
		}
	}
	return p, nil
}
