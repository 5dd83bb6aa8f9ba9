package casework

import (
	"context"
	"time"

	"govx"
	"govx/internal/auth"
	"govx/internal/workday"
)

// Get returns a case to those who work it: the window that took it in,
// the departments that review it, and supervisors.
func (s *Service) Get(ctx context.Context, caller *auth.Claims, id string) (*Case, error) {
	if err := need(caller, RoleClerk, RoleReviewer, RoleSupervisor); err != nil {
		return nil, err
	}
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.IsOnline() && c.Status == Draft {
		// An online draft is its applicant's alone until submitted.
		return nil, govx.Errorf(govx.KindNotFound, "case_not_found", "no case %s", id)
	}
	switch caller.Role {
	case RoleClerk:
		if c.IntakeDept != caller.Dept {
			return nil, forbidden("not_your_window", "case %s was taken in at %s", c.ID, c.IntakeDept)
		}
	case RoleReviewer:
		if !c.reviewedBy(caller.Dept) {
			return nil, forbidden("not_your_department", "case %s is not reviewed by %s", c.ID, caller.Dept)
		}
	}
	// A case decided at another node, as that node says it stands now.
	return s.refreshed(ctx, c), nil
}

// History returns a case's history to those who may see the case.
func (s *Service) History(ctx context.Context, caller *auth.Claims, id string) ([]Entry, error) {
	if _, err := s.Get(ctx, caller, id); err != nil {
		return nil, err
	}
	return s.store.History(ctx, id)
}

// Queue is a reviewer's department's cases waiting for its decision.
func (s *Service) Queue(ctx context.Context, reviewer *auth.Claims) ([]Case, error) {
	if err := need(reviewer, RoleReviewer); err != nil {
		return nil, err
	}
	return s.store.List(ctx, Filter{Dept: reviewer.Dept, Pending: true, Limit: 200})
}

// List lists cases: a clerk's window's, a reviewer's department's, or,
// for supervisors, all.
func (s *Service) List(ctx context.Context, caller *auth.Claims, f Filter) ([]Case, error) {
	if err := need(caller, RoleClerk, RoleReviewer, RoleSupervisor); err != nil {
		return nil, err
	}
	switch caller.Role {
	case RoleClerk:
		f.Intake = caller.Dept
	case RoleReviewer:
		f.Dept = caller.Dept
	}
	return s.store.List(ctx, f)
}

// Supervision is the supervisor's view.
type Supervision struct {
	Counts []StatusCount `json:"counts"`
	Depts  []DeptStats   `json:"departments"`
	Yellow []Case        `json:"yellow"`
	Red    []Case        `json:"red"`
	// Days are the working days of the last ActivityDays days, oldest
	// first, with the cases opened and closed on each; RestDays adds up
	// what was opened and closed on the days off among them (its Date is
	// empty).
	Days     []DayActivity `json:"days"`
	RestDays DayActivity   `json:"rest_days"`
	// Ratings counts the rated cases by score: Ratings[i] were rated i+1.
	Ratings []int `json:"ratings"`
}

// DayActivity is how many cases were opened (taken in) and closed
// (decided) on a date, YYYY-MM-DD in China Standard Time.
type DayActivity struct {
	Date   string `json:"date"`
	Opened int    `json:"opened"`
	Closed int    `json:"closed"`
}

// ActivityDays is how many days back Supervision.Days reaches, today
// included.
const ActivityDays = 30

// Supervise returns the figures and the cases that need attention.
func (s *Service) Supervise(ctx context.Context, caller *auth.Claims) (*Supervision, error) {
	if err := need(caller, RoleSupervisor); err != nil {
		return nil, err
	}
	counts, depts, err := s.store.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := &Supervision{Counts: counts, Depts: depts}
	if out.Yellow, err = s.store.List(ctx, Filter{Colour: Yellow, Limit: 100}); err != nil {
		return nil, err
	}
	if out.Red, err = s.store.List(ctx, Filter{Colour: Red, Limit: 100}); err != nil {
		return nil, err
	}
	if out.Ratings, err = s.store.RatingCounts(ctx); err != nil {
		return nil, err
	}
	out.Days, out.RestDays, err = s.activity(ctx)
	return out, err
}

// activity is the cases opened and closed on each working day of the last
// ActivityDays days, and on the days off among them.
func (s *Service) activity(ctx context.Context) ([]DayActivity, DayActivity, error) {
	now := s.Now().In(workday.Zone)
	first := time.Date(now.Year(), now.Month(), now.Day()-(ActivityDays-1), 0, 0, 0, 0, workday.Zone)
	counts, err := s.store.Activity(ctx, first)
	if err != nil {
		return nil, DayActivity{}, err
	}
	byDate := make(map[string]dateCount, len(counts))
	for _, c := range counts {
		byDate[c.Date] = c
	}
	var days []DayActivity
	var rest DayActivity
	for i := range ActivityDays {
		d := first.AddDate(0, 0, i)
		c := byDate[workday.Date(d)]
		if !s.clock.cal.IsWorkday(d) {
			rest.Opened += c.Opened
			rest.Closed += c.Closed
			continue
		}
		days = append(days, DayActivity{Date: workday.Date(d), Opened: c.Opened, Closed: c.Closed})
	}
	return days, rest, nil
}
