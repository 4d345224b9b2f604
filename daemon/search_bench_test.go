package daemon

import (
	"context"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/history"
	"github.com/edgeclip/edgeclip/query"
)

// hashEncoder embeds a text as a deterministic random unit vector.
type hashEncoder int

func (d hashEncoder) EncodeText(_ context.Context, text string) ([]float32, error) {
	h := fnv.New64a()
	h.Write([]byte(text))
	return unitVec(rand.New(rand.NewPCG(h.Sum64(), 1)), int(d)), nil
}

func unitVec(rng *rand.Rand, d int) []float32 {
	v := make([]float32, d)
	var ss float64
	for i := range v {
		x := rng.NormFloat64()
		v[i], ss = float32(x), ss+x*x
	}
	inv := float32(1 / math.Sqrt(ss))
	for i := range v {
		v[i] *= inv
	}
	return v
}

// BenchmarkSearchDay answers a text query as the daemon does — the query,
// the background prompts and its contrast prompts ("a red circle" has 18
// rivals) scored over 24 h of history at 1 fps (86,400 frames), then
// intervals and top-k — with the query embedding cached, as for a repeated
// or standing query.
func BenchmarkSearchDay(b *testing.B) {
	const n, dim = 86400, 128
	ctx := context.Background()
	st, err := history.Open(ctx, history.Options{Dir: b.TempDir(), FsyncInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	base := time.Now().Add(-n * time.Second)
	for i := range n {
		if _, err := st.Append(history.Record{Time: base.Add(time.Duration(i) * time.Second), ModelHash: "m",
			ModelName: "m", Embedding: unitVec(rng, dim)}); err != nil {
			b.Fatal(err)
		}
	}
	e, err := query.NewEngine(storeIndex{st}, hashEncoder(dim), query.Options{ModelHash: "m", LogitScale: 100})
	if err != nil {
		b.Fatal(err)
	}
	req := query.Request{Text: "a red circle", TopK: 10}
	if _, err := e.Search(ctx, req); err != nil { // fill the text cache
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Search(ctx, req)
		if err != nil || res.Scanned != n {
			b.Fatalf("scanned %d frames, err %v", res.Scanned, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/frame")
}
