package wallet

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base32"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/catalog"
	"govx/consent"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationSource is the wallet's schema.
func MigrationSource() postgres.Source { return postgres.SourceDir("wallet", migrations, "migrations") }

// PurposeCode is the purpose code of a holder's wallet consent and of
// every query the wallet makes under it.
const PurposeCode = "wallet"

// Consumer is the department the wallet asks the exchange as.
const Consumer = catalog.DeptServiceCenter

// Exchange asks the exchange's query API; *exchange.Client is one.
type Exchange interface {
	Query(ctx context.Context, token, resource string, q exchange.Query) (*exchange.Answer, error)
}

// Consents finds and records a holder's consents; *consent.Store is one.
type Consents interface {
	OfSubject(ctx context.Context, subject string, limit int) ([]consent.Consent, error)
	Create(ctx context.Context, caller *auth.Claims, r consent.Request) (*consent.Consent, error)
}

// Seals checks a licence's seal by its issuer; *licence.Seals is one.
type Seals interface {
	Verify(ctx context.Context, issuer string, l licence.Licence) error
}

var (
	_ Exchange = (*exchange.Client)(nil)
	_ Consents = (*consent.Store)(nil)
	_ Seals    = (*licence.Seals)(nil)
)

// Config is what the wallet needs.
type Config struct {
	Pool     *pgxpool.Pool
	Exchange Exchange
	Consents Consents
	Seals    Seals
	// Tokens mints the service center's token for the wallet's queries,
	// with these scopes.
	Tokens func(scopes []string) (string, error)
	// VerifyBase is the public address verification codes lead to; a
	// code's link is VerifyBase + "/" + code. Default "/hall/verify".
	VerifyBase string
	Now        func() time.Time // default time.Now
	Logger     *slog.Logger     // default slog.Default()
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if c.Pool == nil || c.Exchange == nil || c.Consents == nil || c.Seals == nil || c.Tokens == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "wallet: a Service needs a Pool, an Exchange, Consents, Seals and Tokens")
	}
	if c.VerifyBase == "" {
		c.VerifyBase = "/hall/verify"
	}
	c.VerifyBase = strings.TrimRight(c.VerifyBase, "/")
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Service is the wallet. It is safe for concurrent use.
type Service struct {
	cfg Config
}

// New returns the wallet for cfg.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg}, nil
}

// Seal results of a card.
const (
	SealValid   = "valid"
	SealInvalid = "invalid"
)

// Card is one licence in a holder's wallet, as the register answered it
// through the exchange, with the result of its seal check and its
// verification code.
type Card struct {
	Code       string            `json:"code"`       // the verification code, ten base32 characters
	VerifyURL  string            `json:"verify_url"` // where the code leads
	Type       string            `json:"type"`
	Number     string            `json:"number"`
	HolderName string            `json:"holder_name"`
	Authority  string            `json:"authority"`
	AuthCode   string            `json:"authority_code"`
	IssueDate  string            `json:"issue_date"`
	ValidFrom  string            `json:"valid_from"`
	ValidUntil string            `json:"valid_until"`
	Status     string            `json:"status"` // valid, revoked, expired: on the day asked
	Items      map[string]string `json:"items"`
	Seal       string            `json:"seal"`                   // SealValid or SealInvalid
	SealCode   string            `json:"seal_problem,omitempty"` // why not valid: seal_invalid, seal_key_mismatch, …
	Issuer     string            `json:"issuer"`                 // the exchange's provider: licensing, or node/licensing
	RequestID  string            `json:"request_id"`             // the access that fetched it

	holderCode string
}

// Entity is a company's record in the legal-entity register.
type Entity struct {
	USCC                 string `json:"uscc"`
	Name                 string `json:"name"`
	EntityType           string `json:"entity_type"`
	Status               string `json:"status"`
	EstablishedOn        string `json:"established_on"`
	RegistrationAuthorty string `json:"registration_authority"`
	Address              string `json:"address"`
	RequestID            string `json:"request_id"`
}

