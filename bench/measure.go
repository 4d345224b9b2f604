package bench

import (
	"context"
	"math"
	"slices"
	"time"
)

// loop times fn: Warmup untimed calls, then Iters timed calls, or timed
// calls until Duration has passed (at least minIters).
type loop struct {
	Warmup   int
	Iters    int
	Duration time.Duration
}

// minIters keeps percentiles meaningful when one call outlasts Duration.
const minIters = 3

// sample is what one timed loop saw.
type sample struct {
	lat   []time.Duration
	wall  time.Duration
	cpu   time.Duration // user + sys over the loop
	iters int
}

func (l loop) run(ctx context.Context, fn func(context.Context) error) (sample, error) {
	for range l.Warmup {
		if err := fn(ctx); err != nil {
			return sample{}, err
		}
	}
	var s sample
	u0, s0 := cpuTimes()
	start := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return s, err
		}
		if l.Iters > 0 && len(s.lat) >= l.Iters {
			break
		}
		if l.Iters <= 0 && len(s.lat) >= minIters && time.Since(start) >= l.Duration {
			break
		}
		t := time.Now()
		if err := fn(ctx); err != nil {
			return s, err
		}
		s.lat = append(s.lat, time.Since(t))
	}
	s.wall = time.Since(start)
	u1, s1 := cpuTimes()
	s.cpu = u1 - u0 + s1 - s0
	s.iters = len(s.lat)
	return s, nil
}

// add pools another loop's calls into s.
func (s *sample) add(o sample) {
	s.lat = append(s.lat, o.lat...)
	s.wall += o.wall
	s.cpu += o.cpu
	s.iters += o.iters
}

// cores is CPU time per wall second over the loop.
func (s sample) cores() float64 {
	if s.wall <= 0 {
		return 0
	}
	return s.cpu.Seconds() / s.wall.Seconds()
}

// latency summarises the timed calls; percentiles are nearest-rank.
func (s sample) latency() Latency {
	if len(s.lat) == 0 {
		return Latency{}
	}
	d := slices.Clone(s.lat)
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Latency{
		MeanMS: ms(sum / time.Duration(len(d))),
		MinMS:  ms(d[0]),
		P50MS:  ms(percentile(d, 50)),
		P90MS:  ms(percentile(d, 90)),
		P99MS:  ms(percentile(d, 99)),
		MaxMS:  ms(d[len(d)-1]),
	}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// timing fills a Timing from a loop over calls of flops each handling items
// items (images per batch, or one query).
func (s sample) timing(batch, tokens int, full bool, flops int64, items int) Timing {
	lat := s.latency()
	t := Timing{Batch: batch, Tokens: tokens, Full: full, Iters: s.iters, FLOPs: flops, Latency: lat, CPUCores: s.cores()}
	if lat.MeanMS > 0 {
		t.PerSecond = float64(items) / (lat.MeanMS / 1e3)
	}
	if lat.P50MS > 0 {
		t.GFLOPS = float64(flops) / (lat.P50MS / 1e3) / 1e9
	}
	return t
}
