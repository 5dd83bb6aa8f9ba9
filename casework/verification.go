package casework

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"govx"
	"govx/exchange"
	"govx/internal/auth"
	"govx/internal/workday"
)

// subjectOf is the data subject and lookup key of an exchange material.
func subjectOf(c *Case, about string) (subject, key string) {
	switch about {
	case AboutApplicant:
		return c.Applicant.IDNumber, c.Applicant.IDNumber
	case AboutCompany:
		return c.Applicant.USCC, c.Applicant.USCC
	case AboutRepresentative:
		return c.Applicant.RepIDNumber, c.Applicant.RepIDNumber
	case AboutLicence:
		// A licence names its holder: the company applying.
		return c.Applicant.Key(), c.LicenceNumber
	}
	return "", ""
}

// Verify asks the exchange, in parallel, for every material of the case
// that is not verified yet, and records what each answer shows. in.Version,
// when set, must be the case's current version: a clerk looking at a
// stale page is told so. The write itself takes no version, since it only
// adds what the registers answered.
func (s *Service) Verify(ctx context.Context, caller *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.Verify"
	if err := need(caller, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.Get(ctx, caller, id)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if in.Version != 0 && c.Version != in.Version {
		return nil, govx.E(op, govx.Errorf(govx.KindConflict, "case_changed",
			"case %s is at version %d, not %d: it changed while you were looking at it; reload it", c.ID, c.Version, in.Version))
	}
	c, err = s.verify(ctx, ActorOf(caller), c)
	return c, govx.E(op, err)
}

// verify verifies c's materials as Verify does, for an actor already
// allowed to.
func (s *Service) verify(ctx context.Context, actor Actor, c *Case) (*Case, error) {
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return nil, err
	}
	results := s.verifyAll(ctx, c, it, actor, "case:"+c.ID, func(m *Material) bool { return c.Status == Draft || m.State == Pending })
	return s.store.Update(ctx, c.ID, "", 0, actor, "verify", s.now(), func(c *Case) ([]event, error) {
		return s.apply(c, it, results, s.now()), nil
	})
}

// verifyAll verifies the exchange materials of c that want says to, in
// parallel, for purpose, and returns their new states by code.
func (s *Service) verifyAll(ctx context.Context, c *Case, it *Item, actor Actor, purpose string, want func(*Material) bool) map[string]Material {
	var scopes []string
	for _, spec := range it.Materials {
		if spec.Source == FromExchange && !slices.Contains(scopes, spec.Resource) {
			scopes = append(scopes, spec.Resource)
		}
	}
	results := map[string]Material{}
	token, err := s.tokens(actor, scopes)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range c.Materials {
		m := &c.Materials[i]
		spec := it.Material(m.Code)
		if spec == nil || spec.Source != FromExchange || !want(m) {
			continue
		}
		if err != nil {
			results[m.Code] = s.pending(*m, err)
			continue
		}
		wg.Add(1)
		go func(m Material, spec *MaterialSpec) {
			defer wg.Done()
			vctx, cancel := context.WithTimeout(ctx, s.cfg.VerifyTimeout)
			defer cancel()
			r := s.verifyOne(vctx, token, c, m, spec, purpose)
			mu.Lock()
			results[m.Code] = r
			mu.Unlock()
		}(*m, spec)
	}
	wg.Wait()
	return results
}

func (s *Service) pending(m Material, err error) Material {
	m.State = Pending
	m.Reason = "the exchange did not answer (" + govx.ErrorMessage(err) + "); retried automatically"
	m.ErrCode = govx.ErrorCode(err)
	m.Attempts++
	back := s.cfg.RetryInterval << min(m.Attempts-1, 5)
	next := s.cfg.Now().Add(min(back, 10*time.Minute))
	m.NextTry = &next
	return m
}

