package avro_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"govx"
	"govx/bus"
	"govx/catalog"
	"govx/internal/avro"
	"govx/internal/postgres/postgrestest"
	"govx/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// mustStore returns the catalogue's schema store on a fresh, migrated
// database, and the pool under it.
func mustStore(tb testing.TB) (*catalog.Store, *pgxpool.Pool) {
	tb.Helper()
	pool := postgrestest.NewMigrated(tb, catalog.MigrationSource())
	return catalog.NewStore(pool), pool
}

func mustRegister(tb testing.TB, c *avro.Codec, subject, schema string) int {
	tb.Helper()
	id, err := c.Register(context.Background(), subject, schema)
	if err != nil {
		tb.Fatalf("Register(%s): %v", subject, err)
	}
	return id
}

func mustMarshal(tb testing.TB, c *avro.Codec, subject string, v any) []byte {
	tb.Helper()
	b, err := c.Marshal(subject, v)
	if err != nil {
		tb.Fatalf("Marshal(%s): %v", subject, err)
	}
	return b
}

// parcelV1 and parcelV2 are two versions of one subject whose nested named
// type (Party) differs between them.
const (
	parcelV1 = `{"type": "record", "name": "Parcel", "namespace": "govx.test", "fields": [
		{"name": "id", "type": "string"},
		{"name": "weight", "type": "long"},
		{"name": "tags", "type": {"type": "array", "items": "string"}},
		{"name": "note", "type": ["null", "string"], "default": null},
		{"name": "sender", "type": {"type": "record", "name": "Party", "fields": [
			{"name": "name", "type": "string"}]}}]}`
	parcelV2 = `{"type": "record", "name": "Parcel", "namespace": "govx.test", "fields": [
		{"name": "id", "type": "string"},
		{"name": "weight", "type": "long"},
		{"name": "tags", "type": {"type": "array", "items": "string"}},
		{"name": "note", "type": ["null", "string"], "default": null},
		{"name": "sender", "type": {"type": "record", "name": "Party", "fields": [
			{"name": "name", "type": "string"},
			{"name": "phone", "type": "string", "default": ""}]}}]}`
)

type party struct {
	Name string `avro:"name"`
}

type parcel struct {
	ID     string   `avro:"id"`
	Weight int64    `avro:"weight"`
	Tags   []string `avro:"tags"`
	Note   *string  `avro:"note"`
	Sender party    `avro:"sender"`
}

type partyV2 struct {
	Name  string `avro:"name"`
	Phone string `avro:"phone"`
}

type parcelV2Value struct {
	ID     string   `avro:"id"`
	Weight int64    `avro:"weight"`
	Tags   []string `avro:"tags"`
	Note   *string  `avro:"note"`
	Sender partyV2  `avro:"sender"`
}

func ptr[T any](v T) *T { return &v }

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	c := avro.NewCodec(store)
	id := mustRegister(t, c, "test.parcel", parcelV1)

	tests := []struct {
		name string
		in   parcel
	}{
		{name: "all fields", in: parcel{ID: "p-1", Weight: 1200, Tags: []string{"fragile", "急件"}, Note: ptr("leave at door"), Sender: party{Name: "张三"}}},
		{name: "null union and empty array", in: parcel{ID: "p-2", Weight: -5, Tags: []string{}, Sender: party{Name: ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustMarshal(t, c, "test.parcel", tt.in)
			if b[0] != 0 {
				t.Errorf("magic byte = %d, want 0", b[0])
			}
			if got := int(binary.BigEndian.Uint32(b[1:5])); got != id {
				t.Errorf("schema id in header = %d, want %d", got, id)
			}
			if got, err := avro.SchemaID(b); err != nil || got != id {
				t.Errorf("SchemaID = %d, %v; want %d", got, err, id)
			}
			var out parcel
			if err := c.Unmarshal(ctx, b, &out); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(out, tt.in) {
				t.Errorf("round trip\n got %+v\nwant %+v", out, tt.in)
			}

			// A codec that never registered anything decodes by the id in
			// the message, fetching the schema from the store.
			var fresh parcel
			if err := avro.NewCodec(store).Unmarshal(ctx, b, &fresh); err != nil {
				t.Fatalf("fresh codec Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(fresh, tt.in) {
				t.Errorf("fresh codec\n got %+v\nwant %+v", fresh, tt.in)
			}
		})
	}

	t.Run("bus envelopes", func(t *testing.T) {
		for _, s := range schemas.Subjects() {
			text, err := schemas.Text(s)
			if err != nil {
				t.Fatal(err)
			}
			mustRegister(t, c, s, text)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		req := bus.Request{RequestID: "r-1", Resource: "population.identity", Key: "11010519491231002X",
			Fields: []string{"name", "sex"}, Purpose: "case:2026-000123", Consumer: "service-center",
			Caller: "clerk-7", ReplyTo: "govx.replies.x", RequestedAt: now, Deadline: now.Add(5 * time.Second)}
		var gotReq bus.Request
		if err := avro.NewCodec(store).Unmarshal(ctx, mustMarshal(t, c, schemas.Request, req), &gotReq); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotReq, req) {
			t.Errorf("Request round trip\n got %+v\nwant %+v", gotReq, req)
		}
		reply := bus.Reply{RequestID: "r-1", Resource: "population.identity", Provider: "population",
			Error: &bus.ReplyError{Kind: "NotFound", Code: "resident_not_found", Message: "no resident"}, AnsweredAt: now}
		var gotReply bus.Reply
		if err := avro.NewCodec(store).Unmarshal(ctx, mustMarshal(t, c, schemas.Reply, reply), &gotReply); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotReply, reply) {
			t.Errorf("Reply round trip\n got %+v\nwant %+v", gotReply, reply)
		}
	})
}

