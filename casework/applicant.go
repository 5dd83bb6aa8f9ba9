package casework

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"govx"
	"govx/internal/workday"
)

// Progress is the public lookup: the case number and the last four
// characters of the applicant's ID number or USCC.
func (s *Service) Progress(ctx context.Context, id, last4 string) (*Progress, error) {
	const op = "casework.Progress"
	c, err := s.applicantCase(ctx, id, last4)
	if err != nil {
		return nil, govx.E(op, err)
	}
	c = s.refreshed(ctx, c)
	tl, err := s.store.timeline(ctx, c.ID)
	if err != nil {
		return nil, govx.E(op, err)
	}
	p := &Progress{ID: c.ID, Item: c.Item, Status: c.Status, Colour: s.clock.Colour(c, s.cfg.Now()), Timeline: tl,
		Rated: c.Rating != nil, CanRate: c.Rating == nil && c.Status.Closed()}
	if c.Due != nil {
		p.Due = workday.Date(*c.Due)
	}
	if c.Remote != nil {
		p.DecidedAt = c.Remote.Node
	}
	if r := c.Result; r != nil && r.IssuedAt != nil && r.Number != "" && (c.Status == Ready || c.Status == Delivered) {
		p.Result = &ProgressResult{Kind: r.Kind, Number: r.Number}
	}
	return p, nil
}

// applicantCase is the case with number id whose applicant's identifier
// ends in last4: what the applicant proves they know.
func (s *Service) applicantCase(ctx context.Context, id, last4 string) (*Case, error) {
	last4 = strings.ToUpper(strings.TrimSpace(last4))
	id = strings.ToUpper(strings.TrimSpace(id))
	if !ValidCaseID(id) {
		return nil, govx.Errorf(govx.KindInvalid, "case_id_invalid", "a case number is GX followed by 14 or more digits")
	}
	if len(last4) != 4 {
		return nil, govx.Errorf(govx.KindInvalid, "last4_invalid", "type the last four characters of the applicant's ID number or credit code")
	}
	return s.store.byLast4(ctx, id, last4)
}

// Rate records the applicant's rating (1 to 5, with a comment) of a case
// whose result is out; the case number and the last four characters of
// the applicant's identifier are the proof of being the applicant.
func (s *Service) Rate(ctx context.Context, id, last4 string, score int, comment string) (*Progress, error) {
	const op = "casework.Rate"
	c, err := s.applicantCase(ctx, id, last4)
	if err != nil {
		return nil, govx.E(op, err)
	}
	comment = strings.TrimSpace(comment)
	if score < 1 || score > 5 {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "rating_invalid", "a rating is 1 to 5"))
	}
	if utf8.RuneCountInString(comment) > 500 || !utf8.ValidString(comment) || strings.ContainsRune(comment, 0) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, "comment_invalid", "the comment is at most 500 characters"))
	}
	now := s.now()
	_, err = s.store.Update(ctx, c.ID, "", 0, Actor{Subject: "applicant", Role: "applicant"}, "rate", now, func(c *Case) ([]event, error) {
		if !c.Status.Closed() {
			return nil, govx.Errorf(govx.KindConflict, "not_rateable_yet", "a case is rated once its result is out")
		}
		if c.Rating != nil {
			return nil, govx.Errorf(govx.KindConflict, "already_rated", "this case was already rated")
		}
		c.Rating = &Rating{Score: score, Comment: comment, At: now}
		return []event{{action: "rated", detail: fmt.Sprintf("%d/5", score)}}, nil
	})
	if err != nil {
		return nil, govx.E(op, err)
	}
	return s.Progress(ctx, c.ID, last4)
}
