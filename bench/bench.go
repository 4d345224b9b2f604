// Package bench measures edgeclip on the machine it runs on: per model ×
// backend × precision, the load time, image-tower latency percentiles and
// throughput per batch size, text-tower latency for typical query lengths
// and the full context, achieved GFLOP/s, peak resident memory, CPU use,
// embedding accuracy against the fp32 reference, history query latency, the
// board's temperatures and throttling before and after, and, given an
// Evaluator, task accuracy on the synthetic world with its change from f32.
//
// Run returns a Report whose JSON layout is versioned (Schema) and
// documented in docs/bench.md; WriteTable and WriteBenchstat render it for
// people and for benchstat. Models come from files or from architecture
// presets filled with random weights, so that the real shapes can be timed
// without downloading weights.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/edgeclip/edgeclip/board"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/tokenizer"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/kernels"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// ModelSpec names one model: a file, or an architecture preset (Arches)
// built with random weights. Exactly one is set.
type ModelSpec struct {
	Path string
	Arch string
}

// Options configure Run. Only Models is required.
type Options struct {
	Models []ModelSpec
	// Backends by registered name; default all registered (runtime.Names).
	Backends []string
	// Precisions to run; default fp32. A backend that lacks one gets a
	// skipped run, not an error.
	Precisions []runtime.Precision
	// Batches are the image batch sizes; default 1.
	Batches []int
	// Threads are the session thread counts to compare; default {0}, all cores.
	Threads []int
	// TextTokens are the query lengths, start and end included; default
	// 5, 12, 20. Lengths above the model's context are dropped, and the
	// full context-length pass is always added.
	TextTokens []int
	// Iters, when positive, times exactly that many calls per measurement;
	// otherwise each measurement runs for Duration (default DefaultDuration,
	// at least 3 calls).
	Iters    int
	Duration time.Duration
	// Warmup calls before each timed loop; default 1, negative means none.
	Warmup int
	// Rounds repeats every run's timings that many times (default 1),
	// cycling through all backends × precisions × threads in each round, and
	// pools the calls: a noisy spell on a shared machine then spreads over
	// every row instead of landing on one, which matters when rows are
	// compared as ratios. Load, accuracy, memory, pipeline and eval come from
	// the first round.
	Rounds int
	// HistoryFrames is the size of the synthetic history the query latency
	// is measured on; 0 skips it.
	HistoryFrames int
	// Reference encodes the fixed inputs at fp32 for the accuracy figures;
	// default the native engine.
	Reference runtime.Backend
	// TempDir holds random-weight model files and the history store;
	// default os.TempDir(). Everything written there is removed.
	TempDir string
	// Board is read before and after; default the real machine ("/").
	Board *board.Board
	// Pipeline measures end-to-end fps per run; nil leaves it out.
	Pipeline Pipeline
	// Evaluator measures task accuracy on the synthetic world for every
	// backend × precision of a model file (not of an arch preset, whose
	// weights are random); nil leaves it out.
	Evaluator Evaluator
	// PeakTime is how long each peak loop runs (kernels.MeasurePeak);
	// default DefaultPeakTime, negative skips the peak.
	PeakTime time.Duration
	// Progress is called after each step; nil reports nothing.
	Progress func(Progress)
}

// Progress is where a Run is.
type Progress struct {
	Done, Total int
	Elapsed     time.Duration
	// Step describes what just finished.
	Step string
}

