package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// run measures one backend × precision × threads session of a model.
// With eval it then runs the Evaluator on the still open session.
// Its timings are returned as samples, filled into the report once every
// round has added to them (timings.fill).
func (r *runner) run(ctx context.Context, m *Model, f *models.File, in *fixed, be runtime.Backend, prec runtime.Precision, threads int, eval bool) (*RunReport, *timings, error) {
	t := &timings{}
	run := &RunReport{Backend: be.Name(), Precision: string(prec), Threads: threads}
	label := runLabel(m.Name, be, prec, threads, 0)
	perRun := r.stepsPerRun(eval)
	if !be.Capabilities().Supports(prec) {
		run.Skipped = fmt.Sprintf("precision %s: %v", prec, runtime.ErrNotSupported)
		r.step(perRun, "%s: skipped", label)
		return run, t, nil
	}

	freeMemory()
	rss0, _, memErr := memStatus()
	scope := "process"
	if resetPeak() {
		scope = "run"
	}
	u0, s0 := cpuTimes()
	w0 := time.Now()

	sess, err := be.Open(ctx, f, runtime.Options{Precision: prec, Threads: threads})
	if errors.Is(err, runtime.ErrNotSupported) {
		run.Skipped = err.Error()
		r.step(perRun, "%s: skipped", label)
		return run, t, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer sess.Close()
	run.LoadMS = ms(time.Since(w0))
	r.step(1, "%s: loaded", label)
	if err := r.time(ctx, sess, m, in, label, t); err != nil {
		return nil, nil, err
	}

	cfg := m.Config
	dim := cfg.EmbedDim

	img, txt, err := encodeFixed(ctx, sess, in, dim)
	if err != nil {
		return nil, nil, err
	}
	acc := &Accuracy{Reference: r.o.Reference.Name() + "/" + string(runtime.FP32), Images: numImages, Texts: len(in.texts.captions)}
	acc.ImageCosMean, acc.ImageCosMin = cosines(img, in.refImage, dim)
	acc.TextCosMean, acc.TextCosMin = cosines(txt, in.refText, dim)
	run.Accuracy = acc
	r.step(1, "%s: accuracy", label)

	if r.o.Pipeline != nil {
		d := r.o.Duration
		if d == 0 {
			d = DefaultDuration
		}
		pr, err := r.o.Pipeline.Measure(ctx, PipelineTarget{Model: m.Name, ModelHash: m.Hash, Config: cfg, Session: sess}, d)
		if err != nil {
			return nil, nil, fmt.Errorf("pipeline: %w", err)
		}
		run.Pipeline = &pr
		r.step(1, "%s: pipeline", label)
	}

	wall := time.Since(w0)
	u1, s1 := cpuTimes()
	run.CPU = &CPU{UserS: (u1 - u0).Seconds(), SysS: (s1 - s0).Seconds(), WallS: wall.Seconds()}
	run.CPU.Cores = (run.CPU.UserS + run.CPU.SysS) / run.CPU.WallS
	if _, hwm, err := memStatus(); err == nil && memErr == nil {
		run.Memory = &Memory{BaselineBytes: rss0, PeakBytes: hwm, Scope: scope, GrowthBytes: hwm - rss0}
	}

	// After the CPU and memory figures, which it would otherwise inflate.
	if eval {
		run.Eval, err = r.evaluate(ctx, EvalTarget{Model: m.Name, ModelHash: m.Hash, Precision: prec,
			Config: cfg, Tokenizer: in.tok, Session: sess})
		if err != nil {
			return nil, nil, err
		}
		r.step(1, "%s: eval", label)
	}
	return run, t, nil
}

// runLabel names a run (and a later round of it) in the progress steps.
func runLabel(model string, be runtime.Backend, prec runtime.Precision, threads, round int) string {
	label := fmt.Sprintf("%s %s/%s", model, be.Name(), prec)
	if round > 0 {
		label += fmt.Sprintf(" round %d", round+1)
	}
	if threads > 0 {
		label += fmt.Sprintf(" threads=%d", threads)
	}
	return label
}

// timings are one run's timed loops, pooled over rounds: image batches in
// Options.Batches order, then text lengths.
type timings struct {
	batches []int
	image   []sample
	text    []sample
	lengths []int
}

// time runs the timed loops of an open session and adds them to t.
func (r *runner) time(ctx context.Context, sess runtime.Session, m *Model, in *fixed, label string, t *timings) error {
	dim := m.Config.EmbedDim
	t.batches = r.o.Batches
	for i, b := range r.o.Batches {
		px := batchOf(in.pixels, b)
		out := make([]float32, b*dim)
		s, err := r.loop.run(ctx, func(ctx context.Context) error { return sess.EncodeImages(ctx, px, b, out) })
		if err != nil {
			return fmt.Errorf("image batch %d: %w", b, err)
		}
		pool(&t.image, i, s)
		r.step(1, "%s: image batch %d", label, b)
	}
	t.lengths = textLengths(r.o.TextTokens, m.Config.ContextLen)
	out := make([]float32, dim)
	for i, n := range t.lengths {
		ids := [][]int32{in.texts.query(n)}
		s, err := r.loop.run(ctx, func(ctx context.Context) error { return sess.EncodeTexts(ctx, ids, out) })
		if err != nil {
			return fmt.Errorf("text %d tokens: %w", n, err)
		}
		pool(&t.text, i, s)
		r.step(1, "%s: text %d tokens", label, n)
	}
	r.step(len(r.o.TextTokens)+1-len(t.lengths), "%s: text", label)
	return nil
}

// pool adds s to the i-th sample of *dst, which the first round appends.
func pool(dst *[]sample, i int, s sample) {
	if i < len(*dst) {
		(*dst)[i].add(s)
		return
	}
	*dst = append(*dst, s)
}

// retime is a later round of a run: open the session again, time it, close.
func (r *runner) retime(ctx context.Context, m *Model, f *models.File, in *fixed, be runtime.Backend, prec runtime.Precision, threads, round int, t *timings) error {
	label := runLabel(m.Name, be, prec, threads, round)
	if len(t.image) == 0 && len(t.text) == 0 {
		r.step(r.stepsPerRetime(), "%s: skipped", label)
		return nil
	}
	freeMemory()
	sess, err := be.Open(ctx, f, runtime.Options{Precision: prec, Threads: threads})
	if err != nil {
		return err
	}
	defer sess.Close()
	r.step(1, "%s: loaded", label)
	return r.time(ctx, sess, m, in, label, t)
}

// fill sets the run's image and text timings from the pooled samples.
func (t *timings) fill(run *RunReport, cfg arch.Config) {
	for i, s := range t.image {
		b := t.batches[i]
		run.Image = append(run.Image, s.timing(b, 0, false, int64(b)*cfg.ImageFLOPs(), b))
	}
	for i, s := range t.text {
		n := t.lengths[i]
		run.Text = append(run.Text, s.timing(1, n, n == cfg.ContextLen, cfg.TextFLOPs(n), 1))
	}
}
