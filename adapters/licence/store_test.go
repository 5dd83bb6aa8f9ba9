package licence_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/adapters"
	"govx/adapters/licence"
	"govx/bus"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

const seeded = 400

// env is a migrated database with the demo catalogue's schemas, a codec
// that knows them, and a register seeded with licences [0, seeded).
type env struct {
	pool   *pgxpool.Pool
	codec  *avro.Codec
	outbox *adapters.Outbox
	store  *licence.Store
	gen    *licence.Generator
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{pool: postgrestest.NewMigrated(t, catalog.MigrationSource(), licence.MigrationSource()), gen: mustGenerator(t)}
	e.codec = avro.NewCodec(catalog.NewStore(e.pool))
	if err := schemas.RegisterAll(ctx, e.codec); err != nil {
		t.Fatal(err)
	}
	e.outbox = adapters.NewOutbox(e.pool, licence.Schema, licence.Department, e.codec, nil)
	e.store = licence.NewStore(e.pool, e.outbox)
	if n, err := e.store.Seed(ctx, e.gen, 0, seeded); err != nil || n != seeded {
		t.Fatalf("Seed = %d, %v", n, err)
	}
	return e
}

// find returns the first seeded licence for which ok holds.
func (e *env) find(t *testing.T, ok func(*licence.Licence) bool) licence.Licence {
	t.Helper()
	for i := range seeded {
		if l := e.gen.Licence(i); ok(&l) {
			return l
		}
	}
	t.Fatal("no seeded licence fits")
	return licence.Licence{}
}