func (o *Options) setDefaults() error {
	if len(o.Models) == 0 {
		return errors.New("bench: no models: give a model file or an arch preset")
	}
	for _, m := range o.Models {
		if (m.Path == "") == (m.Arch == "") {
			return fmt.Errorf("bench: model spec %+v: want exactly one of Path and Arch", m)
		}
		if m.Arch != "" {
			if _, err := Arch(m.Arch); err != nil {
				return err
			}
		}
	}
	if len(o.Backends) == 0 {
		o.Backends = runtime.Names()
	}
	for _, name := range o.Backends {
		if _, err := runtime.Get(name); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if len(o.Precisions) == 0 {
		o.Precisions = []runtime.Precision{runtime.FP32}
	}
	if len(o.Batches) == 0 {
		o.Batches = []int{1}
	}
	if len(o.Threads) == 0 {
		o.Threads = []int{0}
	}
	if o.TextTokens == nil {
		o.TextTokens = []int{5, 12, 20}
	}
	checks := []struct {
		what string
		vals []int
		lo   int
	}{{"batch size", o.Batches, 1}, {"thread count", o.Threads, 0}, {"text length", o.TextTokens, 2}}
	for _, c := range checks {
		for _, v := range c.vals {
			if v < c.lo || v > 1<<16 {
				return fmt.Errorf("bench: %s %d: want %d..%d", c.what, v, c.lo, 1<<16)
			}
		}
	}
	if o.Iters < 0 || o.Duration < 0 || o.HistoryFrames < 0 || o.Rounds < 0 {
		return errors.New("bench: negative Iters, Duration, HistoryFrames or Rounds")
	}
	if o.Iters == 0 && o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	o.Rounds = max(o.Rounds, 1)
	switch {
	case o.Warmup == 0:
		o.Warmup = 1
	case o.Warmup < 0:
		o.Warmup = 0
	}
	if o.Reference == nil {
		o.Reference = native.Backend{}
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Board == nil {
		b, err := board.New(board.Options{})
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		o.Board = b
	}
	return nil
}

// DefaultDuration is how long each measurement runs without Iters.
const DefaultDuration = 2 * time.Second

// DefaultPeakTime is how long each peak loop runs by default.
const DefaultPeakTime = 200 * time.Millisecond

// runner carries one Run's state.
type runner struct {
	o     Options
	loop  loop
	start time.Time
	done  int
	total int
}

// Run measures every model and returns the report. It stops at the first
// error other than an unsupported precision, or when ctx is done.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	r := &runner{o: o, loop: loop{Warmup: o.Warmup, Iters: o.Iters, Duration: o.Duration}, start: time.Now()}
	for _, spec := range o.Models {
		r.total += r.stepsPerModel(spec)
	}
	rep := &Report{
		Schema:  Schema,
		Started: r.start,
		Host: Host{
			GOOS: goruntime.GOOS, GOARCH: goruntime.GOARCH, GoVersion: goruntime.Version(),
			NumCPU: goruntime.NumCPU(), GOMAXPROCS: goruntime.GOMAXPROCS(0), LoadAvgBefore: loadAvg(),
		},
		Board: Board{Info: o.Board.Info(), Before: o.Board.Sample()},
		Settings: Settings{
			Backends: o.Backends, Batches: o.Batches, Threads: o.Threads, TextTokens: o.TextTokens,
			Iters: o.Iters, Warmup: o.Warmup, Rounds: o.Rounds, HistoryFrames: o.HistoryFrames,
			Reference: o.Reference.Name() + "/" + string(runtime.FP32),
			Eval:      o.Evaluator != nil,
		},
	}
	for _, p := range o.Precisions {
		rep.Settings.Precisions = append(rep.Settings.Precisions, string(p))
	}
	if o.Iters == 0 {
		rep.Settings.DurationMS = ms(o.Duration)
	}
	if o.Pipeline == nil {
		rep.PipelineNote = noPipeline
	}
	if o.PeakTime >= 0 {
		p := kernels.MeasurePeak(cmp.Or(o.PeakTime, DefaultPeakTime))
		if p.F32 > 0 {
			rep.Peak = &Peak{F32GFLOPS: p.F32, F32Op: p.F32Op, I8GOPS: p.I8, I8Op: p.I8Op}
		}
	}
	for _, spec := range o.Models {
		m, err := r.model(ctx, spec)
		if err != nil {
			return nil, err
		}
		rep.Models = append(rep.Models, *m)
	}
	rep.sharePeak()
	rep.Board.After = o.Board.Sample()
	rep.Board.Throttled = len(rep.Board.Before.Throttle) > 0 || len(rep.Board.After.Throttle) > 0
	rep.Host.LoadAvgAfter = loadAvg()
	rep.Finished = time.Now()
	return rep, nil
}

// stepsPerModel counts progress steps: open, reference, each run's load,
// timings, accuracy, pipeline and evaluation, and the history query.
func (r *runner) stepsPerModel(spec ModelSpec) int {
	n := 2
	for _, th := range r.o.Threads {
		n += (r.stepsPerRun(r.evaluates(spec, th)) + (r.o.Rounds-1)*r.stepsPerRetime()) * len(r.o.Backends) * len(r.o.Precisions)
	}
	if r.o.HistoryFrames > 0 {
		n++
	}
	return n
}

// stepsPerRun counts one run's progress steps.
func (r *runner) stepsPerRun(eval bool) int {
	n := 2 + len(r.o.Batches) + len(r.o.TextTokens) + 1
	if r.o.Pipeline != nil {
		n++
	}
	if eval {
		n++
	}
	return n
}

// stepsPerRetime counts the steps of one later round of a run: load and
// timings.
func (r *runner) stepsPerRetime() int {
	return 1 + len(r.o.Batches) + len(r.o.TextTokens)
}

func (r *runner) step(n int, format string, a ...any) {
	if n <= 0 {
		return
	}
	r.done = min(r.done+n, r.total)
	if r.o.Progress != nil {
		r.o.Progress(Progress{Done: r.done, Total: r.total, Elapsed: time.Since(r.start), Step: fmt.Sprintf(format, a...)})
	}
}

// model opens (or builds) one model and measures every run of it.
func (r *runner) model(ctx context.Context, spec ModelSpec) (*Model, error) {
	m := &Model{}
	path := spec.Path
	if spec.Arch != "" {
		cfg, _ := Arch(spec.Arch)
		dir, err := os.MkdirTemp(r.o.TempDir, "edgeclip-bench-model-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, spec.Arch+".safetensors")
		if err := models.Write(path, models.RandomContents(cfg, 1)); err != nil {
			return nil, fmt.Errorf("bench: arch %s: %w", spec.Arch, err)
		}
		m.Name, m.Source = spec.Arch, "arch:"+spec.Arch
	} else {
		m.Name, m.Source = trimExt(filepath.Base(path)), path
	}
	freeMemory()
	t0 := time.Now()
	f, err := models.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	m.OpenMS = ms(time.Since(t0))
	m.Hash, m.Config, m.FileBytes = f.Hash(), f.Config(), f.Size()
	m.Params, m.ImageFLOPs = Params(m.Config), m.Config.ImageFLOPs()
	r.step(1, "%s: opened", m.Name)

	in, err := r.inputs(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", m.Name, err)
	}
	r.step(1, "%s: reference embeddings", m.Name)

	// One run per backend × precision × threads; later rounds time them
	// again in the same order.
	type runSpec struct {
		be      runtime.Backend
		prec    runtime.Precision
		threads int
	}
	var specs []runSpec
	for _, name := range r.o.Backends {
		be, _ := runtime.Get(name)
		for _, prec := range r.o.Precisions {
			for _, th := range r.o.Threads {
				specs = append(specs, runSpec{be, prec, th})
			}
		}
	}
	timed := make([]*timings, len(specs))
	for round := range r.o.Rounds {
		for i, rs := range specs {
			if round == 0 {
				run, t, err := r.run(ctx, m, f, in, rs.be, rs.prec, rs.threads, r.evaluates(spec, rs.threads))
				if err != nil {
					return nil, fmt.Errorf("bench: %s: %s/%s: %w", m.Name, rs.be.Name(), rs.prec, err)
				}
				m.Runs = append(m.Runs, *run)
				timed[i] = t
			} else if err := r.retime(ctx, m, f, in, rs.be, rs.prec, rs.threads, round, timed[i]); err != nil {
				return nil, fmt.Errorf("bench: %s: %s/%s round %d: %w", m.Name, rs.be.Name(), rs.prec, round+1, err)
			}
		}
	}
	for i := range m.Runs {
		timed[i].fill(&m.Runs[i], m.Config)
	}
	if r.o.Evaluator != nil && spec.Arch != "" {
		m.EvalNote = evalNotApplicable
	}
	evalDeltas(m)
	if r.o.HistoryFrames > 0 {
		q, err := r.query(ctx, m.Config.EmbedDim, m.Hash, m.Name)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: history: %w", m.Name, err)
		}
		m.History = q
		r.step(1, "%s: history query", m.Name)
	}
	return m, nil
}

func trimExt(name string) string {
	if ext := filepath.Ext(name); ext != "" && ext != name {
		return name[:len(name)-len(ext)]
	}
	return name
}

// freeMemory returns garbage to the OS so that the next resident-set
// baseline is not inflated by what the previous step left behind.
func freeMemory() {
	goruntime.GC()
	debug.FreeOSMemory()
}

// fixed is a model's fixed inputs and their reference embeddings.
type fixed struct {
	pixels   []float32
	texts    *texts
	tok      *tokenizer.Tokenizer
	refImage []float32
	refText  []float32
}

func (r *runner) inputs(ctx context.Context, f *models.File) (*fixed, error) {
	cfg := f.Config()
	px, err := images(cfg)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.New(f.Tokenizer().Merges, f.Tokenizer().Vocab)
	if err != nil {
		return nil, fmt.Errorf("bench: tokenizer: %w", err)
	}
	in := &fixed{pixels: px, texts: newTexts(tok, cfg), tok: tok}
	s, err := r.o.Reference.Open(ctx, f, runtime.Options{Precision: runtime.FP32})
	if err != nil {
		return nil, fmt.Errorf("reference %s: %w", r.o.Reference.Name(), err)
	}
	defer s.Close()
	in.refImage, in.refText, err = encodeFixed(ctx, s, in, cfg.EmbedDim)
	return in, err
}

// encodeFixed encodes the fixed images and captions.
func encodeFixed(ctx context.Context, s runtime.Session, in *fixed, dim int) (img, txt []float32, err error) {
	img = make([]float32, numImages*dim)
	if err := s.EncodeImages(ctx, in.pixels, numImages, img); err != nil {
		return nil, nil, fmt.Errorf("fixed images: %w", err)
	}
	txt = make([]float32, len(in.texts.captions)*dim)
	if err := s.EncodeTexts(ctx, in.texts.captions, txt); err != nil {
		return nil, nil, fmt.Errorf("fixed texts: %w", err)
	}
	return img, txt, nil
}

// textLengths is TextTokens within the model's context plus the full
// context, ascending and without repeats.
func textLengths(want []int, ctxLen int) []int {
	var out []int
	for _, n := range want {
		if n <= ctxLen {
			out = append(out, n)
		}
	}
	out = append(out, ctxLen)
	slices.Sort(out)
	return slices.Compact(out)
}
