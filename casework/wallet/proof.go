package wallet

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/bus"
	"govx/consent"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

// Proofs of a data subject's own accesses.
//
// A ledger proof (ledger.ProofFormat) carries the entry, every entry after
// it up to the next signed checkpoint in full (each link's hash covers its
// content), and the checkpoint. The entries after it may be other people's
// accesses: their ID numbers, callers and purposes. So a data subject is
// given the proof of an access to their own data only, and only while the
// chain from it to its checkpoint holds nothing about anyone else; when no
// checkpoint covers the entry yet, one is taken at once, so that a proof
// asked for soon after the access is about the subject alone. Otherwise
// the answer is Conflict CodeProofSharedChain, and the proof is the
// auditor's to give (govx audit proof).

// CodeProofSharedChain is the code (Conflict) of a proof whose chain to
// its checkpoint holds other people's accesses.
const CodeProofSharedChain = "proof_shared_chain"

// Proofs exports ledger proofs for data subjects.
type Proofs struct {
	Pool *pgxpool.Pool
	// Providers are the catalogue's department keys (node.BusKeySource).
	Providers bus.KeySource
	// Key is the exchange's checkpoint key: it signs a checkpoint when
	// none covers the entry yet.
	Key *auth.Key
}

// Proof exports the proof of the access requestID to subject's data, for
// the subject signed in as themselves. An access that is not about
// subject is NotFound audit_entry_not_found, as one that does not exist.
func (p *Proofs) Proof(ctx context.Context, caller *auth.Claims, subject, requestID string) (*ledger.Proof, error) {
	const op = "wallet.Proof"
	if err := consent.SubjectOnly(caller, subject); err != nil {
		return nil, govx.E(op, err)
	}
	notFound := govx.Errorf(govx.KindNotFound, "audit_entry_not_found", "no access to your data has request id %q", httpx.Truncate(requestID, 80))
	if requestID == "" || len(requestID) > 80 {
		return nil, govx.E(op, notFound)
	}
	// The first entry of the request, as ledger.ExportProof takes it, must
	// be about subject.
	var dataSubject, subjectKey string
	err := p.Pool.QueryRow(ctx, `SELECT data_subject, subject_key FROM exchange.audit WHERE request_id = $1 ORDER BY seq LIMIT 1`, requestID).
		Scan(&dataSubject, &subjectKey)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !about(dataSubject, subjectKey, subject)) {
		return nil, govx.E(op, notFound)
	}
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	pr, err := ledger.ExportProof(ctx, p.Pool, requestID, p.Providers, p.Key)
	if govx.ErrorCode(err) == ledger.CodeProofNoCheckpoint {
		cp, cerr := ledger.NewCheckpointer(ledger.CheckpointConfig{Pool: p.Pool, Key: p.Key})
		if cerr != nil {
			return nil, govx.E(op, cerr)
		}
		if _, cerr := cp.Checkpoint(ctx); cerr != nil {
			return nil, govx.E(op, cerr)
		}
		pr, err = ledger.ExportProof(ctx, p.Pool, requestID, p.Providers, p.Key)
	}
	if err != nil {
		return nil, govx.E(op, err)
	}
	if !about(pr.Entry.DataSubject, pr.Entry.SubjectKey, subject) {
		return nil, govx.E(op, notFound)
	}
	for _, l := range pr.Links {
		if !own(l, subject) {
			return nil, govx.E(op, govx.Errorf(govx.KindConflict, CodeProofSharedChain,
				"the ledger's signed checkpoint after this access also covers other people's accesses, which a proof would show; "+
					"ask the exchange's auditor for a proof of access %s", requestID))
		}
	}
	return pr, nil
}

// about reports whether an entry with these columns is about subject, as
// ledger.Accesses finds them.
func about(dataSubject, subjectKey, subject string) bool {
	return dataSubject == subject || (dataSubject == "" && subjectKey == subject)
}

// own reports whether an entry shows nothing about anyone but subject:
// it is about subject or about no one, and its caller and purpose name
// no ID number.
func own(e ledger.Entry, subject string) bool {
	if !about(e.DataSubject, e.SubjectKey, subject) && (e.DataSubject != "" || e.SubjectKey != "") {
		return false
	}
	clean := func(s string) bool {
		s = strings.ReplaceAll(s, subject, "")
		return ledger.MaskText(s) == s
	}
	return clean(e.Caller) && clean(e.Purpose)
}
