package casework

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
	"govx/internal/postgres"
	"govx/internal/ratelimit"
	"govx/internal/refusal"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the OpenAPI 3.1 document of the case API.
func OpenAPI() []byte { return openAPI }

// maxBody bounds a request body: the largest form, an intake with a note
// of 1,000 characters, is a few kilobytes.
const maxBody = 16 << 10

type handler struct {
	svc      *Service
	verifier httpx.Verifier
	log      *slog.Logger
	mux      *http.ServeMux
	guard    *ProgressGuard
	refusals *refusal.Log
}

// HandlerConfig is what the case workflow's JSON API needs.
type HandlerConfig struct {
	Service  *Service
	Verifier httpx.Verifier
	Logger   *slog.Logger // default slog.Default()
	// Guard limits the public progress lookup and rating; instances
	// share it through Redis, and the progress page spends from the same
	// one. nil means a limiter of this handler alone.
	Guard *ProgressGuard
	// Refusals, which may be nil, records refused case actions.
	Refusals *refusal.Log
}

func (c *HandlerConfig) Validate() error {
	if c.Service == nil || c.Verifier == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "casework: a handler needs a Service and a Verifier")
	}
	if c.Guard == nil {
		c.Guard = NewProgressGuard(nil)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// NewHandler serves the case workflow's JSON API: the window's intake
// and acceptance, the back office's review, the supervisor's figures,
// each under the govx JWT with the role the step needs, and the public
// progress lookup and rating, which need the case number and the last
// four characters of the applicant's identifier instead.
//
// A change answers 412 case_changed when the If-Match version is not the
// case's current one. An Idempotency-Key (or form_id) makes a repeated
// POST answer what the first did; keys are the caller's own.
func NewHandler(cfg HandlerConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	h := &handler{svc: cfg.Service, verifier: cfg.Verifier, log: log, mux: http.NewServeMux(), guard: cfg.Guard, refusals: cfg.Refusals}
	h.mux.HandleFunc("GET /v1/case-items", h.items)
	h.mux.HandleFunc("GET /v1/cases/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	h.mux.HandleFunc("POST /v1/cases", h.open)
	h.mux.HandleFunc("GET /v1/cases", h.list)
	h.mux.HandleFunc("GET /v1/cases/{id}", h.get)
	h.mux.HandleFunc("GET /v1/cases/{id}/history", h.history)
	h.mux.HandleFunc("POST /v1/cases/{id}/{action}", h.change)
	h.mux.HandleFunc("GET /v1/review-queue", h.queue)
	h.mux.HandleFunc("GET /v1/supervision", h.supervision)
	h.mux.HandleFunc("GET /v1/progress/{id}", h.progress)
	h.mux.HandleFunc("POST /v1/progress/{id}/rating", h.rate)
	h.mux.HandleFunc("GET /v1/cases/{id}/materials/{code}/file", h.download)
	h.mux.HandleFunc("GET /v1/notification-outbox", h.outbox)
	h.routeApplicant()
	h.mux.HandleFunc("/", httpx.NotFound(log))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) fail(w http.ResponseWriter, err error) {
	switch govx.ErrorCode(err) {
	case "case_changed":
		// The version the caller saw (If-Match) is not the case's now.
		httpx.WriteErrorStatus(w, h.log, "", http.StatusPreconditionFailed, err)
		return
	case CodeFileTooLarge:
		httpx.WriteErrorStatus(w, h.log, "", http.StatusRequestEntityTooLarge, err)
		return
	case CodeFileType:
		httpx.WriteErrorStatus(w, h.log, "", http.StatusUnsupportedMediaType, err)
		return
	}
	httpx.WriteError(w, h.log, "", err)
}

// refuse answers err to case action by caller on target, recording it
// when it is a refusal.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, caller *auth.Claims, action, target string, err error) {
	h.refusals.Record(r.Context(), caller, action, target, err)
	h.fail(w, err)
}

// caseView is a case as the people who work it see it: the case as it is
// stored, with its deadline figures computed now.
type caseView struct {
	*Case
	Colour string `json:"colour"`
	// Remaining is null until the case is accepted and once it is decided.
	Remaining   *int `json:"remaining_working_days"`
	WorkingDays int  `json:"working_days"`
}

func (h *handler) view(c *Case, now time.Time) caseView {
	k := h.svc.Clock()
	v := caseView{Case: c, Colour: k.Colour(c, now), WorkingDays: k.WorkingDays(c, now)}
	if c.Due != nil && c.Status.Open() {
		n := k.Remaining(c, now)
		v.Remaining = &n
	}
	if c.Materials == nil {
		c.Materials = []Material{}
	}
	return v
}

func (h *handler) views(cs []Case) []caseView {
	now := h.svc.Now()
	out := make([]caseView, len(cs))
	for i := range cs {
		out[i] = h.view(&cs[i], now)
	}
	return out
}

func (h *handler) writeCase(w http.ResponseWriter, status int, c *Case) {
	w.Header().Set("ETag", etag(c.Version))
	httpx.WriteJSON(w, status, h.view(c, h.svc.Now()))
}

func etag(version int) string { return strconv.Quote(strconv.Itoa(version)) }

// ifMatch is the version an If-Match header names: 0 when it names none
// (absent or "*").
func ifMatch(r *http.Request) (int, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	v = strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, govx.Errorf(govx.KindInvalid, "if_match_invalid", `If-Match names the case's version as its ETag shows it ("3")`)
	}
	return n, nil
}

