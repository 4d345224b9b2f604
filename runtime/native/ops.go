package native

import (
	"math"
	goruntime "runtime"
	"sync/atomic"
	"time"

	"github.com/edgeclip/edgeclip/runtime/kernels"
)

// task is one parallel loop body over [lo, hi) run by worker. Tasks are
// structs kept in the session, so handing one to the pool allocates nothing
// (a closure handed to other goroutines would escape to the heap per call).
type task interface{ run(worker, lo, hi int) }

// spinFor is how long an idle helper polls for the next loop before it
// parks. A tower issues a parallel loop every few hundred microseconds with
// short serial steps between them; parking and waking through the kernel
// for each one left a core idle a third of the time in a VM, where a wake-up
// is an inter-processor interrupt through the hypervisor.
const spinFor = 200 * time.Microsecond

// pool runs parallel loops on helper goroutines that live as long as the
// session; the calling goroutine works as worker 0. Helpers find work by
// polling a generation counter and park on their channel when idle longer
// than spinFor; the caller waits for them by polling too.
type pool struct {
	threads int
	helpers []*helper
	gen     atomic.Uint64 // bumped once per loop, and by stop
	pending atomic.Int64  // helpers not yet done with the current loop
	stopped atomic.Bool
	t       task
	n, per  int
	next    atomic.Int64
}

type helper struct {
	sleeping atomic.Bool
	wake     chan struct{} // one token per claimed sleep
}

func newPool(threads int) *pool {
	p := &pool{threads: max(threads, 1)}
	for w := 1; w < p.threads; w++ {
		h := &helper{wake: make(chan struct{}, 1)}
		p.helpers = append(p.helpers, h)
		go p.helper(w, h)
	}
	return p
}

func (p *pool) helper(w int, h *helper) {
	var seen uint64
	for {
		seen = p.await(h, seen)
		if p.stopped.Load() {
			return
		}
		p.drain(w)
		p.pending.Add(-1)
	}
}

// await returns the first generation after seen, spinning for spinFor and
// then parking until the caller wakes h.
func (p *pool) await(h *helper, seen uint64) uint64 {
	for {
		var deadline time.Time
		for i := 0; ; i++ {
			if g := p.gen.Load(); g != seen {
				return g
			}
			if i%64 == 63 {
				goruntime.Gosched()
				now := time.Now()
				if deadline.IsZero() {
					deadline = now.Add(spinFor)
				} else if now.After(deadline) {
					break
				}
			}
		}
		h.sleeping.Store(true)
		if g := p.gen.Load(); g != seen && h.sleeping.CompareAndSwap(true, false) {
			return g
		}
		// Either nothing is new, or a caller cleared sleeping and owes a
		// token.
		<-h.wake
		if g := p.gen.Load(); g != seen {
			return g
		}
		// A late token: a caller read sleeping as true for the loop this
		// helper has already run (it found the new generation itself and
		// ran it, then parked again before the caller's swap landed).
		// Running it twice would miscount pending; wait for the next one.
	}
}

// signal starts the helpers on the current generation.
func (p *pool) signal() {
	for _, h := range p.helpers {
		if h.sleeping.Load() && h.sleeping.CompareAndSwap(true, false) {
			h.wake <- struct{}{}
		}
	}
}

func (p *pool) drain(w int) {
	for {
		lo := int(p.next.Add(int64(p.per))) - p.per
		if lo >= p.n {
			return
		}
		p.t.run(w, lo, min(lo+p.per, p.n))
	}
}

// run calls t over [0, n) in chunks of at least grain items and returns
// when every chunk is done. Many chunks per worker (up to 16) balance
// uneven progress between cores: the last worker to finish keeps the others
// waiting for half a chunk on average.
func (p *pool) run(t task, n, grain int) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	workers := min(p.threads, (n+grain-1)/grain)
	if workers <= 1 {
		t.run(0, 0, n)
		return
	}
	p.t, p.n = t, n
	p.per = max(grain, (n+16*workers-1)/(16*workers))
	p.next.Store(0)
	p.pending.Store(int64(len(p.helpers)))
	p.gen.Add(1)
	p.signal()
	p.drain(0)
	for i := 0; p.pending.Load() != 0; i++ {
		if i%64 == 63 {
			goruntime.Gosched()
		}
	}
	p.t = nil
}

// stop ends the helpers; the pool must be idle.
func (p *pool) stop() {
	p.stopped.Store(true)
	p.gen.Add(1)
	p.signal()
}

// linearJob is one layer's product, split by column panels, or (quantize)
// the w8a8 activation quantization, split by rows.
type linearJob struct {
	l        *linear
	x, y     []float32
	m        int
	xq       []byte
	xs       []float32
	xz       []int32
	quantize bool
	// res, when set, receives y added to it: the residual stream, updated
	// by the worker that computed those columns while they are in cache.
	res []float32
}

func (j *linearJob) run(_, lo, hi int) {
	l, in, out := j.l, j.l.in, j.l.out
	switch {
	case j.quantize:
		ab := l.w8a8.ActBytes()
		for i := lo; i < hi; i++ {
			j.xs[i], j.xz[i] = l.w8a8.QuantizeAct(j.x[i*in:(i+1)*in], j.xq[i*ab:(i+1)*ab])
		}
	case l.f32 != nil:
		kernels.GemmF32(j.m, j.x, in, l.f32, lo, hi, j.y, out)
	case l.w8 != nil:
		kernels.GemmW8(j.m, j.x, in, l.w8, lo, hi, j.y, out)
	default:
		kernels.GemmI8(j.m, j.xq, l.w8a8.ActBytes(), j.xs, j.xz, l.w8a8, lo, hi, j.y, out)
	}
	if j.res != nil && !j.quantize {
		c0, c1 := lo*kernels.Panel, min(hi*kernels.Panel, out)
		for i := range j.m {
			r, y := j.res[i*out+c0:i*out+c1], j.y[i*out+c0:i*out+c1]
			for c, v := range y {
				r[c] += v
			}
		}
	}
}

