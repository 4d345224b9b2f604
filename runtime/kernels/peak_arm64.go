package kernels

//go:noescape
func peakFMLA(n int) float32

//go:noescape
func peakSDOT(n int) int64

//go:noescape
func peakSMLAL(n int) int64

func peakLoops() (f32, i8 []peakLoop) {
	if !hasNEON {
		return nil, nil
	}
	f32 = []peakLoop{{op: "NEON FMLA", ops: 12 * 4 * 2,
		run: func(n int) int64 { return int64(peakFMLA(n)) }, want: func(n int) int64 { return int64(12 * n) }}}
	i8 = []peakLoop{{op: "NEON SMLAL", ops: 12 * 4 * 2,
		run: func(n int) int64 { return peakSMLAL(n) }, want: func(n int) int64 { return int64(12 * n) }}}
	if hasSDOT {
		i8 = append(i8, peakLoop{op: "NEON SDOT", ops: 12 * 16 * 2,
			run: func(n int) int64 { return peakSDOT(n) }, want: func(n int) int64 { return int64(48 * n) }})
	}
	return f32, i8
}
