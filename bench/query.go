package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/edgeclip/edgeclip/history"
)

// query fills a history store in a temporary folder with frames random unit
// vectors, one a second ending now, and times Score over the whole window:
// what a text query costs once its embedding is known.
func (r *runner) query(ctx context.Context, dim int, hash, name string) (*Query, error) {
	dir, err := os.MkdirTemp(r.o.TempDir, "edgeclip-bench-history-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := history.Open(ctx, history.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer st.Close()

	n := r.o.HistoryFrames
	rng := rand.New(rand.NewPCG(uint64(dim), 5))
	v := make([]float32, dim)
	unit := func() {
		var ss float64
		for i := range v {
			x := rng.NormFloat64()
			v[i] = float32(x)
			ss += x * x
		}
		inv := float32(1 / math.Sqrt(ss))
		for i := range v {
			v[i] *= inv
		}
	}
	base := time.Now().Add(-time.Duration(n) * time.Second)
	t0 := time.Now()
	for i := range n {
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		unit()
		rec := history.Record{Time: base.Add(time.Duration(i) * time.Second), ModelHash: hash, ModelName: name, Embedding: v}
		if _, err := st.Append(rec); err != nil {
			return nil, err
		}
	}
	fill := time.Since(t0)

	unit()
	dst := make([]history.Scored, 0, n)
	s, err := r.loop.run(ctx, func(context.Context) error {
		var err error
		dst, err = st.Score(v, hash, time.Time{}, time.Time{}, dst)
		if err == nil && len(dst) != n {
			err = fmt.Errorf("scored %d frames, want %d", len(dst), n)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	lat := s.latency()
	return &Query{
		Frames: n, Dim: dim, Compact: history.Int8.String(), FillS: fill.Seconds(), Iters: s.iters,
		Latency: lat, NSPerFrame: lat.P50MS * 1e6 / float64(n),
	}, nil
}
