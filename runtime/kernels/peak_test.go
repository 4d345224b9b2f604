package kernels

import (
	"testing"
	"time"
)

// TestPeakLoops checks that each peak loop runs the operations it claims:
// its result counts them.
func TestPeakLoops(t *testing.T) {
	f32, i8 := peakLoops()
	if useAsm && (len(f32) == 0 || len(i8) == 0) {
		t.Fatalf("assembly kernels on but %d f32 and %d int8 peak loops", len(f32), len(i8))
	}
	for _, l := range append(f32, i8...) {
		for _, n := range []int{1, 7, 1000} {
			if got, want := l.run(n), l.want(n); got != want {
				t.Errorf("%s: %d iterations returned %d, want %d", l.op, n, got, want)
			}
		}
		// Each instruction mix's own ceiling: go test -run PeakLoops -v
		t.Logf("%s: %.1f G op/s", l.op, rate(l, 50*time.Millisecond))
	}
	p := MeasurePeak(20 * time.Millisecond)
	if useAsm && (p.F32 <= 0 || p.I8 <= 0 || p.F32Op == "" || p.I8Op == "") {
		t.Errorf("MeasurePeak = %+v, want positive rates with their instructions", p)
	}
	t.Logf("peak: %+v", p)
}
