package ledger

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI is the OpenAPI 3.1 document of the operator's audit API.
func OpenAPI() []byte { return openAPIDoc }

// RoleOperator is the token role that may read the operator's audit view.
const RoleOperator = "operator"

// Paging of List.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Filter selects entries for the operator's view. Zero fields do not
// filter.
type Filter struct {
	Resource string
	Consumer string
	Since    time.Time // entries at or after
	Before   int64     // entries with a lower seq: the paging cursor
	Limit    int       // 0 means DefaultLimit; at most MaxLimit
}

// Validate checks f and fills in the default limit. Errors are Invalid
// with the code of the parameter at fault.
func (f *Filter) Validate() error {
	switch {
	case len(f.Resource) > 128:
		return govx.Errorf(govx.KindInvalid, "invalid_resource", "resource must be at most 128 characters")
	case len(f.Consumer) > 128:
		return govx.Errorf(govx.KindInvalid, "invalid_consumer", "consumer must be at most 128 characters")
	}
	return httpx.CheckPage(&f.Limit, f.Before, DefaultLimit, MaxLimit)
}

// MaskedEntry is an audit entry as an operator sees it: every ID number
// masked (MaskSubject, MaskText), the hashes left out.
type MaskedEntry struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	RequestID  string    `json:"request_id"`
	Caller     string    `json:"caller"`
	Consumer   string    `json:"consumer"`
	Resource   string    `json:"resource"`
	Provider   string    `json:"provider"`
	SubjectKey string    `json:"subject_key"`
	Fields     []string  `json:"fields"`
	Purpose    string    `json:"purpose"`
	Outcome    string    `json:"outcome"`
	Code       string    `json:"code"`
	Status     int       `json:"status"`
	Rule       string    `json:"rule"`
	// DataSubject is whose data, masked; ConsentID the consent that
	// allowed the access.
	DataSubject string `json:"data_subject"`
	ConsentID   string `json:"consent_id"`
}

// Mask returns e as an operator may see it.
func (e *Entry) Mask() MaskedEntry {
	fields := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		fields[i] = MaskText(f)
	}
	return MaskedEntry{Seq: e.Seq, At: e.At.UTC(), RequestID: MaskText(e.RequestID), Caller: MaskText(e.Caller),
		Consumer: MaskText(e.Consumer), Resource: MaskText(e.Resource), Provider: MaskText(e.Provider),
		SubjectKey: MaskSubject(e.SubjectKey), Fields: fields, Purpose: MaskText(e.Purpose), Outcome: e.Outcome,
		Code: MaskText(e.Code), Status: e.Status, Rule: MaskText(e.Rule),
		DataSubject: maskIfSet(e.DataSubject), ConsentID: MaskText(e.ConsentID)}
}

func maskIfSet(s string) string {
	if s == "" {
		return ""
	}
	return MaskSubject(s)
}

// List returns the newest entries matching f, newest first, masked:
// nothing it returns holds a full ID number.
func List(ctx context.Context, pool *pgxpool.Pool, f Filter) ([]MaskedEntry, error) {
	const op = "ledger.List"
	if err := f.Validate(); err != nil {
		return nil, govx.E(op, err)
	}
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Resource != "" {
		arg("resource = ?", f.Resource)
	}
	if f.Consumer != "" {
		arg("consumer = ?", f.Consumer)
	}
	if !f.Since.IsZero() {
		arg("at >= ?", f.Since)
	}
	if f.Before > 0 {
		arg("seq < ?", f.Before)
	}
	q := `SELECT seq, at, request_id, caller, consumer, resource, provider, subject_key, fields, purpose,
		outcome, code, status, rule, data_subject, consent_id FROM exchange.audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, f.Limit)
	q += " ORDER BY seq DESC LIMIT $" + strconv.Itoa(len(args))
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	out := []MaskedEntry{}
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.Seq, &e.At, &e.RequestID, &e.Caller, &e.Consumer, &e.Resource, &e.Provider,
			&e.SubjectKey, &e.Fields, &e.Purpose, &e.Outcome, &e.Code, &e.Status, &e.Rule, &e.DataSubject, &e.ConsentID); err != nil {
			return nil, postgres.Translate(op, err, "")
		}
		out = append(out, e.Mask())
	}
	if err := rows.Err(); err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	return out, nil
}

// Page is the answer of GET /v1/audit.
type Page struct {
	Entries []MaskedEntry `json:"entries"`
	// NextBefore is the cursor of the next (older) page; nil on the last.
	NextBefore *int64 `json:"next_before"`
}

type handler struct {
	pool     *pgxpool.Pool
	verifier httpx.Verifier
	log      *slog.Logger
	mux      *http.ServeMux
}

// HandlerConfig is what the operator's view of the ledger needs.
type HandlerConfig struct {
	Pool     *pgxpool.Pool
	Verifier httpx.Verifier
	Logger   *slog.Logger // default slog.Default()
}

func (c *HandlerConfig) Validate() error {
	if c.Pool == nil || c.Verifier == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "ledger: a handler needs a Pool and a Verifier")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// NewHandler serves the operator's view of the audit ledger:
// GET /v1/audit (role operator; newest first, paged with ?before=<seq>;
// ID numbers masked) and its document at GET /v1/audit/openapi.json.
func NewHandler(cfg HandlerConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	h := &handler{pool: cfg.Pool, verifier: cfg.Verifier, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/audit", h.list)
	h.mux.HandleFunc("GET /v1/audit/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDoc)
	})
	h.mux.HandleFunc("/", httpx.NotFound(log))
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	c, err := httpx.Authenticate(r, h.verifier)
	if err != nil {
		httpx.WriteError(w, h.log, "", err)
		return
	}
	if c.Role != RoleOperator {
		httpx.WriteError(w, h.log, "", govx.Errorf(govx.KindForbidden, "role_required", "the audit view is for the %s role", RoleOperator))
		return
	}
	f, err := parseQuery(r)
	if err != nil {
		httpx.WriteError(w, h.log, "", err)
		return
	}
	entries, err := List(r.Context(), h.pool, f)
	if err != nil {
		httpx.WriteError(w, h.log, "", err)
		return
	}
	page := Page{Entries: entries}
	if n := len(entries); n > 0 && n == f.Limit && entries[n-1].Seq > 1 {
		next := entries[n-1].Seq
		page.NextBefore = &next
	}
	httpx.WriteJSON(w, http.StatusOK, page)
}

// parseQuery reads the filter from r's query, refusing parameters it
// does not know and parameters given twice, so a typo does not silently
// widen the view.
func parseQuery(r *http.Request) (Filter, error) {
	p, got, err := httpx.ParseListQuery(r.URL.RawQuery, "invalid_query", MaxLimit, "resource", "consumer")
	if err != nil {
		return Filter{}, err
	}
	f := Filter{Resource: got["resource"], Consumer: got["consumer"], Since: p.Since, Before: p.Before, Limit: p.Limit}
	return f, f.Validate()
}
