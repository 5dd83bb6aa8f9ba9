package casework

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"govx"
	"govx/internal/httpx"
)

// Status is where a case is:
//
//	draft → in_review ⇄ supplement
//	in_review → approved → ready → delivered
//	in_review → rejected → delivered
//
// and, for a case applied for online (ChannelOnline, online.go):
//
//	draft → submitted → in_review (accepted at pre-review)
//	submitted → returned → submitted (one complete list of corrections)
//	submitted → rejected (refused at pre-review)
//
// A draft is opened and verified but not accepted; the clock runs from
// acceptance (in_review) and pauses during supplement waits. Approved
// waits for the result to be issued (a licence through the licensing
// department); ready waits at the window; delivered is the end.
type Status string

const (
	Draft      Status = "draft"
	Submitted  Status = "submitted" // online: waiting for the competent department's pre-review
	Returned   Status = "returned"  // online: returned to the applicant with one list of corrections
	InReview   Status = "in_review"
	Supplement Status = "supplement"
	Approved   Status = "approved"
	Rejected   Status = "rejected"
	Ready      Status = "ready"
	Delivered  Status = "delivered"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{Draft, Submitted, Returned, InReview, Supplement, Approved, Rejected, Ready, Delivered}

// Open reports whether the case still waits on the government.
func (s Status) Open() bool { return s == InReview || s == Supplement || s == Approved }

// Pre reports whether the case is not accepted yet: a draft, or an online
// case submitted for pre-review or returned for corrections. Its clock has
// not started.
func (s Status) Pre() bool { return s == Draft || s == Submitted || s == Returned }

// Closed reports whether the decision is made.
func (s Status) Closed() bool { return s == Rejected || s == Ready || s == Delivered }

// States of a material.
const (
	Verified  = "verified"  // through the exchange: provider, time, record
	Blocked   = "blocked"   // verified, and it stands in the way (expired licence, deregistered company)
	Pending   = "pending"   // the exchange did not answer; retried automatically
	Received  = "received"  // handed in at the window
	Missing   = "missing"   // not handed in; due by the supplement deadline
	Committed = "committed" // the applicant's written commitment stands in; checked later
)

// Party is the applicant: a person, or a company with its legal
// representative.
type Party struct {
	Kind     string `json:"kind"` // Person or Company
	IDNumber string `json:"id_number,omitempty"`
	Name     string `json:"name,omitempty"`
	USCC     string `json:"uscc,omitempty"`
	Company  string `json:"company,omitempty"`
	// The legal representative of a company.
	RepIDNumber string `json:"rep_id_number,omitempty"`
	RepName     string `json:"rep_name,omitempty"`
	Phone       string `json:"phone,omitempty"`
	// Email is where notifications go by e-mail (Phone: by SMS).
	Email string `json:"email,omitempty"`
}

// Key is the applicant's identifier: ID number or USCC.
func (p *Party) Key() string {
	if p.Kind == Company {
		return p.USCC
	}
	return p.IDNumber
}

// Validate checks the identifiers, so that nothing is asked of the
// exchange about a malformed one.
func (p *Party) Validate() error {
	switch p.Kind {
	case Person:
		if err := govx.ValidateIDNumber(p.IDNumber); err != nil {
			return err
		}
	case Company:
		if err := govx.ValidateUSCC(p.USCC); err != nil {
			return err
		}
		if err := govx.ValidateIDNumber(p.RepIDNumber); err != nil {
			return govx.Errorf(govx.KindInvalid, govx.ErrorCode(err), "legal representative: %s", govx.ErrorMessage(err))
		}
	default:
		return govx.Errorf(govx.KindInvalid, "applicant_kind_invalid", "the applicant is a person or a company")
	}
	for _, s := range []string{p.Name, p.Company, p.RepName, p.Phone, p.Email} {
		if utf8.RuneCountInString(s) > 100 || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
			return govx.Errorf(govx.KindInvalid, "text_invalid", "names, phone numbers and e-mail addresses are at most 100 characters")
		}
	}
	if p.Email != "" && (strings.Count(p.Email, "@") != 1 || strings.ContainsAny(p.Email, " <>,;") || strings.HasPrefix(p.Email, "@") || strings.HasSuffix(p.Email, "@")) {
		return govx.Errorf(govx.KindInvalid, "email_invalid", "the e-mail address is name@domain")
	}
	return nil
}

