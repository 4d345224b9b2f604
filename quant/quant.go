// Package quant holds edgeclip's quantization arithmetic: symmetric
// per-output-channel int8 weights, per-token dynamic int8 activations and
// IEEE half precision. It is a leaf package; the engine uses it at load time
// and the quantizer tool uses it to rewrite model files.
package quant

import (
	"fmt"
	"math"
)

// QuantizeRows quantizes a row-major [rows, cols] matrix symmetrically per
// row (per output channel of a [out, in] linear weight): q = round(w / s),
// s = max|w| / 127. An all-zero row gets scale 0 and zero codes.
func QuantizeRows(w []float32, rows, cols int, q []int8, scales []float32) error {
	if rows < 0 || cols < 0 || len(w) != rows*cols || len(q) != rows*cols || len(scales) != rows {
		return fmt.Errorf("quant: QuantizeRows: shape %dx%d does not match lengths w=%d q=%d scales=%d", rows, cols, len(w), len(q), len(scales))
	}
	for r := range rows {
		scales[r] = QuantizeRow(w[r*cols:(r+1)*cols], q[r*cols:(r+1)*cols])
	}
	return nil
}

// QuantizeRow quantizes one vector symmetrically and returns its scale.
// It is also the dynamic per-token activation quantizer of w8a8.
func QuantizeRow(x []float32, q []int8) float32 {
	var m float32
	for _, v := range x {
		if v < 0 {
			v = -v
		}
		if v > m {
			m = v
		}
	}
	if m == 0 || m != m {
		for i := range q[:len(x)] {
			q[i] = 0
		}
		return 0
	}
	s := m / 127
	inv := 1 / s
	for i, v := range x {
		r := v * inv
		// Round half away from zero, clamp to the symmetric range.
		var c int32
		if r >= 0 {
			c = int32(r + 0.5)
		} else {
			c = int32(r - 0.5)
		}
		if c > 127 {
			c = 127
		} else if c < -127 {
			c = -127
		}
		q[i] = int8(c)
	}
	return s
}

// Dequantize writes q × scale (per row) into w.
func Dequantize(q []int8, scales []float32, rows, cols int, w []float32) {
	for r := range rows {
		s := scales[r]
		row, out := q[r*cols:(r+1)*cols], w[r*cols:(r+1)*cols]
		for i, v := range row {
			out[i] = float32(v) * s
		}
	}
}

// F16ToF32 converts an IEEE 754 binary16 value.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: renormalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// F32ToF16 converts to binary16 with round-to-nearest-even, saturating to
// infinity and flushing tiny values through the subnormal range.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	if b&0x7fffffff > 0x7f800000 { // NaN
		return sign | 0x7e00
	}
	if exp >= 0x1f {
		return sign | 0x7c00
	}
	if exp <= 0 {
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(r)
}