// linear computes y[m, out] = x[m, in]·Wᵀ + b in the layer's arithmetic.
func (s *session) linear(l *linear, x []float32, m int, y []float32) {
	s.linearAdd(l, x, m, y, nil)
}

// linearAdd is linear that also adds y into res (nil for none).
func (s *session) linearAdd(l *linear, x []float32, m int, y, res []float32) {
	j := &s.jobs.lin
	*j = linearJob{l: l, x: x, m: m, y: y, res: res}
	var panels int
	switch {
	case l.f32 != nil:
		panels = l.f32.Panels()
	case l.w8 != nil:
		panels = l.w8.Panels()
	default:
		// w8a8: per-token dynamic int8 activations in the kernels'
		// layout; exact int32 accumulation.
		panels = l.w8a8.Panels()
		j.xq, j.xs, j.xz = s.buf.act(m*l.w8a8.ActBytes(), m)
		j.quantize = true
		s.workers.run(j, m, 4)
		j.quantize = false
	}
	s.workers.run(j, panels, 1)
	*j = linearJob{}
}

// normJob layer-normalises rows of x into h.
type normJob struct {
	x, h, g, b []float32
	w          int
	eps        float32
}

func (j *normJob) run(_, lo, hi int) {
	layerNorm(j.x[lo*j.w:hi*j.w], hi-lo, j.w, j.g, j.b, j.eps, j.h[lo*j.w:hi*j.w])
}

// geluJob applies the activation to rows of width w.
type geluJob struct {
	x     []float32
	w     int
	quick bool
}

func (j *geluJob) run(_, lo, hi int) { gelu(j.x[lo*j.w:hi*j.w], j.quick) }

// attentionJob runs one (sequence, head) pair per item.
type attentionJob struct {
	spans    []span
	qkv, att []float32
	scratch  [][]float32
	w, heads int
	causal   bool
}

func (j *attentionJob) run(wk, lo, hi int) {
	w := j.w
	for item := lo; item < hi; item++ {
		sp := j.spans[item/j.heads]
		attention(j.qkv[sp.off*3*w:(sp.off+sp.n)*3*w], sp.n, w, j.heads, item%j.heads, j.causal,
			j.scratch[wk], j.att[sp.off*w:(sp.off+sp.n)*w])
	}
}

// layerNorm normalises each of m rows of x into y with weight g and bias b.
// Sums run in float32 over independent lanes (the mean) and in the SIMD
// dot product (the variance of the centred row), which keeps it a small
// share of a tower; the float64 reference test bounds the error.
func layerNorm(x []float32, m, w int, g, b []float32, eps float32, y []float32) {
	g, b = g[:w], b[:w]
	for i := range m {
		row, out := x[i*w:(i+1)*w], y[i*w:(i+1)*w]
		mean := sum8(row) / float32(w)
		for j, v := range row {
			out[j] = v - mean
		}
		vs := kernels.Dot(out, out) / float32(w)
		inv := float32(1 / math.Sqrt(float64(vs)+float64(eps)))
		for j, v := range out {
			out[j] = v*inv*g[j] + b[j]
		}
	}
}

// sum8 adds x in eight interleaved partial sums.
func sum8(x []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	n := len(x) &^ 7
	for i := 0; i < n; i += 8 {
		v := x[i : i+8 : i+8]
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		s4 += v[4]
		s5 += v[5]
		s6 += v[6]
		s7 += v[7]
	}
	for _, v := range x[n:] {
		s0 += v
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

func gelu(x []float32, quick bool) {
	if quick {
		kernels.QuickGELU(x)
		return
	}
	for i, v := range x {
		x[i] = 0.5 * v * (1 + float32(math.Erf(float64(v)*(1/math.Sqrt2))))
	}
}

// attentionScratch is the per-worker scratch attention needs for a sequence
// of length L and head size d: Kᵀ [d, Lp] and the scores [L, Lp].
func attentionScratch(L, d int) int {
	lp := (L + kernels.Panel - 1) &^ (kernels.Panel - 1)
	return (d + L) * lp
}

// attention computes one head of multi-head self-attention of a sequence of
// length L from packed qkv rows [L, 3w] into out [L, w] as two matrix
// products, S = Q·(scale·K)ᵀ and out = softmax(S)·V. causal masks keys after
// the query position.
func attention(qkv []float32, L, w, heads, head int, causal bool, scratch, out []float32) {
	d := w / heads
	scale := float32(1 / math.Sqrt(float64(d)))
	off := head * d
	lp := (L + kernels.Panel - 1) &^ (kernels.Panel - 1)
	kt, sc := scratch[:d*lp], scratch[d*lp:(d+L)*lp]
	clear(kt)
	for j := range L {
		for c, v := range qkv[j*3*w+w+off : j*3*w+w+off+d] {
			kt[c*lp+j] = v * scale
		}
	}
	kernels.GemmNN(L, lp, d, qkv[off:], 3*w, kt, lp, sc, lp)
	for i := range L {
		row := sc[i*lp : i*lp+L]
		n := L
		if causal {
			n = i + 1
		}
		mx := row[0]
		for _, v := range row[1:n] {
			mx = max(mx, v)
		}
		inv := 1 / kernels.ExpShift(row[:n], mx)
		for j := range row[:n] {
			row[j] *= inv
		}
		clear(row[n:])
	}
	kernels.GemmNN(L, d, L, sc, lp, qkv[2*w+off:], 3*w, out[off:], w)
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
