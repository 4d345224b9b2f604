package history

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// clock is a fake clock safe to read from the store's goroutine.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// testRecord builds deterministic content for seq, so any reader can check
// every byte it gets back.
func testRecord(seq uint64, model string, dim, maxThumb int) Record {
	rng := rand.New(rand.NewPCG(seq, uint64(dim)))
	emb := make([]float32, dim)
	var n float64
	for i := range emb {
		emb[i] = float32(rng.NormFloat64())
		n += float64(emb[i]) * float64(emb[i])
	}
	for i := range emb {
		emb[i] /= float32(math.Sqrt(n))
	}
	var thumb []byte
	if maxThumb > 0 {
		thumb = make([]byte, rng.IntN(maxThumb+1))
		for i := range thumb {
			thumb[i] = byte(rng.Uint32())
		}
	}
	return Record{
		Seq: seq, Time: t0.Add(time.Duration(seq) * time.Second), ModelHash: "sha256:" + model,
		ModelName: "clip-" + model, Embedding: emb, Thumb: thumb,
	}
}

func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.Dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t testing.TB, s *Store, r Record) uint64 {
	t.Helper()
	seq, err := s.Append(r)
	if err != nil {
		t.Fatalf("Append(seq %d): %v", r.Seq, err)
	}
	if r.Seq != 0 && seq != r.Seq {
		t.Fatalf("Append assigned seq %d, want %d", seq, r.Seq)
	}
	return seq
}

