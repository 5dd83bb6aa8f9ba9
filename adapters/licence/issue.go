package licence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/internal/postgres"
)

// Issuing on order. The case workflow, once it has granted a licence,
// orders it from the licensing department through the exchange (Issuer, the
// licence.issue command resource); the department's adapter issues it with
// Store.IssueOrder. An order names its reference, the ordering side's key
// for the issuance (the case number): an order retried after a lost reply
// or a crash gets the licence its first attempt issued, never a second one.

// ResourceIssue is the command resource that takes orders to issue a
// licence. It is in the catalogue (Catalog), shared on conditions: the
// exchange sends an order, the payload of a request, only for a department
// whose token names the scope and which holds an approved grant, and
// records it in its audit ledger like any query.
const ResourceIssue = "licence.issue"

// Schema subjects of an order and of the answer to it.
const (
	SubjectOrder  = "licence.issue-order"
	SubjectIssued = "licence.issued"
)

// EventIssued is the type of the change event an issuance publishes, on
// the licence type's resource.
const EventIssued = "licence.issued"

// MaxReference is the longest order reference, in bytes.
const MaxReference = 64

// Order is an order to issue a licence: what the case workflow granted.
type Order struct {
	Reference     string // idempotency key: in practice the case number
	Type          string // TypeFoodBusiness, …
	HolderCode    string // unified social credit code or resident ID number
	HolderName    string
	AuthorityCode string // the issuing authority; must hold an active seal key
	Variant       int    // as Draft.Variant
	Items         map[string]string
	ValidFrom     time.Time // a date; zero: the issue date
	ValidUntil    time.Time // last day of validity; zero: the type's term
}

// Issued is the licence issued for an order, as the ordering side receives
// it.
type Issued struct {
	Reference     string
	Number        string // licence.<type> answers it from now on
	ID            string
	Type          string
	HolderCode    string
	HolderName    string
	Authority     string
	AuthorityCode string
	IssuedAt      time.Time // the issue date, midnight UTC
	ValidFrom     time.Time
	ValidUntil    time.Time
	Items         map[string]string
	SealKeyID     string
	Seal          []byte
}

// Licence is the issued licence as the register holds it, status valid,
// for VerifySeal.
func (i *Issued) Licence() Licence {
	return Licence{ID: i.ID, Type: i.Type, Number: i.Number, HolderName: i.HolderName, HolderCode: i.HolderCode,
		Authority: i.Authority, AuthorityCode: i.AuthorityCode, IssueDate: i.IssuedAt, ValidFrom: i.ValidFrom,
		ValidUntil: i.ValidUntil, Status: StatusValid, Items: i.Items, SealKeyID: i.SealKeyID, Seal: i.Seal}
}

// validateReference checks an order reference: 1 to MaxReference bytes of
// UTF-8 without spaces or control characters, KindInvalid
// ("invalid_reference") otherwise.
func validateReference(ref string) error {
	if ref == "" || len(ref) > MaxReference || !utf8.ValidString(ref) ||
		strings.ContainsFunc(ref, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return govx.Errorf(govx.KindInvalid, "invalid_reference", "an order reference is 1 to %d bytes of UTF-8 without spaces", MaxReference)
	}
	return nil
}

func (o *Order) draft() Draft {
	return Draft{Type: o.Type, HolderCode: o.HolderCode, HolderName: o.HolderName, AuthorityCode: o.AuthorityCode,
		Items: o.Items, Variant: o.Variant, ValidFrom: date(o.ValidFrom), ValidUntil: date(o.ValidUntil)}
}

// date is t's calendar day as midnight UTC; zero stays zero.
func date(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func dateString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.DateOnly)
}

// hash is the SHA-256 of the order's canonical form: a JSON object of its
// fields in the manner of Canonical, dates as YYYY-MM-DD ("" when not
// given), no items and empty items alike.
func (o *Order) hash() []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"authority_code":`...)
	b = appendJSONString(b, o.AuthorityCode)
	b = append(b, `,"holder_code":`...)
	b = appendJSONString(b, o.HolderCode)
	b = append(b, `,"holder_name":`...)
	b = appendJSONString(b, o.HolderName)
	b = append(b, `,"items":`...)
	b = appendItems(b, o.Items)
	b = append(b, `,"reference":`...)
	b = appendJSONString(b, o.Reference)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, o.Type)
	b = append(b, `,"valid_from":`...)
	b = appendJSONString(b, dateString(date(o.ValidFrom)))
	b = append(b, `,"valid_until":`...)
	b = appendJSONString(b, dateString(date(o.ValidUntil)))
	b = append(b, `,"variant":`...)
	b = strconv.AppendInt(b, int64(o.Variant), 10)
	b = append(b, '}')
	sum := sha256.Sum256(b)
	return sum[:]
}

// IssueOrder issues the licence o orders, once per reference: the licence,
// the order's row in licence.issue_orders and the "licence.issued" change
// event are one transaction, and orders of one reference take turns, so
// that a retried or concurrent order with the same reference returns the
// licence already issued for it (with its effective status). The same
// reference with a different order is KindConflict
// ("issue_reference_conflict"); a bad reference is KindInvalid
// ("invalid_reference"), a bad order as Issue says. The store must have an
// outbox.
func (s *Store) IssueOrder(ctx context.Context, o Order) (Licence, error) {
	const op = "licence.Store.IssueOrder"
	if err := validateReference(o.Reference); err != nil {
		return Licence{}, govx.E(op, err)
	}
	if s.outbox == nil {
		return Licence{}, govx.E(op, govx.Errorf(govx.KindInternal, "no_outbox", "the licence store has no outbox to announce the issuance in"))
	}
	sum := o.hash()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Held until commit: a second order of the reference waits here and
	// then sees the first one's row. (The primary key would refuse a
	// second row anyway, but only after a licence had been numbered.)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "licence.issue_orders:"+o.Reference); err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	var number string
	var prior []byte
	err = tx.QueryRow(ctx, `SELECT number, order_hash FROM licence.issue_orders WHERE reference = $1`, o.Reference).Scan(&number, &prior)
	switch {
	case err == nil:
		// Checked before the order itself: a retry on a later day must
		// not be refused for dates that were good when it was first sent.
		if !bytes.Equal(prior, sum) {
			return Licence{}, govx.E(op, govx.Errorf(govx.KindConflict, "issue_reference_conflict",
				"reference %s was already used for a different order (licence %s)", o.Reference, number))
		}
		l, err := scanLicence(tx.QueryRow(ctx, selectLicence+`WHERE number = $1`, number))
		if err != nil {
			return Licence{}, postgres.Translate(op, err, "")
		}
		s.effective(&l)
		return l, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return Licence{}, postgres.Translate(op, err, "")
	}
	d, err := s.prepare(op, o.draft())
	if err != nil {
		return Licence{}, err
	}
	l, err := s.issue(ctx, tx, op, d)
	if err != nil {
		return Licence{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO licence.issue_orders (reference, number, order_hash) VALUES ($1, $2, $3)`,
		o.Reference, l.Number, sum); err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	return l, nil
}
