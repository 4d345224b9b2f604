package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/runtime"
)

// run measures one backend × precision × threads session of a model.
// With eval it then runs the Evaluator on the still open session.
func (r *runner) run(ctx context.Context, m *Model, f *models.File, in *fixed, be runtime.Backend, prec runtime.Precision, threads int, eval bool) (*RunReport, error) {
	run := &RunReport{Backend: be.Name(), Precision: string(prec), Threads: threads}
	label := fmt.Sprintf("%s %s/%s", m.Name, be.Name(), prec)
	if threads > 0 {
		label += fmt.Sprintf(" threads=%d", threads)
	}
	perRun := r.stepsPerRun(eval)
	if !be.Capabilities().Supports(prec) {
		run.Skipped = fmt.Sprintf("precision %s: %v", prec, runtime.ErrNotSupported)
		r.step(perRun, "%s: skipped", label)
		return run, nil
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
		return run, nil
	}
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	run.LoadMS = ms(time.Since(w0))
	r.step(1, "%s: loaded", label)

	cfg := m.Config
	dim := cfg.EmbedDim
	for _, b := range r.o.Batches {
		px := batchOf(in.pixels, b)
		out := make([]float32, b*dim)
		s, err := r.loop.run(ctx, func(ctx context.Context) error { return sess.EncodeImages(ctx, px, b, out) })
		if err != nil {
			return nil, fmt.Errorf("image batch %d: %w", b, err)
		}
		run.Image = append(run.Image, s.timing(b, 0, false, int64(b)*cfg.ImageFLOPs(), b))
		r.step(1, "%s: image batch %d", label, b)
	}
	lengths := textLengths(r.o.TextTokens, cfg.ContextLen)
	out := make([]float32, dim)
	for _, n := range lengths {
		ids := [][]int32{in.texts.query(n)}
		s, err := r.loop.run(ctx, func(ctx context.Context) error { return sess.EncodeTexts(ctx, ids, out) })
		if err != nil {
			return nil, fmt.Errorf("text %d tokens: %w", n, err)
		}
		run.Text = append(run.Text, s.timing(1, n, n == cfg.ContextLen, cfg.TextFLOPs(n), 1))
		r.step(1, "%s: text %d tokens", label, n)
	}
	r.step(len(r.o.TextTokens)+1-len(lengths), "%s: text", label)

	img, txt, err := encodeFixed(ctx, sess, in, dim)
	if err != nil {
		return nil, err
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
			return nil, fmt.Errorf("pipeline: %w", err)
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
			return nil, err
		}
		r.step(1, "%s: eval", label)
	}
	return run, nil
}
