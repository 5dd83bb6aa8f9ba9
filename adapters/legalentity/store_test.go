package legalentity_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/adapters/legalentity"
	"govx/adapters/population"
	"govx/bus"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/postgres"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

// register is one database holding both the population register and the
// legal-entity register, seeded from generators of one seed, with a codec
// that knows every schema.
type register struct {
	pool  *pgxpool.Pool
	codec *avro.Codec
	store *legalentity.Store
	gen   *legalentity.Generator
	pop   *population.Generator
}

func newRegister(tb testing.TB, companies int) *register {
	tb.Helper()
	ctx := context.Background()
	pool := postgrestest.NewMigrated(tb, catalog.MigrationSource(), population.MigrationSource(), legalentity.MigrationSource())
	reg := &register{pool: pool, codec: mustCodec(tb, pool)}
	reg.gen, reg.pop = newGenerator()
	if n, err := population.NewStore(pool).Seed(ctx, reg.pop, 0, residents); err != nil || n != residents {
		tb.Fatalf("population Seed = %d, %v", n, err)
	}
	reg.store = legalentity.NewStore(pool, legalentity.NewOutbox(pool, reg.codec, nil))
	if n, err := reg.store.Seed(ctx, reg.gen, 0, companies); err != nil || n != int64(companies) {
		tb.Fatalf("Seed(0, %d) = %d, %v", companies, n, err)
	}
	return reg
}

func mustCodec(tb testing.TB, pool *pgxpool.Pool) *avro.Codec {
	tb.Helper()
	codec := avro.NewCodec(catalog.NewStore(pool))
	if err := schemas.RegisterAll(context.Background(), codec); err != nil {
		tb.Fatal(err)
	}
	return codec
}

// firstWith returns the index of the first of n companies with status.
func (r *register) firstWith(tb testing.TB, status string, after, n int) int {
	tb.Helper()
	for i := after; i < n; i++ {
		if r.gen.Company(i).Status == status {
			return i
		}
	}
	tb.Fatalf("no company %s among [%d, %d)", status, after, n)
	return -1
}

