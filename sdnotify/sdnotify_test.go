package sdnotify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// listen opens a notify socket of the test's own at addr (a path or an
// @abstract name), points $NOTIFY_SOCKET at it, and returns the messages.
func listen(t *testing.T, addr string) <-chan string {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Setenv("NOTIFY_SOCKET", addr)
	msgs := make(chan string, 1024)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(msgs)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	return msgs
}

func next(t *testing.T, msgs <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(within):
		t.Fatalf("no notify message within %s", within)
		return ""
	}
}

func TestNotifyMessages(t *testing.T) {
	for _, tt := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify.sock") }},
		{"abstract", func(t *testing.T) string {
			return fmt.Sprintf("@edgeclip-test-%d-%d", os.Getpid(), time.Now().UnixNano())
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msgs := listen(t, tt.addr(t))
			steps := []struct {
				send func() error
				want string
			}{
				{Ready, "READY=1"},
				{func() error { return Status("capturing\n5 fps") }, "STATUS=capturing 5 fps"},
				{Ping, "WATCHDOG=1"},
				{Stopping, "STOPPING=1"},
			}
			for _, s := range steps {
				if err := s.send(); err != nil {
					t.Fatal(err)
				}
				if got := next(t, msgs, 2*time.Second); got != s.want {
					t.Errorf("received %q, want %q", got, s.want)
				}
			}
		})
	}
}

func TestNotifyWithoutSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Errorf("Notify without socket = %v, %v; want false, nil", sent, err)
	}
	t.Setenv("NOTIFY_SOCKET", "vsock:2:1234")
	if err := Ready(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Ready to vsock = %v, want ErrUnsupported", err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody-listens"))
	if err := Ready(); err == nil || !strings.Contains(err.Error(), "sdnotify: ") {
		t.Errorf("Ready to a missing socket = %v, want a wrapped error", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := fmt.Sprint(os.Getpid())
	tests := []struct {
		name, usec, pid string
		want            time.Duration
		wantErr         bool
	}{
		{"unset", "", "", 0, false},
		{"ours", "30000000", pid, 30 * time.Second, false},
		{"no pid given", "500000", "", 500 * time.Millisecond, false},
		{"another process", "30000000", "1", 0, false},
		{"garbage", "30s", "", 0, true},
		{"zero", "0", "", 0, true},
		{"bad pid", "1000", "me", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			got, err := WatchdogInterval()
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("WatchdogInterval() = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// syncBuffer is a log sink safe for the watchdog goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// beater beats a loop every few milliseconds until paused or stopped.
type beater struct {
	paused chan bool
}

func startBeating(ctx context.Context, l *Loop) *beater {
	b := &beater{paused: make(chan bool)}
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		paused := false
		for {
			select {
			case <-ctx.Done():
				return
			case paused = <-b.paused:
			case <-t.C:
				if !paused {
					l.Beat()
				}
			}
		}
	}()
	return b
}

// drain discards what is queued now.
func drain(msgs <-chan string) {
	for {
		select {
		case <-msgs:
		default:
			return
		}
	}
}

// TestWatchdogPingsOnlyWhileLoopsBeat runs the watchdog under a notify
// socket of the test's own with a 200 ms interval (pings every 100 ms):
// pings arrive while both loops beat, stop when one hangs, and resume.
func TestWatchdogPingsOnlyWhileLoopsBeat(t *testing.T) {
	msgs := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	var logs syncBuffer
	w, err := NewWatchdog(&WatchdogOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if w.Period() != 100*time.Millisecond {
		t.Fatalf("Period() = %v, want half of WATCHDOG_USEC = 100ms", w.Period())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	capture := startBeating(ctx, w.Loop("capture"))
	startBeating(ctx, w.Loop("inference"))
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()

	// Healthy: pings arrive.
	for range 3 {
		if got := next(t, msgs, time.Second); got != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
	}

	// capture hangs: after at most one more ping already in flight, silence.
	capture.paused <- true
	time.Sleep(250 * time.Millisecond) // > 2 periods: the check that sees the hang has run
	drain(msgs)
	select {
	case m := <-msgs:
		t.Fatalf("received %q while the capture loop was hung", m)
	case <-time.After(400 * time.Millisecond):
	}
	if got := w.Stalled(); len(got) != 1 || got[0] != "capture" {
		t.Errorf("Stalled() = %v, want [capture]", got)
	}
	if err := w.Check(ctx); err == nil || err.Error() != "loops not making progress: capture" {
		t.Errorf("Check() = %v, want the capture loop named", err)
	}
	if !strings.Contains(logs.String(), "loop=capture") || !strings.Contains(logs.String(), "withholding") {
		t.Errorf("the hung loop was not logged by name; logs:\n%s", logs.String())
	}

	// capture resumes: pings resume.
	capture.paused <- false
	if got := next(t, msgs, time.Second); got != "WATCHDOG=1" {
		t.Fatalf("got %q after resume, want WATCHDOG=1", got)
	}
	if err := w.Check(ctx); err != nil {
		t.Errorf("Check() after resume = %v", err)
	}
	if got := w.Stalled(); len(got) != 0 {
		t.Errorf("Stalled() after resume = %v, want none", got)
	}
	if !strings.Contains(logs.String(), "no longer stalled") {
		t.Errorf("recovery not logged; logs:\n%s", logs.String())
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestWatchdogDoneLoop checks that a loop that ended on purpose does not
// hold back pings.
func TestWatchdogDoneLoop(t *testing.T) {
	msgs := listen(t, filepath.Join(t.TempDir(), "notify.sock"))
	w, err := NewWatchdog(&WatchdogOptions{Interval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.Loop("finite-source").Done() // never beats again
	startBeating(ctx, w.Loop("mqtt"))
	go w.Run(ctx)
	for range 3 {
		if got := next(t, msgs, time.Second); got != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
	}
}

func TestWatchdogBadEnv(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "soon")
	if _, err := NewWatchdog(nil); err == nil {
		t.Error("NewWatchdog with WATCHDOG_USEC=soon: nil error")
	}
	t.Setenv("WATCHDOG_USEC", "")
	w, err := NewWatchdog(nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.Period() != DefaultCheckEvery {
		t.Errorf("NewWatchdog(nil) without systemd: period %v, want %v", w.Period(), DefaultCheckEvery)
	}
}

func BenchmarkBeat(b *testing.B) {
	w, _ := NewWatchdog(&WatchdogOptions{Interval: time.Second})
	l := w.Loop("x")
	b.ReportAllocs()
	for b.Loop() {
		l.Beat()
	}
}