// Material is one material of a case.
type Material struct {
	Code  string `json:"code"`
	State string `json:"state"`
	// Exchange materials: who answered, when, the request that did, and
	// what was checked.
	Provider   string            `json:"provider,omitempty"`
	Resource   string            `json:"resource,omitempty"`
	Key        string            `json:"key,omitempty"` // what was looked up: licence number, USCC, ID number
	RequestID  string            `json:"request_id,omitempty"`
	VerifiedAt *time.Time        `json:"verified_at,omitempty"`
	Facts      map[string]string `json:"facts,omitempty"` // what the record says, for the page
	Seal       string            `json:"seal,omitempty"`  // "valid" when a licence's issuer seal checked out
	// Reason says why a material is blocked, pending or to be checked.
	Reason   string `json:"reason,omitempty"`
	ErrCode  string `json:"error_code,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	// NextTry is when a pending material or a commitment is tried again.
	NextTry *time.Time `json:"next_try,omitempty"`
	// File is the file an online applicant uploaded for the material; its
	// bytes are kept apart (Service.Download).
	File *FileInfo `json:"file,omitempty"`
	// Commitment is the text of the written commitment (告知承诺) an
	// online applicant made for the material.
	Commitment string `json:"commitment,omitempty"`
}

// Review is one department's part of the back-office review.
type Review struct {
	Dept     string     `json:"dept"`
	Status   string     `json:"status"` // pending, approved, rejected, supplement
	Reviewer string     `json:"reviewer,omitempty"`
	Reason   string     `json:"reason,omitempty"`
	At       *time.Time `json:"at,omitempty"`
}

// Review statuses.
const (
	ReviewPending    = "pending"
	ReviewApproved   = "approved"
	ReviewRejected   = "rejected"
	ReviewSupplement = "supplement"
)

// Flag is something found after acceptance that a reviewer must look at:
// a licence the case relied on was revoked, a commitment did not hold.
type Flag struct {
	At       time.Time `json:"at"`
	Code     string    `json:"code"`
	Material string    `json:"material"`
	Message  string    `json:"message"`
}

// Result is what the case issued.
type Result struct {
	Kind     string     `json:"kind"`   // licence, certificate, rejection
	Number   string     `json:"number"` // licence or certificate number
	IssuedAt *time.Time `json:"issued_at,omitempty"`
	// Licence details, for the window's print-out.
	ValidUntil string `json:"valid_until,omitempty"`
	Authority  string `json:"authority,omitempty"`
	// IssueError says why issuing has not succeeded yet (it is retried).
	IssueError string `json:"issue_error,omitempty"`
}

// Rating is the applicant's rating of the service.
type Rating struct {
	Score   int       `json:"score"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// Case is one application at the window.
type Case struct {
	ID     string `json:"id"`
	Item   string `json:"item"`
	Status Status `json:"status"`
	// Channel is how the case came in: ChannelWindow ("" in cases stored
	// before there was a choice) or ChannelOnline.
	Channel   string `json:"channel,omitempty"`
	Applicant Party  `json:"applicant"`
	// LicenceNumber is the existing licence of a renewal.
	LicenceNumber string `json:"licence_number,omitempty"`
	IntakeDept    string `json:"intake_dept"`
	Clerk         string `json:"clerk"`
	// Consents recorded at intake, one per data subject.
	Consents  []string   `json:"consents,omitempty"`
	Materials []Material `json:"materials"`
	Reviews   []Review   `json:"reviews,omitempty"`
	Flags     []Flag     `json:"flags,omitempty"`
	Result    *Result    `json:"result,omitempty"`
	Rating    *Rating    `json:"rating,omitempty"`
	Note      string     `json:"note,omitempty"`
	// Remote is, on a case taken in here for another node to decide, how
	// it stands there; Origin is, on a case taken in at another node's
	// window for this node to decide, where it came from (crossregion.go).
	Remote *Remote `json:"remote,omitempty"`
	Origin *Origin `json:"origin,omitempty"`
	// Online is the online application's own record: preview, consents,
	// submissions and returns (online.go).
	Online *Online `json:"online,omitempty"`

	// The clock.
	AcceptedAt    *time.Time `json:"accepted_at,omitempty"`
	Due           *time.Time `json:"due,omitempty"`            // promised limit, moved by pauses
	StatutoryDue  *time.Time `json:"statutory_due,omitempty"`  // statutory limit, moved by pauses
	SupplementDue *time.Time `json:"supplement_due,omitempty"` // for materials missing at acceptance
	PausedSince   *time.Time `json:"paused_since,omitempty"`
	PausedDays    int        `json:"paused_days"` // working days spent waiting on the applicant
	ClosedAt      *time.Time `json:"closed_at,omitempty"`
	Took          int        `json:"took_days,omitempty"` // working days from acceptance to decision, once closed
	Colour        string     `json:"colour,omitempty"`    // of the last deadline sweep

	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Material returns the case's material with code, or nil.
func (c *Case) Material(code string) *Material {
	for i := range c.Materials {
		if c.Materials[i].Code == code {
			return &c.Materials[i]
		}
	}
	return nil
}

// Review returns dept's review of the case, or nil.
func (c *Case) Review(dept string) *Review {
	for i := range c.Reviews {
		if c.Reviews[i].Dept == dept {
			return &c.Reviews[i]
		}
	}
	return nil
}

// PendingDepts are the departments whose decision the case waits on.
func (c *Case) PendingDepts() []string {
	var out []string
	if c.Status == Submitted && c.Online != nil && c.Online.Dept != "" {
		return []string{c.Online.Dept} // its pre-review
	}
	if c.Status != InReview {
		return out
	}
	for _, r := range c.Reviews {
		if r.Status == ReviewPending {
			out = append(out, r.Dept)
		}
	}
	return out
}

// Blockers lists why the case cannot be accepted as it stands, one plain
// sentence per blocked material.
func (c *Case) Blockers(it *Item) []string {
	var out []string
	for _, m := range c.Materials {
		if m.State == Blocked {
			spec := it.Material(m.Code)
			name := m.Code
			if spec != nil {
				name = spec.Name
			}
			out = append(out, fmt.Sprintf("%s：%s", name, m.Reason))
		}
	}
	return out
}

// Choice is the clerk's choice for an uploaded material at acceptance.
type Choice string

const (
	ChoiceReceived   Choice = Received
	ChoiceMissing    Choice = Missing
	ChoiceCommitment Choice = Committed
)

// accept applies the clerk's choices and accepts the case: materials the
// exchange could not reach stay pending, missing optional ones set the
// supplement deadline. It refuses with a plain reason when a material
// blocks, a required one is missing, or a commitment is not allowed.
func (c *Case) accept(it *Item, choices map[string]Choice, clock *Clock, now time.Time) error {
	if c.Status != Draft && !(c.IsOnline() && c.Status == Submitted) {
		return govx.Errorf(govx.KindConflict, "case_not_draft", "case %s was already accepted (it is %s)", c.ID, c.Status)
	}
	for code, ch := range choices {
		if it.Material(code) == nil {
			return govx.Errorf(govx.KindInvalid, "material_unknown", "%s has no material %q", it.Code, httpx.Truncate(code, 64))
		}
		if ch != ChoiceReceived && ch != ChoiceMissing && ch != ChoiceCommitment {
			return govx.Errorf(govx.KindInvalid, "choice_invalid", "material %s: choose received, missing or committed", code)
		}
	}
	if b := c.Blockers(it); len(b) > 0 {
		return govx.Errorf(govx.KindConflict, "material_blocked", "the case cannot be accepted: %s", strings.Join(b, "; "))
	}
	gaps := false
	for i := range c.Materials {
		m := &c.Materials[i]
		spec := it.Material(m.Code)
		if spec == nil {
			continue
		}
		ch, chosen := choices[m.Code]
		if spec.Source == FromExchange {
			// A commitment may stand in for a record the register does not
			// hold yet (a company just registered); re-checked later.
			if chosen && ch == ChoiceCommitment {
				if !spec.Commitment {
					return govx.Errorf(govx.KindInvalid, "commitment_not_allowed", "%s cannot be replaced by a commitment", spec.Name)
				}
				if m.State != Verified {
					m.State, m.Reason = Committed, "applicant's written commitment; re-checked through the exchange"
					next := now.Add(clock.recheck)
					m.NextTry = &next
				}
			}
			continue
		}
		if !chosen {
			ch = ChoiceMissing
		}
		switch ch {
		case ChoiceReceived:
			m.State, m.Reason = Received, ""
		case ChoiceCommitment:
			if !spec.Commitment {
				return govx.Errorf(govx.KindInvalid, "commitment_not_allowed", "%s cannot be replaced by a commitment", spec.Name)
			}
			m.State, m.Reason = Committed, "applicant's written commitment; to be checked by the reviewer"
		case ChoiceMissing:
			if !spec.Optional {
				return govx.Errorf(govx.KindInvalid, "material_required", "%s is required at acceptance", spec.Name)
			}
			m.State, m.Reason, gaps = Missing, "to be supplied by the supplement deadline", true
		default:
			return govx.Errorf(govx.KindInvalid, "choice_invalid", "material %s: choose received, missing or commitment", m.Code)
		}
	}
	c.Status = InReview
	c.AcceptedAt = &now
	c.Reviews = c.Reviews[:0]
	for _, d := range it.Departments {
		c.Reviews = append(c.Reviews, Review{Dept: d, Status: ReviewPending})
	}
	if gaps {
		due := clock.cal.AddWorkdays(now, clock.supplementDays).Add(24*time.Hour - time.Second)
		c.SupplementDue = &due
	}
	clock.reschedule(c, it)
	return nil
}

// Decision is a reviewer's decision.
type Decision string

const (
	Approve          Decision = "approve"
	Reject           Decision = "reject"
	AskForSupplement Decision = "supplement"
)

// review records dept's decision. The case is approved when every
// department has approved, rejected when one rejects, and waits on the
// applicant (the clock paused) when one asks for supplements.
func (c *Case) review(dept, reviewer string, d Decision, reason string, clock *Clock, it *Item, now time.Time) error {
	r := c.Review(dept)
	if r == nil {
		return govx.Errorf(govx.KindForbidden, "not_your_department", "case %s is not reviewed by %s", c.ID, dept)
	}
	if c.Status != InReview || r.Status != ReviewPending {
		return govx.Errorf(govx.KindConflict, "review_not_pending", "case %s is %s and %s's review is %s: nothing to decide", c.ID, c.Status, dept, r.Status)
	}
	reason = strings.TrimSpace(reason)
	if (d == Reject || d == AskForSupplement) && reason == "" {
		return govx.Errorf(govx.KindInvalid, "reason_required", "a rejection or a request for supplements states its reason")
	}
	if utf8.RuneCountInString(reason) > 1000 {
		return govx.Errorf(govx.KindInvalid, "reason_too_long", "the reason is at most 1000 characters")
	}
	r.Reviewer, r.Reason, r.At = reviewer, reason, &now
	switch d {
	case Approve:
		r.Status = ReviewApproved
		if !slices.ContainsFunc(c.Reviews, func(r Review) bool { return r.Status != ReviewApproved }) {
			c.Status = Approved
		}
	case Reject:
		r.Status = ReviewRejected
		c.Status = Rejected
		c.ClosedAt = &now
		c.Result = &Result{Kind: "rejection", IssuedAt: &now}
	case AskForSupplement:
		r.Status = ReviewSupplement
		c.Status = Supplement
		c.PausedSince = &now
	default:
		return govx.Errorf(govx.KindInvalid, "decision_invalid", "a decision is approve, reject or supplement")
	}
	clock.reschedule(c, it)
	return nil
}

// supplied records that the applicant handed in what was asked for: the
// clock runs again and the departments that asked review again.
func (c *Case) supplied(clock *Clock, it *Item, now time.Time) error {
	if c.Status != Supplement {
		return govx.Errorf(govx.KindConflict, "not_waiting_for_supplement", "case %s is %s, not waiting for supplements", c.ID, c.Status)
	}
	if c.PausedSince != nil {
		c.PausedDays += clock.cal.Between(*c.PausedSince, now)
	}
	c.PausedSince = nil
	for i := range c.Reviews {
		if c.Reviews[i].Status == ReviewSupplement {
			c.Reviews[i].Status = ReviewPending
		}
	}
	for i := range c.Materials {
		if c.Materials[i].State == Missing {
			c.Materials[i].State, c.Materials[i].Reason = Received, "supplied"
		}
	}
	c.SupplementDue = nil
	c.Status = InReview
	clock.reschedule(c, it)
	return nil
}

// flag adds f unless the same flag is already raised.
func (c *Case) flag(f Flag) bool {
	for _, g := range c.Flags {
		if g.Code == f.Code && g.Material == f.Material {
			return false
		}
	}
	c.Flags = append(c.Flags, f)
	return true
}
