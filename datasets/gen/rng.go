package gen

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"math"
	"math/bits"

	"github.com/google/uuid"
)

// rng is a small, fast, deterministic generator (wyrand). It is not safe
// for concurrent use; every day partition owns its own.
type rng struct{ s uint64 }

// newRNG derives a generator from the seed and any number of labels, so
// the stream for (seed, dataset, day) never depends on scheduling.
func newRNG(seed int64, labels ...string) *rng {
	h := fnv.New64a()
	var b [8]byte
	for i := range b {
		b[i] = byte(uint64(seed) >> (8 * i))
	}
	h.Write(b[:])
	for _, l := range labels {
		h.Write([]byte(l))
		h.Write([]byte{0})
	}
	r := &rng{s: h.Sum64()}
	r.u64()
	return r
}

func (r *rng) u64() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// intn returns a value in [0, n).
func (r *rng) intn(n int) int {
	if n <= 1 {
		return 0
	}
	hi, _ := bits.Mul64(r.u64(), uint64(n))
	return int(hi)
}

// between returns a value in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// float returns a value in [0, 1).
func (r *rng) float() float64 { return float64(r.u64()>>11) / (1 << 53) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// norm returns a standard normal value (Box–Muller, one of the pair).
func (r *rng) norm() float64 {
	u := r.float()
	if u < 1e-300 {
		u = 1e-300
	}
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*r.float())
}

// lognorm returns median*exp(sigma*N(0,1)).
func (r *rng) lognorm(median, sigma float64) float64 { return median * math.Exp(sigma*r.norm()) }

// pick returns a uniformly chosen element.
func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

// uuid returns a random RFC 4122 version-4 style id.
func (r *rng) uuid() string {
	var b [16]byte
	a, c := r.u64(), r.u64()
	for i := 0; i < 8; i++ {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(c >> (8 * i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String()
}

// hexString returns n random lower-case hex digits.
func (r *rng) hexString(n int) string {
	buf := make([]byte, (n+15)/16*16)
	var b [8]byte
	for i := 0; i < len(buf); i += 16 {
		binary.LittleEndian.PutUint64(b[:], r.u64())
		hex.Encode(buf[i:i+16], b[:])
	}
	return string(buf[:n])
}

// dist samples indices 0..n-1 with fixed weights.
type dist struct {
	cdf []uint64 // cumulative thresholds scaled to 2^64-1; last is max
}

func newDist(weights []float64) *dist {
	var sum float64
	for _, w := range weights {
		sum += w
	}
	d := &dist{cdf: make([]uint64, len(weights))}
	var acc float64
	for i, w := range weights {
		acc += w
		v := acc / sum
		if v >= 1 || i == len(weights)-1 {
			d.cdf[i] = math.MaxUint64
		} else {
			d.cdf[i] = uint64(v * (1 << 63) * 2)
		}
	}
	return d
}

// zipf returns a distribution over n items with weight 1/(i+1)^s.
func zipf(n int, s float64) *dist {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1 / math.Pow(float64(i+1), s)
	}
	return newDist(w)
}

func (d *dist) sample(r *rng) int {
	u := r.u64()
	c := d.cdf
	if len(c) <= 8 {
		for i, t := range c {
			if u <= t {
				return i
			}
		}
		return len(c) - 1
	}
	lo, hi := 0, len(c)-1
	for lo < hi {
		m := (lo + hi) / 2
		if u <= c[m] {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// weighted is a set of values with a sampling distribution.
type weighted[T any] struct {
	vals []T
	d    *dist
}

func newWeighted[T any](vals []T, weights []float64) weighted[T] {
	return weighted[T]{vals: vals, d: newDist(weights)}
}

func (w weighted[T]) sample(r *rng) T { return w.vals[w.d.sample(r)] }

func round2(x float64) float64 { return math.Round(x*100) / 100 }