// checkRecord compares a record read back with the deterministic original.
func checkRecord(t testing.TB, got, want Record) {
	t.Helper()
	if got.Seq != want.Seq || !got.Time.Equal(want.Time) || got.ModelHash != want.ModelHash || got.ModelName != want.ModelName {
		t.Fatalf("record %d: header (%d %v %q %q), want (%d %v %q %q)", want.Seq,
			got.Seq, got.Time, got.ModelHash, got.ModelName, want.Seq, want.Time, want.ModelHash, want.ModelName)
	}
	if !slices.Equal(got.Embedding, want.Embedding) {
		t.Fatalf("record %d: embedding differs", want.Seq)
	}
	if !slices.Equal(got.Thumb, want.Thumb) {
		t.Fatalf("record %d: thumb of %d bytes differs from %d bytes", want.Seq, len(got.Thumb), len(want.Thumb))
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func allSeqs(t testing.TB, s *Store, models ...string) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, m := range models {
		err := s.Scan(m, time.Time{}, time.Time{}, func(e Entry, _ []float32) bool {
			seqs = append(seqs, e.Seq)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(seqs)
	return seqs
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		form Compact
		tol  float64 // on scores of unit vectors
	}{
		{"int8", Int8, 2e-3},
		{"f16", F16, 2e-4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t, Options{Dir: t.TempDir(), SegmentBytes: 16 << 10, Compact: c.form})
			var want []Record
			for seq := uint64(1); seq <= 60; seq++ {
				r := testRecord(seq, "a", 64, 900)
				mustAppend(t, s, r)
				want = append(want, r)
			}
			if st := s.Stats(); st.Segments < 3 || st.Records != 60 || st.LastSeq != 60 {
				t.Fatalf("stats = %+v, want ≥3 segments and 60 records", st)
			}
			for _, w := range want {
				got, err := s.Get(w.Seq)
				if err != nil {
					t.Fatal(err)
				}
				checkRecord(t, got, w)
			}
			q := want[7].Embedding
			scores, err := s.Score(q, "sha256:a", time.Time{}, time.Time{}, nil)
			if err != nil || len(scores) != 60 {
				t.Fatalf("Score: %d results, %v", len(scores), err)
			}
			for i, sc := range scores {
				w := want[i]
				if sc.Seq != w.Seq || !sc.Time.Equal(w.Time) {
					t.Fatalf("score %d is seq %d at %v, want %d at %v", i, sc.Seq, sc.Time, w.Seq, w.Time)
				}
				if d := math.Abs(float64(sc.Score) - dot(q, w.Embedding)); d > c.tol {
					t.Errorf("seq %d: score %v, exact %v, |diff| %g > %g", w.Seq, sc.Score, dot(q, w.Embedding), d, c.tol)
				}
			}
			// A window selects [since, until).
			scores, _ = s.Score(q, "sha256:a", want[9].Time, want[19].Time, scores)
			if len(scores) != 10 || scores[0].Seq != 10 || scores[9].Seq != 19 {
				t.Errorf("window [10,20): got %d results from %v", len(scores), scores)
			}
			n := 0
			err = s.Scan("sha256:a", time.Time{}, time.Time{}, func(e Entry, v []float32) bool {
				w := want[e.Seq-1]
				for i := range v {
					if math.Abs(float64(v[i]-w.Embedding[i])) > 5e-3 {
						t.Fatalf("seq %d: compact vector[%d] = %v, want %v", e.Seq, i, v[i], w.Embedding[i])
					}
				}
				n++
				return n < 25
			})
			if err != nil || n != 25 {
				t.Errorf("Scan stopped after %d records (%v), want 25", n, err)
			}
			latest, err := s.Latest()
			if err != nil {
				t.Fatal(err)
			}
			checkRecord(t, latest, want[59])
			if thumb, err := s.Thumb(33); err != nil || !slices.Equal(thumb, want[32].Thumb) {
				t.Errorf("Thumb(33): %d bytes, %v", len(thumb), err)
			}
			if _, err := s.Get(61); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(61) = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestScoreAllocs(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir()})
	for seq := uint64(1); seq <= 200; seq++ {
		mustAppend(t, s, testRecord(seq, "a", 32, 0))
	}
	q := testRecord(1, "a", 32, 0).Embedding
	dst := make([]Scored, 0, 200)
	allocs := testing.AllocsPerRun(20, func() {
		dst, _ = s.Score(q, "sha256:a", time.Time{}, time.Time{}, dst)
	})
	if allocs != 0 || len(dst) != 200 {
		t.Errorf("Score: %v allocs per run, %d results; want 0 and 200", allocs, len(dst))
	}
}

func TestReopenKeepsDataAndSeq(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentBytes: 8 << 10}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 30; seq++ {
		mustAppend(t, s, testRecord(seq, "a", 32, 500))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(testRecord(31, "a", 32, 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	s = openStore(t, opts)
	if rep := s.Recovery(); rep.Records != 30 || rep.CorruptRegions != 0 || rep.TruncatedBytes != 0 || rep.SkippedRecords != 0 {
		t.Errorf("clean reopen report = %+v", rep)
	}
	for seq := uint64(1); seq <= 30; seq++ {
		got, err := s.Get(seq)
		if err != nil {
			t.Fatal(err)
		}
		checkRecord(t, got, testRecord(seq, "a", 32, 500))
	}
	if seq := mustAppend(t, s, testRecord(31, "a", 32, 10)); seq != 31 {
		t.Errorf("after reopen Append got seq %d, want 31", seq)
	}
}

// Sequence numbers survive even when retention has dropped every record.
func TestSeqSurvivesEmptyStore(t *testing.T) {
	dir := t.TempDir()
	clk := newClock(t0)
	opts := Options{Dir: dir, MaxAge: time.Hour, SegmentSpan: time.Minute, Now: clk.Now}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		r := testRecord(0, "a", 16, 0)
		r.Time = clk.Now()
		mustAppend(t, s, r)
		clk.Add(2 * time.Minute)
	}
	s.Close()
	clk.Add(3 * time.Hour)
	s = openStore(t, opts)
	r := testRecord(0, "a", 16, 0)
	r.Time = clk.Now()
	if seq := mustAppend(t, s, r); seq != 6 {
		t.Errorf("seq after expiry and reopen = %d, want 6", seq)
	}
	if st := s.Stats(); st.Records != 1 || st.FirstSeq != 6 {
		t.Errorf("stats after expiry = %+v, want only seq 6", st)
	}
}

func TestRetentionByAge(t *testing.T) {
	clk := newClock(t0)
	s := openStore(t, Options{Dir: t.TempDir(), MaxAge: time.Hour, SegmentSpan: 10 * time.Minute, Now: clk.Now})
	for i := range 180 { // 3 h at one record a minute
		r := testRecord(uint64(i+1), "a", 16, 100)
		r.Time = clk.Now()
		mustAppend(t, s, r)
		clk.Add(time.Minute)
	}
	st := s.Stats()
	oldest := clk.Now().Add(-time.Hour - 11*time.Minute) // a segment spans ≤ 10 min
	if st.Oldest.Before(oldest) || st.DroppedSegments == 0 || st.DroppedRecords+int64(st.Records) != 180 {
		t.Errorf("stats = %+v; want oldest after %v and dropped+kept = 180", st, oldest)
	}
	seqs := allSeqs(t, s, "sha256:a")
	if len(seqs) != st.Records || seqs[0] != st.FirstSeq || seqs[len(seqs)-1] != 180 {
		t.Errorf("scan sees %d records %d..%d, stats %d from %d", len(seqs), seqs[0], seqs[len(seqs)-1], st.Records, st.FirstSeq)
	}
	if _, err := s.Get(1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a dropped record = %v, want ErrNotFound", err)
	}
	files, _ := filepath.Glob(filepath.Join(s.opts.Dir, "*.seg"))
	if len(files) != st.Segments {
		t.Errorf("%d segment files on disk, stats say %d", len(files), st.Segments)
	}
}

func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

func TestRetentionByBytes(t *testing.T) {
	const budget = 64 << 10
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, MaxBytes: budget, SegmentBytes: 8 << 10})
	for seq := uint64(1); seq <= 400; seq++ {
		mustAppend(t, s, testRecord(seq, "a", 32, 1500))
		if n := dirBytes(t, dir); n > budget {
			t.Fatalf("after seq %d the segment files hold %d bytes > budget %d", seq, n, budget)
		}
	}
	st := s.Stats()
	if st.DiskBytes != dirBytes(t, dir) || st.DiskBytes < budget/2 {
		t.Errorf("stats DiskBytes %d, files %d, budget %d", st.DiskBytes, dirBytes(t, dir), budget)
	}
	seqs := allSeqs(t, s, "sha256:a")
	for i, q := range seqs {
		if q != st.FirstSeq+uint64(i) {
			t.Fatalf("retained records are not a contiguous suffix: %v", seqs)
		}
	}
	if seqs[len(seqs)-1] != 400 || st.DroppedRecords+int64(len(seqs)) != 400 {
		t.Errorf("kept %d..%d, dropped %d", seqs[0], seqs[len(seqs)-1], st.DroppedRecords)
	}
	if _, err := s.Append(testRecord(0, "a", 32, 40<<10)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("record larger than a segment: %v, want ErrTooLarge", err)
	}
}

func TestModelSeparation(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), SegmentBytes: 8 << 10})
	var a, b []uint64
	for i := range 40 {
		if i%3 == 0 {
			b = append(b, mustAppend(t, s, testRecord(uint64(i+1), "b", 24, 200)))
		} else {
			a = append(a, mustAppend(t, s, testRecord(uint64(i+1), "a", 16, 200)))
		}
	}
	if got := allSeqs(t, s, "sha256:a"); !slices.Equal(got, a) {
		t.Errorf("model a sees %v, want %v", got, a)
	}
	sc, err := s.Score(make([]float32, 24), "sha256:b", time.Time{}, time.Time{}, nil)
	if err != nil || len(sc) != len(b) {
		t.Errorf("model b scores: %d (%v), want %d", len(sc), err, len(b))
	}
	for _, x := range sc {
		if !slices.Contains(b, x.Seq) {
			t.Errorf("model b query returned seq %d of model a", x.Seq)
		}
	}
	if _, err := s.Score(make([]float32, 16), "sha256:b", time.Time{}, time.Time{}, nil); !errors.Is(err, ErrDim) {
		t.Errorf("query of the wrong dim: %v, want ErrDim", err)
	}
	if sc, err := s.Score(make([]float32, 16), "sha256:c", time.Time{}, time.Time{}, nil); err != nil || len(sc) != 0 {
		t.Errorf("unknown model: %d results, %v", len(sc), err)
	}
	if _, err := s.Append(testRecord(0, "a", 24, 0)); !errors.Is(err, ErrDim) {
		t.Errorf("append of model a with dim 24: %v, want ErrDim", err)
	}
	st := s.Stats()
	if len(st.Models) != 2 || st.Models[0].Records+st.Models[1].Records != 40 {
		t.Errorf("model stats = %+v", st.Models)
	}
}

