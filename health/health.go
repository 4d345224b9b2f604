// Package health serves the daemon's HTTP endpoint: /healthz (liveness),
// /readyz (named readiness checks, 503 naming every failing part) and
// /metrics (Prometheus text format, from the Metrics registry).
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CheckFunc reports a part as healthy (nil) or why it is not.
type CheckFunc func(ctx context.Context) error

// CheckTimeout bounds one check; a check that takes longer fails.
const CheckTimeout = 2 * time.Second

// ShutdownTimeout bounds how long Serve waits for requests in flight.
const ShutdownTimeout = 3 * time.Second

// Health is the endpoint's state: checks by name and the metrics.
type Health struct {
	metrics *Metrics
	log     *slog.Logger

	mu    sync.Mutex
	ready map[string]CheckFunc
	live  map[string]CheckFunc
}

// New makes the endpoint for m (nil: no /metrics). log defaults to
// slog.Default().
func New(m *Metrics, log *slog.Logger) *Health {
	if log == nil {
		log = slog.Default()
	}
	return &Health{metrics: m, log: log, ready: map[string]CheckFunc{}, live: map[string]CheckFunc{}}
}

// AddReadyCheck registers (or replaces) a readiness check: /readyz is 503
// while any fails. Typical names: model, source, broker, store.
func (h *Health) AddReadyCheck(name string, fn CheckFunc) {
	h.mu.Lock()
	h.ready[name] = fn
	h.mu.Unlock()
}

// AddLiveCheck registers a liveness check: /healthz is 503 while it fails.
// Keep these for states only a restart fixes (a hung loop).
func (h *Health) AddLiveCheck(name string, fn CheckFunc) {
	h.mu.Lock()
	h.live[name] = fn
	h.mu.Unlock()
}

// Flag is a readiness check driven by events instead of polling: the
// broker's on-connect handler calls Set(nil), its connection-lost handler
// Set(err).
type Flag struct {
	mu  sync.Mutex
	err error
}

// ErrNotYet is a Flag's state before its first Set.
var ErrNotYet = errors.New("not yet started")

// Flag registers a readiness check named name that fails with ErrNotYet
// until Set(nil).
func (h *Health) Flag(name string) *Flag {
	f := &Flag{err: ErrNotYet}
	h.AddReadyCheck(name, func(context.Context) error { return f.Get() })
	return f
}

// Set records the part's state: nil for ready.
func (f *Flag) Set(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// Get returns the last Set.
func (f *Flag) Get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Handler serves /healthz, /readyz and /metrics.
func (h *Health) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { h.serveChecks(w, r, h.live) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { h.serveChecks(w, r, h.ready) })
	if h.metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(h.metrics.Registry, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
			// A scrape of a broken collector still returns the rest.
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	return mux
}

// result is one check's outcome.
type result struct {
	name string
	err  error
}

// run runs the checks concurrently, each within CheckTimeout, sorted by name.
func run(ctx context.Context, checks map[string]CheckFunc) []result {
	out := make([]result, 0, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, fn := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- fn(ctx) }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				err = fmt.Errorf("check did not answer within %s", CheckTimeout)
			}
			mu.Lock()
			out = append(out, result{name, err})
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// serveChecks writes one line per check in the Kubernetes style
// ("[+]model ok", "[-]broker failed: ...") and a verdict; the status is
// 503 when any check fails.
func (h *Health) serveChecks(w http.ResponseWriter, r *http.Request, set map[string]CheckFunc) {
	h.mu.Lock()
	checks := make(map[string]CheckFunc, len(set))
	for k, v := range set {
		checks[k] = v
	}
	h.mu.Unlock()

	var b strings.Builder
	var failed []string
	for _, res := range run(r.Context(), checks) {
		if res.err != nil {
			failed = append(failed, res.name)
			fmt.Fprintf(&b, "[-]%s failed: %s\n", res.name, oneLine(res.err.Error()))
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", res.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(&b, "failed: %s\n", strings.Join(failed, ", "))
	} else {
		b.WriteString("ok\n")
	}
	_, _ = w.Write([]byte(b.String()))
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// Serve listens on addr (host:port) and serves Handler until ctx is done,
// then shuts down gracefully within ShutdownTimeout. It returns nil after
// a clean stop.
func (h *Health) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("health: listen %s: %w", addr, err)
	}
	return h.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened (a port chosen
// by the kernel in tests, a socket passed by systemd). It closes ln.
func (h *Health) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           h.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	h.log.Info("health: serving /healthz /readyz /metrics", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("health: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("health: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("health: serve %s: %w", ln.Addr(), err)
	}
	return nil
}
