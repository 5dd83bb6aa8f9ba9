package licence

import (
	"context"
	"crypto/ed25519"
	"embed"
	"encoding/json"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/adapters"
	"govx/bus"
	"govx/internal/outbox"
	"govx/internal/postgres"
)

// Migrations holds the SQL that creates the licence schema.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Schema is the licensing department's database schema.
const Schema = "licence"

// MigrationSource is the licence schema's migrations, for postgres.Migrate.
func MigrationSource() postgres.Source {
	src := postgres.SourceDir("licence", Migrations, "migrations")
	src.Built = []postgres.Migration{outbox.Migration("003_outbox.sql", Schema), adapters.LogMigration("004_provider_log.sql", Schema)}
	// 001 created the outbox table itself until 003 took it over.
	src.Replaces = map[string][]string{"001_licence.sql": {"d2a5b35f3c72c7b78bade0baced0aaddd446183b5bf18a3733085866428fc29a"}}
	return src
}

// Store is the electronic licence register in PostgreSQL. It is safe for
// concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	outbox *adapters.Outbox
	now    func() time.Time
}

// NewStore returns a Store on pool, whose database must have the licence
// migrations applied. Revocations write their change events into outbox,
// which should be adapters.NewOutbox(pool, Schema, Department, codec, log);
// a store without one can read, seed and issue (without announcing it)
// but neither revoke nor take orders (IssueOrder).
func NewStore(pool *pgxpool.Pool, outbox *adapters.Outbox) *Store {
	return &Store{pool: pool, outbox: outbox, now: time.Now}
}

// columns are the licence columns, in the order of scanLicence and the
// rows Seed copies.
var columns = []string{"number", "id", "type", "holder_code", "holder_name", "authority", "authority_code",
	"issue_date", "valid_from", "valid_until", "status", "items", "seal_key_id", "seal",
	"revoked_at", "revocation_reason", "updated_at"}

const selectLicence = `SELECT number, id, type, holder_code, holder_name, authority, authority_code,
	issue_date, valid_from, valid_until, status, items, seal_key_id, seal,
	revoked_at, coalesce(revocation_reason, ''), updated_at FROM licence.licences `

func scanLicence(row pgx.Row) (Licence, error) {
	var l Licence
	var items []byte
	err := row.Scan(&l.Number, &l.ID, &l.Type, &l.HolderCode, &l.HolderName, &l.Authority, &l.AuthorityCode,
		&l.IssueDate, &l.ValidFrom, &l.ValidUntil, &l.Status, &items, &l.SealKeyID, &l.Seal,
		&l.RevokedAt, &l.RevocationReason, &l.UpdatedAt)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(items, &l.Items); err != nil {
		return l, err
	}
	l.IssueDate, l.ValidFrom, l.ValidUntil, l.UpdatedAt = l.IssueDate.UTC(), l.ValidFrom.UTC(), l.ValidUntil.UTC(), l.UpdatedAt.UTC()
	if l.RevokedAt != nil {
		t := l.RevokedAt.UTC()
		l.RevokedAt = &t
	}
	return l, nil
}

// effective reports a licence whose validity has run out as expired.
func (s *Store) effective(l *Licence) {
	l.Status = l.EffectiveStatus(s.now())
}

// Licence returns the licence with the given number, with its effective
// status. A number no licence type could have is KindInvalid
// ("invalid_licence_number") and never reaches the database; an unknown
// one is KindNotFound ("licence_not_found").
func (s *Store) Licence(ctx context.Context, number string) (Licence, error) {
	const op = "licence.Store.Licence"
	if _, err := TypeOf(number); err != nil {
		return Licence{}, govx.E(op, err)
	}
	l, err := scanLicence(s.pool.QueryRow(ctx, selectLicence+`WHERE number = $1`, number))
	if err != nil {
		return Licence{}, s.notFound(op, err)
	}
	s.effective(&l)
	return l, nil
}

func (s *Store) notFound(op string, err error) error {
	err = postgres.Translate(op, err, "licence_not_found")
	if govx.ErrorKind(err) == govx.KindNotFound {
		return &govx.Error{Kind: govx.KindNotFound, Code: "licence_not_found", Op: op, Message: "no licence with that number"}
	}
	return err
}

