package node

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/bus"
	"govx/casework"
	"govx/casework/web"
	"govx/catalog"
	"govx/exchange"
	"govx/exchange/ledger"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/internal/ratelimit"
	"govx/internal/redis"
	"govx/internal/workday"
)

// startCasework starts the one-window case workflow beside the exchange:
// it asks the exchange's own query API (at base) like any consumer, with
// tokens minted for the clerk at the window, records consents through the
// consent store, and orders licences through the same API. Case events go
// out through its outbox; change events of the registers flag the cases
// that relied on the records.
//
// It connects to the bus as its own principal, to write its own events.
func (n *Node) startCasework(ctx, runCtx context.Context, base string, codec *avro.Codec,
	mux *http.ServeMux, verifier *auth.Verifier, rdb *redis.Client, audit *ledger.Ledger) error {
	kcfg, err := n.KafkaConfig(bus.CaseworkPrincipal)
	if err != nil {
		return err
	}
	prod, err := n.producer(kcfg)
	if err != nil {
		return err
	}
	client, err := exchange.NewClient(base, nil)
	if err != nil {
		return err
	}
	key := n.Key
	tokens := func(a casework.Actor, scopes []string) (string, error) {
		role := "service"
		if a.Role == casework.RoleClerk {
			role = a.Role
		}
		return key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: a.Subject, Dept: a.Dept, Role: role,
			Scopes: scopes, TTL: 2 * time.Minute})
	}
	authority, err := licence.NewStore(n.Pool, nil).DefaultAuthority(ctx)
	if err != nil {
		return err
	}
	// Licence orders and case events are signed by the case workflow's own
	// key, published under the intake window's department (the orders'
	// consumer).
	orderSigner, err := n.busSigner(ctx, catalog.NewStore(n.Pool), catalog.DeptServiceCenter, "casework")
	if err != nil {
		return err
	}
	outbox := casework.NewOutbox(n.Pool, codec, n.log)
	outbox.SignWith(orderSigner.Sign) // case events, under the intake window's key
	if err := kafka.EnsureTopics(ctx, kcfg, kafka.Topic{Name: bus.EventTopic(casework.Resource), Partitions: bus.EventPartitions}); err != nil {
		return err
	}
	n.keepRunning(runCtx, "casework outbox relay", func(ctx context.Context) error {
		outbox.Relay(ctx, prod, 0)
		return nil
	})
	store := casework.NewStore(n.Pool, outbox)
	cal, err := workday.New(workday.Config{Holidays: n.cfg.Holidays, Workdays: n.cfg.Workdays})
	if err != nil {
		return fmt.Errorf("case deadlines (GOVX_HOLIDAYS, GOVX_WORKDAYS): %w", err)
	}
	var items *casework.Catalogue
	if n.cfg.CaseItems != nil {
		if items, err = casework.NewCatalogue(n.cfg.CaseItems); err != nil {
			return err
		}
	}
	var fed casework.Federation
	if n.Federation != nil {
		fed = n.Federation
	}
	svc, err := casework.NewService(casework.Config{Store: store, Exchange: client, Tokens: tokens, Consents: n.Consents,
		Seals: n.Seals, Issuer: licenceIssuer{licence.NewIssuer(client, codec, orderSigner), tokens},
		AuthorityCode: authority, Logger: n.log, Now: n.cfg.CaseClock, Items: items, Federation: fed,
		RetryInterval: n.cfg.CaseRetry, Calendar: cal, WarnDays: n.cfg.CaseWarnDays})
	if err != nil {
		return err
	}
	n.Casework = svc
	n.serveCrossRegion(svc)
	// The clerks', reviewers' and supervisors' pages, and the applicants'
	// progress lookup.
	// The public lookup, asked through the page or the JSON API, on any
	// instance, spends from one budget per address and per case number.
	lim, err := ratelimit.New(ratelimit.Config{Redis: rdb, Logger: n.log})
	if err != nil {
		return err
	}
	guard := casework.NewProgressGuard(lim)
	// The case page labels register records from the catalogue's data
	// items; residents and companies see who accessed their data.
	wcfg := web.Config{Verifier: verifier, Logger: n.log, Cases: svc, Refusals: n.refusals, Progress: guard,
		Resources: catalog.NewStore(n.Pool), Accesses: audit}
	wcfg.SecureCookies = n.cfg.secureCookies()
	// The one-click demo sign-in: `govx up` only, and the UI offers it to
	// loopback visitors only.
	if n.cfg.DemoLogin {
		wcfg.DemoUsers = web.DefaultDemoUsers()
		wcfg.Mint = func(u web.DemoUser) (string, error) {
			return n.Key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: u.Subject,
				Dept: u.Dept, Role: u.Role, TTL: 8 * time.Hour})
		}
	}
	ui, err := web.New(wcfg)
	if err != nil {
		return err
	}
	mux.Handle(ui.Prefix(), ui)
	if n.cfg.hallEnabled() {
		if err := n.mountHall(mux, base, svc, verifier, audit, guard); err != nil {
			return err
		}
	}
	cw, err := casework.NewHandler(casework.HandlerConfig{Service: svc, Verifier: verifier, Logger: n.log, Guard: guard, Refusals: n.refusals})
	if err != nil {
		return err
	}
	for _, p := range []string{"/v1/cases", "/v1/cases/", "/v1/case-items", "/v1/review-queue", "/v1/supervision", "/v1/progress/",
		"/v1/applications", "/v1/applications/", "/v1/notifications", "/v1/notification-outbox"} {
		mux.Handle(p, cw)
	}
	n.keepRunning(runCtx, "casework", func(ctx context.Context) error {
		svc.Run(ctx)
		return nil
	})
	// Records the cases relied on that change: a licence revoked, a
	// company deregistered. The case workflow reads them through the
	// exchange's subscription API, as its own subject, so the exchange
	// decides and audits these reads like any consumer's; it has no read
	// of the bus itself.
	watched := caseworkWatched()
	scopes := make([]string, len(watched))
	for i, w := range watched {
		scopes[i] = w.Resource
	}
	subToken := func(context.Context) (string, error) {
		return key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: casework.System.Subject,
			Dept: catalog.DeptServiceCenter, Role: "service", Scopes: scopes, TTL: 30 * time.Minute})
	}
	for _, w := range watched {
		feed := func(ctx context.Context, resource, cursor string, fn func(exchange.Event) error) error {
			return client.Subscribe(ctx, exchange.Subscription{Resource: resource, Purpose: caseworkChangesPurpose,
				Fields: w.Fields, Cursor: cursor, Token: subToken}, fn)
		}
		n.keepRunning(runCtx, "casework changes of "+w.Resource, func(ctx context.Context) error {
			return svc.FollowChanges(ctx, feed, w.Resource)
		})
	}
	return nil
}

