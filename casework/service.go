package casework

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"govx"
	"govx/consent"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/workday"
)

// Roles of the people who work cases.
const (
	RoleClerk      = consent.RoleClerk // at the window: opens, accepts, delivers
	RoleReviewer   = "reviewer"        // in a department's back office: decides
	RoleSupervisor = "supervisor"      // watches deadlines and figures
	// RoleGateway is a mail and SMS gateway's service account: it reads
	// the notifications' outbox (NotificationOutbox).
	RoleGateway = "gateway"
)

// Exchange asks the exchange for one record. *exchange.Client satisfies it.
type Exchange interface {
	Query(ctx context.Context, token, resource string, q exchange.Query) (*exchange.Answer, error)
}

// Consents records the applicant's consent at the window. *consent.Store
// satisfies it.
type Consents interface {
	Create(ctx context.Context, caller *auth.Claims, r consent.Request) (*consent.Consent, error)
}

// Tokens mints the bearer token a verification is asked with: for the
// actor (the clerk at the window, or System for retries on behalf of the
// intake department), with the resources as scopes.
type Tokens func(actor Actor, scopes []string) (string, error)

// Seals checks a licence record's issuer seal (the record as the exchange
// answered it) against the keys of issuer, the department that answered it
// (the receipt's provider: "licensing" here, "guangzhou/licensing" at
// another node). It returns nil when the seal is valid.
// *licence.Seals satisfies it.
type Seals interface {
	CheckSeal(ctx context.Context, issuer string, record map[string]any) error
}

// LicenceOrder is what an approved case asks the licensing department to
// issue. Reference (the case number) makes a retried order idempotent.
type LicenceOrder struct {
	Reference     string
	Consumer      string // the department ordering: the intake window
	Caller        string
	Type          string
	Variant       int
	HolderCode    string
	HolderName    string
	AuthorityCode string
	Items         map[string]string
}

// IssuedLicence is the licence issued on an order.
type IssuedLicence struct {
	Number     string
	Authority  string
	ValidUntil string // YYYY-MM-DD
}

// Issuer issues licences through the licensing department's adapter.
type Issuer interface {
	IssueLicence(ctx context.Context, o LicenceOrder) (IssuedLicence, error)
}

// Config is what the case workflow works through and how it keeps time.
type Config struct {
	// The parts of govx the case workflow works through. Store, Exchange,
	// Tokens and Consents are required.
	Store    *Store
	Exchange Exchange
	Tokens   Tokens
	Consents Consents
	Seals    Seals  // nil: licence seals are not checked (shown as unchecked)
	Issuer   Issuer // nil: approved licence cases wait for issuing
	// Federation carries cross-region cases to the nodes that decide
	// them and back (crossregion.go); nil takes in no item decided
	// elsewhere.
	Federation Federation
	// RemoteIntakeDept is the department of this node that orders the
	// licences of cases taken in at other nodes' windows (default the
	// service center, which holds the grant to order them).
	RemoteIntakeDept string
	// RemotePoll is how often the status of a cross-region case is read
	// again from the node that decides it while it is open (default 1 min).
	RemotePoll time.Duration

	Items    *Catalogue // default NewCatalogue(DemoItems())
	Calendar *workday.Calendar
	// WarnDays: a case turns yellow when this many working days or fewer
	// remain (default 1).
	WarnDays int
	// SupplementDays is how many working days an applicant has to hand in
	// what was missing at acceptance (default 5).
	SupplementDays int
	// RetryInterval is how soon a verification the exchange did not
	// answer is tried again (default 30 s; it backs off to 10 min).
	RetryInterval time.Duration
	// RecheckAfter is how soon after acceptance a commitment standing in
	// for a register record is checked through the exchange (default 1 h).
	RecheckAfter time.Duration
	// SweepInterval is how often deadlines are swept (default 1 min).
	SweepInterval time.Duration
	// ConsentDays is how long the consent recorded at intake is valid
	// (default 180 days: the case and re-checks after it).
	ConsentDays int
	// VerifyTimeout bounds one verification (default 5 s).
	VerifyTimeout time.Duration
	// MaxUpload is the largest file an online applicant may upload, in
	// bytes (default DefaultMaxUpload, 5 MiB).
	MaxUpload int64
	// PreviewConsentTTL is how long an online applicant's consent to the
	// preview of their facts runs (default DefaultPreviewConsentTTL).
	PreviewConsentTTL time.Duration
	// AuthorityCode is the USCC of the authority that issues licences on
	// approved cases.
	AuthorityCode string
	Now           func() time.Time
	Logger        *slog.Logger // default slog.Default()
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if c.Store == nil || c.Exchange == nil || c.Tokens == nil || c.Consents == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "casework: a store, the exchange, tokens and consents are needed")
	}
	if c.Items == nil {
		items, err := NewCatalogue(DemoItems())
		if err != nil {
			return err
		}
		c.Items = items
	}
	if c.Calendar == nil {
		c.Calendar = workday.Default()
	}
	if c.WarnDays == 0 {
		c.WarnDays = 1
	}
	if c.SupplementDays == 0 {
		c.SupplementDays = 5
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = 30 * time.Second
	}
	if c.RecheckAfter == 0 {
		c.RecheckAfter = time.Hour
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Minute
	}
	if c.ConsentDays == 0 {
		c.ConsentDays = 180
	}
	if c.RemoteIntakeDept == "" {
		c.RemoteIntakeDept = DeptServiceCenter
	}
	if c.RemotePoll == 0 {
		c.RemotePoll = time.Minute
	}
	if c.VerifyTimeout == 0 {
		c.VerifyTimeout = 5 * time.Second
	}
	if c.MaxUpload == 0 {
		c.MaxUpload = DefaultMaxUpload
	}
	if c.PreviewConsentTTL == 0 {
		c.PreviewConsentTTL = DefaultPreviewConsentTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.WarnDays < 0 || c.SupplementDays < 0 || c.RetryInterval < 0 || c.RecheckAfter < 0 || c.ConsentDays < 0 || c.RemotePoll < 0 ||
		c.MaxUpload < 0 || c.PreviewConsentTTL < 0 {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "casework: intervals and day counts must be positive")
	}
	return nil
}

