package kernels

// QuantizeI16 quantizes the activation row x symmetrically to int8 values,
// stored widened in q (PairLen(len(x)) values, zero-padded) for GemmI8, and
// returns the scale. It matches quant.QuantizeRow followed by WidenI8 bit for
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
