package casework

import (
	"context"
	"strings"
	"time"

	"govx"
	"govx/internal/auth"
)

// Review records a reviewer's decision for their department.
func (s *Service) Review(ctx context.Context, reviewer *auth.Claims, id string, in ChangeInput, d Decision, reason string) (*Case, error) {
	const op = "casework.Review"
	if err := need(reviewer, RoleReviewer); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.change(ctx, reviewer, id, in, "review", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if err := c.review(reviewer.Dept, reviewer.Subject, d, reason, s.clock, it, now); err != nil {
			return nil, err
		}
		evs := []event{{action: "reviewed", detail: string(d) + detailReason(reason)}}
		switch c.Status {
		case Approved:
			evs = append(evs, event{action: "approved"})
			c.Result = &Result{Kind: "licence"}
			if it.Issues == "" {
				c.Result.Kind = "certificate"
			}
		case Rejected:
			evs = append(evs, event{action: "rejected", detail: reason})
		case Supplement:
			evs = append(evs, event{action: "supplement_requested", detail: reason})
		}
		return evs, nil
	})
	return c, govx.E(op, err)
}

func detailReason(r string) string {
	if r = strings.TrimSpace(r); r != "" {
		return ": " + r
	}
	return ""
}
