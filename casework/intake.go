package casework

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"govx"
	"govx/consent"
	"govx/internal/auth"
	"govx/internal/workday"
)

// Codes of Open's refusals of a field, for callers that show the refusal
// beside the field (the identifiers' are govx.CodeInvalidIDNumber and
// govx.CodeInvalidUSCC).
const (
	CodeLicenceNumberInvalid = "licence_number_invalid"
	CodeNoteInvalid          = "note_invalid"
)

// OpenInput is what the clerk types in to open a case.
type OpenInput struct {
	Item          string `json:"item"`
	Applicant     Party  `json:"applicant"`
	LicenceNumber string `json:"licence_number,omitempty"`
	Note          string `json:"note,omitempty"`
	// FormID makes a double submission open one case.
	FormID string `json:"form_id,omitempty"`
}

// Open opens a case for the applicant, records the applicant's consent to
// the lookups the item needs, and verifies every material the exchange
// holds, in parallel. The case is a draft until Accept.
func (s *Service) Open(ctx context.Context, clerk *auth.Claims, in OpenInput) (*Case, error) {
	const op = "casework.Open"
	if err := need(clerk, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	if strings.TrimSpace(in.Item) == "" {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "field_required", "item is required: the code of the service item applied for"))
	}
	it, err := s.cfg.Items.Item(in.Item)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if !slices.Contains(it.IntakeDepts, clerk.Dept) {
		return nil, govx.E(op, forbidden("item_not_handled", "%s is not taken in at a window of %s", it.Name, clerk.Dept))
	}
	if it.DecidedAt != "" && s.fed == nil {
		return nil, govx.E(op, govx.Errorf(govx.KindUnavailable, "federation_unavailable",
			"%s is decided at node %s, and this node is not linked to it", it.Name, it.DecidedAt))
	}
	in.Applicant.Kind = it.Applicant
	if err := in.Applicant.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	in.LicenceNumber = strings.ToUpper(strings.TrimSpace(in.LicenceNumber))
	if it.NeedsLicenceNumber && !validLicenceNumber(in.LicenceNumber) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, CodeLicenceNumberInvalid, "type in the number printed on the current licence (letters and digits, up to 40)"))
	}
	if !it.NeedsLicenceNumber {
		in.LicenceNumber = ""
	}
	if utf8.RuneCountInString(in.Note) > 1000 || !utf8.ValidString(in.Note) || strings.ContainsRune(in.Note, 0) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, CodeNoteInvalid, "the note is at most 1000 characters"))
	}
	if in.FormID != "" && !validFormID(in.FormID) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "form_id_invalid", "the form id is 8 to 64 letters, digits, - or _"))
	}
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	c := &Case{Item: it.Code, Status: Draft, Channel: ChannelWindow, Applicant: in.Applicant, LicenceNumber: in.LicenceNumber, IntakeDept: clerk.Dept,
		Clerk: clerk.Subject, Note: in.Note, CreatedAt: now, UpdatedAt: now}
	if it.DecidedAt != "" {
		c.Remote = &Remote{Node: it.DecidedAt, Item: it.DecidedAs}
	}
	for _, m := range it.Materials {
		st := Missing
		if m.Source == FromExchange {
			st = Pending
		}
		c.Materials = append(c.Materials, Material{Code: m.Code, State: st})
	}
	actor := ActorOf(clerk)
	created, fresh, err := s.store.Create(ctx, c, in.FormID, actor, it.Name)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if !fresh {
		return created, nil // the same form again: the case it opened, as it is now
	}
	c = created
	ids, err := s.recordConsents(ctx, clerk, c, it, now)
	if err != nil {
		// The case stays, as a draft the clerk can take up again.
		return c, govx.E(op, err)
	}
	c, err = s.store.Update(ctx, c.ID, "", 0, actor, "consent", now, func(c *Case) ([]event, error) {
		c.Consents = ids
		return []event{{action: "consent_recorded", detail: strings.Join(ids, ", ")}}, nil
	})
	if err != nil {
		return nil, govx.E(op, err)
	}
	c, err = s.verify(ctx, actor, c)
	return c, govx.E(op, err)
}

func validLicenceNumber(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}

func validFormID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// recordConsents records, as the applicant agreed at the window, one
// consent per data subject covering exactly the lookups the item makes.
func (s *Service) recordConsents(ctx context.Context, clerk *auth.Claims, c *Case, it *Item, now time.Time) ([]string, error) {
	bySubject := map[string][]consent.Item{}
	var order []string
	for _, m := range it.Materials {
		if m.Source != FromExchange {
			continue
		}
		subj, _ := subjectOf(c, m.About)
		if _, ok := bySubject[subj]; !ok {
			order = append(order, subj)
		}
		bySubject[subj] = append(bySubject[subj], consent.Item{Resource: m.Resource, Fields: m.Fields})
	}
	var ids []string
	for _, subj := range order {
		cs, err := s.consents.Create(ctx, clerk, consent.Request{Subject: subj, Consumer: clerk.Dept, CaseID: c.ID,
			Items: bySubject[subj], PurposeCode: "case", Purpose: fmt.Sprintf("%s (case %s): verify the applicant's materials", it.Name, c.ID),
			ValidFrom: now, ValidUntil: now.AddDate(0, 0, s.cfg.ConsentDays), Fetch: consent.Repeated})
		if err != nil {
			return ids, err
		}
		ids = append(ids, cs.ID)
	}
	return ids, nil
}

