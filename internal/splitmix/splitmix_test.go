package splitmix

import "testing"

// The numbers are SplitMix64's reference outputs for seed 1234567 (from
// the authors' C code); the data the demo seeds make depend on them.
func TestReference(t *testing.T) {
	r := RNG{State: 1234567}
	for i, want := range []uint64{6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821} {
		if got := r.Next(); got != want {
			t.Errorf("Next %d = %d, want %d", i, got, want)
		}
	}
	if got, want := Hash(1234567), uint64(6457827717110365317); got != want {
		t.Errorf("Hash = %d, want %d", got, want)
	}
}

func TestIntnAndFloat64InRange(t *testing.T) {
	r := RNG{State: 42}
	counts := make([]int, 7)
	for range 70_000 {
		n := r.Intn(7)
		if n < 0 || n >= 7 {
			t.Fatalf("Intn(7) = %d", n)
		}
		counts[n]++
		if f := r.Float64(); f < 0 || f >= 1 {
			t.Fatalf("Float64 = %v", f)
		}
	}
	for i, c := range counts {
		if c < 9_000 || c > 11_000 {
			t.Errorf("Intn(7) gave %d %d times in 70 000", i, c)
		}
	}
}