// Registering a new version switches what Marshal writes, and messages
// written with the old version still decode with the old version's own
// named types.
func TestSchemaVersions(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	c := avro.NewCodec(store)
	id1 := mustRegister(t, c, "test.parcel", parcelV1)
	in1 := parcel{ID: "old", Weight: 1, Tags: []string{"a"}, Sender: party{Name: "李四"}}
	old := mustMarshal(t, c, "test.parcel", in1)

	id2 := mustRegister(t, c, "test.parcel", parcelV2)
	if id2 == id1 {
		t.Fatalf("second version got the id of the first (%d)", id1)
	}
	in2 := parcelV2Value{ID: "new", Weight: 2, Tags: []string{}, Sender: partyV2{Name: "王五", Phone: "110"}}
	cur := mustMarshal(t, c, "test.parcel", in2)
	if got, _ := avro.SchemaID(cur); got != id2 {
		t.Errorf("Marshal after the new version wrote id %d, want %d", got, id2)
	}

	for _, codec := range []struct {
		name string
		c    *avro.Codec
	}{{"registering codec", c}, {"fresh codec", avro.NewCodec(store)}} {
		t.Run(codec.name, func(t *testing.T) {
			var got1 parcel
			if err := codec.c.Unmarshal(ctx, old, &got1); err != nil {
				t.Fatalf("Unmarshal of a v1 message: %v", err)
			}
			if !reflect.DeepEqual(got1, in1) {
				t.Errorf("v1 message\n got %+v\nwant %+v", got1, in1)
			}
			var got2 parcelV2Value
			if err := codec.c.Unmarshal(ctx, cur, &got2); err != nil {
				t.Fatalf("Unmarshal of a v2 message: %v", err)
			}
			if !reflect.DeepEqual(got2, in2) {
				t.Errorf("v2 message\n got %+v\nwant %+v", got2, in2)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	store, pool := mustStore(t)
	c := avro.NewCodec(store)
	parcelID := mustRegister(t, c, "test.parcel", parcelV1)
	good := mustMarshal(t, c, "test.parcel", parcel{ID: "p", Weight: 1, Tags: []string{"x", "y"}, Sender: party{Name: "n"}})

	var brokenID int
	if err := pool.QueryRow(ctx, `INSERT INTO catalog.schemas (subject, version, schema, fingerprint)
		VALUES ('test.broken', 1, '{"type": "record", "name"', 'x') RETURNING id`).Scan(&brokenID); err != nil {
		t.Fatal(err)
	}

	withID := func(id uint32, body []byte) []byte {
		b := []byte{0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], id)
		return append(b, body...)
	}
	badMagic := bytes.Clone(good)
	badMagic[0] = 1

	tests := []struct {
		name string
		data []byte
		kind govx.Kind
		code string
	}{
		{name: "nil", data: nil, kind: govx.KindInvalid, code: "invalid_message"},
		{name: "too short", data: good[:4], kind: govx.KindInvalid, code: "invalid_message"},
		{name: "bad magic byte", data: badMagic, kind: govx.KindInvalid, code: "invalid_message"},
		{name: "JSON instead of Avro", data: []byte(`{"request_id": "r-1"}`), kind: govx.KindInvalid, code: "invalid_message"},
		{name: "unknown schema id", data: withID(999_999, good[5:]), kind: govx.KindNotFound, code: "schema_not_found"},
		{name: "schema id beyond int32", data: withID(0xFFFFFFFF, good[5:]), kind: govx.KindNotFound, code: "schema_not_found"},
		{name: "truncated body", data: good[:len(good)-3], kind: govx.KindInvalid, code: "invalid_message"},
		// id "p", weight 1, then a tags block claiming 2^48 elements in
		// a dozen bytes: refused, not allocated.
		{name: "array claiming billions of elements", data: withID(uint32(parcelID),
			[]byte{0x02, 'p', 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}), kind: govx.KindInvalid, code: "invalid_message"},
		{name: "schema that does not parse", data: withID(uint32(brokenID), good[5:]), kind: govx.KindInvalid, code: "invalid_schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out parcel
			err := c.Unmarshal(ctx, tt.data, &out)
			if err == nil {
				t.Fatalf("Unmarshal succeeded: %+v", out)
			}
			if govx.ErrorKind(err) != tt.kind || govx.ErrorCode(err) != tt.code {
				t.Errorf("Unmarshal error = %v (kind %v, code %q), want %v %q",
					err, govx.ErrorKind(err), govx.ErrorCode(err), tt.kind, tt.code)
			}
		})
	}

	t.Run("marshal of an unregistered subject", func(t *testing.T) {
		b, err := c.Marshal("test.unregistered", parcel{})
		if err == nil {
			t.Fatalf("Marshal succeeded: %x", b)
		}
		// Encoding with a subject nobody registered is a fault of ours.
		if govx.ErrorKind(err) != govx.KindInternal {
			t.Errorf("Marshal error = %v, want KindInternal", err)
		}
	})

	t.Run("marshal of a value the schema does not fit", func(t *testing.T) {
		if b, err := c.Marshal("test.parcel", map[string]any{"id": 42}); err == nil {
			t.Fatalf("Marshal succeeded: %x", b)
		}
	})

	t.Run("register a schema that does not parse", func(t *testing.T) {
		var before, after int
		pool.QueryRow(ctx, `SELECT count(*) FROM catalog.schemas`).Scan(&before)
		_, err := c.Register(ctx, "test.bad", `{"type": "record", "name": "Bad", "fields": [{"name": "x", "type": "nope"}]}`)
		if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) != "invalid_schema" {
			t.Errorf("Register error = %v, want Invalid invalid_schema", err)
		}
		pool.QueryRow(ctx, `SELECT count(*) FROM catalog.schemas`).Scan(&after)
		if after != before {
			t.Errorf("a schema that does not parse reached the store (%d rows, was %d)", after, before)
		}
		if _, err := c.Marshal("test.bad", map[string]any{"x": 1}); err == nil {
			t.Error("the rejected schema can be used for Marshal")
		}
	})

	t.Run("registry unavailable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		down, err := pgxpool.New(ctx, "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=2")
		if err != nil {
			t.Fatal(err)
		}
		defer down.Close()
		dc := avro.NewCodec(catalog.NewStore(down))
		if _, err := dc.Register(ctx, "test.parcel", parcelV1); govx.ErrorKind(err) != govx.KindUnavailable {
			t.Errorf("Register with the registry down: %v, want KindUnavailable", err)
		}
		var out parcel
		if err := dc.Unmarshal(ctx, good, &out); govx.ErrorKind(err) != govx.KindUnavailable {
			t.Errorf("Unmarshal of an uncached id with the registry down: %v, want KindUnavailable", err)
		}
	})
}

