package history

import (
	"math"
	"sync"
)

// Compact is the in-memory form of the retained embeddings. The files always
// keep the exact float32 vectors, so the form can change between runs.
type Compact int

const (
	// Int8 keeps each vector as symmetric int8 codes with one float32 scale
	// (max|v|/127): a quarter of float32, score error well under 1e-3 for
	// unit-norm CLIP embeddings.
	Int8 Compact = iota
	// F16 keeps each vector as IEEE half precision: half of float32, error
	// about 1e-4 relative, slower to score (table lookup per element).
	F16
)

func (c Compact) String() string {
	switch c {
	case Int8:
		return "int8"
	case F16:
		return "f16"
	}
	return "unknown"
}

// slab holds one model's vectors from one segment, contiguous so that
// scoring walks memory linearly.
type slab struct {
	hash, name string
	dim        int
	seqs       []uint64
	times      []int64
	codes      []int8    // Int8: dim per record
	scales     []float32 // Int8: one per record
	halves     []uint16  // F16: dim per record
}

func (sl *slab) len() int { return len(sl.seqs) }

func (sl *slab) bytes() int64 {
	return int64(cap(sl.seqs)*8 + cap(sl.times)*8 + cap(sl.codes) + cap(sl.scales)*4 + cap(sl.halves)*2)
}

// add appends one vector in the given compact form.
func (sl *slab) add(form Compact, seq uint64, unixNano int64, v []float32) {
	sl.seqs = append(sl.seqs, seq)
	sl.times = append(sl.times, unixNano)
	switch form {
	case F16:
		for _, x := range v {
			sl.halves = append(sl.halves, f32ToF16(x))
		}
	default:
		n := len(sl.codes)
		sl.codes = append(sl.codes, make([]int8, len(v))...)
		sl.scales = append(sl.scales, quantize(v, sl.codes[n:]))
	}
}

// vector dequantizes record i into dst (length dim).
func (sl *slab) vector(form Compact, i int, dst []float32) {
	switch form {
	case F16:
		h := sl.halves[i*sl.dim : (i+1)*sl.dim]
		t := f16Table()
		for j, x := range h {
			dst[j] = t[x]
		}
	default:
		c := sl.codes[i*sl.dim : (i+1)*sl.dim]
		s := sl.scales[i]
		for j, x := range c {
			dst[j] = float32(x) * s
		}
	}
}

// clip drops spare capacity once a segment stops growing.
func (sl *slab) clip() {
	sl.seqs = append([]uint64(nil), sl.seqs...)
	sl.times = append([]int64(nil), sl.times...)
	if sl.codes != nil {
		sl.codes = append([]int8(nil), sl.codes...)
		sl.scales = append([]float32(nil), sl.scales...)
	}
	if sl.halves != nil {
		sl.halves = append([]uint16(nil), sl.halves...)
	}
}

// quantize writes symmetric int8 codes of v into q and returns the scale.
func quantize(v []float32, q []int8) float32 {
	var m float32
	for _, x := range v {
		if x < 0 {
			x = -x
		}
		m = max(m, x)
	}
	if m == 0 {
		clear(q)
		return 0
	}
	s := m / 127
	inv := 127 / m
	for i, x := range v {
		q[i] = int8(math.Round(float64(x * inv)))
	}
	return s
}

// dotI8 returns q·c with c as int8 codes (the caller multiplies by the
// scale). Four independent accumulators hide the add latency.
func dotI8(q []float32, c []int8) float32 {
	c = c[:len(q)]
	var a0, a1, a2, a3 float32
	for len(q) >= 4 && len(c) >= 4 {
		a0 += q[0] * float32(c[0])
		a1 += q[1] * float32(c[1])
		a2 += q[2] * float32(c[2])
		a3 += q[3] * float32(c[3])
		q, c = q[4:], c[4:]
	}
	for i := range q {
		a0 += q[i] * float32(c[i])
	}
	return (a0 + a1) + (a2 + a3)
}

// dotF16 returns q·h with h as half-precision bits, decoded through a table.
func dotF16(q []float32, h []uint16, t *[1 << 16]float32) float32 {
	h = h[:len(q)]
	var a0, a1, a2, a3 float32
	for len(q) >= 4 && len(h) >= 4 {
		a0 += q[0] * t[h[0]]
		a1 += q[1] * t[h[1]]
		a2 += q[2] * t[h[2]]
		a3 += q[3] * t[h[3]]
		q, h = q[4:], h[4:]
	}
	for i := range q {
		a0 += q[i] * t[h[i]]
	}
	return (a0 + a1) + (a2 + a3)
}

var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = f16ToF32(uint16(i))
	}
	return &t
})

// f32ToF16 converts with round-to-nearest-even; overflow goes to infinity.
// Inputs are finite (Append rejects NaN and Inf).
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to infinity: still correct
	}
	return sign | uint16(h)
}

func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
