package consent

import (
	_ "embed"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"govx"
	"govx/internal/auth"
	"govx/internal/httpx"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the OpenAPI 3.1 document of the consent API.
func OpenAPI() []byte { return openAPI }

const maxBody = 32 << 10

type handler struct {
	store    *Store
	verifier httpx.Verifier
	log      *slog.Logger
	mux      *http.ServeMux
}

// HandlerConfig is what the consent API needs.
type HandlerConfig struct {
	Store    *Store
	Verifier httpx.Verifier
	Logger   *slog.Logger // default slog.Default()
}

func (c *HandlerConfig) Validate() error {
	if c.Store == nil || c.Verifier == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "consent: a handler needs a Store and a Verifier")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// NewHandler serves the consent API: record a consent (a clerk at the
// window, or the data subject), read it and its history (the subject or
// the consumer), revoke, pause or resume it (the subject only), list a
// subject's consents (the subject only), verify an artefact (anyone) and
// the artefact keys as a JWKS.
func NewHandler(cfg HandlerConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	h := &handler{store: cfg.Store, verifier: cfg.Verifier, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /v1/consents", h.create)
	h.mux.HandleFunc("GET /v1/consents/keys", h.keys)
	h.mux.HandleFunc("GET /v1/consents/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	h.mux.HandleFunc("POST /v1/consents/verify", h.verify)
	h.mux.HandleFunc("GET /v1/consents/{id}", h.get)
	h.mux.HandleFunc("GET /v1/consents/{id}/history", h.history)
	h.mux.HandleFunc("POST /v1/consents/{id}/{action}", h.change)
	h.mux.HandleFunc("GET /v1/subjects/{subject}/consents", h.ofSubject)
	h.mux.HandleFunc("/", httpx.NotFound(log))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) fail(w http.ResponseWriter, err error) { httpx.WriteError(w, h.log, "", err) }

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	var req Request
	if err := httpx.DecodeJSON(r, maxBody, &req); err != nil {
		h.store.logRefusal(r.Context(), caller, "", "", "create", err)
		h.fail(w, err)
		return
	}
	c, err := h.store.Create(r.Context(), caller, req)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Location", "/v1/consents/"+c.ID)
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(c.Version)))
	httpx.WriteJSON(w, http.StatusCreated, c)
}

// readable fetches consent id for caller: its data subject or its consumer
// department. Anyone else is told it does not exist (no probing for ids).
func (h *handler) readable(r *http.Request) (*Consent, error) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		return nil, err
	}
	c, err := h.store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if !IsSubject(caller, c.Subject) && (caller.Dept == "" || caller.Dept != c.Consumer) {
		return nil, govx.Errorf(govx.KindForbidden, "not_allowed", "only the data subject and the consumer department may read consent %s", c.ID)
	}
	return c, nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.readable(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(c.Version)))
	httpx.WriteJSON(w, http.StatusOK, c)
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	c, err := h.readable(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	log, err := h.store.History(r.Context(), c.ID)
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"consent_id": c.ID, "history": log})
}

func (h *handler) change(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	action := r.PathValue("action")
	if action != ActionRevoke && action != ActionPause && action != ActionResume {
		httpx.NotFound(h.log)(w, r)
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(r, maxBody, &body); err != nil {
			h.fail(w, err)
			return
		}
	}
	ifVersion := 0
	if m := r.Header.Get("If-Match"); m != "" {
		v, err := strconv.Atoi(strings.Trim(strings.TrimPrefix(m, "W/"), `"`))
		if err != nil || v <= 0 {
			h.fail(w, govx.Errorf(govx.KindInvalid, "invalid_if_match", "If-Match is the consent's ETag, e.g. \"2\""))
			return
		}
		ifVersion = v
	}
	c, err := h.store.Change(r.Context(), caller, r.PathValue("id"), action, body.Reason, ifVersion)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(c.Version)))
	httpx.WriteJSON(w, http.StatusOK, c)
}

func (h *handler) ofSubject(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	subject := r.PathValue("subject")
	if err := SubjectOnly(caller, subject); err != nil {
		h.fail(w, err)
		return
	}
	cs, err := h.store.OfSubject(r.Context(), subject, 500)
	if err != nil {
		h.fail(w, err)
		return
	}
	if cs == nil {
		cs = []Consent{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"subject": subject, "consents": cs})
}

// SubjectOnly lets only the data subject itself through: a malformed
// subject is invalid_subject, anyone else not_data_subject.
func SubjectOnly(caller *auth.Claims, subject string) error {
	if _, err := SubjectType(subject); err != nil {
		return err
	}
	if !IsSubject(caller, subject) {
		return govx.Errorf(govx.KindForbidden, "not_data_subject",
			"only the data subject, signed in as themselves (role citizen for an ID number, legal_person for a company), may see this")
	}
	return nil
}

func (h *handler) keys(w http.ResponseWriter, r *http.Request) {
	b, err := h.store.key.JWKS()
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(b)
}

// Verification is the answer to an artefact check: what it states, and
// whether the consent still holds now.
type Verification struct {
	Valid     bool            `json:"valid"`
	KeyID     string          `json:"key_id"`
	Consent   *ArtefactClaims `json:"consent"`
	Status    Status          `json:"status"` // now, from the store
	CheckedAt time.Time       `json:"checked_at"`
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	// Verification is open to anyone holding an artefact; a token, if
	// sent, names who asked in the log.
	var caller *auth.Claims
	if r.Header.Get("Authorization") != "" {
		c, err := httpx.Authenticate(r, h.verifier)
		if err != nil {
			h.fail(w, err)
			return
		}
		caller = c
	}
	var body struct {
		Artefact string `json:"artefact"`
	}
	if err := httpx.DecodeJSON(r, maxBody, &body); err != nil {
		h.fail(w, err)
		return
	}
	claims, err := VerifyArtefact(strings.TrimSpace(body.Artefact), h.store.key)
	if err != nil {
		h.store.LogRefusal(r.Context(), caller, "", "verify", err)
		h.fail(w, err)
		return
	}
	c, err := h.store.Get(r.Context(), claims.ID)
	if err != nil {
		if govx.ErrorKind(err) == govx.KindNotFound {
			err = govx.Errorf(govx.KindInvalid, "consent_signature_invalid", "the artefact is signed but names no consent this service holds")
			h.store.LogRefusal(r.Context(), caller, claims.ID, "verify", err)
		}
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, Verification{Valid: true, KeyID: h.store.key.ID, Consent: claims, Status: c.Status, CheckedAt: time.Now().UTC()})
}