// Service is the case workflow. Its methods are filed by stage: intake.go
// (open, accept, supplied), verification.go (through the exchange),
// review.go, issuing.go (issue, deliver), queries.go (what those who work
// cases read), applicant.go (progress lookup, rating) and background.go
// (register changes, retries, the deadline sweep). Every change to a case
// goes through change, below.
type Service struct {
	cfg      Config
	store    *Store
	exchange Exchange
	tokens   Tokens
	consents Consents
	seals    Seals
	issuer   Issuer
	fed      Federation
	clock    *Clock
}

// NewService returns the case workflow; Run runs its background work.
func NewService(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Federation != nil {
		for _, it := range cfg.Items.All() {
			if it.DecidedAt == cfg.Federation.Name() {
				return nil, govx.Errorf(govx.KindInvalid, "config_invalid", "casework: item %s is decided at this node, %s: it names no node", it.Code, it.DecidedAt)
			}
		}
	}
	cfg.Store.notices = renderNotice(cfg.Items)
	return &Service{cfg: cfg, store: cfg.Store, exchange: cfg.Exchange, tokens: cfg.Tokens, consents: cfg.Consents, seals: cfg.Seals,
		issuer: cfg.Issuer, fed: cfg.Federation, clock: &Clock{cal: cfg.Calendar, warnDays: cfg.WarnDays, supplementDays: cfg.SupplementDays,
			recheck: cfg.RecheckAfter}}, nil
}

// Items is the catalogue of service items.
func (s *Service) Items() *Catalogue { return s.cfg.Items }

// Clock is the deadline clock.
func (s *Service) Clock() *Clock { return s.clock }

// Now is the service's clock reading.
func (s *Service) Now() time.Time { return s.cfg.Now() }

// ActorOf is the actor a token names.
func ActorOf(c *auth.Claims) Actor { return Actor{Subject: c.Subject, Role: c.Role, Dept: c.Dept} }

func forbidden(code, format string, args ...any) error {
	return govx.Errorf(govx.KindForbidden, code, format, args...)
}

func need(c *auth.Claims, roles ...string) error {
	if c == nil {
		return govx.Errorf(govx.KindUnauthenticated, "token_missing", "sign in first")
	}
	if !slices.Contains(roles, c.Role) {
		return forbidden("role_forbidden", "this needs the role %s; you are %q", strings.Join(roles, " or "), c.Role)
	}
	if c.Dept == "" && c.Role != RoleSupervisor {
		return forbidden("department_missing", "your token names no department (dept claim)")
	}
	return nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// ChangeInput is a form that changes a case: the version the user saw
// (0: whichever is current) and the form's id (double submission).
type ChangeInput struct {
	Version int    `json:"version"`
	FormID  string `json:"form_id,omitempty"`
}

func (s *Service) change(ctx context.Context, caller *auth.Claims, id string, in ChangeInput, action string,
	fn func(c *Case, it *Item, now time.Time) ([]event, error)) (*Case, error) {
	if in.FormID != "" && !validFormID(in.FormID) {
		return nil, govx.Errorf(govx.KindInvalid, "form_id_invalid", "the form id is 8 to 64 letters, digits, - or _")
	}
	now := s.now()
	c, err := s.store.Update(ctx, id, in.FormID, in.Version, ActorOf(caller), action, now, func(c *Case) ([]event, error) {
		it, err := s.cfg.Items.Item(c.Item)
		if err != nil {
			return nil, err
		}
		evs, err := fn(c, it, now)
		if err != nil || len(evs) == 0 {
			return evs, err
		}
		return append(evs, s.tick(c, now)...), nil
	})
	if err != nil {
		return nil, err
	}
	if c.Status == Approved && (c.Result == nil || c.Result.IssuedAt == nil) && c.Remote == nil {
		return s.issue(ctx, c.ID)
	}
	return c, nil
}

// tick brings the case's colour up to date; turning yellow or red is an
// event of its own.
func (s *Service) tick(c *Case, now time.Time) []event {
	col := s.clock.Colour(c, now)
	if c.Status.Closed() && c.ClosedAt != nil {
		c.Took = s.clock.WorkingDays(c, *c.ClosedAt)
	}
	if col == c.Colour {
		return nil
	}
	c.Colour = col
	if col == Yellow || col == Red {
		return []event{{action: "deadline." + col, detail: "due " + workday.Date(*c.Due), actor: System}}
	}
	return nil
}
