package camera

import (
	"sync"
	"time"
)

// Sampler keeps frames at a target rate: a frame passes when at least
// 1/FPS has gone by since the last one that passed.
type Sampler struct {
	period time.Duration
	last   time.Time
}

// NewSampler makes a sampler; fps ≤ 0 passes every frame.
func NewSampler(fps float64) *Sampler {
	var p time.Duration
	if fps > 0 {
		p = time.Duration(float64(time.Second) / fps)
	}
	return &Sampler{period: p}
}

// Keep reports whether a frame stamped t should be processed.
func (s *Sampler) Keep(t time.Time) bool {
	// A 10 % tolerance keeps a source running at exactly the target rate
	// from losing every other frame to timestamp jitter.
	if s.period > 0 && !s.last.IsZero() && t.Sub(s.last) < s.period*9/10 {
		return false
	}
	s.last = t
	return true
}

// GateOptions configure change gating.
type GateOptions struct {
	// Threshold is the mean absolute change of the downscaled grey image,
	// as a fraction of full scale, under which a frame is skipped (default
	// 0.01). A negative threshold turns gating off: every frame passes.
	Threshold float64
	// KeepAlive: a frame passes at least this often even with no change (default 10 s).
	KeepAlive time.Duration
	// Grid is the downscaled size (default 32×24).
	GridW, GridH int
}

// Gate skips frames that barely differ from the last frame it let through.
// It reads pixels straight from the frame buffer and allocates nothing once
// warm.
type Gate struct {
	o          GateOptions
	ref, cur   []float32
	last       time.Time
	mu         sync.Mutex
	seen, kept uint64
}

// NewGate makes a gate with defaults filled in.
func NewGate(o GateOptions) *Gate {
	if o.Threshold == 0 {
		o.Threshold = 0.01
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 10 * time.Second
	}
	if o.GridW == 0 || o.GridH == 0 {
		o.GridW, o.GridH = 32, 24
	}
	n := o.GridW * o.GridH
	return &Gate{o: o, ref: make([]float32, n), cur: make([]float32, n)}
}

// Keep reports whether f changed enough (or the keep-alive is due) and, if
// so, makes it the new reference. It also returns the measured change.
func (g *Gate) Keep(f *Frame) (bool, float64) {
	g.downscale(f)
	var diff float64
	for i, v := range g.cur {
		d := v - g.ref[i]
		if d < 0 {
			d = -d
		}
		diff += float64(d)
	}
	diff /= float64(len(g.cur)) * 255
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen++
	first := g.last.IsZero()
	if !first && diff < g.o.Threshold && f.Time.Sub(g.last) < g.o.KeepAlive {
		return false, diff
	}
	g.kept++
	g.last = f.Time
	g.ref, g.cur = g.cur, g.ref
	return true, diff
}

// Ratio is the fraction of frames the gate skipped, with the counts.
func (g *Gate) Ratio() (gated float64, seen, kept uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == 0 {
		return 0, 0, 0
	}
	return float64(g.seen-g.kept) / float64(g.seen), g.seen, g.kept
}

// downscale averages the frame's luma over a GridW × GridH grid of cells.
func (g *Gate) downscale(f *Frame) {
	gw, gh := g.o.GridW, g.o.GridH
	clear(g.cur)
	for cy := range gh {
		y0, y1 := cy*f.Height/gh, (cy+1)*f.Height/gh
		for cx := range gw {
			x0, x1 := cx*f.Width/gw, (cx+1)*f.Width/gw
			var sum uint32
			var n uint32
			// Sample every other pixel in both directions: plenty for change detection.
			for y := y0; y < y1; y += 2 {
				row := f.Pix[y*f.Stride:]
				for x := x0; x < x1; x += 2 {
					p := row[3*x : 3*x+3]
					sum += uint32(p[0]) + 2*uint32(p[1]) + uint32(p[2])
					n += 4
				}
			}
			if n > 0 {
				g.cur[cy*gw+cx] = float32(sum) / float32(n)
			}
		}
	}
}
