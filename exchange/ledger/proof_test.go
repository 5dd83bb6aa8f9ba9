package ledger

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	"govx"
	"govx/bus"
	"govx/internal/auth"
	"govx/internal/kafka"
)

// signedReply appends an entry for a reply signed by a provider's bus key,
// as the exchange records one, and returns the provider's key source.
func (f *cpFixture) signedReply(requestID string) (*bus.Signer, bus.KeySource) {
	f.t.Helper()
	k, err := auth.GenerateKey()
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := bus.NewSigner("population", k)
	if err != nil {
		f.t.Fatal(err)
	}
	m := kafka.Message{Topic: "govx.replies.x1", Value: []byte("\x00\x00\x00\x00\x01avro reply of " + requestID)}
	s.Sign(&m)
	keys := bus.KeySourceFunc(func(_ context.Context, dept string) ([]bus.PublicKey, error) {
		if dept != "population" {
			return nil, nil
		}
		return []bus.PublicKey{{KeyID: s.KeyID(), Key: s.PublicKey()}}, nil
	})
	v, err := bus.NewVerifier(bus.VerifierConfig{Keys: keys})
	if err != nil {
		f.t.Fatal(err)
	}
	sig, err := v.Verify(context.Background(), m, "population")
	if err != nil {
		f.t.Fatal(err)
	}
	f.n++
	if err := f.l.Append(context.Background(), Entry{RequestID: requestID, Caller: "officer-1",
		Consumer: "service-center", Resource: "population.identity", Provider: "population",
		SubjectKey: "110101199003074477", Fields: []string{"name"}, Purpose: "case:1", Outcome: Released, Code: "ok", Status: 200,
		ProviderKeyID: sig.KeyID, ProviderSignature: sig.Signature, ReplyDigest: sig.Digest}); err != nil {
		f.t.Fatal(err)
	}
	return s, keys
}

func TestProofVerifiesOfflineAndCatchesTampering(t *testing.T) {
	f := newCPFixture(t)
	f.append(2)
	_, keys := f.signedReply("req-proof")
	f.append(3)
	f.checkpoint()
	f.append(2) // after the checkpoint: not part of the proof

	ctx := context.Background()
	p, err := ExportProof(ctx, f.pool, "req-proof", keys, f.key)
	if err != nil {
		t.Fatal(err)
	}
	if p.Entry.Seq != 3 || len(p.Links) != 3 || p.Checkpoint.Seq != 6 {
		t.Fatalf("proof of entry %d with %d links to checkpoint %d, want 3, 3, 6", p.Entry.Seq, len(p.Links), p.Checkpoint.Seq)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}

	// Round trip through the artefact, with and without the exchange's key.
	parsed, err := ParseProof(data)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyProof(parsed, auth.PublicKey(f.key.Public))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.ProviderSigned || !rep.CheckpointKeyTrusted || rep.Links != 3 || rep.CheckpointSeq != 6 || rep.Outcome != Released {
		t.Fatalf("report %+v", rep)
	}
	if rep, err := VerifyProof(parsed); err != nil || rep.CheckpointKeyTrusted {
		t.Fatalf("without a trusted key: %+v, %v", rep, err)
	}

	other, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		tamper  func(p *Proof)
		trusted []*auth.Key
		code    string
		reason  string
	}{
		{"entry altered", func(p *Proof) { p.Entry.Consumer = "tax" }, nil,
			CodeProofEntryAltered, "audit entry 3 was altered"},
		{"entry altered and rehashed", func(p *Proof) {
			p.Entry.Fields = []string{"name", "address"}
			p.Entry.Hash = p.Entry.hash(p.Entry.PrevHash)
		}, nil,
			CodeProofChainBroken, "entry 4 does not link to entry 3"},
		{"chain link altered", func(p *Proof) { p.Links[1].SubjectKey = "110101199001011234" }, nil,
			CodeProofChainBroken, "entry 5 in the chain was altered"},
		{"chain link removed", func(p *Proof) { p.Links = append(p.Links[:1], p.Links[2:]...) }, nil,
			CodeProofChainBroken, "skips from entry 4 to entry 6"},
		{"chain cut short", func(p *Proof) { p.Links = p.Links[:2] }, nil,
			CodeProofChainBroken, "ends at entry 5, not at the checkpoint's head"},
		{"chain rewritten to a forged checkpoint", func(p *Proof) {
			p.Links[2].Purpose = "rewritten"
			p.Links[2].Hash = p.Links[2].hash(p.Links[2].PrevHash)
			p.Checkpoint.HeadHash = p.Links[2].Hash
			p.Checkpoint.PublicKey = other.Public
			p.Checkpoint.sign(other)
		}, []*auth.Key{auth.PublicKey(f.key.Public)},
			CodeProofCheckpointInvalid, "not one of the keys given"},
		{"checkpoint signature forged", func(p *Proof) { p.Checkpoint.Signature = ed25519.Sign(other.Private, p.Checkpoint.signedBytes()) }, nil,
			CodeProofCheckpointInvalid, "its signature does not verify"},
		{"checkpoint head altered", func(p *Proof) { p.Checkpoint.HeadHash = p.Entry.Hash }, nil,
			CodeProofChainBroken, "not at the checkpoint's head"},
		{"wrong provider signature", func(p *Proof) {
			p.Entry.ProviderSignature = ed25519.Sign(other.Private, bus.SignedBytes(p.Entry.ReplyDigest))
			p.Entry.Hash = p.Entry.hash(p.Entry.PrevHash)
			p.Links[0].PrevHash = p.Entry.Hash // a tamperer rewriting the chain still fails at the checkpoint
		}, nil, CodeProofChainBroken, "entry 4 in the chain was altered"},
		{"provider key swapped", func(p *Proof) { p.ProviderKey = other.Public }, nil,
			CodeProofProviderSignature, "is not key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseProof(data)
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(q)
			rep, err := VerifyProof(q, tc.trusted...)
			if govx.ErrorCode(err) != tc.code || !strings.Contains(govx.ErrorMessage(err), tc.reason) {
				t.Fatalf("VerifyProof = %+v, %v; want %s: …%s…", rep, err, tc.code, tc.reason)
			}
		})
	}

	// A provider signature that does not verify, in an entry whose hash
	// covers it (as a ledger writer that recorded a bad signature would
	// leave it): the chain holds, the signature does not.
	t.Run("provider signature not over the digest", func(t *testing.T) {
		q, err := ParseProof(data)
		if err != nil {
			t.Fatal(err)
		}
		q.Entry.ReplyDigest = bus.Digest("govx.replies.x1", []byte("another reply"))
		relink(q)
		q.Checkpoint.PublicKey = other.Public
		q.Checkpoint.sign(other)
		_, err = VerifyProof(q)
		if govx.ErrorCode(err) != CodeProofProviderSignature || !strings.Contains(govx.ErrorMessage(err), "does not verify over the reply digest") {
			t.Fatalf("VerifyProof = %v", err)
		}
	})

	t.Run("provider part disagrees with the entry", func(t *testing.T) {
		var j map[string]any
		if err := json.Unmarshal(data, &j); err != nil {
			t.Fatal(err)
		}
		j["provider"].(map[string]any)["reply_digest"] = strings.Repeat("00", 32)
		bad, _ := json.Marshal(j)
		if _, err := ParseProof(bad); govx.ErrorCode(err) != CodeProofProviderSignature {
			t.Fatalf("ParseProof = %v", err)
		}
	})

	t.Run("not a proof", func(t *testing.T) {
		if _, err := ParseProof([]byte(`{"format":"something else"}`)); govx.ErrorCode(err) != CodeProofMalformed {
			t.Fatalf("ParseProof = %v", err)
		}
	})

	t.Run("no checkpoint yet", func(t *testing.T) {
		f.signedReply("req-late")
		if _, err := ExportProof(ctx, f.pool, "req-late", keys, f.key); govx.ErrorCode(err) != CodeProofNoCheckpoint {
			t.Fatalf("ExportProof = %v", err)
		}
		if _, err := ExportProof(ctx, f.pool, "req-none", keys, f.key); govx.ErrorCode(err) != "audit_entry_not_found" {
			t.Fatalf("ExportProof = %v", err)
		}
	})
}

