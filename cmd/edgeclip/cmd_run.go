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
	"github.com/edgeclip/edgeclip/config"
	"github.com/edgeclip/edgeclip/daemon"
	"github.com/edgeclip/edgeclip/history"
	"github.com/edgeclip/edgeclip/query"
	"github.com/edgeclip/edgeclip/runtime"
	_ "github.com/edgeclip/edgeclip/tools/world" // synth:// source
)

func init() {
	register(command{name: "run", short: "run the daemon: capture, encode, remember, answer, alert", run: runDaemon})
}

// runFlags are the flags of `edgeclip run` that are not config keys.
type runFlags struct {
	statusEvery time.Duration
	duration    time.Duration
	alerts      []string
	queries     []string
	queryEvery  time.Duration
	lossless    bool
}

// flagKeys maps convenience flags onto config keys; --set reaches every key.
var flagKeys = []struct{ flag, key, usage string }{
	{"model", "model.path", "model file (default: the shipped model)"},
	{"backend", "model.backend", "inference backend"},
	{"precision", "model.precision", "auto (the model file's, else f32), f32, w8 or w8a8"},
	{"source", "source.uri", "camera URI (file://, rtsp://, v4l2://, csi://, gst://, synth://)"},
	{"history-dir", "history.dir", "history directory"},
	{"broker", "mqtt.broker", "MQTT broker URL (empty: start the embedded broker)"},
	{"device-id", "device_id", "device id in MQTT topics"},
	{"http", "http.listen", "health and metrics listen address (empty: off)"},
	{"log-level", "log.level", "debug, info, warn or error"},
}

func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "[--config FILE] [flags]", stderr)
	cfgPath := fs.String("config", "", "YAML config file (see 'edgeclip config example')")
	check := fs.Bool("check", false, "validate the configuration, print every problem with its key, and exit")
	sets := fs.StringArray("set", nil, "set a config key: KEY=VALUE (repeatable)")
	vals := map[string]*string{}
	for _, f := range flagKeys {
		vals[f.flag] = fs.String(f.flag, "", f.usage+" (config "+f.key+")")
	}
	var f runFlags
	fs.DurationVar(&f.statusEvery, "status-every", time.Second, "status line interval (0: none)")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	fs.StringArrayVar(&f.alerts, "alert", nil, "standing alert NAME=TEXT (repeatable; persisted)")
	fs.StringArrayVar(&f.queries, "query", nil, "text query to answer and log periodically (repeatable)")
	fs.DurationVar(&f.queryEvery, "query-every", 10*time.Second, "interval of --query answers")
	fs.BoolVar(&f.lossless, "lossless", false, "never drop frames (for files and synth://?realtime=0)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, loadErr := config.Load(*cfgPath)
	var problems []error
	if loadErr != nil {
		problems = append(problems, loadErr)
	}
	for _, fk := range flagKeys {
		if fs.Changed(fk.flag) {
			if err := cfg.Set(fk.key, *vals[fk.flag]); err != nil {
				problems = append(problems, fmt.Errorf("--%s: %w", fk.flag, err))
			}
		}
	}
	problems = append(problems, applySets(cfg, *sets)...)
	problems = append(problems, cfg.Check()...)
	if *check {
		return reportCheck(stdout, cfg, problems)
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}
	h, err := cfg.Log.Handler(stderr)
	if err != nil {
		return err
	}
	log := slog.New(h)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	return serve(ctx, cfg, &f, stderr, log)
}

// applySets applies --set KEY=VALUE flags in order.
func applySets(cfg *config.Config, sets []string) []error {
	var problems []error
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			problems = append(problems, fmt.Errorf("--set %q: want KEY=VALUE", s))
			continue
		}
		if err := cfg.Set(k, v); err != nil {
			problems = append(problems, fmt.Errorf("--set: %w", err))
		}
	}
	return problems
}

// reportCheck prints every problem and warning of a configuration check;
// the error says how many problems there were.
func reportCheck(w io.Writer, cfg *config.Config, problems []error) error {
	problems = flatten(problems)
	for _, p := range problems {
		fmt.Fprintln(w, "error:", p)
	}
	for _, warn := range cfg.Warnings() {
		fmt.Fprintln(w, "warning:", warn)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s) in the configuration", len(problems))
	}
	fmt.Fprintln(w, "configuration OK")
	return nil
}

// flatten splits joined errors (config.Load reports every key at once) so
// that each problem gets its own line.
func flatten(errs []error) []error {
	var out []error
	for _, e := range errs {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			out = append(out, flatten(j.Unwrap())...)
		} else {
			out = append(out, e)
		}
	}
	return out
}

// daemonOptions maps the configuration onto the daemon's options.
func daemonOptions(cfg *config.Config, f *runFlags, log *slog.Logger) (daemon.Options, error) {
	path := cfg.Model.Path
	if path == "" {
		if path = defaultModelPath(); path == "" {
			return daemon.Options{}, errors.New("no model: set model.path (--model) or EDGECLIP_MODEL")
		}
	}
	compact := history.Int8
	if cfg.History.Compact == "f16" {
		compact = history.F16
	}
	gate := camera.GateOptions{Threshold: cfg.Source.GateThreshold, KeepAlive: cfg.Source.KeepAlive}
	if gate.Threshold == 0 {
		// source.gate_threshold 0 means "encode every sampled frame", but the
		// camera package reads 0 as its default (0.01); a negative threshold
		// lets every frame through.
		gate.Threshold = -1
	}
	thumb := -1
	if cfg.Source.Thumbnails {
		thumb = cfg.Source.ThumbnailSize
	}
	vocab, err := query.ParseVocabulary(cfg.Query.Vocabulary)
	if err != nil {
		return daemon.Options{}, err
	}
	switch {
	case !cfg.Query.Contrast:
		vocab = query.Vocabulary{} // none
	case len(vocab) == 0:
		vocab = nil // the built-in classes
	}
	minDur := cfg.Query.MinDuration
	if minDur == 0 {
		minDur = -1 // keep every interval
	}
	return daemon.Options{
		// The daemon resolves auto against the model file's metadata.
		ModelPath: path, Backend: cfg.Model.Backend, Precision: runtime.Precision(cfg.Model.Precision), Threads: cfg.Model.Threads,
		Source: cfg.Source.URI, StallTimeout: cfg.Source.StallTimeout, SampleFPS: cfg.Source.SampleFPS,
		Gate:       gate,
		ThumbWidth: thumb, Lossless: f.lossless,
		History: history.Options{Dir: cfg.HistoryDir(), FsyncInterval: cfg.History.FsyncInterval,
			MaxAge: cfg.History.MaxAge, MaxBytes: int64(cfg.History.MaxBytes), SegmentBytes: int64(cfg.History.SegmentBytes),
			Compact: compact},
		AlertsFile: cfg.AlertsFile(), Negatives: cfg.Query.Negatives, Vocabulary: vocab, Logger: log,
		QueryCache: cfg.Query.CacheSize, ThumbQuality: cfg.Source.ThumbnailQuality,
		QueryIntervals: query.IntervalOptions{Threshold: float32(cfg.Query.Threshold), MaxGap: cfg.Query.MaxGap,
			MinDuration: minDur},
	}, nil
}

// reportLoop prints the one-line status and logs the answers to --query.
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

func addAlerts(ctx context.Context, d *daemon.Daemon, specs []string) error {
	for _, a := range specs {
		name, text, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("--alert %q: want NAME=TEXT", a)
		}
		if _, err := d.Alerts().Set(ctx, alert.Spec{Name: name, Text: text}); err != nil {
			return err
		}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
