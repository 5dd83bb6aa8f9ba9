package bus_test

import (
	"context"
	"testing"

	"govx/bus"
	"govx/internal/auth"
	"govx/internal/kafka"
)

// BenchmarkSignVerify is what one signed message costs its sender and its
// receiver (keys parsed and cached): one Sign and one Verify of a reply
// the size of a population record.
func BenchmarkSignVerify(b *testing.B) {
	k, err := auth.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	s, err := bus.NewSigner("population", k)
	if err != nil {
		b.Fatal(err)
	}
	v, err := bus.NewVerifier(bus.VerifierConfig{Keys: bus.KeySourceFunc(func(context.Context, string) ([]bus.PublicKey, error) {
		return []bus.PublicKey{{KeyID: s.KeyID(), Key: s.PublicKey()}}, nil
	})})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 600)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m := kafka.Message{Topic: "govx.replies.exchange-1", Value: value}
		s.Sign(&m)
		if _, err := v.Verify(ctx, m, "population"); err != nil {
			b.Fatal(err)
		}
	}
}
