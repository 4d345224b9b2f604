package query

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestIntervals(t *testing.T) {
	fr := func(sec float64, score float32) Frame {
		return Frame{Seq: uint64(sec * 10), Time: at(sec), Score: score, Raw: score / 2}
	}
	cases := []struct {
		name   string
		frames []Frame
		opts   IntervalOptions
		want   [][2]float64 // start, end seconds
		peaks  []uint64
	}{
		{"empty", nil, IntervalOptions{}, nil, nil},
		{"none above", []Frame{fr(0, .1), fr(1, .4)}, IntervalOptions{}, nil, nil},
		{"one run, edges at midpoints", []Frame{fr(0, .1), fr(1, .6), fr(1.2, .9), fr(1.4, .7), fr(3.4, .1)}, IntervalOptions{},
			[][2]float64{{0.5, 2.4}}, []uint64{12}},
		{"gap of misses bridged", []Frame{fr(1, .6), fr(2, .2), fr(2.9, .8)}, IntervalOptions{MaxGap: 2 * time.Second},
			[][2]float64{{1, 2.9}}, []uint64{29}},
		{"gap of misses splits", []Frame{fr(1, .6), fr(2, .2), fr(3.1, .8)}, IntervalOptions{MaxGap: 2 * time.Second},
			[][2]float64{{1, 1.5}, {2.55, 3.1}}, []uint64{10, 31}},
		{"silence (gated, unchanged) bridged", []Frame{fr(1, .6), fr(9, .8), fr(10, .1)}, IntervalOptions{},
			[][2]float64{{1, 9.5}}, []uint64{90}},
		{"long silence splits", []Frame{fr(1, .6), fr(30, .8)}, IntervalOptions{MinDuration: -1},
			[][2]float64{{1, 1}, {30, 30}}, []uint64{10, 300}},
		{"unsorted input", []Frame{fr(3, .9), fr(1, .9), fr(2, .9)}, IntervalOptions{},
			[][2]float64{{1, 3}}, []uint64{10}},
		{"min frames", []Frame{fr(1, .6), fr(20, .8), fr(20.2, .8)}, IntervalOptions{MinFrames: 2, MinDuration: -1},
			[][2]float64{{20, 20.2}}, []uint64{200}},
		{"min duration drops a one-frame blip", []Frame{fr(0, .1), fr(0.2, .9), fr(0.4, .1), fr(5, .1), fr(5.2, .7),
			fr(5.4, .7), fr(5.6, .8), fr(5.8, .2)}, IntervalOptions{},
			[][2]float64{{5.1, 5.7}}, []uint64{56}},
		{"below the default threshold", []Frame{fr(1, .55), fr(1.2, .58)}, IntervalOptions{}, nil, nil},
		{"threshold", []Frame{fr(1, .6), fr(2, .8)}, IntervalOptions{Threshold: .7},
			[][2]float64{{1.5, 2}}, []uint64{20}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Intervals(c.frames, c.opts)
			var spans [][2]float64
			var peaks []uint64
			for _, iv := range got {
				spans = append(spans, [2]float64{iv.Start.Sub(t0).Seconds(), iv.End.Sub(t0).Seconds()})
				peaks = append(peaks, iv.BestSeq)
			}
			if d := cmp.Diff(c.want, spans); d != "" {
				t.Errorf("intervals (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.peaks, peaks); d != "" {
				t.Errorf("best frames (-want +got):\n%s", d)
			}
		})
	}
}

func TestTopKAndIoU(t *testing.T) {
	fs := []Frame{{Seq: 1, Score: .2}, {Seq: 2, Score: .9}, {Seq: 3, Score: .5}}
	if d := cmp.Diff([]uint64{2, 3}, []uint64{TopK(fs, 2)[0].Seq, TopK(fs, 2)[1].Seq}); d != "" {
		t.Error(d)
	}
	if len(TopK(fs, 0)) != 0 || len(TopK(fs, 10)) != 3 {
		t.Error("TopK bounds")
	}
	iv := func(a, b float64) Interval { return Interval{Start: at(a), End: at(b)} }
	for _, c := range []struct {
		a, b Interval
		want float64
	}{{iv(0, 10), iv(0, 10), 1}, {iv(0, 10), iv(5, 15), 5.0 / 15}, {iv(0, 1), iv(2, 3), 0}, {iv(0, 10), iv(2, 4), 0.2}} {
		if got := IoU(c.a, c.b); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("IoU(%v, %v) = %v, want %v", c.a.Start.Sub(t0), c.b.End.Sub(t0), got, c.want)
		}
	}
}