// Many goroutines decoding through one fresh codec fetch and cache the
// schema without racing (run with -race).
func TestConcurrentUnmarshal(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	w := avro.NewCodec(store)
	mustRegister(t, w, "test.parcel", parcelV1)
	msgs := make([][]byte, 8)
	for i := range msgs {
		msgs[i] = mustMarshal(t, w, "test.parcel", parcel{ID: fmt.Sprint(i), Weight: int64(i), Tags: []string{}, Sender: party{Name: "n"}})
	}
	r := avro.NewCodec(store)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, m := range msgs {
				var out parcel
				if err := r.Unmarshal(ctx, m, &out); err != nil {
					t.Errorf("goroutine %d message %d: %v", g, i, err)
					return
				}
				if out.ID != fmt.Sprint(i) || out.Weight != int64(i) {
					t.Errorf("goroutine %d message %d decoded as %+v", g, i, out)
				}
			}
		}()
	}
	wg.Wait()
}

// The wire bytes of a request envelope are pinned: a provider built from an
// older govx must keep reading what the exchange sends. On a fresh store the
// embedded subjects registered in order get ids 1, 2, 3.
func TestGoldenRequest(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	c := avro.NewCodec(store)
	for _, s := range schemas.Subjects() {
		text, err := schemas.Text(s)
		if err != nil {
			t.Fatal(err)
		}
		mustRegister(t, c, s, text)
	}
	at := time.Date(2026, 3, 1, 9, 30, 0, 123e6, time.UTC)
	req := bus.Request{RequestID: "0f8e7d6c", Resource: "population.identity", Key: "11010519491231002X",
		Fields: []string{"name", "birth_date"}, Purpose: "case:2026-000123", Consumer: "service-center",
		Caller: "clerk-7", ReplyTo: "govx.replies.exchange-1", RequestedAt: at, Deadline: at.Add(5 * time.Second)}
	got := mustMarshal(t, c, schemas.Request, req)

	golden := filepath.Join("testdata", "request.avro")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request envelope bytes changed\n got %x\nwant %x", got, want)
	}
	var back bus.Request
	if err := avro.NewCodec(store).Unmarshal(ctx, want, &back); err != nil {
		t.Fatalf("Unmarshal golden: %v", err)
	}
	if !reflect.DeepEqual(back, req) {
		t.Errorf("golden decodes as\n%+v\nwant\n%+v", back, req)
	}
}