// TypeOf returns the type of licence whose number has the shape of number,
// or KindInvalid ("invalid_licence_number").
func TypeOf(number string) (string, error) {
	for _, t := range Types {
		if ValidateNumber(t, number) == nil {
			return t, nil
		}
	}
	return "", govx.Errorf(govx.KindInvalid, codeInvalidNumber, "%q is not the number of a food business, pharmacy, construction safety or road transport licence", truncate(number, 64))
}

// MaxByHolder is the most licences ByHolder lists.
const MaxByHolder = 100

// Holding is a holder's licences: the most recent first, at most the limit
// asked for, and how many they hold in all.
type Holding struct {
	HolderCode string
	Total      int
	Licences   []Licence
}

// ByHolder lists the licences of the holder code (a unified social credit
// code or resident ID number), most recently issued first, at most limit
// of them (1 to MaxByHolder; 0 means MaxByHolder). A malformed code is
// KindInvalid ("invalid_holder"); a holder without licences has an empty
// list.
func (s *Store) ByHolder(ctx context.Context, code string, limit int) (Holding, error) {
	const op = "licence.Store.ByHolder"
	if err := ValidateHolder(code); err != nil {
		return Holding{}, govx.E(op, err)
	}
	if limit == 0 {
		limit = MaxByHolder
	}
	if limit < 0 || limit > MaxByHolder {
		return Holding{}, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_limit", "limit must be 1 to %d", MaxByHolder))
	}
	h := Holding{HolderCode: code, Licences: []Licence{}}
	rows, err := s.pool.Query(ctx, selectLicence+`WHERE holder_code = $1 ORDER BY issue_date DESC, number LIMIT $2`, code, limit)
	if err != nil {
		return Holding{}, postgres.Translate(op, err, "")
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLicence(rows)
		if err != nil {
			return Holding{}, postgres.Translate(op, err, "")
		}
		s.effective(&l)
		h.Licences = append(h.Licences, l)
	}
	if err := rows.Err(); err != nil {
		return Holding{}, postgres.Translate(op, err, "")
	}
	h.Total = len(h.Licences)
	if h.Total == limit {
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM licence.licences WHERE holder_code = $1`, code).Scan(&h.Total); err != nil {
			return Holding{}, postgres.Translate(op, err, "")
		}
	}
	return h, nil
}

// Count returns the number of licences in the register.
func (s *Store) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM licence.licences`).Scan(&n)
	return n, postgres.Translate("licence.Store.Count", err, "")
}

// PutIssuerKeys stores seal keys in the register's key table; keys already
// there are left as they are.
func (s *Store) PutIssuerKeys(ctx context.Context, keys []IssuerKey) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return postgres.Translate("licence.Store.PutIssuerKeys", err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := putIssuerKeys(ctx, tx, keys); err != nil {
		return err
	}
	return postgres.Translate("licence.Store.PutIssuerKeys", tx.Commit(ctx), "")
}

// DefaultAuthority is the authority that issues the licences the one
// window orders without naming one: a market regulation bureau (市场监督管理局,
// which issues food business licences) with an active seal key, or else
// any authority with one; the lowest code among equals. It is "" when the
// register holds no active seal key (nothing seeded yet).
func (s *Store) DefaultAuthority(ctx context.Context) (string, error) {
	var code string
	err := s.pool.QueryRow(ctx, `SELECT authority_code FROM licence.issuer_keys WHERE retired_at IS NULL
		ORDER BY (authority LIKE '%市场监督管理局%') DESC, authority_code LIMIT 1`).Scan(&code)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return code, postgres.Translate("licence.Store.DefaultAuthority", err, "")
}

func putIssuerKeys(ctx context.Context, tx pgx.Tx, keys []IssuerKey) error {
	for _, k := range keys {
		_, err := tx.Exec(ctx, `INSERT INTO licence.issuer_keys (key_id, authority_code, authority, division_code, private_key, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id) DO NOTHING`,
			k.KeyID, k.Authority.Code, k.Authority.Name, k.Authority.Division, []byte(k.Private.Seed()), k.CreatedAt)
		if err != nil {
			return postgres.Translate("licence.Store.PutIssuerKeys", err, "")
		}
	}
	return nil
}

