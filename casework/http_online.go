package casework

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
)

// The applicant's JSON API (online.go), with the applicant's own token
// (role citizen or legal_person), and the notifications' outbox.
func (h *handler) routeApplicant() {
	h.mux.HandleFunc("GET /v1/applications", h.myCases)
	h.mux.HandleFunc("POST /v1/applications", h.apply)
	h.mux.HandleFunc("GET /v1/applications/{id}", h.myCase)
	h.mux.HandleFunc("GET /v1/applications/{id}/timeline", h.myTimeline)
	h.mux.HandleFunc("GET /v1/applications/{id}/facts", h.plan)
	h.mux.HandleFunc("POST /v1/applications/{id}/{action}", h.applicantChange)
	h.mux.HandleFunc("PUT /v1/applications/{id}/materials/{code}/file", h.upload)
	h.mux.HandleFunc("GET /v1/applications/{id}/materials/{code}/file", h.download)
	h.mux.HandleFunc("POST /v1/applications/{id}/materials/{code}/commitment", h.commit)
	h.mux.HandleFunc("GET /v1/notifications", h.notifications)
}

// writeApplication answers a case as its applicant sees it.
func (h *handler) writeApplication(w http.ResponseWriter, status int, c *Case) {
	w.Header().Set("ETag", etag(c.Version))
	httpx.WriteJSON(w, status, h.view(c, h.svc.Now()))
}

// changeInput is the If-Match version and Idempotency-Key of a request.
// An applicant's key is made their own by the service.
func changeInput(r *http.Request) (ChangeInput, error) {
	var in ChangeInput
	var err error
	if in.Version, err = ifMatch(r); err != nil {
		return in, err
	}
	in.FormID = r.Header.Get("Idempotency-Key")
	if in.FormID != "" && !validFormID(in.FormID) {
		return in, govx.Errorf(govx.KindInvalid, "idempotency_key_invalid", "an Idempotency-Key is 8 to 64 letters, digits, - or _")
	}
	return in, nil
}

func (h *handler) myCases(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	cs, err := h.svc.MyCases(r.Context(), caller)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"cases": h.views(cs)})
}

func (h *handler) apply(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	var in OnlineInput
	if err := httpx.DecodeJSON(r, maxBody, &in); err != nil {
		h.refuse(w, r, caller, "application.open", in.Item, err)
		return
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		in.FormID = key
	}
	var prior string
	if in.FormID != "" && validFormID(in.FormID) {
		if prior, err = h.svc.store.formCase(r.Context(), ownForm(caller, in.FormID), "apply"); err != nil {
			h.fail(w, err)
			return
		}
	}
	c, err := h.svc.OpenOnline(r.Context(), caller, in)
	if err != nil {
		h.refuse(w, r, caller, "application.open", in.Item, err)
		return
	}
	w.Header().Set("Location", "/v1/applications/"+c.ID)
	status := http.StatusCreated
	if prior != "" {
		status = http.StatusOK // the same form again: the draft it started
	}
	h.writeApplication(w, status, c)
}

func (h *handler) myCase(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	c, err := h.svc.MyCase(r.Context(), caller, r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	h.writeApplication(w, http.StatusOK, c)
}

func (h *handler) myTimeline(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	tl, err := h.svc.MyTimeline(r.Context(), caller, r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"case_id": r.PathValue("id"), "timeline": tl})
}

func (h *handler) plan(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	facts, err := h.svc.Plan(r.Context(), caller, r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"case_id": r.PathValue("id"), "facts": facts})
}

func (h *handler) applicantChange(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	var step func(ctx context.Context, a *auth.Claims, id string, in ChangeInput) (*Case, error)
	switch action {
	case "preview-consent":
		step = h.svc.ConsentPreview
	case "preview":
		step = h.svc.Preview
	case "confirm":
		step = h.svc.Confirm
	case "submit":
		step = h.svc.SubmitOnline
	default:
		httpx.NotFound(h.log)(w, r)
		return
	}
	in, err := changeInput(r)
	if err == nil {
		err = decodeOptional(r, &emptyBody{})
	}
	var c *Case
	if err == nil {
		c, err = step(r.Context(), caller, id, in)
	}
	if err != nil {
		h.refuse(w, r, caller, "application."+action, id, err)
		return
	}
	h.writeApplication(w, http.StatusOK, c)
}