// Wallet is a holder's wallet.
type Wallet struct {
	Subject   string           `json:"subject"`
	ConsentID string           `json:"consent_id"`
	Cards     []Card           `json:"licences"`
	Total     int              `json:"total"` // licences the register holds for the holder; more than len(Cards) past licence.MaxByHolder
	Entity    *Entity          `json:"legal_entity,omitempty"`
	FetchedAt time.Time        `json:"fetched_at"`
	Problems  []string         `json:"problems,omitempty"` // codes of what could not be fetched
	Consent   *consent.Consent `json:"-"`
}

// resources are what a holder's wallet consent covers.
func resources(subject string) []consent.Item {
	items := []consent.Item{{Resource: licence.ResourceByHolder}}
	for _, t := range licence.Types {
		items = append(items, consent.Item{Resource: licence.Resource(t)})
	}
	if t, _ := consent.SubjectType(subject); t == consent.Company {
		items = append(items, consent.Item{Resource: legalentity.ResourceBasic})
	}
	return items
}

// ConsentValidity is how long a wallet consent runs.
const ConsentValidity = 366 * 24 * time.Hour

// Code of a wallet not opened, or whose consent is paused, revoked or
// expired (Forbidden): Open records a new one.
const CodeWalletClosed = "wallet_closed"

// consentOf finds subject's wallet consent: the active one, else the
// newest paused one, else nil.
func (s *Service) consentOf(ctx context.Context, subject string) (*consent.Consent, error) {
	cs, err := s.cfg.Consents.OfSubject(ctx, subject, 500)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var paused *consent.Consent
	for i := range cs {
		c := &cs[i]
		if c.Consumer != Consumer || c.PurposeCode != PurposeCode || c.CaseID != "" || !c.ValidUntil.After(now) {
			continue
		}
		switch c.Status {
		case consent.Active:
			return c, nil
		case consent.Paused:
			if paused == nil {
				paused = c
			}
		}
	}
	return paused, nil
}

// Open records the holder's wallet consent, unless an active one is
// there: from then on the wallet may fetch their licences (and a
// company's register record) through the exchange. Only the holder,
// signed in as themselves, may.
func (s *Service) Open(ctx context.Context, caller *auth.Claims, subject string) (*consent.Consent, error) {
	const op = "wallet.Open"
	if err := consent.SubjectOnly(caller, subject); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.consentOf(ctx, subject)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if c != nil && c.Status == consent.Active {
		return c, nil
	}
	now := s.cfg.Now()
	c, err = s.cfg.Consents.Create(ctx, caller, consent.Request{Subject: subject, Consumer: Consumer, Items: resources(subject),
		PurposeCode: PurposeCode, ValidFrom: now, ValidUntil: now.Add(ConsentValidity),
		Purpose: "Wallet of the online service hall: show me my licences from the electronic licence register (and my company's register record), " +
			"and let anyone holding a verification code I hand out check that licence's seal and status"})
	return c, govx.E(op, err)
}

// Get fetches the holder's wallet through the exchange: their licences,
// each with its full record, seal check and verification code, and a
// company's register record. Only the holder may; a holder without an
// active wallet consent is Forbidden CodeWalletClosed. A licence or record
// that could not be fetched is left out and named in Problems.
func (s *Service) Get(ctx context.Context, caller *auth.Claims, subject string) (*Wallet, error) {
	const op = "wallet.Get"
	if err := consent.SubjectOnly(caller, subject); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.consentOf(ctx, subject)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if c == nil || c.Status != consent.Active {
		why := "open your wallet first: it fetches your licences from the registers under your consent"
		if c != nil {
			why = "your wallet's consent is paused: resume it under My data to see your wallet"
		}
		return nil, govx.E(op, govx.Errorf(govx.KindForbidden, CodeWalletClosed, "%s", why))
	}
	w := &Wallet{Subject: subject, ConsentID: c.ID, Cards: []Card{}, FetchedAt: s.cfg.Now().UTC(), Consent: c}
	token, err := s.token()
	if err != nil {
		return nil, govx.E(op, err)
	}
	ans, err := s.cfg.Exchange.Query(ctx, token, licence.ResourceByHolder, exchange.Query{Key: subject,
		Fields: []string{"holder_code", "total", "licences"}, Purpose: PurposeCode, Consent: c.ID})
	if err != nil {
		return nil, govx.E(op, err)
	}
	list, _ := ans.Record["licences"].([]any)
	w.Total = len(list)
	if t, ok := ans.Record["total"].(float64); ok {
		w.Total = int(t)
	}
	// The licences are fetched side by side, a few at a time, and shown
	// in the register's order.
	type fetched struct {
		card *Card
		err  error
	}
	out := make([]fetched, len(list))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, v := range list {
		m, _ := v.(map[string]any)
		typ, _ := m["type"].(string)
		number, _ := m["number"].(string)
		if licence.ValidateNumber(typ, number) != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i].card, out[i].err = s.card(ctx, token, c.ID, subject, typ, number)
		}()
	}
	wg.Wait()
	for _, f := range out {
		switch {
		case f.err != nil:
			s.cfg.Logger.Warn("wallet licence not fetched", "err", f.err)
			w.Problems = append(w.Problems, govx.ErrorCode(f.err))
		case f.card != nil:
			w.Cards = append(w.Cards, *f.card)
		}
	}
	if t, _ := consent.SubjectType(subject); t == consent.Company {
		e, err := s.entity(ctx, token, c.ID, subject)
		if err != nil {
			w.Problems = append(w.Problems, govx.ErrorCode(err))
		} else {
			w.Entity = e
		}
	}
	return w, nil
}