// formID turns the caller's idempotency key into a form id of their own:
// two callers who happen to choose the same key do not see each other's
// case.
func formID(caller *auth.Claims, r *http.Request, body string) (string, error) {
	key := strings.TrimSpace(r.Header.Get("Idempotency-Key"))
	if key == "" {
		key = body
	}
	if key == "" {
		return "", nil
	}
	if !validFormID(key) {
		return "", govx.Errorf(govx.KindInvalid, "idempotency_key_invalid", "an Idempotency-Key (or form_id) is 8 to 64 letters, digits, - or _")
	}
	sum := sha256.Sum256([]byte(caller.Subject + "\x00" + caller.Dept + "\x00" + key))
	return "api-" + hex.EncodeToString(sum[:20]), nil
}

func (h *handler) items(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err == nil && caller.Person() {
		// A resident or a company: what they may apply for online.
		its, err := h.svc.OnlineItems(caller)
		if err != nil {
			h.fail(w, err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"items": append([]Item{}, its...)})
		return
	}
	if err == nil {
		err = need(caller, RoleClerk, RoleReviewer, RoleSupervisor)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	items := []Item{}
	for _, it := range h.svc.Items().All() {
		switch {
		case caller.Role == RoleSupervisor,
			caller.Role == RoleClerk && slices.Contains(it.IntakeDepts, caller.Dept),
			caller.Role == RoleReviewer && slices.Contains(it.Departments, caller.Dept):
			items = append(items, it)
		}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (h *handler) open(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	var in OpenInput
	if err := httpx.DecodeJSON(r, maxBody, &in); err != nil {
		h.refuse(w, r, caller, "case.open", in.Item, err)
		return
	}
	if in.FormID, err = formID(caller, r, in.FormID); err != nil {
		h.refuse(w, r, caller, "case.open", in.Item, err)
		return
	}
	var prior string
	if in.FormID != "" {
		if prior, err = h.svc.store.formCase(r.Context(), in.FormID, "open"); err != nil {
			h.refuse(w, r, caller, "case.open", in.Item, err)
			return
		}
	}
	c, err := h.svc.Open(r.Context(), caller, in)
	if err != nil {
		if in.FormID != "" && govx.ErrorCode(err) == postgres.CodeAlreadyExists {
			// The same key, sent again before the first request was done.
			err = govx.Errorf(govx.KindConflict, "request_in_progress", "a request with this Idempotency-Key is still being handled; send it again in a moment")
		}
		h.refuse(w, r, caller, "case.open", in.Item, err)
		return
	}
	w.Header().Set("Location", "/v1/cases/"+c.ID)
	if prior != "" {
		h.writeCase(w, http.StatusOK, c)
		return
	}
	h.writeCase(w, http.StatusCreated, c)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	f, err := parseFilter(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	cs, err := h.svc.List(r.Context(), caller, f)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"cases": h.views(cs)})
}

func parseFilter(r *http.Request) (Filter, error) {
	q := r.URL.Query()
	f := Filter{Status: Status(q.Get("status")), Colour: q.Get("colour"), Channel: q.Get("channel"), Limit: 100}
	if f.Status != "" && !slices.Contains(Statuses, f.Status) {
		return f, govx.Errorf(govx.KindInvalid, "status_invalid", "status is one of draft, submitted, returned, in_review, supplement, approved, rejected, ready, delivered")
	}
	if f.Channel != "" && f.Channel != ChannelWindow && f.Channel != ChannelOnline {
		return f, govx.Errorf(govx.KindInvalid, "channel_invalid", "channel is window or online")
	}
	if f.Colour != "" && !slices.Contains([]string{Green, Yellow, Red, Paused}, f.Colour) {
		return f, govx.Errorf(govx.KindInvalid, "colour_invalid", "colour is one of green, yellow, red, paused")
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return f, govx.Errorf(govx.KindInvalid, "limit_invalid", "limit is 1 to 500")
		}
		f.Limit = n
	}
	return f, nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	c, err := h.svc.Get(r.Context(), caller, r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	h.writeCase(w, http.StatusOK, c)
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	id := r.PathValue("id")
	hist, err := h.svc.History(r.Context(), caller, id)
	if err != nil {
		h.fail(w, err)
		return
	}
	if hist == nil {
		hist = []Entry{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"case_id": id, "history": hist})
}

// The bodies of the changes; each refuses fields it does not know.
type (
	acceptBody struct {
		Materials map[string]Choice `json:"materials"`
	}
	reviewBody struct {
		Decision Decision `json:"decision"`
		Reason   string   `json:"reason"`
	}
	prereviewBody struct {
		Decision string       `json:"decision"` // accept, return, refuse
		Items    []Correction `json:"items,omitempty"`
		Note     string       `json:"note,omitempty"`
		Reason   string       `json:"reason,omitempty"`
	}
	emptyBody struct{}
)

func decodeOptional(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return httpx.DecodeJSON(r, maxBody, v)
}

func (h *handler) change(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	var in ChangeInput
	if in.Version, err = ifMatch(r); err != nil {
		h.fail(w, err)
		return
	}
	if in.FormID, err = formID(caller, r, ""); err != nil {
		h.fail(w, err)
		return
	}
	ctx := r.Context()
	var c *Case
	switch action {
	case "verify":
		if err = decodeOptional(r, &emptyBody{}); err == nil {
			c, err = h.svc.Verify(ctx, caller, id, in)
		}
	case "accept":
		var body acceptBody
		if err = decodeOptional(r, &body); err == nil {
			c, err = h.svc.Accept(ctx, caller, id, in, body.Materials)
		}
	case "review":
		var body reviewBody
		if err = httpx.DecodeJSON(r, maxBody, &body); err == nil {
			c, err = h.svc.Review(ctx, caller, id, in, body.Decision, body.Reason)
		}
	case "supplied":
		if err = decodeOptional(r, &emptyBody{}); err == nil {
			c, err = h.svc.Supplied(ctx, caller, id, in)
		}
	case "deliver":
		if err = decodeOptional(r, &emptyBody{}); err == nil {
			c, err = h.svc.Deliver(ctx, caller, id, in)
		}
	case "submit":
		if err = decodeOptional(r, &emptyBody{}); err == nil {
			c, err = h.svc.Submit(ctx, caller, id)
		}
	case "prereview":
		var body prereviewBody
		if err = httpx.DecodeJSON(r, maxBody, &body); err == nil {
			switch body.Decision {
			case "accept":
				c, err = h.svc.AcceptOnline(ctx, caller, id, in)
			case "return":
				c, err = h.svc.ReturnOnline(ctx, caller, id, in, ReturnInput{Items: body.Items, Note: body.Note})
			case "refuse":
				c, err = h.svc.RefuseOnline(ctx, caller, id, in, body.Reason)
			default:
				err = govx.Errorf(govx.KindInvalid, "decision_invalid", "a pre-review decision is accept, return or refuse")
			}
		}
	default:
		httpx.NotFound(h.log)(w, r)
		return
	}
	if err != nil {
		h.refuse(w, r, caller, "case."+action, id, err)
		return
	}
	h.writeCase(w, http.StatusOK, c)
}

func (h *handler) queue(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	cs, err := h.svc.Queue(r.Context(), caller)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"cases": h.views(cs)})
}