func (h *handler) commit(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	id := r.PathValue("id")
	in, err := changeInput(r)
	if err == nil {
		err = decodeOptional(r, &emptyBody{})
	}
	var c *Case
	if err == nil {
		c, err = h.svc.Commit(r.Context(), caller, id, r.PathValue("code"), in)
	}
	if err != nil {
		h.refuse(w, r, caller, "application.commit", id, err)
		return
	}
	h.writeApplication(w, http.StatusOK, c)
}

// upload takes the file as the request body, its name in the query
// (?name=). Its type is judged by its bytes; the Content-Type sent is not
// trusted.
func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	id := r.PathValue("id")
	max := h.svc.MaxUpload()
	if r.ContentLength > max {
		h.refuse(w, r, caller, "application.upload", id, govx.Errorf(govx.KindInvalid, CodeFileTooLarge, "a file is at most %d MB", max>>20))
		return
	}
	body := http.MaxBytesReader(w, r.Body, max+1)
	c, err := h.svc.Upload(r.Context(), caller, id, r.PathValue("code"), r.URL.Query().Get("name"), body)
	if err != nil {
		h.refuse(w, r, caller, "application.upload", id, err)
		return
	}
	h.writeApplication(w, http.StatusOK, c)
}

// download answers an uploaded file, to its applicant (under
// /v1/applications) or a reviewer (under /v1/cases), as an attachment that
// a browser does not sniff or render in place.
func (h *handler) download(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	f, err := h.svc.Download(r.Context(), caller, r.PathValue("id"), r.PathValue("code"))
	if err != nil {
		h.fail(w, err)
		return
	}
	ServeFile(w, f)
}

// ServeFile answers f as a download: its checked content type, its name
// as an attachment, never cached, never sniffed.
func ServeFile(w http.ResponseWriter, f *File) {
	w.Header().Set("Content-Type", f.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.Data)))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, asciiName(f), url.PathEscape(f.Name)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("Digest", "sha-256="+f.SHA256)
	w.WriteHeader(http.StatusOK)
	w.Write(f.Data)
}

// asciiName is the file's name for clients that do not read filename*:
// its non-ASCII characters replaced.
func asciiName(f *File) string {
	b := []byte{}
	for _, r := range f.Name {
		if r < 0x20 || r > 0x7E || r == '"' || r == '\\' {
			r = '_'
		}
		b = append(b, byte(r))
	}
	return string(b)
}

func (h *handler) notifications(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	q := r.URL.Query()
	before, err1 := optInt(q.Get("before"), 0, 1<<62)
	limit, err2 := optInt(q.Get("limit"), 1, 200)
	if err1 != nil || err2 != nil {
		h.fail(w, govx.Errorf(govx.KindInvalid, "query_invalid", "before is a notification id; limit is 1 to 200"))
		return
	}
	ns, err := h.svc.Notifications(r.Context(), caller, before, int(limit))
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"notifications": append([]Notice{}, ns...)})
}

func (h *handler) outbox(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	q := r.URL.Query()
	after, err1 := optInt(q.Get("after"), 0, 1<<62)
	limit, err2 := optInt(q.Get("limit"), 1, 1000)
	if err1 != nil || err2 != nil {
		h.fail(w, govx.Errorf(govx.KindInvalid, "query_invalid", "after is an outbox row id; limit is 1 to 1000"))
		return
	}
	rows, err := h.svc.NotificationOutbox(r.Context(), caller, q.Get("status"), after, int(limit))
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"notifications": append([]OutboxNotice{}, rows...)})
}

// optInt parses an optional query number within [min, max]; "" is 0.
func optInt(s string, min, max int64) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, govx.Errorf(govx.KindInvalid, "query_invalid", "out of range")
	}
	return n, nil
}
