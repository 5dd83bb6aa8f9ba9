package wallet

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"govx"
	"govx/internal/httpx"
	"govx/internal/ratelimit"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI is the OpenAPI 3.1 document of the wallet API.
func OpenAPI() []byte { return openAPI }

// Routes of the wallet API, each mounted on a node's router.
var Routes = []string{
	"GET /v1/wallet/openapi.json",
	"POST /v1/wallet/{subject}/open",
	"GET /v1/wallet/{subject}",
	"GET /v1/wallet/{subject}/licences/{code}/pdf",
	"GET /v1/verify/{code}",
	"GET /v1/verify/{code}/qr",
	"GET /v1/subjects/{subject}/accesses/{request_id}/proof",
}

// VerifyLimit is how many verifications one client address may ask for:
// a code cannot be found by trying.
var VerifyLimit = ratelimit.PerMinute(30, 10)

// Guard spends one verification of a client address; nil error when
// allowed, else rate_limited with how long to wait. The address is the
// connection's: a header naming another could be forged.
type Guard struct{ lim *ratelimit.Limiter }

// NewGuard limits verifications with lim (nil: a limiter in this process
// alone).
func NewGuard(lim *ratelimit.Limiter) *Guard {
	if lim == nil {
		lim, _ = ratelimit.New(ratelimit.Config{})
	}
	return &Guard{lim: lim}
}

// Allow spends one of r's client address's verifications.
func (g *Guard) Allow(ctx context.Context, r *http.Request) (time.Duration, error) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	res := g.lim.Allow(ctx, "verify:addr:"+host, VerifyLimit)
	if !res.Allowed {
		return res.RetryAfter, govx.Errorf(govx.KindUnavailable, "rate_limited", "too many verifications from your address; try again in a minute")
	}
	return 0, nil
}

// HandlerConfig is what the wallet API needs.
type HandlerConfig struct {
	Wallet   *Service
	Proofs   *Proofs
	Guard    *Guard
	Verifier httpx.Verifier
	// Origin is the public origin ("https://hall.example.gov.cn") the PDF
	// copy and the QR code write before a code's link; "" takes the
	// request's own.
	Origin string
	Logger *slog.Logger // default slog.Default()
}

func (c *HandlerConfig) Validate() error {
	if c.Wallet == nil || c.Proofs == nil || c.Verifier == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "wallet: a handler needs a Wallet, Proofs and a Verifier")
	}
	if c.Guard == nil {
		c.Guard = NewGuard(nil)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

type handler struct {
	cfg HandlerConfig
	mux *http.ServeMux
}

// NewHandler serves the wallet API (Routes): the holder's wallet, opened
// under their consent, and each licence's PDF copy (the holder alone);
// the public verification of a code and its QR code (anyone, rate
// limited); and the proof of an access to the subject's data (the subject
// alone).
func NewHandler(cfg HandlerConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/wallet/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	h.mux.HandleFunc("POST /v1/wallet/{subject}/open", h.open)
	h.mux.HandleFunc("GET /v1/wallet/{subject}", h.get)
	h.mux.HandleFunc("GET /v1/wallet/{subject}/licences/{code}/pdf", h.pdf)
	h.mux.HandleFunc("GET /v1/verify/{code}", h.verify)
	h.mux.HandleFunc("GET /v1/verify/{code}/qr", h.qr)
	h.mux.HandleFunc("GET /v1/subjects/{subject}/accesses/{request_id}/proof", h.proof)
	h.mux.HandleFunc("/", httpx.NotFound(cfg.Logger))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) fail(w http.ResponseWriter, err error) { httpx.WriteError(w, h.cfg.Logger, "", err) }

func (h *handler) open(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.cfg.Verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	c, err := h.cfg.Wallet.Open(r.Context(), caller, r.PathValue("subject"))
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, c)
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.cfg.Verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	wl, err := h.cfg.Wallet.Get(r.Context(), caller, r.PathValue("subject"))
	if err != nil {
		h.fail(w, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, wl)
}

// Origin is the origin a code's link starts with: the configured one, or
// the request's.
func Origin(configured string, r *http.Request) string {
	if configured != "" {
		return configured
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *handler) pdf(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.cfg.Verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	card, err := h.cfg.Wallet.Card(r.Context(), caller, r.PathValue("subject"), r.PathValue("code"))
	if err != nil {
		h.fail(w, err)
		return
	}
	WritePDF(w, h.cfg.Logger, card, Origin(h.cfg.Origin, r), time.Now())
}

// WritePDF answers card's PDF copy as a download.
func WritePDF(w http.ResponseWriter, log *slog.Logger, card *Card, origin string, now time.Time) {
	var buf bytes.Buffer
	if err := PDF(&buf, card, origin, now); err != nil {
		httpx.WriteError(w, log, "", err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `attachment; filename="licence-`+card.Code+`.pdf"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func (h *handler) allow(w http.ResponseWriter, r *http.Request) bool {
	wait, err := h.cfg.Guard.Allow(r.Context(), r)
	if err == nil {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(max(1, ratelimit.Seconds(wait))))
	httpx.WriteErrorStatus(w, h.cfg.Logger, "", http.StatusTooManyRequests, err)
	return false
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	if !h.allow(w, r) {
		return
	}
	httpx.WriteJSON(w, http.StatusOK, h.cfg.Wallet.Verify(r.Context(), r.PathValue("code")))
}

// qr draws the QR code of a code's verification link. It draws one for
// any well-formed code, known or not: it says nothing about the code.
func (h *handler) qr(w http.ResponseWriter, r *http.Request) {
	code, ok := NormaliseCode(r.PathValue("code"))
	if !ok {
		h.fail(w, govx.Errorf(govx.KindInvalid, "invalid_code", "a verification code is ten characters of 0-9 and A-Z, e.g. 7K3QD-M9XT2"))
		return
	}
	png, err := QR(Origin(h.cfg.Origin, r)+h.cfg.Wallet.VerifyURL(code), 256)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(png)
}

func (h *handler) proof(w http.ResponseWriter, r *http.Request) {
	caller, err := httpx.Authenticate(r, h.cfg.Verifier)
	if err != nil {
		h.fail(w, err)
		return
	}
	p, err := h.cfg.Proofs.Proof(r.Context(), caller, r.PathValue("subject"), r.PathValue("request_id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	WriteProof(w, h.cfg.Logger, p)
}

// WriteProof answers a proof artefact as a download.
func WriteProof(w http.ResponseWriter, log *slog.Logger, p json.Marshaler) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		httpx.WriteError(w, log, "", govx.E("wallet.WriteProof", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="access-proof.json"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}
