package main

import (
	"context"
	"fmt"
	"time"

	"govx/adapters/legalentity"
	"govx/adapters/licence"
	"govx/casework"
	"govx/casework/web"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/avro"
	"govx/internal/kafka"
	"govx/internal/workday"
	"govx/schemas"
)

// startCasework starts the one-window case workflow beside the exchange:
// it asks the exchange's own query API (at base) like any consumer, with
// tokens minted for the clerk at the window, records consents through the
// consent store, and issues licences through the licensing department's
// adapter. Case events go out through its outbox; change events of the
// registers flag the cases that relied on the records.
func (m *Main) startCasework(ctx, runCtx context.Context, base string, kcfg kafka.Config, codec *avro.Codec, prod *kafka.Producer,
	h *exchange.Handler, verifier *auth.Verifier) error {
	client, err := exchange.NewClient(base, nil)
	if err != nil {
		return err
	}
	key := m.Key
	tokens := func(a casework.Actor, scopes []string) (string, error) {
		role := "service"
		if a.Role == casework.RoleClerk {
			role = a.Role
		}
		return key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: a.Subject, Dept: a.Dept, Role: role,
			Scopes: scopes, TTL: 2 * time.Minute})
	}
	authority, err := licence.NewStore(m.Pool, nil).DefaultAuthority(ctx)
	if err != nil {
		return err
	}
	outbox := casework.NewOutbox(m.Pool, codec, m.log)
	if err := kafka.EnsureTopics(ctx, kcfg, kafka.Topic{Name: exchange.EventTopic(casework.Resource), Partitions: exchange.EventPartitions}); err != nil {
		return err
	}
	m.keepRunning(runCtx, "casework outbox relay", func(ctx context.Context) error {
		outbox.Relay(ctx, prod, 0)
		return nil
	})
	store := casework.NewStore(m.Pool, outbox)
	cal, err := workday.New(workday.Config{Holidays: m.cfg.Holidays, Workdays: m.cfg.Workdays})
	if err != nil {
		return fmt.Errorf("case deadlines (GOVX_HOLIDAYS, GOVX_WORKDAYS): %w", err)
	}
	svc, err := casework.NewService(casework.Config{AuthorityCode: authority, Logger: m.log, Now: m.cfg.CaseClock,
		RetryInterval: m.cfg.CaseRetry, Calendar: cal, WarnDays: m.cfg.CaseWarnDays},
		casework.Deps{Store: store, Exchange: client, Tokens: tokens, Consents: m.Consents,
			Seals: licence.NewSealChecker(base, nil), Issuer: licenceIssuer{licence.NewIssuer(m.Requester, codec, licence.IssuerConfig{})}})
	if err != nil {
		return err
	}
	m.Casework = svc
	// The clerks', reviewers' and supervisors' pages, and the applicants'
	// progress lookup.
	wcfg := web.Config{Verifier: verifier, Logger: m.log, Cases: svc}
	if m.cfg.Demo {
		wcfg.DemoUsers = web.DefaultDemoUsers()
		wcfg.Mint = func(u web.DemoUser) (string, error) {
			return m.Key.Mint(auth.TokenSpec{Issuer: Issuer, Audience: Audience, Subject: u.Subject,
				Dept: u.Dept, Role: u.Role, TTL: 8 * time.Hour})
		}
	}
	ui, err := web.New(wcfg)
	if err != nil {
		return err
	}
	h.Handle(ui.Prefix(), ui)
	m.keepRunning(runCtx, "casework", func(ctx context.Context) error {
		svc.Run(ctx)
		return nil
	})
	// Records the cases relied on that change: a licence revoked, a
	// company deregistered.
	var topics []string
	for _, typ := range licence.Types {
		topics = append(topics, exchange.EventTopic(licence.Resource(typ)))
	}
	topics = append(topics, exchange.EventTopic(legalentity.ResourceStatus))
	ts := make([]kafka.Topic, len(topics))
	for i, t := range topics {
		ts[i] = kafka.Topic{Name: t, Partitions: exchange.EventPartitions}
	}
	if err := kafka.EnsureTopics(ctx, kcfg, ts...); err != nil {
		return err
	}
	m.keepRunning(runCtx, "casework event consumer", func(ctx context.Context) error {
		cons, err := kafka.NewConsumer(kcfg, kafka.ConsumerConfig{GroupID: "govx-casework", Topics: topics, MaxInFlight: 8, Logger: m.log})
		if err != nil {
			return err
		}
		defer cons.Close()
		return cons.Run(ctx, func(ctx context.Context, msg kafka.Message) error {
			var ev exchange.Event
			if err := codec.UnmarshalAs(ctx, schemas.Event, msg.Value, &ev); err != nil {
				m.log.Warn("casework: undecodable change event skipped", "topic", msg.Topic, "err", err)
				return nil
			}
			return svc.RecordChanged(ctx, ev.Resource, ev.Key, ev.Type, ev.Reason)
		})
	})
	return nil
}

// licenceIssuer orders licences from the licensing department's adapter
// over the bus, through the exchange instance's requester.
type licenceIssuer struct{ *licence.Issuer }

func (i licenceIssuer) IssueLicence(ctx context.Context, o casework.LicenceOrder) (casework.IssuedLicence, error) {
	l, err := i.Issue(ctx, o.Consumer, o.Caller, licence.Order{Reference: o.Reference, Type: o.Type, Variant: o.Variant,
		HolderCode: o.HolderCode, HolderName: o.HolderName, AuthorityCode: o.AuthorityCode, Items: o.Items})
	if err != nil {
		return casework.IssuedLicence{}, err
	}
	return casework.IssuedLicence{Number: l.Number, Authority: l.Authority, ValidUntil: l.ValidUntil.Format(time.DateOnly)}, nil
}
