package camera

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// scripted is a controllable source for capture tests. Real OpenCV sources
// are tested in camera/gocv.
type scripted struct {
	mu     sync.Mutex
	mode   string // "run", "hang", "bad", "eof", "fail"
	frames atomic.Int64
	opens  atomic.Int64
	closed atomic.Int64
}

func (s *scripted) setMode(m string) { s.mu.Lock(); s.mode = m; s.mu.Unlock() }
func (s *scripted) getMode() string  { s.mu.Lock(); defer s.mu.Unlock(); return s.mode }

type scriptedSource struct{ s *scripted }

func (ss scriptedSource) Read(ctx context.Context, f *Frame) error {
	switch ss.s.getMode() {
	case "hang":
		<-ctx.Done() // a hung backend: only cancellation frees it
		return ctx.Err()
	case "bad":
		time.Sleep(5 * time.Millisecond)
		*f = Frame{}
		return nil
	case "eof":
		return io.EOF
	case "fail":
		return errors.New("device unplugged")
	}
	time.Sleep(5 * time.Millisecond)
	n := ss.s.frames.Add(1)
	if cap(f.Pix) < 8*8*3 {
		f.Pix = make([]byte, 8*8*3)
	}
	f.Width, f.Height, f.Stride, f.Pix = 8, 8, 24, f.Pix[:8*8*3]
	f.Time = time.Time{}
	for i := range f.Pix {
		f.Pix[i] = byte(n)
	}
	return nil
}

func (ss scriptedSource) Close() error { ss.s.closed.Add(1); return nil }

var (
	scriptsMu sync.Mutex
	scripts   = map[string]*scripted{}
)

func init() {
	Register("test", func(ctx context.Context, u *url.URL) (Source, error) {
		scriptsMu.Lock()
		s := scripts[u.Host]
		scriptsMu.Unlock()
		if s == nil {
			return nil, errors.New("no such test source")
		}
		s.opens.Add(1)
		if s.getMode() == "refuse" {
			return nil, errors.New("connection refused")
		}
		return scriptedSource{s}, nil
	})
}

func newScript(name string) *scripted {
	s := &scripted{mode: "run"}
	scriptsMu.Lock()
	scripts[name] = s
	scriptsMu.Unlock()
	return s
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCaptureStallAndRecover(t *testing.T) {
	s := newScript("stall")
	q := NewQueue(2)
	c := NewCapture(CaptureOptions{URI: "test://stall", StallTimeout: 200 * time.Millisecond,
		Backoff: []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}}, q)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	waitFor(t, "frames", 2*time.Second, func() bool { return c.Stats().Frames >= 5 })
	if st := c.Stats().State; st != StateUp {
		t.Fatalf("state %s, want up", st)
	}
	s.setMode("hang")
	stalledAt := time.Now()
	waitFor(t, "stall detected", 2*time.Second, func() bool { return c.Stats().Stalls >= 1 })
	if d := time.Since(stalledAt); d > time.Second {
		t.Errorf("stall detected after %v, want ≈ 200 ms", d)
	}
	s.setMode("run")
	frames := c.Stats().Frames
	waitFor(t, "recovery", 2*time.Second, func() bool { return c.Stats().Frames > frames+3 && c.Stats().State == StateUp })
	if s.opens.Load() < 2 || s.closed.Load() < 1 {
		t.Errorf("opens %d closes %d, want a reopen", s.opens.Load(), s.closed.Load())
	}

	// Corrupt frames are counted and skipped, and do not count as progress.
	s.setMode("bad")
	waitFor(t, "bad frames counted", 2*time.Second, func() bool { return c.Stats().BadFrames >= 3 })
	waitFor(t, "stall on only-bad frames", 2*time.Second, func() bool { return c.Stats().Stalls >= 2 })
	s.setMode("run")
	waitFor(t, "recovery", 2*time.Second, func() bool { return c.Stats().State == StateUp })

	// Seq keeps increasing across reopens.
	var f Frame
	var last uint64
	for range 3 {
		if !q.Pop(ctx, &f) {
			t.Fatal("pop failed")
		}
		if f.Seq <= last {
			t.Fatalf("seq %d after %d", f.Seq, last)
		}
		last = f.Seq
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil on cancel", err)
	}
	if st := c.Stats().State; st != StateStopped {
		t.Errorf("final state %s", st)
	}
}

