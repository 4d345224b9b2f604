package preprocess

import "math"

// The resampler reproduces Pillow's Resample.c (9.x) for 8-bit images with the
// BICUBIC filter bit for bit: float64 coefficients built the way
// precompute_coeffs does, rounded to 22-bit fixed point as normalize_coeffs_8bpc
// does, then a horizontal pass and a vertical pass, each rounding and clamping
// to uint8. Only the outputs inside the centre crop are computed; every output
// sample depends only on its own coefficient row, so this is exact.

// precisionBits is Pillow's PRECISION_BITS (32 - 8 - 2).
const precisionBits = 22

// bicubicSupport is the support of Pillow's bicubic filter.
const bicubicSupport = 2.0

// bicubic is Pillow's bicubic_filter with a = -0.5. The explicit float64
// conversions stop the compiler fusing multiply-adds (which it may do on arm64),
// so the coefficients match Pillow's x86-64 build exactly.
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		t := float64((a+2)*x) - (a + 3)
		return float64(float64(t*x)*x) + 1
	}
	if x < 2 {
		t := float64((x-5)*x) + 8
		t = float64(t*x) - 4
		return t * a
	}
	return 0
}

// axis holds the fixed-point filter for one direction: for each of the n
// cropped outputs, the first input sample, the number of taps and ksize
// coefficients.
type axis struct {
	in, out, off, n int // input length, resized length, crop offset, cropped length
	ksize           int
	first, count    []int32
	coef            []int32
}

// span is the range of input samples [lo, hi) that the cropped outputs read.
func (a *axis) span() (lo, hi int) {
	lo = int(a.first[0])
	hi = lo
	for i := range a.n {
		if e := int(a.first[i]) + int(a.count[i]); e > hi {
			hi = e
		}
	}
	return lo, hi
}

