package native

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime/kernels"
)

// parallel runs fn over [0, n) split into chunks of at least grain items,
// on up to threads goroutines. It returns when every chunk is done.
func parallel(threads, n, grain int, fn func(worker, lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if threads > chunks {
		threads = chunks
	}
	if threads <= 1 {
		fn(0, 0, n)
		return
	}
	// Several chunks per worker balance uneven progress between cores.
	per := max(grain, (n+4*threads-1)/(4*threads))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(per))) - per
				if lo >= n {
					return
				}
				fn(w, lo, min(lo+per, n))
			}
		}()
	}
	wg.Wait()
}

// forward computes y[m, out] = x[m, in]·Wᵀ + b in the layer's arithmetic.
func (s *session) linear(l *linear, x []float32, m int, y []float32) {
	in, out := l.in, l.out
	switch {
	case l.w != nil:
		parallel(s.threads, out, 8, func(_, lo, hi int) {
			kernels.SgemmNT(m, in, lo, hi, x, l.w, y, out, l.b)
		})
	case s.prec == "w8":
		// Weight-only int8: dequantize a few rows at a time into a
		// per-worker scratch and run the float kernel over them.
		const rows = 16
		scratch := s.buf.dequant(s.threads, rows*in)
		parallel(s.threads, out, rows, func(w, lo, hi int) {
			buf := scratch[w]
			for r0 := lo; r0 < hi; r0 += rows {
				r1 := min(r0+rows, hi)
				quant.Dequantize(l.q[r0*in:r1*in], l.s[r0:r1], r1-r0, in, buf)
				var b []float32
				if l.b != nil {
					b = l.b[r0:r1]
				}
				kernels.SgemmNT(m, in, 0, r1-r0, x, buf, y[r0:], out, b)
			}
		})
	default:
		// w8a8: per-token dynamic int8 activations, int32 accumulation.
		xq, xs := s.buf.act(m * in)
		xs = xs[:m]
		parallel(s.threads, m, 4, func(_, lo, hi int) {
			for i := lo; i < hi; i++ {
				xs[i] = quant.QuantizeRow(x[i*in:(i+1)*in], xq[i*in:(i+1)*in])
			}
		})
		parallel(s.threads, out, 8, func(_, lo, hi int) {
			kernels.GemmI8NT(m, in, lo, hi, xq, xs, l.q, l.s, y, out, l.b)
		})
	}
}

// layerNorm normalises each of m rows of x into y with weight g and bias b.
func layerNorm(x []float32, m, w int, g, b []float32, eps float32, y []float32) {
	for i := range m {
		row, out := x[i*w:(i+1)*w], y[i*w:(i+1)*w]
		var sum float64
		for _, v := range row {
			sum += float64(v)
		}
		mean := sum / float64(w)
		var vs float64
		for _, v := range row {
			d := float64(v) - mean
			vs += d * d
		}
		inv := float32(1 / math.Sqrt(vs/float64(w)+float64(eps)))
		mf := float32(mean)
		for j, v := range row {
			out[j] = (v-mf)*inv*g[j] + b[j]
		}
	}
}

func gelu(x []float32, quick bool) {
	if quick {
		for i, v := range x {
			x[i] = v / (1 + float32(math.Exp(float64(-1.702*v))))
		}
		return
	}
	for i, v := range x {
		x[i] = 0.5 * v * (1 + float32(math.Erf(float64(v)*(1/math.Sqrt2))))
	}
}

// attention computes multi-head self-attention of one sequence of length L
// from packed qkv rows [L, 3w] into out [L, w] for the rows [r0, r1).
// causal masks keys after the query position.
func attention(qkv []float32, L, w, heads, head int, causal bool, r0, r1 int, scores, out []float32) {
	d := w / heads
	scale := float32(1 / math.Sqrt(float64(d)))
	off := head * d
	for i := r0; i < r1; i++ {
		q := qkv[i*3*w+off : i*3*w+off+d]
		n := L
		if causal {
			n = i + 1
		}
		mx := float32(math.Inf(-1))
		for j := range n {
			k := qkv[j*3*w+w+off : j*3*w+w+off+d]
			sc := kernels.Dot(q, k) * scale
			scores[j] = sc
			if sc > mx {
				mx = sc
			}
		}
		var sum float32
		for j := range n {
			e := float32(math.Exp(float64(scores[j] - mx)))
			scores[j] = e
			sum += e
		}
		o := out[i*w+off : i*w+off+d]
		clear(o)
		inv := 1 / sum
		for j := range n {
			kernels.Axpy(scores[j]*inv, qkv[j*3*w+2*w+off:j*3*w+2*w+off+d], o)
		}
	}
}

func l2normalize(x []float32) {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range x {
		x[i] *= inv
	}
}
