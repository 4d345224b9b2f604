package history

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkAppend measures Append with a 512-d embedding and an 8 KB
// thumbnail at the default 1 s fsync interval.
func BenchmarkAppend(b *testing.B) {
	s := openStore(b, Options{Dir: b.TempDir()})
	r := testRecord(1, "a", 512, 0)
	r.Thumb = make([]byte, 8<<10)
	b.SetBytes(int64(len(appendFrame(nil, 1, 0, &r))))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(r); err != nil {
			b.Fatal(err)
		}
	}
}

// memoryStore builds the in-memory side of a store holding n records of one
// model (a day at 1 fps is 86,400), 3,600 per segment, without the files.
func memoryStore(n, dim int, form Compact) *Store {
	s := &Store{opts: Options{Compact: form}}
	rng := rand.New(rand.NewPCG(1, uint64(dim)))
	v := make([]float32, dim)
	var g *segment
	for i := range n {
		if i%3600 == 0 {
			g = &segment{base: uint64(i + 1), models: map[string]*slab{}}
			s.segs = append(s.segs, g)
		}
		for j := range v {
			v[j] = float32(rng.NormFloat64()) * 0.05
		}
		s.addToMemory(g, uint64(i+1), t0.Add(time.Duration(i)*time.Second).UnixNano(), 0, "m", "m", v)
	}
	for _, g := range s.segs {
		g.models["m"].clip()
	}
	return s
}

// BenchmarkScore scores one query against 24 h of 1 fps history.
func BenchmarkScore(b *testing.B) {
	const n = 86400
	for _, form := range []Compact{Int8, F16} {
		for _, dim := range []int{128, 512} {
			b.Run(fmt.Sprintf("%s/dim%d", form, dim), func(b *testing.B) {
				s := memoryStore(n, dim, form)
				q := testRecord(1, "m", dim, 0).Embedding
				dst := make([]Scored, 0, n)
				b.ReportAllocs()
				cpu := cpuTime()
				for b.Loop() {
					dst, _ = s.Score(q, "m", time.Time{}, time.Time{}, dst)
				}
				cpu = cpuTime() - cpu
				if len(dst) != n {
					b.Fatalf("%d scores", len(dst))
				}
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(s.Stats().MemBytes)/(1<<20), "MiB")
			})
		}
	}
}