// relink recomputes every hash of p after its entry and points the
// checkpoint at the new head, as a tamperer holding the chain would.
func relink(p *Proof) {
	p.Entry.Hash = p.Entry.hash(p.Entry.PrevHash)
	prev := p.Entry.Hash
	for i := range p.Links {
		p.Links[i].PrevHash = prev
		p.Links[i].Hash = p.Links[i].hash(prev)
		prev = p.Links[i].Hash
	}
	p.Checkpoint.HeadHash = prev
}

// A receipt proves one entry with nothing of the entries around it, and
// is refused when the chain through the entry was rewritten.
func TestReceiptProofCarriesTheEntryAlone(t *testing.T) {
	f := newCPFixture(t)
	f.append(2)
	f.checkpoint()
	_, keys := f.signedReply("req-own")
	f.append(3) // other people's accesses, before any checkpoint covers the entry

	ctx := context.Background()
	p, err := ExportReceiptProof(ctx, f.cp, "req-own", keys)
	if err != nil {
		t.Fatal(err)
	}
	if p.Entry.Seq != 3 || len(p.Links) != 0 || !p.Checkpoint.Receipt || p.Checkpoint.Seq != 3 {
		t.Fatalf("receipt proof of entry %d with %d links, receipt %v at %d; want entry 3 alone", p.Entry.Seq, len(p.Links), p.Checkpoint.Receipt, p.Checkpoint.Seq)
	}
	// The receipt was signed after a checkpoint was taken to cover the entry.
	if c, err := LatestCheckpoint(ctx, f.pool); err != nil || c.Seq != 6 {
		t.Fatalf("latest checkpoint %+v, %v; want one at entry 6", c, err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "req-4") || !strings.Contains(string(data), ReceiptFormat) {
		t.Fatalf("the artefact shows another entry, or is not a receipt: %s", data)
	}
	parsed, err := ParseProof(data)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyProof(parsed, auth.PublicKey(f.key.Public))
	if err != nil || rep.Seq != 3 || rep.Links != 0 || !rep.ProviderSigned {
		t.Fatalf("verify: %+v %v", rep, err)
	}

	// A receipt passed off as a checkpoint of the series does not verify.
	as := *parsed
	as.Checkpoint.Receipt = false
	if _, err := VerifyProof(&as, auth.PublicKey(f.key.Public)); govx.ErrorCode(err) != CodeProofCheckpointInvalid {
		t.Fatalf("receipt read as a checkpoint: %v, want %s", err, CodeProofCheckpointInvalid)
	}
	// The entry altered after the receipt was signed.
	altered := *parsed
	altered.Entry.Purpose = "case:2"
	if _, err := VerifyProof(&altered, auth.PublicKey(f.key.Public)); govx.ErrorCode(err) != CodeProofEntryAltered {
		t.Fatalf("altered entry: %v, want %s", err, CodeProofEntryAltered)
	}

	// No receipt for an entry of a chain rewritten behind its checkpoint.
	f.rewrite(2)
	if _, err := f.cp.Receipt(ctx, 3); govx.ErrorCode(err) != "audit_chain_broken" {
		t.Fatalf("receipt over a rewritten chain: %v, want audit_chain_broken", err)
	}
}
