package casework

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"govx"
	"govx/internal/auth"
	"govx/internal/workday"
)

// Cross-region cases (异地代收代办): a window here takes in an item that
// the departments of another node of the federation decide. The case is
// opened, verified and accepted here as any other; then it is submitted
// to the deciding node (KindSubmit), which opens a case of its own in its
// back office's queue, with this node's case number as its origin, and
// runs its clock on its own calendar. Its reviewers decide and its
// licensing department issues, by its own workflow. This node reads how
// the case stands there (KindStatus) whenever the case or its progress is
// looked at, and every RemotePoll while it is open, and mirrors it: the
// reviews, the due dates, the decision and the licence issued. The
// window here hands the result out. The deciding node holds the truth; a
// link that is down delays the mirror and loses nothing. A submission
// that fails leaves the case accepted here, its submission retried with
// back-off and by the clerk (Submit); the deciding node takes a case
// once per origin case number, however often it is sent.

// Kinds of the calls between nodes that cross-region cases travel by.
const (
	KindSubmit   = "case.submit"   // Submission → RemoteStatus
	KindStatus   = "case.status"   // CaseRef → RemoteStatus
	KindSupplied = "case.supplied" // CaseRef → RemoteStatus
)

// Federation is what cross-region cases need of the node's federation.
// *federation.Federation satisfies it.
type Federation interface {
	// Name is this node's name.
	Name() string
	// Call sends a call of kind to node for department dept and caller of
	// this node and decodes the answer into out.
	Call(ctx context.Context, node, kind, dept, caller string, in, out any) error
}

// Remote is, on a case taken in here, where it is decided and how it
// stands there as last read.
type Remote struct {
	Node string `json:"node"`
	Item string `json:"item"` // the item's code there
	// CaseID is the case's number there, once the node took it.
	CaseID      string     `json:"case_id,omitempty"`
	Status      Status     `json:"status,omitempty"`
	SubmittedAt *time.Time `json:"submitted_at,omitempty"`
	SyncedAt    *time.Time `json:"synced_at,omitempty"` // when what it said last changed this case
	// Error and ErrCode say why the last submission failed; it is tried
	// again at NextTry (none for an error no retry mends).
	Error    string     `json:"error,omitempty"`
	ErrCode  string     `json:"error_code,omitempty"`
	Attempts int        `json:"attempts,omitempty"`
	NextTry  *time.Time `json:"next_try,omitempty"`
}

// Submitted reports whether the deciding node took the case.
func (r *Remote) Submitted() bool { return r != nil && r.CaseID != "" }

// Origin is, on a case taken in at another node's window, where it came
// from: the node, its window's department and its case number there.
type Origin struct {
	Node   string `json:"node"`
	Dept   string `json:"dept"`
	CaseID string `json:"case_id"`
}

// Caller is the node, department and caller of another node a call comes
// from, as the federation vouches for them.
type Caller struct {
	Node, Dept, Subject string
}

// Submission is a case a window of another node took in and sends to be
// decided here (KindSubmit).
type Submission struct {
	CaseID        string     `json:"case_id"` // at the window's node
	Item          string     `json:"item"`    // the item's code here
	Applicant     Party      `json:"applicant"`
	LicenceNumber string     `json:"licence_number,omitempty"`
	Note          string     `json:"note,omitempty"`
	Materials     []Material `json:"materials"`
	AcceptedAt    time.Time  `json:"accepted_at"`
}

// CaseRef names a case by the number the window's node gave it
// (KindStatus, KindSupplied).
type CaseRef struct {
	CaseID string `json:"case_id"`
}

// RemoteStatus is how a case stands at the node that decides it.
type RemoteStatus struct {
	CaseID        string     `json:"case_id"`
	Status        Status     `json:"status"`
	Reviews       []Review   `json:"reviews"`
	AcceptedAt    *time.Time `json:"accepted_at,omitempty"`
	Due           *time.Time `json:"due,omitempty"`
	StatutoryDue  *time.Time `json:"statutory_due,omitempty"`
	SupplementDue *time.Time `json:"supplement_due,omitempty"`
	PausedSince   *time.Time `json:"paused_since,omitempty"`
	PausedDays    int        `json:"paused_days"`
	ClosedAt      *time.Time `json:"closed_at,omitempty"`
	Result        *Result    `json:"result,omitempty"`
}

var nodeName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

func validNodeName(s string) bool { return nodeName.MatchString(s) }