// Accept accepts a draft: uploaded materials are received, missing
// (accepted "with gaps" under a supplement deadline) or replaced by a
// written commitment. The case goes to every reviewing department.
func (s *Service) Accept(ctx context.Context, clerk *auth.Claims, id string, in ChangeInput, choices map[string]Choice) (*Case, error) {
	const op = "casework.Accept"
	if err := need(clerk, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.change(ctx, clerk, id, in, "accept", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if c.IntakeDept != clerk.Dept {
			return nil, forbidden("not_your_window", "case %s was taken in at %s", c.ID, c.IntakeDept)
		}
		if err := c.accept(it, choices, s.clock, now); err != nil {
			return nil, err
		}
		var gaps, pending, commits []string
		for _, m := range c.Materials {
			switch m.State {
			case Missing:
				gaps = append(gaps, m.Code)
			case Pending:
				pending = append(pending, m.Code)
			case Committed:
				commits = append(commits, m.Code)
			}
		}
		detail := "to " + strings.Join(it.Departments, ", ")
		if len(gaps) > 0 {
			detail += "; with gaps: " + strings.Join(gaps, ", ") + " due " + workday.Date(*c.SupplementDue)
		}
		if len(pending) > 0 {
			detail += "; verification pending: " + strings.Join(pending, ", ")
		}
		if len(commits) > 0 {
			detail += "; commitments: " + strings.Join(commits, ", ")
		}
		return []event{{action: "accepted", detail: detail}}, nil
	})
	if err == nil && c.Remote != nil {
		// Accepted here whether or not the deciding node takes it now: a
		// submission that fails is on the case, and tried again.
		if sc, serr := s.submit(ctx, c.ID, ActorOf(clerk)); sc != nil {
			c = sc
		} else {
			s.cfg.Logger.Warn("cross-region case: submission not recorded", "case", c.ID, "err", serr)
		}
	}
	return c, govx.E(op, err)
}

// Supplied records at the window that the applicant handed in what was
// asked for (or what was missing at acceptance).
func (s *Service) Supplied(ctx context.Context, clerk *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.Supplied"
	if err := need(clerk, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	if c, err := s.store.Get(ctx, id); err == nil && c.Remote.Submitted() && c.IntakeDept == clerk.Dept {
		// Decided at another node: recorded there, and mirrored here.
		c, err = s.suppliedRemote(ctx, clerk, s.refreshed(ctx, c), in)
		return c, govx.E(op, err)
	}
	c, err := s.change(ctx, clerk, id, in, "supplied", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if c.IntakeDept != clerk.Dept {
			return nil, forbidden("not_your_window", "case %s was taken in at %s", c.ID, c.IntakeDept)
		}
		return s.supply(c, it, now)
	})
	return c, govx.E(op, err)
}

// suppliedRemote records at the node that decides case c that the
// applicant handed in what was asked for, and mirrors its answer.
func (s *Service) suppliedRemote(ctx context.Context, clerk *auth.Claims, c *Case, in ChangeInput) (*Case, error) {
	if in.Version != 0 && in.Version != c.Version {
		return nil, govx.Errorf(govx.KindConflict, "case_changed", "case %s changed while you were looking at it; reload it", c.ID)
	}
	if c.Status != Supplement && c.SupplementDue == nil {
		return nil, govx.Errorf(govx.KindConflict, "not_waiting_for_supplement", "case %s is %s, not waiting for supplements", c.ID, c.Status)
	}
	var st RemoteStatus
	if err := s.callRemote(ctx, c, KindSupplied, clerk.Subject, CaseRef{CaseID: c.ID}, &st); err != nil {
		return nil, err
	}
	now := s.now()
	return s.store.Update(ctx, c.ID, in.FormID, 0, ActorOf(clerk), "supplied", now, func(c *Case) ([]event, error) {
		evs := []event{{action: "supplied", detail: "recorded at " + c.Remote.Node}}
		for i := range c.Materials {
			if c.Materials[i].State == Missing {
				c.Materials[i].State, c.Materials[i].Reason = Received, "supplied"
			}
		}
		if c.Status == Supplement {
			// The mirror would tell it again: it is told once, as the clerk's.
			c.Status = st.Status
		}
		return append(evs, s.mirror(c, &st, now)...), nil
	})
}

// supply records on c that the applicant handed in what was asked for, or
// what was missing at acceptance.
func (s *Service) supply(c *Case, it *Item, now time.Time) ([]event, error) {
	if c.Status == InReview && c.SupplementDue != nil {
		// Gaps from acceptance closed while the review goes on.
		for i := range c.Materials {
			if c.Materials[i].State == Missing {
				c.Materials[i].State, c.Materials[i].Reason = Received, "supplied"
			}
		}
		c.SupplementDue = nil
		return []event{{action: "supplied", detail: "materials missing at acceptance"}}, nil
	}
	if err := c.supplied(s.clock, it, now); err != nil {
		return nil, err
	}
	return []event{{action: "supplied", detail: fmt.Sprintf("clock runs again; due %s", workday.Date(*c.Due))}}, nil
}