// Seed loads licences [from, from+n) of g into the register with COPY, and
// the seal keys that sealed them into licence.issuer_keys, in one
// transaction; it returns how many licences it loaded. Signing is the
// costly part, so the licences are made and sealed by one worker per CPU
// while the rows stream to the database. A range overlapping licences
// already loaded fails with KindConflict ("already_exists") and leaves the
// register as it was; a range outside [0, Capacity) is KindInvalid.
func (s *Store) Seed(ctx context.Context, g *Generator, from, n int) (int64, error) {
	const op = "licence.Store.Seed"
	if from < 0 || n < 0 || from > Capacity-n {
		return 0, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_range",
			"licences [%d, %d+%d) are outside [0, %d)", from, from, n, Capacity))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := putIssuerKeys(ctx, tx, g.IssuerKeys()); err != nil {
		return 0, err
	}

	// Workers seal batches of licences; the batches are handed to COPY in
	// order through one channel each, so the rows stay in index order.
	const batch = 256
	workers := runtime.GOMAXPROCS(0)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		start, end int
		out        chan []Licence
	}
	jobs := make(chan job)
	order := make(chan chan []Licence, 2*workers)
	go func() {
		defer close(order)
		for start := from; start < from+n; start += batch {
			j := job{start: start, end: min(start+batch, from+n), out: make(chan []Licence, 1)}
			select {
			case order <- j.out:
			case <-gctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-gctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case j := <-jobs:
					ls := make([]Licence, 0, j.end-j.start)
					for i := j.start; i < j.end; i++ {
						ls = append(ls, g.Licence(i))
					}
					j.out <- ls
				case <-gctx.Done():
					return
				}
			}
		}()
	}
	defer wg.Wait()
	defer cancel() // runs before wg.Wait

	var cur []Licence
	row := make([]any, len(columns)) // reused: pgx encodes each row before asking for the next
	copied, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, "licences"}, columns,
		pgx.CopyFromFunc(func() ([]any, error) {
			for len(cur) == 0 {
				out, ok := <-order
				if !ok {
					return nil, nil
				}
				select {
				case cur = <-out:
				case <-gctx.Done():
					return nil, gctx.Err()
				}
			}
			l := &cur[0]
			cur = cur[1:]
			fillRow(row, l)
			return row, nil
		}))
	if err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, postgres.Translate(op, err, "")
	}
	return copied, nil
}

func fillRow(row []any, l *Licence) {
	var reason any
	if l.RevocationReason != "" {
		reason = l.RevocationReason
	}
	row[0], row[1], row[2], row[3], row[4], row[5] = l.Number, l.ID, l.Type, l.HolderCode, l.HolderName, l.Authority
	row[6], row[7], row[8], row[9], row[10] = l.AuthorityCode, l.IssueDate, l.ValidFrom, l.ValidUntil, l.Status
	row[11], row[12], row[13], row[14], row[15], row[16] = string(appendItems(nil, l.Items)), l.SealKeyID, l.Seal, l.RevokedAt, reason, l.UpdatedAt
}