func TestCaptureBackoffAndFailedState(t *testing.T) {
	s := newScript("refuse")
	s.setMode("refuse")
	c := NewCapture(CaptureOptions{URI: "test://refuse", Backoff: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}}, NewQueue(2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go c.Run(ctx)
	waitFor(t, "failed state", 2*time.Second, func() bool { return c.Stats().State == StateFailed })
	if !strings.Contains(c.Stats().LastError, "connection refused") {
		t.Errorf("last error %q", c.Stats().LastError)
	}
	s.setMode("run")
	waitFor(t, "up after failure", 2*time.Second, func() bool { return c.Stats().State == StateUp })
}

func TestCaptureEOF(t *testing.T) {
	s := newScript("eof")
	s.setMode("eof")
	c := NewCapture(CaptureOptions{URI: "test://eof"}, NewQueue(2))
	if err := c.Run(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v, want io.EOF", err)
	}
	if c.Stats().State != StateEnded {
		t.Errorf("state %s", c.Stats().State)
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	_, err := Open(context.Background(), "nope://x")
	if err == nil || !strings.Contains(err.Error(), "test") {
		t.Errorf("error %v should list known schemes", err)
	}
	if got := Redact("rtsp://admin:secret@cam/stream"); strings.Contains(got, "secret") {
		t.Errorf("Redact kept the password: %s", got)
	}
}

func TestQueueDropsOldest(t *testing.T) {
	q := NewQueue(2)
	for i := 1; i <= 5; i++ {
		q.Push(&Frame{Seq: uint64(i), Width: 1, Height: 1, Stride: 3, Pix: []byte{1, 2, 3}})
	}
	if q.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", q.Dropped())
	}
	var f Frame
	for _, want := range []uint64{4, 5} {
		if !q.Pop(context.Background(), &f) || f.Seq != want {
			t.Fatalf("pop seq %d, want %d", f.Seq, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if q.Pop(ctx, &f) {
		t.Error("pop on empty queue returned a frame")
	}
	allocs := testing.AllocsPerRun(100, func() {
		q.Push(&f)
		q.Pop(context.Background(), &f)
	})
	if allocs > 0 {
		t.Errorf("push+pop allocates %v times per frame", allocs)
	}
}

func TestSamplerAndGate(t *testing.T) {
	s := NewSampler(5)
	t0 := time.Unix(1000, 0)
	kept := 0
	for i := range 300 { // 10 s at 30 fps
		if s.Keep(t0.Add(time.Duration(i) * time.Second / 30)) {
			kept++
		}
	}
	if kept < 48 || kept > 52 {
		t.Errorf("5 fps sampler kept %d of 10 s at 30 fps, want ≈ 50", kept)
	}

	g := NewGate(GateOptions{Threshold: 0.02, KeepAlive: 5 * time.Second})
	frame := func(v byte, sec float64) *Frame {
		f := &Frame{Width: 64, Height: 48, Stride: 192, Pix: make([]byte, 64*48*3), Time: t0.Add(time.Duration(sec * float64(time.Second)))}
		for i := range f.Pix {
			f.Pix[i] = v
		}
		return f
	}
	steps := []struct {
		v    byte
		sec  float64
		want bool
	}{
		{100, 0, true},   // first frame always
		{101, 1, false},  // tiny change
		{100, 2, false},  // none
		{160, 3, true},   // big change
		{160, 4, false},  // static
		{160, 8.5, true}, // keep-alive after 5 s
	}
	for i, st := range steps {
		if got, d := g.Keep(frame(st.v, st.sec)); got != st.want {
			t.Errorf("step %d: keep = %v (change %.4f), want %v", i, got, d, st.want)
		}
	}
	if r, seen, k := g.Ratio(); seen != 6 || k != 3 || r != 0.5 {
		t.Errorf("ratio %v seen %d kept %d", r, seen, k)
	}
	f := frame(1, 9)
	if a := testing.AllocsPerRun(50, func() { g.Keep(f) }); a > 0 {
		t.Errorf("gate allocates %v per frame", a)
	}
}