func (r *register) outboxLen(tb testing.TB) int64 {
	tb.Helper()
	var n int64
	if err := r.pool.QueryRow(context.Background(), `SELECT count(*) FROM legal_entity.outbox`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	const companies = 5000
	r := newRegister(t, companies)

	if n, err := r.store.Count(ctx); err != nil || n != companies {
		t.Fatalf("Count = %d, %v; want %d", n, err, companies)
	}

	t.Run("lookup returns the company as generated", func(t *testing.T) {
		for _, i := range []int{0, 1234, companies - 1} {
			want := r.gen.Company(i)
			got, err := r.store.Company(ctx, want.USCC)
			if err != nil {
				t.Fatalf("Company(%s): %v", want.USCC, err)
			}
			if got != want {
				t.Errorf("Company(%s)\n got %+v\nwant %+v", want.USCC, got, want)
			}
		}
	})

	t.Run("every representative is in the population register", func(t *testing.T) {
		var entities, matched, sameName int
		err := r.pool.QueryRow(ctx, `
			SELECT count(*), count(p.id_number), count(*) FILTER (WHERE p.name = e.legal_representative)
			FROM legal_entity.entities e
			LEFT JOIN population.residents p ON p.id_number = e.legal_representative_id_number`).
			Scan(&entities, &matched, &sameName)
		if err != nil {
			t.Fatal(err)
		}
		if entities != companies || matched != companies || sameName != companies {
			t.Errorf("%d entities, %d with a representative in the population register, %d under the registered name",
				entities, matched, sameName)
		}
		var minor int
		if err := r.pool.QueryRow(ctx, `
			SELECT count(*) FROM legal_entity.entities e
			JOIN population.residents p ON p.id_number = e.legal_representative_id_number
			WHERE e.established_on < p.birth_date + interval '18 years'`).Scan(&minor); err != nil || minor != 0 {
			t.Errorf("%d entities established by a minor (%v)", minor, err)
		}
	})

	t.Run("unknown company", func(t *testing.T) {
		code := r.gen.USCC(companies) // valid, generated, not seeded
		_, err := r.store.Company(ctx, code)
		if govx.ErrorKind(err) != govx.KindNotFound || govx.ErrorCode(err) != "entity_not_found" {
			t.Fatalf("Company(%s) = %v, want NotFound entity_not_found", code, err)
		}
	})

	t.Run("seeding an overlapping range conflicts and changes nothing", func(t *testing.T) {
		n, err := r.store.Seed(ctx, r.gen, companies-10, 20)
		if govx.ErrorKind(err) != govx.KindConflict || n != 0 {
			t.Fatalf("Seed(%d, 20) = %d, %v; want 0, Conflict", companies-10, n, err)
		}
		if got, _ := r.store.Count(ctx); got != companies {
			t.Fatalf("Count after failed seed = %d, want %d", got, companies)
		}
	})

	t.Run("range outside the generator", func(t *testing.T) {
		for _, rg := range [][2]int{{-1, 10}, {0, -1}, {legalentity.Capacity() - 5, 10}} {
			if _, err := r.store.Seed(ctx, r.gen, rg[0], rg[1]); govx.ErrorKind(err) != govx.KindInvalid {
				t.Errorf("Seed(%d, %d) = %v, want Invalid", rg[0], rg[1], err)
			}
		}
	})

	t.Run("the database guards its columns", func(t *testing.T) {
		c := r.gen.Company(companies + 1)
		for name, stmt := range map[string]string{
			"status":                 `UPDATE legal_entity.entities SET status = 'dormant' WHERE uscc = $1`,
			"status before founding": `UPDATE legal_entity.entities SET status_date = established_on - 1 WHERE uscc = $1`,
			"revoked without reason": `UPDATE legal_entity.entities SET status = 'revoked', status_reason = '' WHERE uscc = $1`,
		} {
			_, err := r.pool.Exec(ctx, stmt, r.gen.USCC(0))
			if govx.ErrorKind(postgres.Translate("test", err, "")) != govx.KindInvalid {
				t.Errorf("%s: %v, want a check violation", name, err)
			}
		}
		_, err := r.pool.Exec(ctx, `INSERT INTO legal_entity.entities (uscc, name, entity_type, legal_representative,
			legal_representative_id_number, established_on, authority_name, authority_code, address, division_code,
			business_scope, status_date) VALUES ('91110105mA01XXXXXX', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $5)`,
			c.Name, c.Type, c.LegalRepresentative, c.RepresentativeID, c.EstablishedOn, c.AuthorityName, c.AuthorityCode,
			c.Address, c.DivisionCode, c.BusinessScope)
		if govx.ErrorKind(postgres.Translate("test", err, "")) != govx.KindInvalid {
			t.Errorf("insert with a lower-case code: %v, want a check violation", err)
		}
	})
}

func TestStatusChanges(t *testing.T) {
	ctx := context.Background()
	const companies = 400
	r := newRegister(t, companies)
	today := func() time.Time {
		y, m, d := time.Now().In(time.FixedZone("CST", 8*3600)).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}

	// event returns the only event in the outbox, decoded, and empties it.
	event := func(t *testing.T) (bus.Event, map[string]*string) {
		t.Helper()
		if n := r.outboxLen(t); n != 1 {
			t.Fatalf("outbox holds %d events, want 1", n)
		}
		var topic string
		var key, value []byte
		var eventID string
		if err := r.pool.QueryRow(ctx, `DELETE FROM legal_entity.outbox RETURNING topic, key, value, event_id`).
			Scan(&topic, &key, &value, &eventID); err != nil {
			t.Fatal(err)
		}
		var ev bus.Event
		if err := r.codec.UnmarshalAs(ctx, schemas.Event, value, &ev); err != nil {
			t.Fatalf("decode event: %v", err)
		}
		if topic != bus.EventTopic(legalentity.ResourceStatus) || string(key) != ev.Key || eventID != ev.EventID {
			t.Errorf("outbox row: topic %s, key %s, event id %s; event %+v", topic, key, eventID, ev)
		}
		var rec struct {
			USCC         *string `avro:"uscc"`
			Name         *string `avro:"name"`
			Status       *string `avro:"status"`
			StatusDate   *string `avro:"status_date"`
			StatusReason *string `avro:"status_reason"`
		}
		if err := r.codec.Unmarshal(ctx, ev.Record, &rec); err != nil {
			t.Fatalf("decode event record: %v", err)
		}
		return ev, map[string]*string{"uscc": rec.USCC, "name": rec.Name, "status": rec.Status,
			"status_date": rec.StatusDate, "status_reason": rec.StatusReason}
	}

	for _, tt := range []struct {
		name, status, eventType, reason string
		change                          func(context.Context, string, string) (legalentity.Company, error)
	}{
		{"deregister", legalentity.StatusDeregistered, "legal-entity.deregistered", "股东会决议解散", r.store.Deregister},
		{"revoke", legalentity.StatusRevoked, "legal-entity.revoked", "未按规定报送年度报告，被列入经营异常名录届满3年仍未履行公示义务", r.store.Revoke},
	} {
		t.Run(tt.name, func(t *testing.T) {
			after := 0
			if tt.name == "revoke" {
				after = companies / 2
			}
			want := r.gen.Company(r.firstWith(t, legalentity.StatusInBusiness, after, companies))
			reason := tt.reason
			got, err := tt.change(ctx, want.USCC, "  "+reason+"\n")
			if err != nil {
				t.Fatalf("%s(%s): %v", tt.name, want.USCC, err)
			}
			if got.Status != tt.status || got.StatusReason != reason || !got.StatusDate.Equal(today()) {
				t.Errorf("%s: returned status %s on %s for %q", tt.name, got.Status, got.StatusDate, got.StatusReason)
			}
			stored, err := r.store.Company(ctx, want.USCC)
			if err != nil || stored != got {
				t.Errorf("stored %+v (%v)\nreturned %+v", stored, err, got)
			}
			ev, rec := event(t)
			if ev.Type != tt.eventType || ev.Resource != legalentity.ResourceStatus || ev.Provider != legalentity.Department ||
				ev.Key != want.USCC || ev.Reason != reason || ev.EventID == "" || time.Since(ev.OccurredAt) > time.Minute {
				t.Errorf("event %+v", ev)
			}
			for field, v := range map[string]string{"uscc": want.USCC, "name": want.Name, "status": tt.status,
				"status_date": today().Format(time.DateOnly), "status_reason": reason} {
				if rec[field] == nil || *rec[field] != v {
					t.Errorf("event record %s = %v, want %q", field, rec[field], v)
				}
			}

			// A terminal status does not change again, and nothing is written.
			for _, again := range []func(context.Context, string, string) (legalentity.Company, error){r.store.Deregister, r.store.Revoke} {
				_, err := again(ctx, want.USCC, "再次变更")
				if govx.ErrorKind(err) != govx.KindConflict || govx.ErrorCode(err) != "status_terminal" {
					t.Errorf("change after %s: %v, want Conflict status_terminal", tt.name, err)
				}
			}
			if n := r.outboxLen(t); n != 0 {
				t.Errorf("refused changes wrote %d events", n)
			}
			if after, _ := r.store.Company(ctx, want.USCC); after != got {
				t.Errorf("refused changes changed the entity:\n%+v\n%+v", after, got)
			}
		})
	}

	t.Run("generated terminal entities are refused", func(t *testing.T) {
		for _, status := range []string{legalentity.StatusDeregistered, legalentity.StatusRevoked} {
			c := r.gen.Company(r.firstWith(t, status, 0, companies))
			if _, err := r.store.Deregister(ctx, c.USCC, "申请注销"); govx.ErrorKind(err) != govx.KindConflict {
				t.Errorf("Deregister of a %s entity: %v, want Conflict", status, err)
			}
		}
	})

	t.Run("refused input writes nothing", func(t *testing.T) {
		live := r.gen.Company(r.firstWith(t, legalentity.StatusInBusiness, companies*3/4, companies))
		for _, tt := range []struct {
			name, uscc, reason string
			kind               govx.Kind
			code               string
		}{
			{"malformed code", wrongCheck(live.USCC), "申请注销", govx.KindInvalid, "invalid_uscc"},
			{"unknown code", r.gen.USCC(companies + 3), "申请注销", govx.KindNotFound, "entity_not_found"},
			{"no reason", live.USCC, " \t", govx.KindInvalid, "invalid_reason"},
			{"overlong reason", live.USCC, strings.Repeat("理", 501), govx.KindInvalid, "invalid_reason"},
		} {
			_, err := r.store.Deregister(ctx, tt.uscc, tt.reason)
			if govx.ErrorKind(err) != tt.kind || govx.ErrorCode(err) != tt.code {
				t.Errorf("%s: %v, want %s %s", tt.name, err, tt.kind, tt.code)
			}
		}
		if n := r.outboxLen(t); n != 0 {
			t.Errorf("refused changes wrote %d events", n)
		}
		if c, _ := r.store.Company(ctx, live.USCC); c.Status != legalentity.StatusInBusiness {
			t.Errorf("refused changes left the entity %s", c.Status)
		}
	})

	t.Run("an event that cannot be written undoes the change", func(t *testing.T) {
		live := r.gen.Company(r.firstWith(t, legalentity.StatusInBusiness, companies*3/4, companies))
		// A codec that knows the envelope but not the status record.
		bare := avro.NewCodec(catalog.NewStore(r.pool))
		text, _ := schemas.Text(schemas.Event)
		if _, err := bare.Register(ctx, schemas.Event, text); err != nil {
			t.Fatal(err)
		}
		store := legalentity.NewStore(r.pool, legalentity.NewOutbox(r.pool, bare, nil))
		if _, err := store.Revoke(ctx, live.USCC, "提交虚假材料"); err == nil {
			t.Fatal("Revoke without an encodable event succeeded")
		}
		if c, _ := r.store.Company(ctx, live.USCC); c.Status != legalentity.StatusInBusiness {
			t.Errorf("the entity is %s although its event was never written", c.Status)
		}
		if n := r.outboxLen(t); n != 0 {
			t.Errorf("outbox holds %d events", n)
		}
	})

	t.Run("concurrent changes: one wins, one event", func(t *testing.T) {
		live := r.gen.Company(r.firstWith(t, legalentity.StatusInBusiness, companies*3/4, companies))
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for k := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if k%2 == 0 {
					_, errs[k] = r.store.Deregister(ctx, live.USCC, "简易注销")
				} else {
					_, errs[k] = r.store.Revoke(ctx, live.USCC, "未按规定报送年度报告")
				}
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case govx.ErrorCode(err) != "status_terminal":
				t.Errorf("a losing change: %v, want Conflict status_terminal", err)
			}
		}
		if won != 1 {
			t.Errorf("%d changes won, want 1", won)
		}
		if n := r.outboxLen(t); n != 1 {
			t.Errorf("outbox holds %d events, want 1", n)
		}
	})
}

