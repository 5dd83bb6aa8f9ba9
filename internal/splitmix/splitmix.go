// Package splitmix is SplitMix64 (Steele, Lea and Flood, 2014): a tiny,
// fast, well-mixing generator of 64-bit numbers, and its finaliser as a
// hash. The synthetic registers and benchmark data are pure functions of a
// seed drawn from it, and the demo's seeds name people, companies and
// licences by what it gives: what it returns for a state must never change.
// It is not for anything secret.
package splitmix

// Golden is the generator's increment, 2^64 divided by the golden ratio.
const Golden = 0x9e3779b97f4a7c15

// Mix64 is the SplitMix64 finaliser: a bijective, well-mixing hash of z.
func Mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Hash is the first number an RNG with state x gives: Mix64(x + Golden).
func Hash(x uint64) uint64 { return Mix64(x + Golden) }

// RNG is SplitMix64 with its state. The zero value is a valid generator;
// it is not safe for concurrent use.
type RNG struct{ State uint64 }

// Next returns the next number.
func (r *RNG) Next() uint64 {
	r.State += Golden
	return Mix64(r.State)
}

// Intn returns a number in [0, n), n < 2^32, from the high bits of Next by
// multiplying rather than by a remainder.
func (r *RNG) Intn(n int) int { return int((r.Next() >> 32) * uint64(n) >> 32) }

// Float64 returns a number in [0, 1).
func (r *RNG) Float64() float64 { return float64(r.Next()>>11) / (1 << 53) }