// A register migrated while 001 created the outbox table itself migrates
// on, and ends with the same tables as a fresh one.
func TestMigrationUpgradesOwnOutbox(t *testing.T) {
	postgrestest.CheckUpgrade(t, licence.MigrationSource(), os.DirFS("testdata/migrations-before-shared-outbox"), licence.Schema)
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)

	t.Run("count", func(t *testing.T) {
		if n, err := e.store.Count(ctx); err != nil || n != seeded {
			t.Errorf("Count = %d, %v", n, err)
		}
	})

	t.Run("licence as generated", func(t *testing.T) {
		for _, i := range []int{0, 1, seeded - 1} {
			want := e.gen.Licence(i)
			got, err := e.store.Licence(ctx, want.Number)
			if err != nil {
				t.Fatalf("Licence(%s): %v", want.Number, err)
			}
			if string(licence.Canonical(&got)) != string(licence.Canonical(&want)) || string(got.Seal) != string(want.Seal) {
				t.Errorf("stored licence %d differs:\n%s\n%s", i, licence.Canonical(&got), licence.Canonical(&want))
			}
			if got.Status != want.EffectiveStatus(time.Now()) {
				t.Errorf("status %s, want %s", got.Status, want.EffectiveStatus(time.Now()))
			}
			if err := keys(e.gen).Verify(got); err != nil {
				t.Errorf("stored licence %d: %v", i, err)
			}
		}
	})

	t.Run("unknown and malformed numbers", func(t *testing.T) {
		_, err := e.store.Licence(ctx, e.gen.Licence(seeded).Number)
		wantErr(t, err, govx.KindNotFound, "licence_not_found")
		_, err = e.store.Licence(ctx, "JY0")
		wantErr(t, err, govx.KindInvalid, "invalid_licence_number")
	})

	t.Run("by holder", func(t *testing.T) {
		// The busiest holder among the seeded licences.
		count := map[string]int{}
		for i := range seeded {
			count[e.gen.Licence(i).HolderCode]++
		}
		holder := ""
		for h, n := range count {
			if n > count[holder] {
				holder = h
			}
		}
		if count[holder] < 2 {
			t.Fatalf("no holder with two licences among %d", seeded)
		}
		h, err := e.store.ByHolder(ctx, holder, 0)
		if err != nil {
			t.Fatal(err)
		}
		if h.Total != count[holder] || len(h.Licences) != count[holder] {
			t.Fatalf("ByHolder: total %d, %d listed; want %d", h.Total, len(h.Licences), count[holder])
		}
		for i, l := range h.Licences {
			if l.HolderCode != holder {
				t.Errorf("listed licence of %s", l.HolderCode)
			}
			if i > 0 && l.IssueDate.After(h.Licences[i-1].IssueDate) {
				t.Errorf("not most recent first: %v after %v", l.IssueDate, h.Licences[i-1].IssueDate)
			}
		}
		one, err := e.store.ByHolder(ctx, holder, 1)
		if err != nil || len(one.Licences) != 1 || one.Total != count[holder] || one.Licences[0].Number != h.Licences[0].Number {
			t.Errorf("ByHolder limit 1 = %+v, %v", one, err)
		}
		nobody, _ := companies(99999)
		if h, err := e.store.ByHolder(ctx, nobody, 0); err != nil || h.Total != 0 || len(h.Licences) != 0 {
			t.Errorf("ByHolder(nobody) = %+v, %v", h, err)
		}
		_, err = e.store.ByHolder(ctx, "91440106MA5D00000X", 0)
		wantErr(t, err, govx.KindInvalid, "invalid_holder")
		_, err = e.store.ByHolder(ctx, holder, licence.MaxByHolder+1)
		wantErr(t, err, govx.KindInvalid, "invalid_limit")
	})

	t.Run("seed is all or nothing", func(t *testing.T) {
		_, err := e.store.Seed(ctx, e.gen, seeded-1, 10)
		wantErr(t, err, govx.KindConflict, "already_exists")
		if n, _ := e.store.Count(ctx); n != seeded {
			t.Errorf("Count after a failed seed = %d", n)
		}
		_, err = e.store.Seed(ctx, e.gen, licence.Capacity-1, 2)
		wantErr(t, err, govx.KindInvalid, "invalid_range")
	})
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	valid := e.find(t, func(l *licence.Licence) bool { return l.EffectiveStatus(time.Now()) == licence.StatusValid })

	got, err := e.store.Revoke(ctx, valid.Number, "被吊销许可证")
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if got.Status != licence.StatusRevoked || got.RevokedAt == nil || got.RevocationReason != "被吊销许可证" {
		t.Errorf("Revoke returned %+v", got)
	}
	stored, err := e.store.Licence(ctx, valid.Number)
	if err != nil || stored.Status != licence.StatusRevoked || stored.RevocationReason != "被吊销许可证" || !stored.RevokedAt.Equal(*got.RevokedAt) {
		t.Fatalf("after Revoke: %+v, %v", stored, err)
	}
	if err := keys(e.gen).Verify(stored); err != nil {
		t.Errorf("a revoked licence's seal still verifies: %v", err)
	}

	// Exactly one event, on the licence type's topic, carrying the record.
	rows, err := e.pool.Query(ctx, `SELECT topic, key, value FROM licence.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		topic      string
		key, value []byte
	}
	var events []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.topic, &r.key, &r.value); err != nil {
			t.Fatal(err)
		}
		events = append(events, r)
	}
	if len(events) != 1 {
		t.Fatalf("%d outbox events, want 1", len(events))
	}
	res := licence.Resource(valid.Type)
	if events[0].topic != bus.EventTopic(res) || string(events[0].key) != valid.Number {
		t.Errorf("event on %s with key %s", events[0].topic, events[0].key)
	}
	var ev bus.Event
	if err := e.codec.UnmarshalAs(ctx, schemas.Event, events[0].value, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != licence.EventRevoked || ev.Resource != res || ev.Provider != licence.Department || ev.Key != valid.Number || ev.Reason != "被吊销许可证" {
		t.Errorf("event %+v", ev)
	}
	var rec struct {
		Number *string `avro:"number"`
		Status *string `avro:"status"`
		Seal   []byte  `avro:"seal"`
	}
	if err := e.codec.UnmarshalAs(ctx, res, ev.Record, &rec); err != nil {
		t.Fatalf("event record: %v", err)
	}
	if rec.Number == nil || *rec.Number != valid.Number || rec.Status == nil || *rec.Status != licence.StatusRevoked || len(rec.Seal) != 64 {
		t.Errorf("event record %+v", rec)
	}

	t.Run("terminal states refuse", func(t *testing.T) {
		_, err := e.store.Revoke(ctx, valid.Number, "again")
		wantErr(t, err, govx.KindConflict, "licence_revoked")
		expired := e.find(t, func(l *licence.Licence) bool { return l.EffectiveStatus(time.Now()) == licence.StatusExpired })
		_, err = e.store.Revoke(ctx, expired.Number, "late")
		wantErr(t, err, govx.KindConflict, "licence_expired")
		if n, _ := e.outbox.Pending(ctx); n != 1 {
			t.Errorf("%d outbox events after refusals, want 1", n)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		_, err := e.store.Revoke(ctx, e.gen.Licence(seeded).Number, "x")
		wantErr(t, err, govx.KindNotFound, "licence_not_found")
		other := e.find(t, func(l *licence.Licence) bool {
			return l.EffectiveStatus(time.Now()) == licence.StatusValid && l.Number != valid.Number
		})
		_, err = e.store.Revoke(ctx, other.Number, "")
		wantErr(t, err, govx.KindInvalid, "invalid_reason")
		if l, _ := e.store.Licence(ctx, other.Number); l.Status != licence.StatusValid {
			t.Errorf("a refused revocation changed the licence: %s", l.Status)
		}
	})
}

func TestIssue(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	holder, name := companies(5)
	var authority string
	for _, a := range licence.Authorities() {
		if strings.HasSuffix(a.Name, "市场监督管理局") {
			authority = a.Code
			break
		}
	}
	draft := licence.Draft{Type: licence.TypeFoodBusiness, HolderCode: holder, HolderName: name, AuthorityCode: authority, Variant: 2,
		Items: map[string]string{"business_type": "餐饮服务经营者", "business_items": "热食类食品制售", "premises": "天河路1号"}}
	l, err := e.store.Issue(ctx, draft)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if err := licence.ValidateNumber(licence.TypeFoodBusiness, l.Number); err != nil {
		t.Errorf("issued number: %v", err)
	}
	if l.Status != licence.StatusValid || !l.ValidUntil.Equal(l.ValidFrom.AddDate(5, 0, -1)) {
		t.Errorf("issued %+v", l)
	}
	stored, err := e.store.Licence(ctx, l.Number)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys(e.gen).Verify(stored); err != nil {
		t.Errorf("issued licence: %v", err)
	}
	second, err := e.store.Issue(ctx, draft)
	if err != nil || second.Number == l.Number || second.ID == l.ID {
		t.Errorf("second Issue = %s, %v; want a new number", second.Number, err)
	}
	if h, _ := e.store.ByHolder(ctx, holder, 0); h.Total < 2 {
		t.Errorf("holder lists %d licences after two issues", h.Total)
	}

	for _, tt := range []struct {
		name  string
		alter func(*licence.Draft)
		kind  govx.Kind
		code  string
	}{
		{"unknown type", func(d *licence.Draft) { d.Type = "fishing" }, govx.KindInvalid, "invalid_licence_type"},
		{"bad holder", func(d *licence.Draft) { d.HolderCode = "123" }, govx.KindInvalid, "invalid_holder"},
		{"no name", func(d *licence.Draft) { d.HolderName = "" }, govx.KindInvalid, "invalid_holder_name"},
		{"valid before issue", func(d *licence.Draft) {
			d.IssueDate = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
			d.ValidFrom = d.IssueDate.AddDate(0, 0, -1)
		}, govx.KindInvalid, "invalid_validity"},
		{"unknown authority", func(d *licence.Draft) { d.AuthorityCode = holder }, govx.KindNotFound, "authority_not_found"},
		{"food without business type", func(d *licence.Draft) { d.Variant = 0 }, govx.KindInvalid, "invalid_variant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := draft
			tt.alter(&d)
			_, err := e.store.Issue(ctx, d)
			wantErr(t, err, tt.kind, tt.code)
		})
	}
}

func TestFetchKeySet(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cat := catalog.NewStore(e.pool)
	dept, _ := licence.Catalog()
	if err := cat.PutDepartment(ctx, dept); err != nil {
		t.Fatal(err)
	}
	for _, k := range e.gen.PublicKeys() {
		if err := cat.PutDepartmentKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(catalog.NewKeysHandler(cat))
	t.Cleanup(srv.Close)
	ks, err := licence.FetchKeySet(ctx, srv.Client(), srv.URL)
	if err != nil {
		t.Fatalf("FetchKeySet: %v", err)
	}
	if len(ks) != len(licence.Authorities()) {
		t.Errorf("%d keys, want one per authority (%d)", len(ks), len(licence.Authorities()))
	}
	for i := range 50 {
		l, err := e.store.Licence(ctx, e.gen.Licence(i).Number)
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.Verify(l); err != nil {
			t.Errorf("licence %s: %v", l.Number, err)
		}
		l.HolderName += "x"
		if err := ks.Verify(l); govx.ErrorCode(err) != "seal_invalid" {
			t.Errorf("altered licence %s: %v", l.Number, err)
		}
	}
}

func wantErr(t *testing.T, err error, kind govx.Kind, code string) {
	t.Helper()
	if govx.ErrorKind(err) != kind || govx.ErrorCode(err) != code {
		t.Fatalf("error %v (%v %q), want %v %q", err, govx.ErrorKind(err), govx.ErrorCode(err), kind, code)
	}
}
