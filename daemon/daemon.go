// Package daemon composes edgeclip's running parts — model, capture,
// pipeline, history, queries and alerts — from plain options. It holds no
// flags and no MQTT: cmd/edgeclip builds the options and plugs the MQTT API
// in through the methods here.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/edgeclip/edgeclip/alert"
	"github.com/edgeclip/edgeclip/camera"
	"github.com/edgeclip/edgeclip/history"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/preprocess"
	"github.com/edgeclip/edgeclip/models/quantize"
	"github.com/edgeclip/edgeclip/models/tokenizer"
	"github.com/edgeclip/edgeclip/pipeline"
	"github.com/edgeclip/edgeclip/query"
	"github.com/edgeclip/edgeclip/runtime"
)

// Options configure a Daemon. Zero values take the documented defaults.
type Options struct {
	ModelPath string
	Backend   string // default "native"
	// Precision is f32, w8, w8a8, or empty (or quantize.Auto) for the
	// precision the model file records (quantize.ResolvePrecision). A
	// backend that cannot run an automatic precision runs f32.
	Precision runtime.Precision
	Threads   int

	Source       string // camera URI, default synth://?seed=1
	StallTimeout time.Duration
	SampleFPS    float64
	Gate         camera.GateOptions
	ThumbWidth   int // default 160; -1 disables thumbnails
	// Lossless makes capture wait for the encoder instead of dropping the
	// oldest frame: for files and synthetic video read faster than real time.
	Lossless bool

	// DataDir holds the history and the alert definitions unless
	// History.Dir and AlertsFile name other places.
	DataDir    string
	History    history.Options
	AlertsFile string

	Negatives []string // calibration prompts (query.DefaultNegatives when nil)
	// Vocabulary builds contrast prompts (query.DefaultVocabulary when nil;
	// empty turns them off).
	Vocabulary query.Vocabulary
	// Query holds defaults for query answers (cache size, interval threshold and gaps).
	QueryCache     int
	QueryIntervals query.IntervalOptions
	ThumbQuality   int
	// OnEvent receives alert events (the MQTT publisher, a log).
	OnEvent func(alert.Event)
	// Beat is called by each loop as it makes progress (systemd watchdog).
	Beat   func(loop string)
	Logger *slog.Logger
}

// Daemon is a running edgeclip.
type Daemon struct {
	o      Options
	log    *slog.Logger
	model  *models.File
	sess   runtime.Session
	tok    *tokenizer.Tokenizer
	store  *history.Store
	engine *query.Engine
	alerts *alert.Manager
	queue  *camera.Queue
	cap    *camera.Capture
	pipe   *pipeline.Pipeline

	closeOnce sync.Once
	final     *history.Stats // store stats when Run closed it
}

// New opens the model, the store and the alert definitions and prepares
// capture; nothing runs until Run.
func New(ctx context.Context, o Options) (_ *Daemon, err error) {
	if o.Backend == "" {
		o.Backend = "native"
	}
	if o.Source == "" {
		o.Source = "synth://?seed=1"
	}
	if o.ThumbWidth == 0 {
		o.ThumbWidth = 160
	}
	if o.History.Dir == "" && o.DataDir != "" {
		o.History.Dir = filepath.Join(o.DataDir, "history")
	}
	if o.AlertsFile == "" && o.DataDir != "" {
		o.AlertsFile = filepath.Join(o.DataDir, "alerts.json")
	}
	if o.History.Dir == "" || o.AlertsFile == "" {
		return nil, errors.New("daemon: a data directory (or a history dir and an alerts file) is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	d := &Daemon{o: o, log: o.Logger}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	for _, dir := range []string{o.History.Dir, filepath.Dir(o.AlertsFile)} {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("daemon: %w", err)
		}
	}
	if d.model, err = models.Open(o.ModelPath); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	cfg := d.model.Config()
	if d.tok, err = d.model.Tokenizer().New(); err != nil {
		return nil, fmt.Errorf("daemon: %s: tokenizer: %w", o.ModelPath, err)
	}
	if err := d.openSession(ctx); err != nil {
		return nil, err
	}
	if d.store, err = history.Open(ctx, o.History); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	if rep := d.store.Recovery(); rep != (history.RecoveryReport{}) {
		d.log.Info("history recovered", "report", fmt.Sprintf("%+v", rep))
	}
	enc := &textEncoder{tok: d.tok, sess: d.sess, ctxLen: cfg.ContextLen, dim: cfg.EmbedDim}
	if d.engine, err = query.NewEngine(storeIndex{d.store}, enc, query.Options{
		ModelHash: d.model.Hash(), LogitScale: cfg.LogitScale, Negatives: o.Negatives, Vocabulary: o.Vocabulary,
		CacheSize: o.QueryCache, Intervals: o.QueryIntervals}); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	if d.alerts, err = alert.Open(ctx, d.engine, alert.Options{Path: o.AlertsFile,
		LogitScale: cfg.LogitScale, Negatives: o.Negatives, Vocabulary: o.Vocabulary}); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	pre, err := preprocess.New(preprocess.Params{Size: cfg.ImageSize, Mean: cfg.Mean, Std: cfg.Std})
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	d.queue = camera.NewQueue(2)
	d.queue.SetLossless(o.Lossless)
	co := camera.CaptureOptions{URI: o.Source, StallTimeout: o.StallTimeout, Logger: o.Logger}
	if o.Beat != nil {
		co.Beat = func() { o.Beat("capture") }
	}
	d.cap = camera.NewCapture(co, d.queue)
	thumb := o.ThumbWidth
	if thumb < 0 {
		thumb = 0
	}
	beat := func() {}
	if o.Beat != nil {
		beat = func() { o.Beat("pipeline") }
	}
	onEvent := func(ev alert.Event) {
		d.log.Info("alert", "name", ev.Name, "kind", ev.Kind, "score", ev.Score, "seq", ev.BestSeq)
		if o.OnEvent != nil {
			o.OnEvent(ev)
		}
	}
	if d.pipe, err = pipeline.New(d.queue, d.sess, d.store, d.alerts, pipeline.Options{
		ModelHash: d.model.Hash(), ModelName: d.model.Name(), EmbedDim: cfg.EmbedDim, Pre: pre,
		SampleFPS: o.SampleFPS, Gate: o.Gate, ThumbWidth: thumb, ThumbQuality: o.ThumbQuality, OnEvent: onEvent, Beat: beat, Logger: o.Logger,
	}); err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return d, nil
}