// verifyOne asks the exchange for one material and judges the answer.
func (s *Service) verifyOne(ctx context.Context, token string, c *Case, m Material, spec *MaterialSpec, purpose string) Material {
	_, key := subjectOf(c, spec.About)
	m.Resource, m.Key = spec.Resource, key
	ans, err := s.exchange.Query(ctx, token, spec.Resource, exchange.Query{Key: key, Fields: spec.Fields, Purpose: purpose})
	if err != nil {
		switch govx.ErrorKind(err) {
		case govx.KindUnavailable, govx.KindTimeout, govx.KindInternal:
			return s.pending(m, err)
		}
		m.State, m.ErrCode, m.NextTry = Blocked, govx.ErrorCode(err), nil
		m.Attempts++
		switch govx.ErrorKind(err) {
		case govx.KindNotFound:
			m.Reason = "not found in the register: " + govx.ErrorMessage(err)
		default:
			m.Reason = govx.ErrorMessage(err)
		}
		return m
	}
	at := ans.Receipt.AnsweredAt
	m.State, m.Reason, m.ErrCode, m.NextTry = Verified, "", "", nil
	m.Provider, m.RequestID, m.VerifiedAt = ans.Receipt.Provider, ans.Receipt.RequestID, &at
	m.Attempts++
	m.Facts = facts(ans.Record)
	if reason := s.judge(ctx, c, spec, ans.Record, &m); reason != "" {
		m.State, m.Reason = Blocked, reason
	}
	return m
}

// facts are a record's plain values, for the page.
func facts(rec map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range rec {
		if k == "seal" {
			continue // bytes, checked, not shown
		}
		switch v := v.(type) {
		case string:
			out[k] = v
		case int, int32, int64, float64, bool:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// judge says, in a plain sentence, why a verified record stands in the
// way of the case ("" when it does not).
func (s *Service) judge(ctx context.Context, c *Case, spec *MaterialSpec, rec map[string]any, m *Material) string {
	str := func(k string) string { v, _ := rec[k].(string); return v }
	switch {
	case spec.Resource == "population.identity":
		if st := str("status"); st != "" && st != "normal" {
			return fmt.Sprintf("the population register records this person as %s", strings.ReplaceAll(st, "_", " "))
		}
	case strings.HasPrefix(spec.Resource, "legal-entity."):
		if st := str("status"); st != "" && st != "in_business" {
			r := fmt.Sprintf("the company is %s", st)
			if d := str("status_date"); d != "" {
				r += " since " + d
			}
			if why := str("status_reason"); why != "" {
				r += " (" + why + ")"
			}
			return r
		}
	case strings.HasPrefix(spec.Resource, "licence."):
		if h := str("holder_code"); h != "" && h != c.Applicant.Key() {
			return "the licence is held by another holder, not the applicant"
		}
		switch st := str("status"); {
		case st == "revoked":
			r := "the licence was revoked"
			if at := str("revoked_at"); at != "" {
				r += " on " + at[:min(10, len(at))]
			}
			if why := str("revocation_reason"); why != "" {
				r += " (" + why + ")"
			}
			return r
		case st == "expired":
			return "the licence expired on " + str("valid_until")
		}
		if vu := str("valid_until"); vu != "" && vu < workday.Date(s.cfg.Now()) {
			return "the licence expired on " + vu
		}
		if s.seals != nil {
			if err := s.seals.CheckSeal(ctx, m.Provider, rec); err != nil {
				m.Seal = "invalid"
				return "the issuer's seal does not verify: " + govx.ErrorMessage(err)
			}
			m.Seal = "valid"
		}
	}
	return ""
}

// apply writes verification results into the case. After acceptance a
// result that blocks raises a flag instead of blocking: the case is the
// reviewer's to decide.
func (s *Service) apply(c *Case, it *Item, results map[string]Material, now time.Time) []event {
	var evs []event
	for code, r := range results {
		m := c.Material(code)
		if m == nil {
			continue
		}
		was := m.State
		if !c.Status.Pre() && was == Committed {
			// A commitment re-checked.
			switch r.State {
			case Verified:
				r.Reason = "commitment confirmed through the exchange"
			case Blocked:
				if c.flag(Flag{At: now, Code: "commitment_not_met", Material: code, Message: r.Reason}) {
					evs = append(evs, event{action: "flagged", detail: code + ": " + r.Reason, actor: System})
				}
				r.State = Committed
				r.NextTry = nil
			case Pending:
				r.State = Committed
			}
		} else if !c.Status.Pre() && r.State == Blocked {
			if c.flag(Flag{At: now, Code: "verification_failed", Material: code, Message: r.Reason}) {
				evs = append(evs, event{action: "flagged", detail: code + ": " + r.Reason, actor: System})
			}
		}
		*m = r
		if was != r.State {
			evs = append(evs, event{action: "material_" + r.State, detail: code})
		}
	}
	if len(evs) == 0 {
		// Record the attempt all the same: the clerk asked.
		evs = append(evs, event{action: "verified", detail: "no change"})
	}
	return evs
}
