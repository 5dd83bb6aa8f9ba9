package bus_test

import (
	"context"
	"testing"
	"time"

	"govx"
	"govx/bus"
	"govx/internal/auth"
	"govx/internal/kafka"
)

// keyList is a catalogue's list of one department's keys, as a KeySource.
type keyList map[string][]bus.PublicKey

func (l keyList) DepartmentKeys(_ context.Context, dept string) ([]bus.PublicKey, error) {
	return l[dept], nil
}

func mustSigner(t *testing.T, dept string) *bus.Signer {
	t.Helper()
	k, err := auth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := bus.NewSigner(dept, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRefusesWhatItShould(t *testing.T) {
	ctx := context.Background()
	good, other, stranger := mustSigner(t, "population"), mustSigner(t, "legal-entity"), mustSigner(t, "population")
	keys := keyList{"population": {{KeyID: good.KeyID(), Key: good.PublicKey()}},
		"legal-entity": {{KeyID: other.KeyID(), Key: other.PublicKey()}}}
	v, err := bus.NewVerifier(bus.VerifierConfig{Keys: keys, MinRefresh: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	msg := func() kafka.Message { return kafka.Message{Topic: "govx.replies.x", Value: []byte{0, 0, 0, 0, 1, 42}} }
	signed := func(s *bus.Signer) kafka.Message { m := msg(); s.Sign(&m); return m }
	tampered := signed(good)
	tampered.Value = []byte{0, 0, 0, 0, 1, 43}
	moved := signed(good)
	moved.Topic = "govx.replies.y"
	for _, c := range []struct {
		name string
		m    kafka.Message
		code string
	}{
		{"unsigned", msg(), bus.CodeUnsigned},
		{"unknown key", signed(stranger), bus.CodeUnknownKey},
		{"another department", signed(other), bus.CodeUnknownKey},
		{"tampered", tampered, bus.CodeTampered},
		{"another topic", moved, bus.CodeTampered},
		{"good", signed(good), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sig, err := v.Verify(ctx, c.m, "population")
			if govx.ErrorCode(err) != c.code && !(c.code == "" && err == nil) {
				t.Fatalf("Verify = %v, want code %q", err, c.code)
			}
			if c.code == "" && (sig.Signer != "population" || sig.KeyID != good.KeyID()) {
				t.Errorf("signature %+v", sig)
			}
		})
	}
}

// A new key is published before it signs and taken up at once; the old
// one verifies until its retired time and is refused after it.
func TestVerifyKeyRotation(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	old, next := mustSigner(t, bus.ExchangeDepartment), mustSigner(t, bus.ExchangeDepartment)
	keys := keyList{bus.ExchangeDepartment: {{KeyID: old.KeyID(), Key: old.PublicKey()}}}
	v, err := bus.NewVerifier(bus.VerifierConfig{Keys: keys, Now: func() time.Time { return now }, MinRefresh: time.Millisecond, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(s *bus.Signer) kafka.Message {
		m := kafka.Message{Topic: "govx.requests.population", Value: []byte("v")}
		s.Sign(&m)
		return m
	}
	if _, err := v.Verify(ctx, sign(old), bus.ExchangeDepartment); err != nil {
		t.Fatal(err)
	}
	// Rotation: the new key is published, the old one retired an hour on.
	grace := now.Add(time.Hour)
	keys[bus.ExchangeDepartment] = []bus.PublicKey{{KeyID: old.KeyID(), Key: old.PublicKey(), RetiredAt: &grace},
		{KeyID: next.KeyID(), Key: next.PublicKey()}}
	if _, err := v.Verify(ctx, sign(next), bus.ExchangeDepartment); err != nil {
		t.Fatalf("new key: %v", err)
	}
	if _, err := v.Verify(ctx, sign(old), bus.ExchangeDepartment); err != nil {
		t.Fatalf("old key within its grace: %v", err)
	}
	now = grace
	if _, err := v.Verify(ctx, sign(old), bus.ExchangeDepartment); govx.ErrorCode(err) != bus.CodeKeyRetired {
		t.Fatalf("old key after its grace: %v", err)
	}
	if _, err := v.Verify(ctx, sign(next), bus.ExchangeDepartment); err != nil {
		t.Fatalf("new key after the old one's retirement: %v", err)
	}
}
