package casework

import (
	"time"

	"govx/internal/workday"
)

// Deadline colours.
const (
	Green  = "green"
	Yellow = "yellow" // WarnDays working days or fewer remain
	Red    = "red"    // overdue
	Paused = "paused" // waiting on the applicant: the clock stands
	None   = ""       // not accepted yet, or closed
)

// Clock counts a case's time limits in working days: it starts at
// acceptance, stands while the case waits for supplements, and stops at
// the decision.
type Clock struct {
	cal            *workday.Calendar
	warnDays       int
	supplementDays int
	recheck        time.Duration
}

// endOfDay is the last second of t's date in China Standard Time: a case
// due on a day may be decided until that day is over.
func endOfDay(t time.Time) time.Time {
	t = t.In(workday.Zone)
	return time.Date(t.Year(), t.Month(), t.Day(), 23, 59, 59, 0, workday.Zone)
}

// reschedule sets the case's due dates from its acceptance, item and
// paused days.
func (k *Clock) reschedule(c *Case, it *Item) {
	if c.AcceptedAt == nil {
		return
	}
	due := endOfDay(k.cal.AddWorkdays(*c.AcceptedAt, it.Promised+c.PausedDays))
	stat := endOfDay(k.cal.AddWorkdays(*c.AcceptedAt, it.Statutory+c.PausedDays))
	c.Due, c.StatutoryDue = &due, &stat
}

// Colour is the case's deadline colour at now.
func (k *Clock) Colour(c *Case, now time.Time) string {
	switch {
	case c.AcceptedAt == nil || c.Due == nil:
		return None
	case c.Status == Supplement:
		return Paused
	case !c.Status.Open():
		return None
	case now.After(*c.Due):
		return Red
	case k.cal.Between(now, *c.Due) <= k.warnDays:
		return Yellow
	}
	return Green
}

// Remaining is the number of working days after today up to the due date
// (negative: working days overdue).
func (k *Clock) Remaining(c *Case, now time.Time) int {
	if c.Due == nil {
		return 0
	}
	if now.After(*c.Due) {
		return -k.cal.Between(*c.Due, now)
	}
	return k.cal.Between(now, *c.Due)
}

// WorkingDays is the number of working days the case has taken so far
// (up to its closing), not counting the days it waited on the applicant.
func (k *Clock) WorkingDays(c *Case, now time.Time) int {
	if c.AcceptedAt == nil {
		return 0
	}
	end := now
	if c.ClosedAt != nil {
		end = *c.ClosedAt
	}
	paused := c.PausedDays
	if c.PausedSince != nil {
		paused += k.cal.Between(*c.PausedSince, end)
	}
	return max(0, k.cal.Between(*c.AcceptedAt, end)-paused)
}
