package casework

import (
	"context"
	"time"

	"govx"
	"govx/internal/auth"
)

// Deliver records that the result was handed to the applicant at the
// window.
func (s *Service) Deliver(ctx context.Context, clerk *auth.Claims, id string, in ChangeInput) (*Case, error) {
	const op = "casework.Deliver"
	if err := need(clerk, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.change(ctx, clerk, id, in, "deliver", func(c *Case, it *Item, now time.Time) ([]event, error) {
		if c.IntakeDept != clerk.Dept {
			return nil, forbidden("not_your_window", "case %s was taken in at %s", c.ID, c.IntakeDept)
		}
		if c.Status != Ready && c.Status != Rejected {
			return nil, govx.Errorf(govx.KindConflict, "result_not_ready", "case %s is %s: there is no result to hand out yet", c.ID, c.Status)
		}
		c.Status = Delivered
		return []event{{action: "delivered", detail: c.Result.Kind + " " + c.Result.Number}}, nil
	})
	return c, govx.E(op, err)
}

// issue issues the result of an approved case: a licence through the
// licensing department, or the window's own certificate. A licensing
// department that does not answer leaves the case approved, retried.
func (s *Service) issue(ctx context.Context, id string) (*Case, error) {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Remote != nil {
		return c, nil // issued by the node that decides it
	}
	it, err := s.cfg.Items.Item(c.Item)
	if err != nil {
		return nil, err
	}
	consumer := c.IntakeDept
	if c.Origin != nil {
		// Taken in at another node's window: this node's own window
		// orders its licence.
		consumer = s.cfg.RemoteIntakeDept
	}
	var issued *IssuedLicence
	var issueErr error
	if it.Issues != "" {
		if s.issuer == nil {
			issueErr = govx.Errorf(govx.KindUnavailable, "issuer_unavailable", "no licensing department to issue through")
		} else {
			name := c.Applicant.Company
			if m := c.Material("company_registration"); m != nil && m.Facts["name"] != "" {
				name = m.Facts["name"]
			}
			items := map[string]string{"case": c.ID}
			if m := c.Material("company_registration"); m != nil && m.Facts["address"] != "" {
				items["premises"] = m.Facts["address"]
			}
			items["business_items"] = "热食类食品制售"
			ictx, cancel := context.WithTimeout(ctx, s.cfg.VerifyTimeout)
			l, err := s.issuer.IssueLicence(ictx, LicenceOrder{Reference: c.ID, Consumer: consumer, Caller: System.Subject,
				Type: it.Issues, Variant: it.IssueVariant, HolderCode: c.Applicant.USCC, HolderName: name,
				AuthorityCode: s.cfg.AuthorityCode, Items: items})
			cancel()
			if err != nil {
				issueErr = err
			} else {
				issued = &l
			}
		}
	}
	now := s.now()
	return s.store.Update(ctx, id, "", 0, System, "issue", now, func(c *Case) ([]event, error) {
		if c.Status != Approved {
			return nil, nil
		}
		if c.Result == nil {
			c.Result = &Result{Kind: "licence"}
		}
		if issueErr != nil {
			msg := govx.ErrorMessage(issueErr)
			if c.Result.IssueError == msg {
				return nil, nil
			}
			c.Result.IssueError = msg
			return []event{{action: "issue_pending", detail: msg, actor: System}}, nil
		}
		if issued != nil {
			c.Result.Number, c.Result.ValidUntil, c.Result.Authority = issued.Number, issued.ValidUntil, issued.Authority
		} else {
			c.Result.Kind, c.Result.Number = "certificate", "ZM"+c.ID[2:]
		}
		c.Result.IssuedAt, c.Result.IssueError = &now, ""
		c.Status, c.ClosedAt = Ready, &now
		evs := []event{{action: "issued", detail: c.Result.Kind + " " + c.Result.Number, actor: System}}
		return append(evs, s.tick(c, now)...), nil
	})
}
