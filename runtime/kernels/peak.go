package kernels

import (
	goruntime "runtime"
	"time"
)

// Peak is one core's arithmetic ceiling for the instruction mixes the
// kernels are built on, measured with loops that keep every operand in
// registers: the figure achieved GFLOP/s is judged against. Zero where this
// architecture has no assembly kernels.
type Peak struct {
	// F32 is float32 GFLOP/s (a multiply-add counts 2) of F32Op.
	F32   float64
	F32Op string
	// I8 is int8 GOP/s (a multiply-add counts 2) of the best of I8Op.
	I8   float64
	I8Op string
}

// peakLoop runs n iterations of ops operations each and returns a value
// that proves it ran them: want(n) for small n.
type peakLoop struct {
	op   string
	ops  float64
	run  func(n int) int64
	want func(n int) int64
}

// MeasurePeak times each loop for about d on the calling goroutine's core.
func MeasurePeak(d time.Duration) Peak {
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	var p Peak
	f32, i8 := peakLoops()
	for _, l := range f32 {
		if r := rate(l, d); r > p.F32 {
			p.F32, p.F32Op = r, l.op
		}
	}
	for _, l := range i8 {
		if r := rate(l, d); r > p.I8 {
			p.I8, p.I8Op = r, l.op
		}
	}
	return p
}

// rate grows n until one run takes a quarter of d, then keeps the best of
// three runs of that size, in billions of operations per second.
func rate(l peakLoop, d time.Duration) float64 {
	n := 1 << 12
	for {
		start := time.Now()
		l.run(n)
		if el := time.Since(start); el >= d/4 || n >= 1<<30 {
			break
		}
		n *= 2
	}
	best := 0.0
	for range 3 {
		start := time.Now()
		l.run(n)
		if el := time.Since(start).Seconds(); el > 0 {
			best = max(best, l.ops*float64(n)/el/1e9)
		}
	}
	return best
}
