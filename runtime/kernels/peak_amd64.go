package kernels

//go:noescape
func peakFMA(n int) float32

//go:noescape
func peakMADDUBSW(n int) int64

func peakLoops() (f32, i8 []peakLoop) {
	if !hasAVX2 {
		return nil, nil
	}
	// Twelve chains of eight lanes; a multiply-add counts 2.
	f32 = []peakLoop{{op: "AVX2 VFMADD231PS", ops: 12 * 8 * 2,
		run: func(n int) int64 { return int64(peakFMA(n)) }, want: func(n int) int64 { return int64(12 * n) }}}
	i8 = []peakLoop{
		{op: "AVX2 VPMADDUBSW", ops: 12 * 32 * 2,
			run: func(n int) int64 { return peakMADDUBSW(n) }, want: func(n int) int64 { return int64(48 * n) }},
	}
	return f32, i8
}