// CrossRegionItem is the variant of item it, an item of node, that this
// node's windows take in for node's departments to decide: its code is
// it's with the node's name appended, its departments are node's.
func CrossRegionItem(it Item, node string) Item {
	v := it
	v.Code = it.Code + "-" + node
	v.Name = it.Name + "（异地代收：" + node + "）"
	v.NameEN = it.NameEN + ", decided at " + node
	v.DecidedAt, v.DecidedAs, v.CrossRegion = node, it.Code, false
	v.Departments = make([]string, len(it.Departments))
	for i, d := range it.Departments {
		v.Departments[i] = node + "/" + d
	}
	v.Materials = slices.Clone(it.Materials)
	return v
}

// originForm is the form id under which a node remembers the case it
// opened for case caseID of node: a case is taken once per origin.
func originForm(node, caseID string) string { return "xr-" + node + "-" + caseID }

// status is how c stands, for the node that took it in.
func status(c *Case) *RemoteStatus {
	return &RemoteStatus{CaseID: c.ID, Status: c.Status, Reviews: slices.Clone(c.Reviews), AcceptedAt: c.AcceptedAt,
		Due: c.Due, StatutoryDue: c.StatutoryDue, SupplementDue: c.SupplementDue, PausedSince: c.PausedSince,
		PausedDays: c.PausedDays, ClosedAt: c.ClosedAt, Result: c.Result}
}

// submissionMaterialStates are the states a material may arrive in.
var submissionMaterialStates = []string{Verified, Blocked, Pending, Received, Missing, Committed}

// TakeSubmission opens, in this node's back office, the case a window of
// another node took in (KindSubmit): accepted at the window's time, due
// by this node's calendar and its item's time limits, in the queue of
// every department that reviews the item. A case already taken for the
// same origin case number is answered as it stands, unchanged.
func (s *Service) TakeSubmission(ctx context.Context, from Caller, in Submission) (*RemoteStatus, error) {
	const op = "casework.TakeSubmission"
	bad := func(code, format string, args ...any) (*RemoteStatus, error) {
		return nil, govx.E(op, govx.Errorf(govx.KindInvalid, code, format, args...))
	}
	if !validNodeName(from.Node) || from.Dept == "" || strings.Contains(from.Dept, "/") {
		return bad("origin_invalid", "a submission names the window's node and department")
	}
	if !ValidCaseID(in.CaseID) {
		return bad("case_id_invalid", "case_id is the window's case number, GX followed by 14 or more digits")
	}
	if c, err := s.originCase(ctx, from.Node, in.CaseID); err == nil {
		return status(c), nil // taken before: sent again after an answer was lost
	} else if govx.ErrorKind(err) != govx.KindNotFound {
		return nil, govx.E(op, err)
	}
	it, err := s.cfg.Items.Item(in.Item)
	if err != nil {
		return nil, govx.E(op, err)
	}
	if !it.CrossRegion || it.DecidedAt != "" {
		return nil, govx.E(op, forbidden("item_not_cross_region", "%s is not taken in at other nodes' windows", it.Name))
	}
	in.Applicant.Kind = it.Applicant
	if err := in.Applicant.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	if it.NeedsLicenceNumber && !validLicenceNumber(in.LicenceNumber) {
		return bad(CodeLicenceNumberInvalid, "the submission carries the number of the current licence")
	}
	if utf8.RuneCountInString(in.Note) > 1000 {
		return bad(CodeNoteInvalid, "the note is at most 1000 characters")
	}
	now := s.now()
	if in.AcceptedAt.IsZero() || in.AcceptedAt.After(now.Add(time.Minute)) {
		return bad("accepted_at_invalid", "accepted_at is when the window accepted the case, not in the future")
	}
	if len(in.Materials) != len(it.Materials) {
		return bad("materials_invalid", "%s needs %d materials; the submission carries %d", it.Code, len(it.Materials), len(in.Materials))
	}
	mats := make([]Material, len(it.Materials))
	for i, spec := range it.Materials {
		j := slices.IndexFunc(in.Materials, func(m Material) bool { return m.Code == spec.Code })
		if j < 0 {
			return bad("materials_invalid", "material %s is missing from the submission", spec.Code)
		}
		m := in.Materials[j]
		if !slices.Contains(submissionMaterialStates, m.State) {
			return bad("materials_invalid", "material %s: state %q is not a material's state", m.Code, m.State)
		}
		if len(m.Facts) > 64 || len(m.Reason) > 2000 {
			return bad("materials_invalid", "material %s: at most 64 facts and a reason of 2000 bytes", m.Code)
		}
		// What the window's registers answered, named as this node knows
		// their departments; nothing here is tried again.
		if m.Provider != "" {
			m.Provider = from.Node + "/" + m.Provider
		}
		m.NextTry, m.Attempts = nil, 0
		mats[i] = m
	}
	accepted := in.AcceptedAt.UTC().Truncate(time.Millisecond)
	intake := from.Node + "/" + from.Dept
	c := &Case{Item: it.Code, Status: InReview, Applicant: in.Applicant, LicenceNumber: in.LicenceNumber, IntakeDept: intake,
		Clerk: from.Node + ":" + from.Subject, Note: in.Note, Materials: mats, AcceptedAt: &accepted,
		Origin: &Origin{Node: from.Node, Dept: from.Dept, CaseID: in.CaseID}, CreatedAt: now, UpdatedAt: now}
	for _, d := range it.Departments {
		c.Reviews = append(c.Reviews, Review{Dept: d, Status: ReviewPending})
	}
	if slices.ContainsFunc(mats, func(m Material) bool { return m.State == Missing }) {
		due := s.clock.cal.AddWorkdays(accepted, s.clock.supplementDays).Add(24*time.Hour - time.Second)
		c.SupplementDue = &due
	}
	for _, m := range mats {
		if m.State == Blocked {
			// Found at the window after acceptance: the reviewers' to weigh.
			c.flag(Flag{At: now, Code: "verification_failed", Material: m.Code, Message: m.Reason})
		}
	}
	s.clock.reschedule(c, it)
	actor := Actor{Subject: c.Clerk, Role: RoleClerk, Dept: intake}
	evs := []event{{action: "opened", detail: fmt.Sprintf("%s, taken in at %s as %s", it.Name, intake, in.CaseID), actor: actor},
		{action: "accepted", detail: fmt.Sprintf("at %s on %s, to %s; due %s", intake, workday.Date(accepted),
			strings.Join(it.Departments, ", "), workday.Date(*c.Due)), actor: actor}}
	evs = append(evs, s.tick(c, now)...)
	out, _, err := s.store.create(ctx, c, originForm(from.Node, in.CaseID), "submit", evs)
	if err != nil {
		return nil, govx.E(op, err)
	}
	return status(out), nil
}