// FuzzUnmarshal feeds arbitrary bytes, as a provider or the exchange may
// receive them from the bus, to a codec on the real schema store: it must
// never panic, and must fail with a classified error, never Internal.
func FuzzUnmarshal(f *testing.F) {
	store, _ := mustStore(f)
	c := avro.NewCodec(store)
	text, err := schemas.Text(schemas.Request)
	if err != nil {
		f.Fatal(err)
	}
	mustRegister(f, c, schemas.Request, text)
	now := time.Now().UTC()
	valid := mustMarshal(f, c, schemas.Request, bus.Request{RequestID: "r", Resource: "a.b", Key: "k",
		Fields: []string{"x"}, RequestedAt: now, Deadline: now})
	f.Add(valid)
	f.Add(valid[:5])
	f.Add([]byte{0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req bus.Request
		err := c.Unmarshal(context.Background(), data, &req)
		if err != nil && govx.ErrorKind(err) == govx.KindInternal {
			t.Errorf("Unmarshal(%x) = %v: an outside message caused an internal error", data, err)
		}
	})
}

// A record decoded generically reads as plain JSON: unions holding a map, an
// array or a record are not left wrapped in {"<type>": …}.
func TestUnmarshalMapTakesOffUnionWrappers(t *testing.T) {
	const schema = `{"type":"record","name":"Licence","namespace":"t","fields":[
		{"name":"number","type":["null","string"],"default":null},
		{"name":"items","type":["null",{"type":"map","values":"string"}],"default":null},
		{"name":"tags","type":["null",{"type":"array","items":"string"}],"default":null},
		{"name":"holder","type":["null",{"type":"record","name":"Holder","fields":[
			{"name":"code","type":"string"},
			{"name":"aliases","type":["null",{"type":"array","items":"string"}],"default":null}]}],"default":null},
		{"name":"none","type":["null",{"type":"map","values":"string"}],"default":null}]}`
	store, _ := mustStore(t)
	c := avro.NewCodec(store)
	mustRegister(t, c, "t.Licence", schema)
	// Encoding takes Avro's JSON form of unions; decoding gives plain JSON.
	b, err := c.Marshal("t.Licence", map[string]any{
		"number": map[string]any{"string": "JY1"}, "items": map[string]any{"map": map[string]any{"premises": "1 Road"}},
		"tags":   map[string]any{"array": []any{"a", "b"}},
		"holder": map[string]any{"t.Holder": map[string]any{"code": "X", "aliases": map[string]any{"array": []any{"y"}}}}, "none": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := c.UnmarshalAs(context.Background(), "t.Licence", b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"number": "JY1", "items": map[string]any{"premises": "1 Road"}, "tags": []any{"a", "b"},
		"holder": map[string]any{"code": "X", "aliases": []any{"y"}}, "none": nil,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %#v,\nwant %#v", got, want)
	}
}

// requestV1 is the request envelope as providers built before commands
// existed decode it: without the payload.
type requestV1 struct {
	RequestID   string    `avro:"request_id"`
	Resource    string    `avro:"resource"`
	Key         string    `avro:"key"`
	Fields      []string  `avro:"fields"`
	Purpose     string    `avro:"purpose"`
	Consumer    string    `avro:"consumer"`
	Caller      string    `avro:"caller"`
	ReplyTo     string    `avro:"reply_to"`
	RequestedAt time.Time `avro:"requested_at"`
	Deadline    time.Time `avro:"deadline"`
}

// requestV1Schema is the request envelope before the payload was added:
// the current schema without its last field.
func requestV1Schema(t *testing.T) string {
	t.Helper()
	text, err := schemas.Text(schemas.Request)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		t.Fatal(err)
	}
	fields := s["fields"].([]any)
	if last := fields[len(fields)-1].(map[string]any); last["name"] != "payload" {
		t.Fatalf("last request field is %v, not payload", last["name"])
	}
	s["fields"] = fields[:len(fields)-1]
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The payload was added to the request envelope as an optional trailing
// field: the registry takes it as a fully compatible new version, a
// request written before it (pinned in testdata/request-v1.avro) still
// decodes, and a provider built before it still reads what is sent now.
func TestRequestPayloadEvolution(t *testing.T) {
	ctx := context.Background()
	store, _ := mustStore(t)
	if err := store.SetCompatibility(ctx, schemas.Request, catalog.FullTransitive); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 9, 30, 0, 123e6, time.UTC)
	old := requestV1{RequestID: "0f8e7d6c", Resource: "population.identity", Key: "11010519491231002X",
		Fields: []string{"name", "birth_date"}, Purpose: "case:2026-000123", Consumer: "service-center",
		Caller: "clerk-7", ReplyTo: "govx.replies.exchange-1", RequestedAt: at, Deadline: at.Add(5 * time.Second)}

	oldCodec := avro.NewCodec(store)
	if id := mustRegister(t, oldCodec, schemas.Request, requestV1Schema(t)); id != 1 {
		t.Fatalf("v1 registered as id %d, want 1", id)
	}
	oldBytes := mustMarshal(t, oldCodec, schemas.Request, old)
	want, err := os.ReadFile(filepath.Join("testdata", "request-v1.avro"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(oldBytes, want) {
		t.Fatalf("v1 request bytes\n got %x\nwant %x", oldBytes, want)
	}

	newCodec := avro.NewCodec(store)
	text, _ := schemas.Text(schemas.Request)
	if id := mustRegister(t, newCodec, schemas.Request, text); id == 1 {
		t.Fatal("the payload version was taken as the same schema")
	}

	var got bus.Request
	if err := newCodec.UnmarshalAs(ctx, schemas.Request, want, &got); err != nil {
		t.Fatalf("v1 request with the current codec: %v", err)
	}
	wantNew := bus.Request{RequestID: old.RequestID, Resource: old.Resource, Key: old.Key, Fields: old.Fields,
		Purpose: old.Purpose, Consumer: old.Consumer, Caller: old.Caller, ReplyTo: old.ReplyTo,
		RequestedAt: old.RequestedAt, Deadline: old.Deadline}
	if !reflect.DeepEqual(got, wantNew) {
		t.Errorf("v1 request decodes as\n%+v\nwant\n%+v", got, wantNew)
	}

	wantNew.Payload = []byte{0, 0, 0, 0, 9, 1, 2}
	var back requestV1
	if err := oldCodec.UnmarshalAs(ctx, schemas.Request, mustMarshal(t, newCodec, schemas.Request, wantNew), &back); err != nil {
		t.Fatalf("a request with a payload, read by a v1 provider: %v", err)
	}
	if !reflect.DeepEqual(back, old) {
		t.Errorf("v1 provider reads\n%+v\nwant\n%+v", back, old)
	}
}
