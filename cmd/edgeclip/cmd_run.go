package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/edgeclip/edgeclip/alert"
	"github.com/edgeclip/edgeclip/camera"
	"github.com/edgeclip/edgeclip/daemon"
	"github.com/edgeclip/edgeclip/query"
	"github.com/edgeclip/edgeclip/runtime"
	_ "github.com/edgeclip/edgeclip/tools/world" // synth:// source
)

func init() {
	register(command{name: "run", short: "run the daemon: capture, encode, remember, answer, alert", run: runDaemon})
}

type runFlags struct {
	opts        daemon.Options
	precision   string
	statusEvery time.Duration
	duration    time.Duration
	alerts      []string
	queries     []string
	queryEvery  time.Duration
}

func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "[flags]", stderr)
	var f runFlags
	o := &f.opts
	fs.StringVar(&o.ModelPath, "model", defaultModelPath(), "model file (default: the shipped model)")
	fs.StringVar(&o.Backend, "backend", "native", "inference backend: "+strings.Join(runtime.Names(), ", "))
	fs.StringVar(&f.precision, "precision", "f32", "f32, w8 or w8a8")
	fs.IntVar(&o.Threads, "threads", 0, "encoder threads (0: all cores)")
	fs.StringVar(&o.Source, "source", "synth://?seed=1", "camera URI: "+strings.Join(camera.Schemes(), ", "))
	fs.DurationVar(&o.StallTimeout, "stall-timeout", 5*time.Second, "reopen the source after this long without a frame")
	fs.Float64Var(&o.SampleFPS, "sample-fps", 5, "frames per second to consider for encoding")
	fs.Float64Var(&o.Gate.Threshold, "gate", 0.01, "skip frames whose downscaled change is below this fraction")
	fs.DurationVar(&o.Gate.KeepAlive, "keep-alive", 10*time.Second, "encode at least one frame this often")
	fs.StringVar(&o.DataDir, "data-dir", defaultDataDir(), "history and alert definitions")
	fs.DurationVar(&o.History.FsyncInterval, "fsync-interval", time.Second, "history fsync interval")
	fs.DurationVar(&o.History.MaxAge, "retention", 7*24*time.Hour, "drop history older than this")
	fs.Int64Var(&o.History.MaxBytes, "max-bytes", 2<<30, "hard byte budget of the history, thumbnails included")
	fs.DurationVar(&f.statusEvery, "status-every", time.Second, "status line interval (0: none)")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (0: run until SIGINT/SIGTERM)")
	fs.StringArrayVar(&f.alerts, "alert", nil, "standing alert NAME=TEXT (repeatable; persisted)")
	fs.StringArrayVar(&f.queries, "query", nil, "text query to answer and log periodically (repeatable)")
	fs.DurationVar(&f.queryEvery, "query-every", 10*time.Second, "interval of --query answers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.Precision, err = runtime.ParsePrecision(f.precision); err != nil {
		return err
	}
	if o.ModelPath == "" {
		return errors.New("no model: give --model FILE (or set EDGECLIP_MODEL)")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o.Logger = log
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	d, err := daemon.New(ctx, *o)
	if err != nil {
		return err
	}
	defer d.Close()
	for _, a := range f.alerts {
		name, text, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("--alert %q: want NAME=TEXT", a)
		}
		if _, err := d.Alerts().Set(ctx, alert.Spec{Name: name, Text: text}); err != nil {
			return err
		}
	}
	st := d.Status()
	log.Info("edgeclip running", "model", st.Model, "hash", st.ModelHash, "backend", st.Backend,
		"precision", st.Precision, "source", camera.Redact(o.Source), "data", o.DataDir)
	done := make(chan struct{})
	go reportLoop(ctx, d, &f, stderr, log, done)
	err = d.Run(ctx)
	close(done)
	fmt.Fprintln(stderr)
	log.Info("edgeclip stopped", "status", d.Status().Line())
	return err
}

// reportLoop prints the one-line status and, until the MQTT API answers
// queries, logs the answers to --query.
func reportLoop(ctx context.Context, d *daemon.Daemon, f *runFlags, w io.Writer, log *slog.Logger, done <-chan struct{}) {
	var status, queries <-chan time.Time
	if f.statusEvery > 0 {
		t := time.NewTicker(f.statusEvery)
		defer t.Stop()
		status = t.C
	}
	if len(f.queries) > 0 && f.queryEvery > 0 {
		t := time.NewTicker(f.queryEvery)
		defer t.Stop()
		queries = t.C
	}
	tty := isTerminal(w)
	for {
		select {
		case <-done:
			return
		case <-status:
			line := d.Status().Line()
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		case <-queries:
			for _, q := range f.queries {
				res, err := d.Engine().Search(ctx, query.Request{Text: q, TopK: 3})
				if err != nil {
					log.Warn("query failed", "text", q, "err", err)
					continue
				}
				var ivs []string
				for _, iv := range res.Intervals {
					ivs = append(ivs, fmt.Sprintf("%s–%s (peak %.2f)", iv.Start.Format("15:04:05"), iv.End.Format("15:04:05"), iv.Peak))
				}
				if tty {
					fmt.Fprintln(w)
				}
				log.Info("query", "text", q, "intervals", strings.Join(ivs, ", "), "scanned", res.Scanned, "took", res.Took)
			}
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// defaultDataDir is $EDGECLIP_DATA, else /var/lib/edgeclip for root, else
// ~/.local/share/edgeclip.
func defaultDataDir() string {
	if d := os.Getenv("EDGECLIP_DATA"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/edgeclip"
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h + "/.local/share/edgeclip"
	}
	return "edgeclip-data"
}
