package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// State is what a capture is doing now.
type State string

const (
	StateConnecting   State = "connecting"
	StateUp           State = "up"
	StateStalled      State = "stalled"
	StateReconnecting State = "reconnecting"
	// StateFailed: the source has failed every reopen through the backoff
	// schedule; capture keeps retrying at the slowest interval.
	StateFailed  State = "failed"
	StateEnded   State = "ended" // a finite source reached its end
	StateStopped State = "stopped"
)

// DefaultBackoff is the reopen schedule; the last step repeats.
var DefaultBackoff = []time.Duration{1 * time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second}

// CaptureOptions configure a Capture.
type CaptureOptions struct {
	URI string
	// StallTimeout: no valid frame for this long reopens the source (default 5 s).
	StallTimeout time.Duration
	// OpenTimeout bounds one open attempt (default 10 s).
	OpenTimeout time.Duration
	Backoff     []time.Duration
	Logger      *slog.Logger
	// Beat, if set, is called at least once a second while the capture
	// loop is alive (waiting for frames or backing off): the systemd watchdog.
	Beat func()
}

// Stats are a capture's counters.
type Stats struct {
	State      State     `json:"state"`
	Frames     uint64    `json:"frames"`
	BadFrames  uint64    `json:"bad_frames"`
	Reconnects uint64    `json:"reconnects"`
	Stalls     uint64    `json:"stalls"`
	LastFrame  time.Time `json:"last_frame"`
	LastError  string    `json:"last_error,omitempty"`
}

// Capture reads a source on its own goroutine into a Queue, reopening it
// when it stalls or fails.
type Capture struct {
	opts CaptureOptions
	out  *Queue
	seq  atomic.Uint64

	mu    sync.Mutex
	stats Stats
}

// NewCapture prepares a capture of opts.URI into out.
func NewCapture(opts CaptureOptions, out *Queue) *Capture {
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 5 * time.Second
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 10 * time.Second
	}
	if len(opts.Backoff) == 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Beat == nil {
		opts.Beat = func() {}
	}
	return &Capture{opts: opts, out: out, stats: Stats{State: StateConnecting}}
}

// Stats returns a snapshot of the counters.
func (c *Capture) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Capture) update(f func(s *Stats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

var errStalled = errors.New("no frame within the stall timeout")

// Run captures until ctx ends (returns nil) or a finite source ends (returns
// io.EOF). Every other failure is retried with backoff.
func (c *Capture) Run(ctx context.Context) error {
	defer c.out.Close()
	attempt := 0
	for {
		if ctx.Err() != nil {
			c.update(func(s *Stats) { s.State = StateStopped })
			return nil
		}
		src, err := c.open(ctx)
		if err == nil {
			var good bool
			good, err = c.pump(ctx, src)
			closeAsync(src, c.opts.OpenTimeout)
			if good {
				attempt = 0
			}
			if errors.Is(err, io.EOF) {
				c.update(func(s *Stats) { s.State = StateEnded })
				return io.EOF
			}
		}
		if ctx.Err() != nil {
			c.update(func(s *Stats) { s.State = StateStopped })
			return nil
		}
		wait := c.opts.Backoff[min(attempt, len(c.opts.Backoff)-1)]
		state := StateReconnecting
		if attempt >= len(c.opts.Backoff)-1 {
			state = StateFailed
		}
		if errors.Is(err, errStalled) {
			state = StateStalled
		}
		c.update(func(s *Stats) { s.State, s.LastError = state, err.Error(); s.Reconnects++ })
		c.opts.Logger.Warn("camera: source down, reopening", "uri", Redact(c.opts.URI), "err", err, "in", wait)
		attempt++
		c.sleep(ctx, wait)
		c.update(func(s *Stats) {
			if s.State == StateStalled {
				s.State = StateReconnecting
			}
		})
	}
}

// sleep waits d (or until ctx ends), beating the watchdog meanwhile.
func (c *Capture) sleep(ctx context.Context, d time.Duration) {
	end := time.Now().Add(d)
	for {
		c.opts.Beat()
		left := time.Until(end)
		if left <= 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(left, time.Second)):
		}
	}
}

// open runs Open with a deadline: some backends block inside open.
func (c *Capture) open(ctx context.Context) (Source, error) {
	octx, cancel := context.WithTimeout(ctx, c.opts.OpenTimeout)
	defer cancel()
	type res struct {
		s   Source
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := Open(octx, c.opts.URI)
		ch <- res{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-octx.Done():
		// The open may still finish; close whatever it returns.
		go func() {
			if r := <-ch; r.s != nil {
				r.s.Close()
			}
		}()
		return nil, fmt.Errorf("camera: open %s: %w", Redact(c.opts.URI), octx.Err())
	}
}

// pump reads frames until the source fails, ends or stalls. good reports
// whether any valid frame arrived.
func (c *Capture) pump(ctx context.Context, src Source) (good bool, err error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan error, 1)
	go func() {
		var f Frame
		for {
			err := src.Read(rctx, &f)
			if err == nil {
				if !f.Valid() {
					err = ErrBadFrame
				} else {
					f.Seq = c.seq.Add(1)
					if f.Time.IsZero() {
						f.Time = time.Now()
					}
					c.out.Push(&f)
				}
			}
			select {
			case results <- err:
			case <-rctx.Done():
				return
			}
			if err != nil && !errors.Is(err, ErrBadFrame) {
				return
			}
		}
	}()
	timer := time.NewTimer(c.opts.StallTimeout)
	defer timer.Stop()
	beat := time.NewTicker(time.Second)
	defer beat.Stop()
	for {
		c.opts.Beat()
		select {
		case <-beat.C:
		case <-ctx.Done():
			return good, ctx.Err()
		case err := <-results:
			switch {
			case err == nil:
				good = true
				now := time.Now()
				c.update(func(s *Stats) { s.Frames++; s.LastFrame = now; s.State = StateUp })
				if !timer.Stop() {
					select {
					case <-timer.C:
					default:
					}
				}
				timer.Reset(c.opts.StallTimeout)
			case errors.Is(err, ErrBadFrame):
				c.update(func(s *Stats) { s.BadFrames++ })
			default:
				return good, err
			}
		case <-timer.C:
			c.update(func(s *Stats) { s.Stalls++; s.State = StateStalled })
			return good, errStalled
		}
	}
}

// closeAsync closes a source without letting a hung backend block capture.
func closeAsync(s Source, timeout time.Duration) {
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