// originCase is the case this node took for case caseID of node.
func (s *Service) originCase(ctx context.Context, node, caseID string) (*Case, error) {
	if !ValidCaseID(caseID) {
		return nil, govx.Errorf(govx.KindInvalid, "case_id_invalid", "case_id is the window's case number, GX followed by 14 or more digits")
	}
	id, err := s.store.formCase(ctx, originForm(node, caseID), "submit")
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, govx.Errorf(govx.KindNotFound, "case_not_found", "node %s submitted no case %s here", node, caseID)
	}
	return s.store.Get(ctx, id)
}

// RemoteStatus answers the window's node how its case stands here
// (KindStatus).
func (s *Service) RemoteStatus(ctx context.Context, from Caller, ref CaseRef) (*RemoteStatus, error) {
	c, err := s.originCase(ctx, from.Node, ref.CaseID)
	if err != nil {
		return nil, govx.E("casework.RemoteStatus", err)
	}
	return status(c), nil
}

// RemoteSupplied records that the applicant handed in at the window of
// the node that took the case in what was asked for (KindSupplied).
func (s *Service) RemoteSupplied(ctx context.Context, from Caller, ref CaseRef) (*RemoteStatus, error) {
	const op = "casework.RemoteSupplied"
	c, err := s.originCase(ctx, from.Node, ref.CaseID)
	if err != nil {
		return nil, govx.E(op, err)
	}
	actor := Actor{Subject: from.Node + ":" + from.Subject, Role: RoleClerk, Dept: from.Node + "/" + from.Dept}
	c, err = s.store.Update(ctx, c.ID, "", 0, actor, "supplied", s.now(), func(c *Case) ([]event, error) {
		it, err := s.cfg.Items.Item(c.Item)
		if err != nil {
			return nil, err
		}
		return s.supply(c, it, s.now())
	})
	if err != nil {
		return nil, govx.E(op, err)
	}
	return status(c), nil
}