// openSession starts the encoder session and records in d.o the backend
// and precision it runs at. An automatic precision the backend cannot run
// becomes f32; a request the backend cannot run at all goes to native.
func (d *Daemon) openSession(ctx context.Context) error {
	o := &d.o
	prec, auto, err := quantize.ResolvePrecision(string(o.Precision), d.model.Metadata())
	if err != nil {
		return fmt.Errorf("daemon: model precision: %w", err)
	}
	from := "requested"
	if auto {
		from = "default"
		if _, ok := quantize.IntendedPrecision(d.model.Metadata()); ok {
			from = "model file"
		}
	}
	b, err := runtime.Get(o.Backend)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	d.sess, err = b.Open(ctx, d.model, runtime.Options{Precision: prec, Threads: o.Threads})
	if err != nil && auto && prec != runtime.FP32 && errors.Is(err, runtime.ErrNotSupported) {
		d.log.Warn("backend cannot run the model file's precision; running f32", "backend", o.Backend,
			"model_precision", prec, "err", err)
		prec, from = runtime.FP32, "fallback"
		d.sess, err = b.Open(ctx, d.model, runtime.Options{Precision: prec, Threads: o.Threads})
	}
	if err != nil {
		if !errors.Is(err, runtime.ErrNotSupported) || o.Backend == "native" {
			return fmt.Errorf("daemon: %w", err)
		}
		d.log.Warn("backend cannot run this request; falling back to native", "backend", o.Backend, "err", err)
		nb, _ := runtime.Get("native")
		if d.sess, err = nb.Open(ctx, d.model, runtime.Options{Precision: prec, Threads: o.Threads}); err != nil {
			return fmt.Errorf("daemon: %w", err)
		}
		o.Backend = "native"
	}
	o.Precision = prec
	d.log.Info("model loaded", "model", d.model.Name(), "path", o.ModelPath, "backend", o.Backend,
		"precision", prec, "precision_from", from)
	return nil
}

// Run captures and encodes until ctx ends (or a finite source ends), then
// flushes the store. It returns nil on a clean stop.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var capErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		capErr = d.cap.Run(ctx)
	}()
	err := d.pipe.Run(ctx)
	cancel()
	wg.Wait()
	if capErr != nil && !errors.Is(capErr, io.EOF) {
		err = errors.Join(err, capErr)
	}
	st := d.store.Stats()
	d.final = &st
	return errors.Join(err, d.store.Close())
}

// Close releases everything New opened. Safe to call twice.
func (d *Daemon) Close() error {
	var errs []error
	d.closeOnce.Do(func() {
		if d.store != nil {
			if err := d.store.Close(); err != nil && !errors.Is(err, history.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if d.sess != nil {
			errs = append(errs, d.sess.Close())
		}
		if d.model != nil {
			errs = append(errs, d.model.Close())
		}
	})
	return errors.Join(errs...)
}

// Status is a snapshot for status lines, MQTT stats and metrics.
type Status struct {
	Model     string         `json:"model"`
	ModelHash string         `json:"model_hash"`
	Backend   string         `json:"backend"`
	Precision string         `json:"precision"`
	Source    camera.Stats   `json:"source"`
	Pipeline  pipeline.Stats `json:"pipeline"`
	Dropped   uint64         `json:"dropped"`
	Store     history.Stats  `json:"-"`
	Active    []string       `json:"active_alerts"`
}

// Status reports what the daemon is doing now.
func (d *Daemon) Status() Status {
	return Status{
		Model: d.model.Name(), ModelHash: d.model.Hash(), Backend: d.o.Backend, Precision: string(d.o.Precision),
		Source: d.cap.Stats(), Pipeline: d.pipe.Stats(), Dropped: d.queue.Dropped(),
		Store: d.storeStats(), Active: d.alerts.Active(),
	}
}

func (d *Daemon) storeStats() history.Stats {
	if d.final != nil {
		return *d.final
	}
	return d.store.Stats()
}

// Line is the one-line live status.
func (s Status) Line() string {
	act := "-"
	if len(s.Active) > 0 {
		act = strings.Join(s.Active, ",")
	}
	return fmt.Sprintf("source %s | %.1f fps | gated %.0f%% | drops %d | encode p50 %v p99 %v | %d frames stored | alerts on: %s",
		s.Source.State, s.Pipeline.FPS, s.Pipeline.GatedPct, s.Dropped,
		s.Pipeline.EncodeP50.Round(time.Millisecond/10), s.Pipeline.EncodeP99.Round(time.Millisecond/10),
		s.Store.Records, act)
}

// Engine answers queries over the history.
func (d *Daemon) Engine() *query.Engine { return d.engine }

// Alerts holds the standing alerts.
func (d *Daemon) Alerts() *alert.Manager { return d.alerts }

// Store is the history.
func (d *Daemon) Store() *history.Store { return d.store }

// Model is the loaded model file.
func (d *Daemon) Model() *models.File { return d.model }
