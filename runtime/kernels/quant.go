package kernels

// QuantizeI16 quantizes the activation row x symmetrically to int8 values,
// stored widened in q (PairLen(len(x)) values, zero-padded) for GemmI8, and
// returns the scale. It matches quant.QuantizeRow widened to int16, bit for
// bit: scale max|x|/127, round half away from zero, clamp to ±127; an
// all-zero row gets scale 0.
func QuantizeI16(x []float32, q []int16) float32 {
	q = q[:PairLen(len(x))]
	if len(x)%2 == 1 {
		q[len(x)] = 0
	}
	var m float32
	if useAsm {
		m = maxAbsAsm(x)
	} else {
		m = maxAbsGo(x)
	}
	if m == 0 || m != m {
		clear(q)
		return 0
	}
	s := m / 127
	inv := 1 / s
	if useAsm {
		quantAsm(x, inv, q)
	} else {
		quantGo(x, inv, q)
	}
	return s
}

func maxAbsGo(x []float32) float32 {
	var m float32
	for _, v := range x {
		if v < 0 {
			v = -v
		}
		if v > m {
			m = v
		}
	}
	return m
}

func quantGo(x []float32, inv float32, q []int16) {
	q = q[:len(x)]
	for i, v := range x {
		r := v * inv
		var c int32
		if r >= 0 {
			c = int32(r + 0.5)
		} else {
			c = int32(r - 0.5)
		}
		q[i] = int16(min(max(c, -127), 127))
	}
}

// actTop is the largest quad-layout activation code: with codes in
// [0, 128] and int8 weights, a VPMADDUBSW pair sum stays within int16.
const actTop = 128

// QuantizeU8 quantizes the activation row x asymmetrically to codes in
// [0, actTop] in q (QuadLen(len(x)) bytes, zero-padded) and returns the scale
// and zero point: x ≈ (q − zero)·scale, with the range widened to include 0
// so that 0 is exact. An all-zero row gets scale 0 and zero point 0.
func QuantizeU8(x []float32, q []byte) (scale float32, zero int32) {
	q = q[:QuadLen(len(x))]
	clear(q[len(x):])
	var lo, hi float32
	if useAsm {
		lo, hi = minMaxAsm(x)
	} else {
		lo, hi = minMaxGo(x)
	}
	if hi-lo == 0 || hi-lo != hi-lo {
		clear(q)
		return 0, 0
	}
	s := (hi - lo) / actTop
	inv := 1 / s
	zero = min(max(roundAway(-lo*inv), 0), actTop)
	if useAsm {
		quantU8Asm(x, inv, zero, q)
	} else {
		quantU8Go(x, inv, zero, q)
	}
	return s, zero
}

// roundAway rounds half away from zero, as the vector kernels do.
func roundAway(r float32) int32 {
	if r >= 0 {
		return int32(r + 0.5)
	}
	return int32(r - 0.5)
}

func minMaxGo(x []float32) (lo, hi float32) {
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

func quantU8Go(x []float32, inv float32, zero int32, q []byte) {
	q = q[:len(x)]
	for i, v := range x {
		q[i] = byte(min(max(roundAway(v*inv)+zero, 0), actTop))
	}
}