// Submit sends an accepted cross-region case to the node that decides it
// again: the clerk's retry of a submission that failed. It answers the
// case, and the error when the node did not take it (node_unavailable,
// node_timeout, or the deciding node's refusal).
func (s *Service) Submit(ctx context.Context, clerk *auth.Claims, id string) (*Case, error) {
	const op = "casework.Submit"
	if err := need(clerk, RoleClerk); err != nil {
		return nil, govx.E(op, err)
	}
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, govx.E(op, err)
	}
	switch {
	case c.IntakeDept != clerk.Dept:
		return nil, govx.E(op, forbidden("not_your_window", "case %s was taken in at %s", c.ID, c.IntakeDept))
	case c.Remote == nil:
		return nil, govx.E(op, govx.Errorf(govx.KindConflict, "case_not_cross_region", "case %s is decided at this node", c.ID))
	case c.Status == Draft:
		return nil, govx.E(op, govx.Errorf(govx.KindConflict, "case_not_accepted", "case %s is submitted once it is accepted", c.ID))
	}
	c, err = s.submit(ctx, c.ID, ActorOf(clerk))
	return c, govx.E(op, err)
}

// submit sends case id to the node that decides it and mirrors its
// answer. A failure is recorded on the case and retried at its NextTry;
// it is returned too.
func (s *Service) submit(ctx context.Context, id string, actor Actor) (*Case, error) {
	c, err := s.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Remote == nil || c.Status == Draft {
		return c, nil
	}
	in := Submission{CaseID: c.ID, Item: c.Remote.Item, Applicant: c.Applicant, LicenceNumber: c.LicenceNumber, Note: c.Note,
		Materials: c.Materials, AcceptedAt: *c.AcceptedAt}
	var st RemoteStatus
	callErr := s.callRemote(ctx, c, KindSubmit, actor.Subject, in, &st)
	now := s.now()
	var quiet *time.Time // the same failure again, at the longest back-off: tried again then, not recorded
	c, err = s.store.Update(ctx, id, "", 0, actor, "submit", now, func(c *Case) ([]event, error) {
		r := c.Remote
		if callErr != nil {
			if r.Submitted() {
				return nil, nil // taken meanwhile, by another try
			}
			r.Attempts++
			r.NextTry = nil
			switch govx.ErrorKind(callErr) {
			case govx.KindUnavailable, govx.KindTimeout, govx.KindInternal:
				back := s.cfg.RetryInterval << min(r.Attempts-1, 5)
				next := now.Add(min(back, 10*time.Minute))
				r.NextTry = &next
			}
			msg, code := govx.ErrorMessage(callErr), govx.ErrorCode(callErr)
			if r.Error == msg && r.ErrCode == code {
				if r.Attempts > 6 && r.NextTry != nil {
					quiet = r.NextTry
					return nil, nil
				}
				return []event{{action: "submit_pending", detail: "attempt " + fmt.Sprint(r.Attempts), actor: System}}, nil
			}
			r.Error, r.ErrCode = msg, code
			return []event{{action: "submit_pending", detail: code + ": " + msg, actor: System}}, nil
		}
		var evs []event
		if !r.Submitted() {
			r.SubmittedAt = &now
			evs = append(evs, event{action: "submitted", detail: fmt.Sprintf("to %s as %s", r.Node, st.CaseID)})
		}
		r.Error, r.ErrCode, r.Attempts = "", "", 0
		return append(evs, s.mirror(c, &st, now)...), nil
	})
	if err != nil {
		return nil, err
	}
	if quiet != nil {
		if err := s.store.postpone(ctx, id, *quiet); err != nil {
			return c, err
		}
	}
	return c, callErr
}

// callRemote sends a call of kind about c to the node that decides it.
func (s *Service) callRemote(ctx context.Context, c *Case, kind, caller string, in, out any) error {
	if s.fed == nil {
		return govx.Errorf(govx.KindUnavailable, "federation_unavailable", "this node is not linked to node %s", c.Remote.Node)
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.VerifyTimeout)
	defer cancel()
	return s.fed.Call(cctx, c.Remote.Node, kind, c.IntakeDept, caller, in, out)
}

// refresh reads how case c, submitted to the node that decides it, stands
// there and mirrors it. A node that does not answer leaves the case as it
// was last read; it is read again at its NextTry.
func (s *Service) refresh(ctx context.Context, c *Case) (*Case, error) {
	if !c.Remote.Submitted() || c.Status.Closed() {
		return c, nil // not there yet, or decided there and mirrored
	}
	var st RemoteStatus
	if err := s.callRemote(ctx, c, KindStatus, System.Subject, CaseRef{CaseID: c.ID}, &st); err != nil {
		next := s.now().Add(min(s.cfg.RemotePoll, 10*time.Minute))
		if perr := s.store.postpone(ctx, c.ID, next); perr != nil {
			return c, perr
		}
		return c, err
	}
	now := s.now()
	out, err := s.store.Update(ctx, c.ID, "", 0, System, "sync", now, func(c *Case) ([]event, error) {
		return s.mirror(c, &st, now), nil
	})
	if err != nil {
		return c, err
	}
	if out.Remote.NextTry != nil && out.Version == c.Version {
		// Nothing changed, so nothing was written: read it again later.
		err = s.store.postpone(ctx, c.ID, now.Add(s.cfg.RemotePoll))
	}
	return out, err
}

