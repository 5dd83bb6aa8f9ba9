package wallet

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"govx"
	"govx/adapters/licence"
	"govx/consent"
)

// Results of a public verification.
const (
	ResultValid        = "valid"        // sealed by its issuer and in force today
	ResultRevoked      = "revoked"      // sealed, but revoked by the register
	ResultExpired      = "expired"      // sealed, but past its last day of validity
	ResultInvalid      = "invalid"      // the register's record does not carry a valid seal
	ResultUnverifiable = "unverifiable" // no licence can be checked under this code now
)

// Verification is what the public verification page shows for a code: no
// name, no ID number, no unified social credit code of the holder, and
// the number masked. An unverifiable code shows the result and the time
// alone, whatever the reason.
type Verification struct {
	Result        string    `json:"result"`
	Type          string    `json:"licence_type,omitempty"`
	Number        string    `json:"number_masked,omitempty"`
	Authority     string    `json:"authority,omitempty"`
	AuthorityCode string    `json:"authority_code,omitempty"`
	ValidFrom     string    `json:"valid_from,omitempty"`
	ValidUntil    string    `json:"valid_until,omitempty"`
	Seal          string    `json:"seal,omitempty"` // SealValid or SealInvalid
	CheckedAt     time.Time `json:"checked_at"`
}

// Verify checks the licence a code names, now: it asks the register
// through the exchange under the holder's wallet consent, checks the seal
// and reads the status. It never fails: an unknown or malformed code, a
// holder's wallet consent paused or revoked, a register that does not
// answer are all ResultUnverifiable, alike.
func (s *Service) Verify(ctx context.Context, code string) Verification {
	now := s.cfg.Now().UTC()
	unverifiable := Verification{Result: ResultUnverifiable, CheckedAt: now.Truncate(time.Second)}
	v, err := s.verify(ctx, code, now)
	if err != nil {
		if k := govx.ErrorKind(err); k == govx.KindInternal || k == govx.KindUnavailable || k == govx.KindTimeout {
			s.cfg.Logger.Warn("wallet verification failed", "err", err)
		}
		return unverifiable
	}
	return v
}

func (s *Service) verify(ctx context.Context, code string, now time.Time) (Verification, error) {
	rec, err := s.lookupCode(ctx, code)
	if err != nil {
		return Verification{}, err
	}
	c, err := s.consentOf(ctx, rec.subject)
	if err != nil {
		return Verification{}, err
	}
	if c == nil || c.Status != consent.Active {
		return Verification{}, govx.Errorf(govx.KindForbidden, CodeWalletClosed, "the holder's wallet is closed")
	}
	token, err := s.token()
	if err != nil {
		return Verification{}, err
	}
	l, issuer, _, err := s.fetchLicence(ctx, token, c.ID, rec.typ, rec.number)
	if err != nil {
		return Verification{}, err
	}
	if l.HolderCode != rec.subject || l.Number != rec.number {
		// The register's record is no longer this holder's: nothing the
		// code was handed out for can be checked.
		return Verification{}, govx.Errorf(govx.KindNotFound, "code_not_found", "the licence changed hands")
	}
	v := Verification{Type: l.Type, Number: MaskNumber(l.Number), Authority: l.Authority, AuthorityCode: l.AuthorityCode,
		ValidFrom: l.ValidFrom.Format(time.DateOnly), ValidUntil: l.ValidUntil.Format(time.DateOnly), Seal: SealValid,
		CheckedAt: now.Truncate(time.Second)}
	if err := s.cfg.Seals.Verify(ctx, issuer, l); err != nil {
		if govx.ErrorKind(err) != govx.KindInvalid {
			return Verification{}, err
		}
		// A record that does not verify is shown as such and no more: what
		// it claims is not the register's word.
		return Verification{Result: ResultInvalid, Type: l.Type, Seal: SealInvalid, CheckedAt: v.CheckedAt}, nil
	}
	switch l.EffectiveStatus(now) {
	case licence.StatusValid:
		v.Result = ResultValid
	case licence.StatusRevoked:
		v.Result = ResultRevoked
	case licence.StatusExpired:
		v.Result = ResultExpired
	default:
		return Verification{}, govx.Errorf(govx.KindInternal, "licence_status_unknown", "the register answered an unknown status")
	}
	return v, nil
}

// MaskNumber shows a licence number's first four and last three
// characters, the rest as asterisks: enough for someone holding the
// licence to compare, not enough to read it off the page.
func MaskNumber(n string) string {
	rs := []rune(n)
	if len(rs) <= 7 {
		return strings.Repeat("*", len(rs))
	}
	var b strings.Builder
	b.Grow(utf8.UTFMax * len(rs))
	for i, r := range rs {
		if i < 4 || i >= len(rs)-3 {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
	}
	return b.String()
}