// newAxis builds the filter that resizes in samples to out and keeps the
// outputs [off, off+n). When in == out Pillow skips the pass; a single tap of
// weight 1.0 gives the same bytes.
func newAxis(in, out, off, n int) *axis {
	a := &axis{in: in, out: out, off: off, n: n, first: make([]int32, n), count: make([]int32, n)}
	if in == out {
		a.ksize = 1
		a.coef = make([]int32, n)
		for i := range n {
			a.first[i] = int32(off + i)
			a.count[i] = 1
			a.coef[i] = 1 << precisionBits
		}
		return a
	}
	scale := float64(in) / float64(out)
	filterscale := max(scale, 1.0)
	support := bicubicSupport * filterscale
	a.ksize = int(math.Ceil(support))*2 + 1
	a.coef = make([]int32, n*a.ksize)
	ss := 1.0 / filterscale
	w := make([]float64, a.ksize)
	for i := range n {
		center := float64(float64(off+i)+0.5) * scale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), in) - xmin
		ww := 0.0
		for x := range xmax {
			w[x] = bicubic((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		k := a.coef[i*a.ksize : (i+1)*a.ksize]
		for x := range xmax {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				k[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				k[x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		a.first[i] = int32(xmin)
		a.count[i] = int32(xmax)
	}
	return a
}

// clip8 is Pillow's clip8: drop the fraction and clamp to a byte.
func clip8(s int32) byte {
	v := s >> precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return byte(v)
}

// horizontal filters one source row into dst (n packed RGB pixels). Source
// pixels are bpp bytes apart with channels at offsets o0, o1, o2, which covers
// RGB, BGR, RGBA/NRGBA and grey rows without copying them first. The common
// layouts get their own loops, simple enough for the compiler to drop most
// bounds checks.
func horizontal(dst, src []byte, bpp, o0, o1, o2 int, a *axis) {
	switch {
	case bpp == 3 && o0 == 0 && o1 == 1 && o2 == 2:
		horizontal3(dst, src, a, false)
	case bpp == 3 && o0 == 2 && o1 == 1 && o2 == 0:
		horizontal3(dst, src, a, true)
	case bpp == 4 && o0 == 0 && o1 == 1 && o2 == 2:
		horizontal4(dst, src, a)
	case bpp == 1:
		horizontal1(dst, src, a)
	default:
		horizontalAny(dst, src, bpp, o0, o1, o2, a)
	}
}

const half = 1 << (precisionBits - 1)

// horizontal3 filters packed 3-byte pixels; swap reverses them (BGR).
func horizontal3(dst, src []byte, a *axis, swap bool) {
	ks := a.ksize
	for i := range a.n {
		cnt := int(a.count[i])
		f := int(a.first[i]) * 3
		p := src[f : f+cnt*3]
		k := a.coef[i*ks : i*ks+cnt]
		// Channels 0 and 2 share one int64 (see unpair); channel 1 has its own.
		s02, s1 := int64(half)|int64(half)<<32, int32(half)
		for _, c := range k {
			if len(p) < 3 { // never true; lets the compiler drop the checks below
				break
			}
			s02 += int64(uint64(p[0])|uint64(p[2])<<32) * int64(c)
			s1 += int32(p[1]) * c
			p = p[3:]
		}
		s0, s2 := unpair(s02)
		if swap {
			s0, s2 = s2, s0
		}
		d := dst[i*3 : i*3+3 : i*3+3]
		d[0], d[1], d[2] = clip8(s0), clip8(s1), clip8(s2)
	}
}

// unpair splits an int64 that accumulated v0·c + v2·c·2³² into the two
// exact sums. Each sum fits in an int32 (Pillow's accumulators are int32 and
// the coefficient precision leaves room for that), so the low 32 bits, read as
// signed, are the first sum and the borrow they caused is undone for the second.
func unpair(s int64) (lo, hi int32) {
	lo = int32(s)
	return lo, int32((s - int64(lo)) >> 32)
}

// horizontal4 filters 4-byte pixels, ignoring the fourth byte.
func horizontal4(dst, src []byte, a *axis) {
	ks := a.ksize
	for i := range a.n {
		cnt := int(a.count[i])
		f := int(a.first[i]) * 4
		p := src[f : f+cnt*4]
		k := a.coef[i*ks : i*ks+cnt]
		s0, s1, s2 := int32(half), int32(half), int32(half)
		for _, c := range k {
			if len(p) < 4 { // never true; lets the compiler drop the checks below
				break
			}
			s0 += int32(p[0]) * c
			s1 += int32(p[1]) * c
			s2 += int32(p[2]) * c
			p = p[4:]
		}
		d := dst[i*3 : i*3+3 : i*3+3]
		d[0], d[1], d[2] = clip8(s0), clip8(s1), clip8(s2)
	}
}

// horizontal1 filters grey pixels into three equal channels, which is what
// PIL computes for an "L" image converted to "RGB".
func horizontal1(dst, src []byte, a *axis) {
	ks := a.ksize
	for i := range a.n {
		cnt := int(a.count[i])
		f := int(a.first[i])
		p := src[f : f+cnt]
		k := a.coef[i*ks : i*ks+cnt]
		s := int32(half)
		for j, c := range k {
			s += int32(p[j]) * c
		}
		v := clip8(s)
		d := dst[i*3 : i*3+3 : i*3+3]
		d[0], d[1], d[2] = v, v, v
	}
}

// horizontalAny handles any other layout.
func horizontalAny(dst, src []byte, bpp, o0, o1, o2 int, a *axis) {
	ks := a.ksize
	for i := range a.n {
		p := src[int(a.first[i])*bpp:]
		k := a.coef[i*ks : i*ks+int(a.count[i])]
		s0, s1, s2 := int32(half), int32(half), int32(half)
		for j, c := range k {
			q := p[j*bpp : j*bpp+bpp]
			s0 += int32(q[o0]) * c
			s1 += int32(q[o1]) * c
			s2 += int32(q[o2]) * c
		}
		d := dst[i*3 : i*3+3]
		d[0], d[1], d[2] = clip8(s0), clip8(s1), clip8(s2)
	}
}

// vertical filters the intermediate rows (rowLen = 3n bytes each, starting at
// source row lo) into the normalised CHW output, through lut. (Pairing bytes
// in int64 accumulators, which helps the horizontal pass, is slower here.)
func vertical(dst []float32, tmp []byte, rowLen, lo int, a *axis, acc []int32, lut *[3][256]float32) {
	n := a.n
	plane := n * n
	acc = acc[:rowLen]
	for i := range n {
		for x := range acc {
			acc[x] = half
		}
		y0 := int(a.first[i]) - lo
		k := a.coef[i*a.ksize : i*a.ksize+int(a.count[i])]
		for j, c := range k {
			row := tmp[(y0+j)*rowLen : (y0+j+1)*rowLen]
			row = row[:len(acc)]
			for x, v := range row {
				acc[x] += int32(v) * c
			}
		}
		r := dst[i*n : i*n+n]
		g := dst[plane+i*n : plane+i*n+n]
		b := dst[2*plane+i*n : 2*plane+i*n+n]
		for x := range n {
			s := acc[x*3 : x*3+3 : x*3+3]
			r[x] = lut[0][clip8(s[0])]
			g[x] = lut[1][clip8(s[1])]
			b[x] = lut[2][clip8(s[2])]
		}
	}
}
