package wallet

import (
	"context"
	"errors"

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
// A ledger proof to the ledger's next signed checkpoint (govx audit proof)
// carries every entry in between in full, since each link's hash covers
// its content: other people's accesses, their ID numbers, callers and
// purposes. A data subject is given instead a proof with a receipt
// (ledger.Checkpointer.Receipt): the exchange's checkpoint key signs the
// entry's place and hash in the chain, once it has checked that the chain
// links through the entry to a signed checkpoint. The proof then carries
// the subject's entry and nothing else, and is checked offline like any
// other (govx audit verify --proof).

// Proofs exports ledger proofs for data subjects.
type Proofs struct {
	Pool *pgxpool.Pool
	// Providers are the catalogue's department keys (node.BusKeySource).
	Providers bus.KeySource
	// Key is the exchange's checkpoint key: it signs the receipts, and a
	// checkpoint when none covers the entry yet.
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
	cp, err := ledger.NewCheckpointer(ledger.CheckpointConfig{Pool: p.Pool, Key: p.Key})
	if err != nil {
		return nil, govx.E(op, err)
	}
	pr, err := ledger.ExportReceiptProof(ctx, cp, requestID, p.Providers)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if !about(pr.Entry.DataSubject, pr.Entry.SubjectKey, subject) || len(pr.Links) > 0 {
		return nil, govx.E(op, notFound)
	}
	return pr, nil
}

// about reports whether an entry with these columns is about subject, as
// ledger.Accesses finds them.
func about(dataSubject, subjectKey, subject string) bool {
	return dataSubject == subject || (dataSubject == "" && subjectKey == subject)
}