// Card fetches one licence of the holder's wallet by its verification
// code (for its PDF copy). A code of another holder is NotFound, as an
// unknown one.
func (s *Service) Card(ctx context.Context, caller *auth.Claims, subject, code string) (*Card, error) {
	const op = "wallet.Card"
	if err := consent.SubjectOnly(caller, subject); err != nil {
		return nil, govx.E(op, err)
	}
	rec, err := s.lookupCode(ctx, code)
	if err != nil || rec.subject != subject {
		return nil, govx.E(op, govx.Errorf(govx.KindNotFound, "code_not_found", "your wallet holds no licence with that code"))
	}
	c, err := s.consentOf(ctx, subject)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if c == nil || c.Status != consent.Active {
		return nil, govx.E(op, govx.Errorf(govx.KindForbidden, CodeWalletClosed, "your wallet is not open: open or resume it first"))
	}
	token, err := s.token()
	if err != nil {
		return nil, govx.E(op, err)
	}
	card, err := s.card(ctx, token, c.ID, subject, rec.typ, rec.number)
	return card, govx.E(op, err)
}

func (s *Service) token() (string, error) {
	scopes := []string{licence.ResourceByHolder, legalentity.ResourceBasic}
	for _, t := range licence.Types {
		scopes = append(scopes, licence.Resource(t))
	}
	return s.cfg.Tokens(scopes)
}

// fetchLicence asks the register for licence number of type typ, as the
// wallet, under consent consentID.
func (s *Service) fetchLicence(ctx context.Context, token, consentID, typ, number string) (licence.Licence, string, string, error) {
	ans, err := s.cfg.Exchange.Query(ctx, token, licence.Resource(typ), exchange.Query{Key: number, Purpose: PurposeCode, Consent: consentID,
		Fields: []string{"id", "type", "number", "holder_name", "holder_code", "authority", "authority_code", "issue_date",
			"valid_from", "valid_until", "status", "items", "seal_key_id", "seal"}})
	if err != nil {
		return licence.Licence{}, "", "", err
	}
	l, err := licence.FromRecord(ans.Record)
	return l, ans.Receipt.Provider, ans.Receipt.RequestID, err
}

func (s *Service) card(ctx context.Context, token, consentID, subject, typ, number string) (*Card, error) {
	l, issuer, reqID, err := s.fetchLicence(ctx, token, consentID, typ, number)
	if err != nil {
		return nil, err
	}
	if l.HolderCode != subject {
		return nil, govx.Errorf(govx.KindInternal, "licence_holder_mismatch", "the register answered a licence of another holder")
	}
	card := &Card{Type: l.Type, Number: l.Number, HolderName: l.HolderName, Authority: l.Authority, AuthCode: l.AuthorityCode,
		IssueDate: l.IssueDate.Format(time.DateOnly), ValidFrom: l.ValidFrom.Format(time.DateOnly), ValidUntil: l.ValidUntil.Format(time.DateOnly),
		Status: l.EffectiveStatus(s.cfg.Now()), Items: l.Items, Seal: SealValid, Issuer: issuer, RequestID: reqID, holderCode: l.HolderCode}
	if err := s.cfg.Seals.Verify(ctx, issuer, l); err != nil {
		if govx.ErrorKind(err) != govx.KindInvalid {
			return nil, err
		}
		card.Seal, card.SealCode = SealInvalid, govx.ErrorCode(err)
	}
	if card.Code, err = s.codeFor(ctx, subject, typ, number, issuer); err != nil {
		return nil, err
	}
	card.VerifyURL = s.cfg.VerifyBase + "/" + card.Code
	return card, nil
}

