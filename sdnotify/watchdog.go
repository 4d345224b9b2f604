package sdnotify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckEvery is how often loops are checked when systemd set no
// watchdog: stalls are still logged and visible through Stalled.
const DefaultCheckEvery = 15 * time.Second

// WatchdogOptions configure a Watchdog; the zero value (or nil) reads the
// interval from the environment and logs to slog.Default().
type WatchdogOptions struct {
	// Interval is systemd's watchdog timeout. Pings go every Interval/2.
	// Default: WatchdogInterval(), or checks every DefaultCheckEvery when
	// systemd set none.
	Interval time.Duration
	Logger   *slog.Logger
}

// Watchdog pings systemd only while every registered loop makes progress.
// Each loop beats from its own goroutine; at every ping time a loop that
// has not beaten since the previous check withholds the ping, so a hung
// capture, inference or MQTT loop makes systemd restart the daemon
// (WatchdogSec=, Restart=on-failure). A loop that waits on purpose (a
// reconnect backoff, an idle queue) must still beat, from a ticker in its
// select, at least every Interval/4.
type Watchdog struct {
	period time.Duration
	log    *slog.Logger
	start  time.Time

	mu      sync.Mutex
	loops   []*Loop
	stalled []string
}

// Loop is one registered loop's handle.
type Loop struct {
	name string
	w    *Watchdog
	last atomic.Int64 // time of the last beat, as nanoseconds since w.start
	done atomic.Bool
}

// NewWatchdog makes a watchdog; Run starts it. The error is a malformed
// $WATCHDOG_USEC.
func NewWatchdog(o *WatchdogOptions) (*Watchdog, error) {
	var opts WatchdogOptions
	if o != nil {
		opts = *o
	}
	if opts.Interval <= 0 {
		iv, err := WatchdogInterval()
		if err != nil {
			return nil, err
		}
		opts.Interval = iv
	}
	w := &Watchdog{period: opts.Interval / 2, log: opts.Logger, start: time.Now()}
	if w.period <= 0 {
		w.period = DefaultCheckEvery
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w, nil
}

// Period is how often the watchdog checks the loops and pings.
func (w *Watchdog) Period() time.Duration { return w.period }

// Loop registers a loop by name. It counts as having beaten now, so it has
// one period to start beating.
func (w *Watchdog) Loop(name string) *Loop {
	l := &Loop{name: name, w: w}
	l.Beat()
	w.mu.Lock()
	w.loops = append(w.loops, l)
	w.mu.Unlock()
	return l
}

// Beat records progress. It is cheap (one atomic store) and allocates
// nothing, so a per-frame loop may call it every iteration.
func (l *Loop) Beat() { l.last.Store(int64(time.Since(l.w.start))) }

// Done unregisters the loop: it has ended on purpose (shutdown, a finite
// source) and must no longer withhold pings.
func (l *Loop) Done() { l.done.Store(true) }

// Name is the loop's registered name.
func (l *Loop) Name() string { return l.name }

// Stalled lists the loops that missed the last check, for /readyz and logs.
func (w *Watchdog) Stalled() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.stalled...)
}

// Check fails while any loop is stalled, naming them; it fits
// health.CheckFunc, for /healthz.
func (w *Watchdog) Check(context.Context) error {
	if s := w.Stalled(); len(s) > 0 {
		return fmt.Errorf("loops not making progress: %s", strings.Join(s, ", "))
	}
	return nil
}

// Run checks the loops every Period and sends WATCHDOG=1 when all of them
// beat since the previous check. It returns when ctx is done.
func (w *Watchdog) Run(ctx context.Context) error {
	t := time.NewTicker(w.period)
	defer t.Stop()
	prev := time.Since(w.start)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := time.Since(w.start)
		if w.check(prev, now) {
			if err := Ping(); err != nil {
				w.log.Warn("watchdog: ping failed", "err", err)
			}
		}
		prev = now
	}
}

// check finds the loops that have not beaten after prev, logs changes and
// reports whether all are healthy.
func (w *Watchdog) check(prev, now time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	live := w.loops[:0]
	var stalled []string
	for _, l := range w.loops {
		if l.done.Load() {
			continue
		}
		live = append(live, l)
		if last := time.Duration(l.last.Load()); last <= prev {
			stalled = append(stalled, l.name)
			if !slices.Contains(w.stalled, l.name) {
				w.log.Warn("watchdog: loop is not making progress; withholding systemd pings",
					"loop", l.name, "since_last_beat", (now - last).Round(time.Millisecond))
			}
		}
	}
	w.loops = live
	for _, name := range w.stalled {
		if !slices.Contains(stalled, name) {
			w.log.Info("watchdog: loop is no longer stalled", "loop", name)
		}
	}
	w.stalled = stalled
	return len(stalled) == 0
}