func TestAppendRejectsBadRecords(t *testing.T) {
	good := testRecord(0, "a", 8, 10)
	cases := []struct {
		name string
		edit func(r *Record)
	}{
		{"empty hash", func(r *Record) { r.ModelHash = "" }},
		{"long hash", func(r *Record) { r.ModelHash = string(make([]byte, 256)) }},
		{"long name", func(r *Record) { r.ModelName = string(make([]byte, 256)) }},
		{"no embedding", func(r *Record) { r.Embedding = nil }},
		{"nan", func(r *Record) { r.Embedding = []float32{1, float32(math.NaN())} }},
		{"inf", func(r *Record) { r.Embedding = []float32{float32(math.Inf(1))} }},
		{"huge thumb", func(r *Record) { r.Thumb = make([]byte, maxThumb+1) }},
	}
	s := openStore(t, Options{Dir: t.TempDir()})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good
			c.edit(&r)
			if _, err := s.Append(r); !errors.Is(err, ErrInvalid) {
				t.Errorf("Append = %v, want ErrInvalid", err)
			}
		})
	}
	if st := s.Stats(); st.Records != 0 {
		t.Errorf("%d records stored from bad input", st.Records)
	}
}

func TestOptionsAndLock(t *testing.T) {
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Error("Open with no Dir: want error")
	}
	if _, err := Open(context.Background(), Options{Dir: t.TempDir(), MaxBytes: 1000}); err == nil {
		t.Error("Open with a 1000-byte budget: want error")
	}
	dir := t.TempDir()
	openStore(t, Options{Dir: dir})
	if _, err := Open(context.Background(), Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open of one dir = %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d2 := t.TempDir()
	os.WriteFile(filepath.Join(d2, segName(1)), []byte("x"), 0o644)
	if _, err := Open(ctx, Options{Dir: d2}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context = %v, want context.Canceled", err)
	}
}