// Malformed codes are refused before the database: with no database at
// all they are still Invalid, not Unavailable.
func TestStoreRefusesMalformedCodesFirst(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := legalentity.NewStore(pool, nil)
	g, _ := newGenerator()
	good := g.USCC(0)
	for _, code := range []string{"", good[:17], good + "0", wrongCheck(good), "91110105mA01XXXXXX", "9111010５MA01XXXXX"} {
		if _, err := store.Company(context.Background(), code); govx.ErrorCode(err) != "invalid_uscc" {
			t.Errorf("Company(%q) = %v, want Invalid invalid_uscc", code, err)
		}
	}
	if _, err := store.Company(context.Background(), good); govx.ErrorKind(err) != govx.KindUnavailable {
		t.Errorf("Company with the database down: %v, want Unavailable", err)
	}
	if _, err := store.Count(context.Background()); govx.ErrorKind(err) != govx.KindUnavailable {
		t.Errorf("Count with the database down: %v, want Unavailable", err)
	}
}

// BenchmarkSeed loads 200,000 companies with COPY per iteration and reports
// rows/s.
func BenchmarkSeed(b *testing.B) {
	const n = 200_000
	ctx := context.Background()
	pool := postgrestest.NewMigrated(b, legalentity.MigrationSource())
	store := legalentity.NewStore(pool, nil)
	g, _ := newGenerator()
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := pool.Exec(ctx, `TRUNCATE legal_entity.entities`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if got, err := store.Seed(ctx, g, 0, n); err != nil || got != n {
			b.Fatalf("Seed = %d, %v", got, err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "rows/s")
}

// wrongCheck returns code with another check character.
func wrongCheck(code string) string {
	if code[17] == '0' {
		return code[:17] + "1"
	}
	return code[:17] + "0"
}