func (h *handler) supervision(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	s, err := h.svc.Supervise(r.Context(), caller)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := struct {
		Counts   []StatusCount `json:"counts"`
		Depts    []DeptStats   `json:"departments"`
		Yellow   []caseView    `json:"yellow"`
		Red      []caseView    `json:"red"`
		Days     []DayActivity `json:"days"`
		RestDays DayActivity   `json:"rest_days"`
		Ratings  []int         `json:"ratings"`
	}{s.Counts, s.Depts, h.views(s.Yellow), h.views(s.Red), s.Days, s.RestDays, s.Ratings}
	if out.Days == nil {
		out.Days = []DayActivity{}
	}
	if out.Counts == nil {
		out.Counts = []StatusCount{}
	}
	if out.Depts == nil {
		out.Depts = []DeptStats{}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// allow spends one of the client address's and one of the case number's
// progress lookups (ProgressGuard).
func (h *handler) allow(w http.ResponseWriter, r *http.Request) bool {
	wait, err := h.guard.Allow(r.Context(), r, r.PathValue("id"))
	if err == nil {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, ratelimit.Seconds(wait))))
	httpx.WriteErrorStatus(w, h.log, "", http.StatusTooManyRequests, err)
	return false
}

func (h *handler) progress(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r) {
		return
	}
	p, err := h.svc.Progress(r.Context(), r.PathValue("id"), r.URL.Query().Get("last4"))
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p)
}

func (h *handler) rate(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r) {
		return
	}
	var body struct {
		Last4   string `json:"last4"`
		Score   int    `json:"score"`
		Comment string `json:"comment"`
	}
	if err := httpx.DecodeJSON(r, maxBody, &body); err != nil {
		h.fail(w, err)
		return
	}
	p, err := h.svc.Rate(r.Context(), r.PathValue("id"), body.Last4, body.Score, body.Comment)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, p)
}

// formCase is the case a form (an idempotency key) opened, or "".
func (s *Store) formCase(ctx context.Context, formID, action string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT case_id FROM casework.forms WHERE form_id = $1 AND action = $2`, formID, action).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", postgres.Translate("casework.Store.formCase", err, "")
	}
	return id, nil
}