// One appender and several readers; run with -race.
func TestConcurrentQueries(t *testing.T) {
	s := openStore(t, Options{Dir: t.TempDir(), SegmentBytes: 16 << 10, MaxBytes: 128 << 10, FsyncInterval: time.Millisecond})
	const n = 400
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := testRecord(1, "a", 32, 0).Embedding
			var dst []Scored
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if dst, err = s.Score(q, "sha256:a", time.Time{}, time.Time{}, dst); err != nil {
					t.Error(err)
					return
				}
				if len(dst) > 0 {
					seq := dst[len(dst)/2].Seq
					if r, err := s.Get(seq); err == nil {
						checkRecord(t, r, testRecord(seq, "a", 32, 300))
					} else if !errors.Is(err, ErrNotFound) { // dropped meanwhile
						t.Error(err)
					}
				}
				if w == 0 {
					s.Stats()
				}
				time.Sleep(50 * time.Microsecond) // let the appender through on slow machines
			}
		}()
	}
	for seq := uint64(1); seq <= n; seq++ {
		mustAppend(t, s, testRecord(seq, "a", 32, 300))
	}
	close(stop)
	wg.Wait()
	if st := s.Stats(); st.LastSeq != n || st.SyncedSeq > n {
		t.Errorf("stats = %+v", st)
	}
}

func TestF16Conversion(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {1e6, 0x7c00}, {65520, 0x7c00},
		{5.960464477539063e-08, 0x0001}, {2.9802322387695312e-08, 0}, {6.103515625e-05, 0x0400},
		{0.333251953125, 0x3555}, {1.00048828125, 0x3c00}, {1.00146484375, 0x3c02},
	}
	for _, c := range cases {
		if got := f32ToF16(c.f); got != c.h {
			t.Errorf("f32ToF16(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	for h := range 1 << 16 {
		f := f16ToF32(uint16(h))
		if f != f { // NaN
			continue
		}
		if got := f32ToF16(f); got != uint16(h) {
			t.Fatalf("f16 %#04x -> %v -> %#04x", h, f, got)
		}
	}
}