// refreshed is c as the deciding node now says it stands, or c as it was
// last read when that node does not answer: what the people who look at
// it see.
func (s *Service) refreshed(ctx context.Context, c *Case) *Case {
	if c.Remote == nil {
		return c
	}
	out, err := s.refresh(ctx, c)
	if err != nil {
		s.cfg.Logger.Info("cross-region case: status not read", "case", c.ID, "node", c.Remote.Node, "err", err)
	}
	return out
}

// mirror writes what the deciding node said of the case into c: its
// reviews (named by that node's departments), due dates, decision and
// result. The window here hands the result out; nothing is issued here.
func (s *Service) mirror(c *Case, st *RemoteStatus, now time.Time) []event {
	r := c.Remote
	node := r.Node
	var evs []event
	r.CaseID, r.Status = st.CaseID, st.Status
	for _, rv := range st.Reviews {
		dept := node + "/" + rv.Dept
		mine := c.Review(dept)
		if mine == nil {
			c.Reviews = append(c.Reviews, Review{Dept: dept, Status: ReviewPending})
			mine = &c.Reviews[len(c.Reviews)-1]
		}
		if mine.Status == rv.Status {
			continue
		}
		mine.Status, mine.Reason, mine.At = rv.Status, rv.Reason, rv.At
		if rv.Reviewer != "" {
			mine.Reviewer = node + ":" + rv.Reviewer
		}
		if rv.Status == ReviewPending {
			continue
		}
		d := map[string]Decision{ReviewApproved: Approve, ReviewRejected: Reject, ReviewSupplement: AskForSupplement}[rv.Status]
		evs = append(evs, event{action: "reviewed", detail: string(d) + detailReason(rv.Reason),
			actor: Actor{Subject: mine.Reviewer, Role: RoleReviewer, Dept: dept}})
	}
	c.Due, c.StatutoryDue, c.SupplementDue = st.Due, st.StatutoryDue, st.SupplementDue
	c.PausedSince, c.PausedDays = st.PausedSince, st.PausedDays
	want := st.Status
	if want == Delivered {
		want = Ready // handed out here, whatever the deciding node says
	}
	if c.Status != Delivered && c.Status != want {
		switch want {
		case Supplement:
			evs = append(evs, event{action: "supplement_requested", detail: reviewReason(st, ReviewSupplement), actor: System})
		case InReview:
			if c.Status == Supplement {
				evs = append(evs, event{action: "supplied", detail: "at " + node, actor: System})
			}
		case Approved:
			evs = append(evs, event{action: "approved", detail: "at " + node, actor: System})
		case Ready:
			if c.Status != Approved {
				evs = append(evs, event{action: "approved", detail: "at " + node, actor: System})
			}
			if st.Result != nil {
				res := *st.Result
				c.Result = &res
				evs = append(evs, event{action: "issued", detail: res.Kind + " " + res.Number + " at " + node, actor: System})
			}
		case Rejected:
			res := Result{Kind: "rejection", IssuedAt: st.ClosedAt}
			if st.Result != nil {
				res = *st.Result
			}
			c.Result = &res
			evs = append(evs, event{action: "rejected", detail: reviewReason(st, ReviewRejected), actor: System})
		}
		c.Status, c.ClosedAt = want, st.ClosedAt
	}
	if c.Status == Approved && st.Result != nil && st.Result.IssueError != "" {
		res := *st.Result
		c.Result = &res
	}
	// Read again while the deciding node has not decided and issued.
	r.NextTry = nil
	if !want.Closed() {
		next := now.Add(s.cfg.RemotePoll)
		r.NextTry = &next
	}
	if len(evs) > 0 {
		r.SyncedAt = &now
		evs = append(evs, s.tick(c, now)...)
	}
	return evs
}

// reviewReason is the reason of the first review of st in status.
func reviewReason(st *RemoteStatus, status string) string {
	for _, r := range st.Reviews {
		if r.Status == status {
			return r.Reason
		}
	}
	return ""
}
