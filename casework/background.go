package casework

import (
	"context"
	"fmt"
	"strings"
	"time"

	"govx"
	"govx/exchange"
)

// RecordChanged tells the case workflow that a provider changed a record
// (a change event on the bus). Open cases that relied on a licence now
// revoked are flagged for their reviewers; drafts see the material
// blocked. The same change told twice changes nothing the second time.
func (s *Service) RecordChanged(ctx context.Context, resource, key, eventType, reason string) error {
	if !strings.HasSuffix(eventType, ".revoked") && !strings.HasSuffix(eventType, ".deregistered") {
		return nil
	}
	ids, err := s.store.relyingOn(ctx, ref(resource, key))
	if err != nil {
		return govx.E("casework.RecordChanged", err)
	}
	for _, id := range ids {
		now := s.now()
		_, err := s.store.Update(ctx, id, "", 0, System, "flag", now, func(c *Case) ([]event, error) {
			var evs []event
			for i := range c.Materials {
				m := &c.Materials[i]
				if register(m.Resource) != register(resource) || m.Key != key {
					continue
				}
				msg := fmt.Sprintf("%s %s was %s after it was checked", resource, key, eventType[strings.LastIndex(eventType, ".")+1:])
				if reason != "" {
					msg += ": " + reason
				}
				if c.Status.Pre() {
					if m.State == Blocked && m.Reason == msg {
						continue // the same change told again
					}
					m.State, m.Reason = Blocked, msg
					evs = append(evs, event{action: "material_blocked", detail: m.Code})
					continue
				}
				if c.flag(Flag{At: now, Code: "record_changed", Material: m.Code, Message: msg}) {
					evs = append(evs, event{action: "flagged", detail: m.Code + ": " + msg})
				}
			}
			return evs, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ChangeFeed delivers the change events of a register resource, in
// order, from cursor (an event's ID, exchange.FromStart, or "" for from
// now on), calling fn with each until ctx ends or fn fails:
// exchange.Client.Subscribe with the case workflow's own token, so that
// the exchange decides and audits these reads as any consumer's. It
// returns fn's error, or why the subscription ended for good.
type ChangeFeed func(ctx context.Context, resource, cursor string, fn func(exchange.Event) error) error

// FollowChanges records the change events of resource (RecordChanged) as
// feed delivers them, until ctx ends or feed gives up. It resumes after
// the last event it recorded, whose cursor it keeps in the casework
// schema, and starts from the first event the bus still holds the first
// time. The cursor is saved after the change is recorded: a stop between
// the two tells the change again on the next start, which RecordChanged
// takes as told already.
func (s *Service) FollowChanges(ctx context.Context, feed ChangeFeed, resource string) error {
	const op = "casework.FollowChanges"
	cursor, err := s.store.changeCursor(ctx, resource)
	if err != nil {
		return govx.E(op, err)
	}
	if cursor == "" {
		cursor = exchange.FromStart
	}
	return feed(ctx, resource, cursor, func(ev exchange.Event) error {
		if ev.Resource != resource {
			s.cfg.Logger.Warn("casework: change event of another resource skipped", "want", resource, "got", ev.Resource)
		} else if err := s.RecordChanged(ctx, ev.Resource, ev.Key, ev.Type, ev.Reason); err != nil {
			return err
		}
		if ev.ID == "" {
			return nil
		}
		return s.store.saveChangeCursor(ctx, resource, ev.ID, s.now())
	})
}

// RetryDue tries again what is due: verifications the exchange did not
// answer, commitments to re-check, and licences not issued yet. It
// returns how many cases it looked at.
func (s *Service) RetryDue(ctx context.Context) (int, error) {
	ids, err := s.store.due(ctx, s.cfg.Now(), 50)
	if err != nil {
		return 0, govx.E("casework.RetryDue", err)
	}
	for _, id := range ids {
		if err := s.retry(ctx, id); err != nil {
			s.cfg.Logger.Warn("case retry failed", "case", id, "err", err)
		}
	}
	return len(ids), nil
}

func (s *Service) retry(ctx context.Context, id string) error {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return err
	}
	if c.Remote != nil && c.Status != Draft {
		if !c.Remote.Submitted() {
			if c.Remote.NextTry != nil && !c.Remote.NextTry.After(s.cfg.Now()) {
				_, err = s.submit(ctx, id, System)
			}
		} else if c.Remote.NextTry != nil && !c.Remote.NextTry.After(s.cfg.Now()) {
			_, err = s.refresh(ctx, c)
		}
		if err != nil {
			// On the case, and tried again at its next try.
			s.cfg.Logger.Info("cross-region case: deciding node not reached", "case", id, "node", c.Remote.Node, "err", err)
		}
		if c, err = s.store.Get(ctx, id); err != nil {
			return err
		}
	}
	now := s.cfg.Now()
	due := func(m *Material) bool {
		return (m.State == Pending || m.State == Committed) && m.NextTry != nil && !m.NextTry.After(now)
	}
	actor := Actor{Subject: System.Subject, Role: "service", Dept: c.IntakeDept}
	if results := s.verifyAll(ctx, c, it, actor, "case:"+c.ID, due); len(results) > 0 {
		if _, err := s.store.Update(ctx, id, "", 0, System, "retry", s.now(), func(c *Case) ([]event, error) {
			return s.apply(c, it, results, s.now()), nil
		}); err != nil {
			return err
		}
	}
	if c.Status == Approved && (c.Result == nil || c.Result.IssuedAt == nil) && c.Remote == nil {
		_, err := s.issue(ctx, id)
		return err
	}
	return nil
}

// Sweep brings every running case's deadline colour up to date; a case
// turning yellow or red is an event on the bus. It returns how many
// changed colour.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	ids, err := s.store.running(ctx)
	if err != nil {
		return 0, govx.E("casework.Sweep", err)
	}
	n := 0
	for _, id := range ids {
		changed := false
		_, err := s.store.Update(ctx, id, "", 0, System, "sweep", s.now(), func(c *Case) ([]event, error) {
			before := c.Colour
			evs := s.tick(c, s.now())
			if c.Colour != before {
				changed = true
				if len(evs) == 0 {
					evs = []event{{action: "deadline." + orNone(c.Colour), actor: System}}
				}
			}
			return evs, nil
		})
		if err != nil {
			return n, err
		}
		if changed {
			n++
		}
	}
	return n, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Run retries and sweeps until ctx ends.
func (s *Service) Run(ctx context.Context) {
	retry := time.NewTicker(min(s.cfg.RetryInterval, 5*time.Second))
	defer retry.Stop()
	sweep := time.NewTicker(s.cfg.SweepInterval)
	defer sweep.Stop()
	s.Sweep(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			if _, err := s.RetryDue(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("case retries", "err", err)
			}
		case <-sweep.C:
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("deadline sweep", "err", err)
			}
		}
	}
}