// caseworkChangesPurpose is the purpose the case workflow states for its
// subscriptions to register changes.
const caseworkChangesPurpose = "casework:flag cases relying on changed records"

// watchedResource is a resource whose change events flag the cases that
// relied on its records, and the fields the case workflow asks for.
type watchedResource struct {
	Resource string
	Fields   []string
}

// caseworkWatched are the resources whose changes flag cases: a licence
// revoked, a company deregistered. What a case needs of a change is its
// key, type and reason, which every event carries; the record fields
// asked for are none personal (a licence's number and status, a company's
// code and status), so the exchange delivers the changes of licences
// natural persons hold without their consent, and with nothing personal
// in them. Asking for a holder's name or code would withhold each such
// event unless its holder had consented.
func caseworkWatched() []watchedResource {
	var out []watchedResource
	for _, r := range adapterEvents(licence.Department) {
		out = append(out, watchedResource{Resource: r, Fields: []string{"number", "status"}})
	}
	return append(out, watchedResource{Resource: legalentity.ResourceStatus, Fields: []string{"uscc", "status"}})
}

// licenceIssuer orders licences through the exchange's API, like any
// consumer, with a token of the ordering department (the case's intake
// window) for the case workflow's own subject, scoped to licence.issue.
type licenceIssuer struct {
	*licence.Issuer
	tokens func(casework.Actor, []string) (string, error)
}

func (i licenceIssuer) IssueLicence(ctx context.Context, o casework.LicenceOrder) (casework.IssuedLicence, error) {
	token, err := i.tokens(casework.Actor{Subject: o.Caller, Role: casework.System.Role, Dept: o.Consumer}, []string{licence.ResourceIssue})
	if err != nil {
		return casework.IssuedLicence{}, err
	}
	l, err := i.Issue(ctx, token, licence.Order{Reference: o.Reference, Type: o.Type, Variant: o.Variant,
		HolderCode: o.HolderCode, HolderName: o.HolderName, AuthorityCode: o.AuthorityCode, Items: o.Items})
	if err != nil {
		return casework.IssuedLicence{}, err
	}
	return casework.IssuedLicence{Number: l.Number, Authority: l.Authority, ValidUntil: l.ValidUntil.Format(time.DateOnly)}, nil
}