// Revoke revokes the licence with the given number for reason, and writes
// the change event ("licence.revoked", on the licence type's resource) into
// the outbox in the same transaction. A licence that is already revoked or
// has expired is KindConflict ("licence_revoked", "licence_expired"): both
// are terminal. It returns the licence as revoked.
func (s *Store) Revoke(ctx context.Context, number, reason string) (Licence, error) {
	const op = "licence.Store.Revoke"
	if _, err := TypeOf(number); err != nil {
		return Licence{}, govx.E(op, err)
	}
	if reason == "" || len(reason) > 500 {
		return Licence{}, govx.E(op, govx.Errorf(govx.KindInvalid, "invalid_reason", "a revocation needs a reason of at most 500 bytes"))
	}
	if s.outbox == nil {
		return Licence{}, govx.E(op, govx.Errorf(govx.KindInternal, "no_outbox", "the licence store has no outbox to write the revocation to"))
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	l, err := scanLicence(tx.QueryRow(ctx, selectLicence+`WHERE number = $1 FOR UPDATE`, number))
	if err != nil {
		return Licence{}, s.notFound(op, err)
	}
	now := s.now().UTC()
	switch l.EffectiveStatus(now) {
	case StatusRevoked:
		return Licence{}, govx.E(op, govx.Errorf(govx.KindConflict, "licence_revoked", "licence %s is already revoked", number))
	case StatusExpired:
		return Licence{}, govx.E(op, govx.Errorf(govx.KindConflict, "licence_expired", "licence %s has expired and can no longer be revoked", number))
	}
	at := now.Truncate(time.Microsecond)
	l.Status, l.RevokedAt, l.RevocationReason, l.UpdatedAt = StatusRevoked, &at, reason, at
	if _, err := tx.Exec(ctx, `UPDATE licence.licences SET status = 'revoked', revoked_at = $2, revocation_reason = $3, updated_at = $2
		WHERE number = $1`, number, at, reason); err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	res := Resource(l.Type)
	if _, err := s.outbox.Add(ctx, tx, bus.Change{Resource: res, Subject: res, Key: number,
		Type: EventRevoked, Reason: reason, Record: record(&l, nil)}); err != nil {
		return Licence{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	return l, nil
}

// EventRevoked is the type of the change event a revocation publishes.
const EventRevoked = "licence.revoked"

// Draft is a licence to be issued: what the case workflow decided.
type Draft struct {
	Type          string
	HolderCode    string
	HolderName    string
	AuthorityCode string            // must hold an active seal key in the register
	Items         map[string]string // the face items
	Variant       int               // food business: 1 sales, 2 catering, 3 canteen; pharmacy: 0 wholesale, 1 chain, 3 retail
	IssueDate     time.Time         // zero: today
	ValidFrom     time.Time         // zero: the issue date
	ValidUntil    time.Time         // zero: the type's term from ValidFrom
}

// Issue assigns the next serial and the number that goes with it, seals
// the licence with the authority's active key and stores it; it returns
// the licence as stored. When the store has an outbox, the change event
// ("licence.issued", on the licence type's resource) is written in the same
// transaction. Bad drafts are KindInvalid with a code naming the field; an
// authority without an active key is KindNotFound ("authority_not_found").
func (s *Store) Issue(ctx context.Context, d Draft) (Licence, error) {
	const op = "licence.Store.Issue"
	d, err := s.prepare(op, d)
	if err != nil {
		return Licence{}, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	l, err := s.issue(ctx, tx, op, d)
	if err != nil {
		return Licence{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	return l, nil
}

// prepare fills in the draft's default dates and validates it.
func (s *Store) prepare(op string, d Draft) (Draft, error) {
	today := s.now().UTC().Truncate(24 * time.Hour)
	if d.IssueDate.IsZero() {
		d.IssueDate = today
	}
	if d.ValidFrom.IsZero() {
		d.ValidFrom = d.IssueDate
	}
	if _, ok := terms[d.Type]; ok && d.ValidUntil.IsZero() {
		d.ValidUntil = d.ValidFrom.AddDate(terms[d.Type], 0, -1)
	}
	if err := d.validate(); err != nil {
		return Draft{}, govx.E(op, err)
	}
	return d, nil
}

// issue stores the licence of a prepared draft, and its change event if
// the store has an outbox, inside tx.
func (s *Store) issue(ctx context.Context, tx pgx.Tx, op string, d Draft) (Licence, error) {
	var k IssuerKey
	var seed []byte
	err := tx.QueryRow(ctx, `SELECT key_id, authority, division_code, private_key FROM licence.issuer_keys
		WHERE authority_code = $1 AND retired_at IS NULL`, d.AuthorityCode).Scan(&k.KeyID, &k.Authority.Name, &k.Authority.Division, &seed)
	if err != nil {
		err = postgres.Translate(op, err, "authority_not_found")
		if govx.ErrorKind(err) == govx.KindNotFound {
			return Licence{}, govx.E(op, govx.Errorf(govx.KindNotFound, "authority_not_found", "no issuing authority %s with an active seal key", d.AuthorityCode))
		}
		return Licence{}, err
	}
	div := divisionOf(k.Authority.Division)
	if div == nil {
		return Licence{}, govx.E(op, govx.Errorf(govx.KindInvalid, "authority_division_unknown", "the register has no numbering for division %s", k.Authority.Division))
	}
	var serial int
	if err := tx.QueryRow(ctx, `SELECT nextval('licence.serial_seq')`).Scan(&serial); err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	l := Licence{Type: d.Type, HolderCode: d.HolderCode, HolderName: d.HolderName, Authority: k.Authority.Name,
		AuthorityCode: d.AuthorityCode, IssueDate: d.IssueDate.UTC(), ValidFrom: d.ValidFrom.UTC(), ValidUntil: d.ValidUntil.UTC(),
		Status: StatusValid, Items: d.Items, SealKeyID: k.KeyID, UpdatedAt: s.now().UTC().Truncate(time.Microsecond)}
	if l.Items == nil {
		l.Items = map[string]string{}
	}
	l.Number = formatNumber(d.Type, d.Variant, div, serial, l.IssueDate.Year())
	l.ID = identifier(d.Type, d.AuthorityCode, serial)
	sign(&l, ed25519.NewKeyFromSeed(seed))
	row := make([]any, len(columns))
	fillRow(row, &l)
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{Schema, "licences"}, columns, pgx.CopyFromRows([][]any{row})); err != nil {
		return Licence{}, postgres.Translate(op, err, "")
	}
	if s.outbox != nil {
		res := Resource(l.Type)
		if _, err := s.outbox.Add(ctx, tx, bus.Change{Resource: res, Subject: res, Key: l.Number,
			Type: EventIssued, Record: record(&l, nil)}); err != nil {
			return Licence{}, err
		}
	}
	return l, nil
}

func (d *Draft) validate() error {
	invalid := func(code, format string, args ...any) error {
		return govx.Errorf(govx.KindInvalid, code, format, args...)
	}
	switch {
	case terms[d.Type] == 0:
		return invalid("invalid_licence_type", "no licence type %q", d.Type)
	case ValidateHolder(d.HolderCode) != nil:
		return ValidateHolder(d.HolderCode)
	case d.HolderName == "" || len(d.HolderName) > 200:
		return invalid("invalid_holder_name", "the holder's name must be 1 to 200 bytes")
	case govx.ValidateUSCC(d.AuthorityCode) != nil:
		return invalid("invalid_authority_code", "the issuing authority is named by its unified social credit code")
	case d.ValidFrom.Before(d.IssueDate):
		return invalid("invalid_validity", "a licence cannot be valid before it is issued")
	case !d.ValidUntil.After(d.ValidFrom):
		return invalid("invalid_validity", "valid_until must be after valid_from")
	case d.Type == TypeFoodBusiness && (d.Variant < 1 || d.Variant > 3):
		return invalid("invalid_variant", "a food business licence's business type is 1 (sales), 2 (catering) or 3 (canteen)")
	case len(d.Items) > 50:
		return invalid("invalid_items", "at most 50 face items")
	}
	for k, v := range d.Items {
		if k == "" || len(k) > 64 || len(v) > 1000 {
			return invalid("invalid_items", "face item names are 1 to 64 bytes, values at most 1000")
		}
	}
	return nil
}

func divisionOf(code string) *division {
	for i := range divisions {
		if divisions[i].code == code {
			return &divisions[i]
		}
	}
	for _, p := range provinces {
		if p.code == code {
			// A provincial authority numbers under its first county.
			for i := range divisions {
				if divisions[i].province == p {
					return &divisions[i]
				}
			}
		}
	}
	return nil
}

// EachPublic calls yield with every licence of type typ held by a company,
// in number order, with its effective status: what the register opens as
// open data (许可信息公示). Licences held by natural persons are never
// read. It stops at yield's first error.
func (s *Store) EachPublic(ctx context.Context, typ string, yield func(Licence) error) error {
	const op = "licence.Store.EachPublic"
	rows, err := s.pool.Query(ctx, selectLicence+`WHERE type = $1 ORDER BY number`, typ)
	if err != nil {
		return postgres.Translate(op, err, "")
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanLicence(rows)
		if err != nil {
			return postgres.Translate(op, err, "")
		}
		// A natural person's licence stays out of open data; a code that
		// reads as an ID number is left out even if it is also a valid
		// credit code.
		if govx.ValidateIDNumber(l.HolderCode) == nil || govx.ValidateUSCC(l.HolderCode) != nil {
			continue
		}
		s.effective(&l)
		if err := yield(l); err != nil {
			return err
		}
	}
	return postgres.Translate(op, rows.Err(), "")
}