func (s *Service) entity(ctx context.Context, token, consentID, uscc string) (*Entity, error) {
	ans, err := s.cfg.Exchange.Query(ctx, token, legalentity.ResourceBasic, exchange.Query{Key: uscc, Purpose: PurposeCode, Consent: consentID,
		Fields: []string{"uscc", "name", "entity_type", "status", "established_on", "registration_authority", "address"}})
	if err != nil {
		return nil, err
	}
	str := func(k string) string { v, _ := ans.Record[k].(string); return v }
	return &Entity{USCC: str("uscc"), Name: str("name"), EntityType: str("entity_type"), Status: str("status"),
		EstablishedOn: str("established_on"), RegistrationAuthorty: str("registration_authority"), Address: str("address"),
		RequestID: ans.Receipt.RequestID}, nil
}

// Verification codes: 50 random bits written as ten characters of
// Crockford's base32 alphabet (no I, L, O, U), shown in two groups of
// five. Read back, case, spaces and dashes do not matter, and I, L and O
// are read as 1, 1 and 0.
const codeLen = 10

var codeEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

func newCode() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return codeEncoding.EncodeToString(b[:])[:codeLen]
}

// NormaliseCode reads a code as a person may type it; ok is false when it
// cannot be a code.
func NormaliseCode(in string) (string, bool) {
	if len(in) > 40 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch r {
		case ' ', '-':
			continue
		case 'I', 'L':
			r = '1'
		case 'O':
			r = '0'
		}
		if !strings.ContainsRune("0123456789ABCDEFGHJKMNPQRSTVWXYZ", r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != codeLen {
		return "", false
	}
	return b.String(), true
}

// FormatCode shows a code in two groups of five.
func FormatCode(code string) string {
	if len(code) != codeLen {
		return code
	}
	return code[:5] + "-" + code[5:]
}

// codeFor returns the holder's code for a licence, making one the first
// time.
func (s *Service) codeFor(ctx context.Context, subject, typ, number, issuer string) (string, error) {
	const op = "wallet.codeFor"
	for range 3 {
		var code string
		err := s.cfg.Pool.QueryRow(ctx, `INSERT INTO wallet.codes (code, subject, licence_type, number, issuer, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (subject, number) DO UPDATE SET issuer = EXCLUDED.issuer
			RETURNING code`, newCode(), subject, typ, number, issuer, s.cfg.Now().UTC()).Scan(&code)
		if err != nil {
			err = postgres.Translate(op, err, "")
			if govx.ErrorCode(err) == postgres.CodeAlreadyExists {
				continue // the random code was taken: another draw
			}
			return "", err
		}
		return code, nil
	}
	return "", govx.E(op, govx.Errorf(govx.KindInternal, "code_exhausted", "no free verification code was drawn"))
}

type codeRecord struct {
	subject, typ, number, issuer string
}

func (s *Service) lookupCode(ctx context.Context, code string) (codeRecord, error) {
	var rec codeRecord
	code, ok := NormaliseCode(code)
	if !ok {
		return rec, govx.Errorf(govx.KindNotFound, "code_not_found", "no such code")
	}
	err := s.cfg.Pool.QueryRow(ctx, `SELECT subject, licence_type, number, issuer FROM wallet.codes WHERE code = $1`, code).
		Scan(&rec.subject, &rec.typ, &rec.number, &rec.issuer)
	if errors.Is(err, pgx.ErrNoRows) {
		return rec, govx.Errorf(govx.KindNotFound, "code_not_found", "no such code")
	}
	return rec, postgres.Translate("wallet.lookupCode", err, "")
}

// VerifyURL is the path a code leads to.
func (s *Service) VerifyURL(code string) string { return s.cfg.VerifyBase + "/" + code }
