package bus_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"govx"
	"govx/bus"
	"govx/internal/avro"
	"govx/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// fixedRegistry assigns fixed ids without a database: the golden bytes
// below pin the wire format, not the store. The subjects the goldens use
// come first so that adding a schema leaves their ids alone.
type fixedRegistry map[string]string

func subjects() []string {
	out := []string{schemas.Request, schemas.Reply, schemas.PopulationIdentity}
	for _, s := range schemas.Subjects() {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (r fixedRegistry) RegisterSchema(_ context.Context, subject, schema string) (int, error) {
	for i, s := range subjects() {
		if s == subject {
			r[subject] = schema
			return i + 1, nil
		}
	}
	return 0, errors.New("unknown subject")
}

func (r fixedRegistry) SchemaByID(_ context.Context, id int) (string, error) {
	subs := subjects()
	if id < 1 || id > len(subs) {
		return "", errors.New("unknown id")
	}
	return r[subs[id-1]], nil
}

func mustCodec(t *testing.T) *avro.Codec {
	t.Helper()
	c := avro.NewCodec(fixedRegistry{})
	for _, s := range subjects() {
		text, err := schemas.Text(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Register(context.Background(), s, text); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: encoding changed:\n got %x\nwant %x", name, got, want)
	}
}

func TestEnvelopesRoundTripGolden(t *testing.T) {
	c := mustCodec(t)
	at := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	req := bus.Request{
		RequestID: "01JDEMO0000000000000000000", Resource: "population.identity", Key: "110101199003074477",
		Fields: []string{"name", "birth_date"}, Purpose: "case:2026-000123", Consumer: "service-center",
		Caller: "svc:window-01", ReplyTo: "govx.replies.exchange-1", RequestedAt: at, Deadline: at.Add(5 * time.Second),
	}
	b, err := c.Marshal(schemas.Request, req)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0 {
		t.Fatalf("magic byte = %d, want 0", b[0])
	}
	if id, _ := avro.SchemaID(b); id != 1 {
		t.Fatalf("schema id = %d, want 1", id)
	}
	golden(t, "request.avro", b)
	var back bus.Request
	if err := c.Unmarshal(context.Background(), b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, req) {
		t.Errorf("request round trip:\n got %+v\nwant %+v", back, req)
	}

	rec, err := c.Marshal(schemas.PopulationIdentity, map[string]any{"name": "王小明", "birth_date": "1990-03-07"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "identity.avro", rec)
	for _, reply := range []bus.Reply{
		{RequestID: req.RequestID, Resource: req.Resource, Provider: "population", Record: rec, AnsweredAt: at},
		{RequestID: req.RequestID, Resource: req.Resource, Provider: "population", AnsweredAt: at,
			Error: bus.NewReplyError(govx.Errorf(govx.KindNotFound, "resident_not_found", "no resident with that ID number"))},
	} {
		b, err := c.Marshal(schemas.Reply, reply)
		if err != nil {
			t.Fatal(err)
		}
		name := "reply-record.avro"
		if reply.Error != nil {
			name = "reply-error.avro"
		}
		golden(t, name, b)
		var back bus.Reply
		if err := c.Unmarshal(context.Background(), b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, reply) {
			t.Errorf("reply round trip:\n got %+v\nwant %+v", back, reply)
		}
	}
	var m map[string]any
	if err := c.Unmarshal(context.Background(), rec, &m); err != nil {
		t.Fatal(err)
	}
	if m["name"] != "王小明" || m["birth_date"] != "1990-03-07" || m["address"] != nil {
		t.Errorf("record = %v", m)
	}
}

func TestReplyErrorKeepsKindAndCode(t *testing.T) {
	for _, k := range govx.Kinds() {
		in := &govx.Error{Kind: k, Code: "some_code", Message: "safe", Err: errors.New("secret SQL")}
		out := bus.NewReplyError(in)
		if out.Message != "safe" {
			t.Errorf("%v: message %q leaks the cause or loses the message", k, out.Message)
		}
		back := out.Err()
		if govx.ErrorKind(back) != k || govx.ErrorCode(back) != "some_code" {
			t.Errorf("%v: round trip gave kind %v code %q", k, govx.ErrorKind(back), govx.ErrorCode(back))
		}
	}
}

// A message of one record type is not decoded as another: a reply on a
// request topic is refused, not read as an empty request.
func TestUnmarshalAsRefusesOtherRecords(t *testing.T) {
	c := mustCodec(t)
	at := time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	reply, err := c.Marshal(schemas.Reply, bus.Reply{RequestID: "r", Resource: "population.identity", Provider: "population", AnsweredAt: at})
	if err != nil {
		t.Fatal(err)
	}
	var req bus.Request
	err = c.UnmarshalAs(context.Background(), schemas.Request, reply, &req)
	if govx.ErrorKind(err) != govx.KindInvalid || govx.ErrorCode(err) != "invalid_message" {
		t.Fatalf("reply decoded as a request: err = %v, request = %+v", err, req)
	}
	var back bus.Reply
	if err := c.UnmarshalAs(context.Background(), schemas.Reply, reply, &back); err != nil || back.RequestID != "r" {
		t.Fatalf("reply as a reply: %v %+v", err, back)
	}
}