func TestCalibration(t *testing.T) {
	c := Calibration{LogitScale: 100}
	if got := c.Score(0.3, []float32{0.3}); math.Abs(float64(got)-0.5) > 1e-6 {
		t.Errorf("equal to the one negative: %v, want 0.5", got)
	}
	// A uniform drift of every similarity leaves the score unchanged.
	a := c.Score(0.28, []float32{0.25, 0.22})
	b := c.Score(0.33, []float32{0.30, 0.27})
	if math.Abs(float64(a-b)) > 1e-5 {
		t.Errorf("drift changed the score: %v vs %v", a, b)
	}
	if !(c.Score(0.30, []float32{0.25}) > 0.99) || !(c.Score(0.20, []float32{0.25}) < 0.01) {
		t.Error("scores should saturate 5 points of cosine away at scale 100")
	}
	// Only the strongest rival counts: more, weaker prompts (contrasts the
	// frame does not resemble) leave the score alone, where a softmax
	// over all prompts would shrink it.
	one := c.Score(0.30, []float32{0.29})
	many := c.Score(0.30, []float32{0.29, 0.28, 0.285, 0.2, 0.29})
	if math.Abs(float64(one-many)) > 1e-6 || math.Abs(float64(one)-1/(1+math.Exp(-1))) > 1e-5 {
		t.Errorf("score %v with one rival, %v with several; want σ(1) = 0.731 for both", one, many)
	}
	if err := (&Calibration{LogitScale: 0}).Validate(4); err == nil {
		t.Error("zero scale: want error")
	}
	if err := (&Calibration{LogitScale: 1, Negatives: [][]float32{{1}}}).Validate(4); err == nil {
		t.Error("wrong dim: want error")
	}
	p := Softmax(100, []float32{0.3, 0.3, 0.1})
	if math.Abs(float64(p[0]+p[1]+p[2])-1) > 1e-6 || math.Abs(float64(p[0]-p[1])) > 1e-7 {
		t.Errorf("softmax %v", p)
	}
}

// memIndex is an in-memory Index over unit vectors for engine tests.
type memIndex struct {
	seqs  []uint64
	times []time.Time
	vecs  [][]float32
}

func (m *memIndex) ScoreEach(ctx context.Context, model string, qs [][]float32, since, until time.Time, fn func(uint64, time.Time, []float32)) error {
	sims := make([]float32, len(qs))
	for i, v := range m.vecs {
		if (!since.IsZero() && m.times[i].Before(since)) || (!until.IsZero() && m.times[i].After(until)) {
			continue
		}
		for j, q := range qs {
			var s float32
			for k := range q {
				s += q[k] * v[k]
			}
			sims[j] = s
		}
		fn(m.seqs[i], m.times[i], sims)
	}
	return nil
}

// axisEncoder maps known words to unit axes; it counts calls to check the cache.
type axisEncoder struct {
	axes  map[string]int
	dim   int
	calls int
}

func (a *axisEncoder) EncodeText(ctx context.Context, text string) ([]float32, error) {
	a.calls++
	v := make([]float32, a.dim)
	if i, ok := a.axes[text]; ok {
		v[i] = 1
	} else {
		v[a.dim-1] = 1 // every unknown text is "background"
	}
	return v, nil
}

func TestEngineSearch(t *testing.T) {
	enc := &axisEncoder{axes: map[string]int{"red truck": 0, "person": 1}, dim: 3}
	idx := &memIndex{}
	// 20 s of frames at 1 fps: a red truck from 5 to 9 s, a person 12–13 s, background otherwise.
	for s := range 20 {
		v := []float32{0, 0, 1}
		switch {
		case s >= 5 && s <= 9:
			v = []float32{0.8, 0, 0.6}
		case s >= 12 && s <= 13:
			v = []float32{0, 0.8, 0.6}
		}
		idx.seqs = append(idx.seqs, uint64(s))
		idx.times = append(idx.times, at(float64(s)))
		idx.vecs = append(idx.vecs, v)
	}
	// Engine-wide interval defaults as the daemon sets them from its config.
	e, err := NewEngine(idx, enc, Options{ModelHash: "m", LogitScale: 100,
		Intervals: IntervalOptions{MinDuration: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Search(context.Background(), Request{Text: "red truck", TopK: 3})
	if err != nil {
		t.Fatal(err)
	}
	// Truth 5–9 s sampled at 1 fps: edges land halfway to the neighbouring frames.
	if len(res.Intervals) != 1 || !res.Intervals[0].Start.Equal(at(4.5)) || !res.Intervals[0].End.Equal(at(9.5)) {
		t.Fatalf("intervals = %+v, want one 4.5–9.5 s", res.Intervals)
	}
	if res.Scanned != 20 || len(res.Frames) != 3 || res.Frames[0].Seq < 5 || res.Frames[0].Seq > 9 {
		t.Errorf("frames = %+v scanned %d", res.Frames, res.Scanned)
	}
	calls := enc.calls
	res, err = e.Search(context.Background(), Request{Text: "red truck", Since: at(7), Until: at(15)})
	if err != nil {
		t.Fatal(err)
	}
	if enc.calls != calls {
		t.Errorf("cached query re-encoded: %d calls, want %d", enc.calls, calls)
	}
	if len(res.Intervals) != 1 || !res.Intervals[0].Start.Equal(at(7)) || !res.Intervals[0].End.Equal(at(9.5)) {
		t.Errorf("windowed intervals = %+v", res.Intervals)
	}
	if _, err := e.Search(context.Background(), Request{}); err == nil {
		t.Error("empty request: want error")
	}
	// An image query answers with at least its own frame, however short
	// the match (text queries drop intervals under 0.5 s).
	res, err = e.Search(context.Background(), Request{Vector: []float32{0, 1, 0}, Since: at(12), Until: at(12)})
	if err != nil || len(res.Intervals) != 1 || res.Intervals[0].BestSeq != 12 {
		t.Errorf("image query intervals = %+v, %v; want one around frame 12", res.Intervals, err)
	}
	ls, err := e.Classify(context.Background(), []float32{0, 0.8, 0.6}, []string{"red truck", "person"})
	if err != nil || ls[1].Prob < 0.99 {
		t.Errorf("classify = %+v, %v", ls, err)
	}
}
