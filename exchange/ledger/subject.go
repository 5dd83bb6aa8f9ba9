package ledger

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"govx"
	"govx/consent"
	"govx/internal/httpx"
	"govx/internal/postgres"
)

// SubjectAccess is one access to a data subject's data, as the subject
// sees it: which department looked, at what, why and under which consent.
// It names no person on the department's side and no other data subject.
type SubjectAccess struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	RequestID string    `json:"request_id"`
	Consumer  string    `json:"consumer"`
	Resource  string    `json:"resource"`
	Provider  string    `json:"provider"`
	Fields    []string  `json:"fields"`
	Purpose   string    `json:"purpose"`
	CaseID    string    `json:"case_id,omitempty"`
	ConsentID string    `json:"consent_id,omitempty"`
	Outcome   string    `json:"outcome"`
	Code      string    `json:"code"`
}

// OutcomeMeanings says, in the data subject's access view, what each
// outcome of an access means.
var OutcomeMeanings = map[string]string{
	Released: "the register answered and the exchange released the answer to the department: the record was sent. " +
		"The entry is written before the answer leaves, so in rare cases (a failure at that moment) the department never received it.",
	Answered: "as released (entries written before 'released' existed).",
	Refused:  "the exchange refused the request (no right, no consent, bad input): no data was sent.",
	Failed:   "the register answered with an error or not at all: no data was sent.",
}

// Accesses lists the audit entries about subject, newest first, those
// before seq before (0: from the newest), at most limit. Entries written
// before the ledger recorded data subjects are found by their key.
func (l *Ledger) Accesses(ctx context.Context, subject string, before int64, limit int) ([]SubjectAccess, error) {
	const op = "ledger.Accesses"
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := l.pool.Query(ctx, `SELECT seq, at, request_id, consumer, resource, provider, fields, purpose, consent_id, outcome, code
		FROM exchange.audit
		WHERE (data_subject = $1 OR (data_subject = '' AND subject_key = $1)) AND seq < $2
		ORDER BY seq DESC LIMIT $3`, subject, before, limit)
	if err != nil {
		return nil, postgres.Translate(op, err, "")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SubjectAccess, error) {
		var a SubjectAccess
		err := row.Scan(&a.Seq, &a.At, &a.RequestID, &a.Consumer, &a.Resource, &a.Provider, &a.Fields, &a.Purpose, &a.ConsentID, &a.Outcome, &a.Code)
		a.At = a.At.UTC()
		if id, ok := strings.CutPrefix(a.Purpose, "case:"); ok {
			a.CaseID = id
		}
		return a, err
	})
	return out, postgres.Translate(op, err, "")
}

// SubjectHandlerConfig is what the data subject's access view needs.
type SubjectHandlerConfig struct {
	Ledger   *Ledger
	Verifier httpx.Verifier
	Logger   *slog.Logger // default slog.Default()
}

func (c *SubjectHandlerConfig) Validate() error {
	if c.Ledger == nil || c.Verifier == nil {
		return govx.Errorf(govx.KindInvalid, "config_invalid", "ledger: a subject handler needs a Ledger and a Verifier")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// NewSubjectHandler serves GET /v1/subjects/{subject}/accesses: a data
// subject, signed in as themselves, lists every access to their data.
// No one else may (403 not_data_subject).
func NewSubjectHandler(cfg SubjectHandlerConfig) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l, verifier, log := cfg.Ledger, cfg.Verifier, cfg.Logger
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := httpx.Authenticate(r, verifier)
		if err != nil {
			httpx.WriteError(w, log, "", err)
			return
		}
		subject := r.PathValue("subject")
		if err := consent.SubjectOnly(caller, subject); err != nil {
			httpx.WriteError(w, log, "", err)
			return
		}
		q := r.URL.Query()
		limit, before := 100, int64(0)
		if v := q.Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
				httpx.WriteError(w, log, "", govx.Errorf(govx.KindInvalid, "invalid_limit", "limit is 1 to 500"))
				return
			}
		}
		if v := q.Get("before"); v != "" {
			if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
				httpx.WriteError(w, log, "", govx.Errorf(govx.KindInvalid, "invalid_cursor", "before is the seq of an access from a previous page"))
				return
			}
		}
		out, err := l.Accesses(r.Context(), subject, before, limit)
		if err != nil {
			httpx.WriteError(w, log, "", err)
			return
		}
		if out == nil {
			out = []SubjectAccess{}
		}
		page := map[string]any{"subject": subject, "accesses": out, "outcomes": OutcomeMeanings}
		if len(out) == limit {
			page["next"] = "?before=" + strconv.FormatInt(out[len(out)-1].Seq, 10) + "&limit=" + strconv.Itoa(limit)
		}
		httpx.WriteJSON(w, http.StatusOK, page)
	}), nil
}
