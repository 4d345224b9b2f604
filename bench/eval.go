package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/tokenizer"
	"github.com/edgeclip/edgeclip/runtime"
)

// Evaluator measures a run's session on the synthetic world, so that what a
// precision or backend costs in task accuracy sits next to what it saves in
// time. The command wires package eval; bench does not import it, so that
// its tests stay quick and its JSON fields stay its own schema.
type Evaluator interface {
	// Evaluate runs the evaluation on t.Session, which stays open for the
	// call. It must stop when ctx is done.
	Evaluate(ctx context.Context, t EvalTarget) (EvalResult, error)
}

// EvalTarget is the run an Evaluator measures.
type EvalTarget struct {
	Model     string
	ModelHash string
	Precision runtime.Precision
	Config    arch.Config
	Tokenizer *tokenizer.Tokenizer
	Session   runtime.Session
}

// EvalResult is an evaluation's headline figures and the sets they came from.
type EvalResult struct {
	// N is the number of images in each set, Seed the sets' first seed.
	N       int
	Seed    uint64
	Metrics EvalMetrics
}

// EvalMetrics are the headline world metrics, fractions in [0, 1]: zero-shot
// accuracy on seen compositions and recall@1 on seen and held-out pairs.
type EvalMetrics struct {
	ZeroShotShape float64 `json:"zero_shot_shape"`
	ZeroShotColor float64 `json:"zero_shot_color"`
	ZeroShotCount float64 `json:"zero_shot_count"`
	T2IR1Seen     float64 `json:"t2i_r1_seen"`
	T2IR1HeldOut  float64 `json:"t2i_r1_held_out"`
	I2TR1Seen     float64 `json:"i2t_r1_seen"`
	I2TR1HeldOut  float64 `json:"i2t_r1_held_out"`
}

// sub returns m − o, field by field.
func (m EvalMetrics) sub(o EvalMetrics) EvalMetrics {
	return EvalMetrics{
		ZeroShotShape: change(m.ZeroShotShape, o.ZeroShotShape),
		ZeroShotColor: change(m.ZeroShotColor, o.ZeroShotColor),
		ZeroShotCount: change(m.ZeroShotCount, o.ZeroShotCount),
		T2IR1Seen:     change(m.T2IR1Seen, o.T2IR1Seen),
		T2IR1HeldOut:  change(m.T2IR1HeldOut, o.T2IR1HeldOut),
		I2TR1Seen:     change(m.I2TR1Seen, o.I2TR1Seen),
		I2TR1HeldOut:  change(m.I2TR1HeldOut, o.I2TR1HeldOut),
	}
}

// change is a − b rounded to 1e-9, so that 0.965 − 0.966 reads −0.001 in
// the JSON rather than −0.0010000000000000009; no change is +0.
func change(a, b float64) float64 {
	d := math.Round((a-b)*1e9) / 1e9
	if d == 0 {
		return 0
	}
	return d
}

// Eval is RunReport.Eval: the world evaluation of one run.
type Eval struct {
	N     int     `json:"n"`
	Seed  uint64  `json:"seed"`
	WallS float64 `json:"wall_s"`
	EvalMetrics
	// Delta is this run's metrics minus those of the model's f32 run (the
	// same backend's when it has one); absent on that run itself and when
	// no f32 run was evaluated.
	Delta *EvalDelta `json:"delta,omitempty"`
}

// EvalDelta is a run's change against the f32 run named by Reference
// ("native/f32").
type EvalDelta struct {
	Reference string `json:"reference"`
	EvalMetrics
}

// evalNotApplicable is Model.EvalNote for an architecture preset.
const evalNotApplicable = "not applicable: random weights (arch preset)"

// evaluates reports whether run (backend, precision, threads) of a model
// from spec is evaluated: every backend × precision of a model file, once,
// at the first thread count (the thread count does not change the figures,
// only their time).
func (r *runner) evaluates(spec ModelSpec, threads int) bool {
	return r.o.Evaluator != nil && spec.Arch == "" && threads == r.o.Threads[0]
}

// evaluate runs the Evaluator on a run's open session.
func (r *runner) evaluate(ctx context.Context, t EvalTarget) (*Eval, error) {
	t0 := time.Now()
	res, err := r.o.Evaluator.Evaluate(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return &Eval{N: res.N, Seed: res.Seed, WallS: time.Since(t0).Seconds(), EvalMetrics: res.Metrics}, nil
}

// evalDeltas fills Eval.Delta of m's evaluated runs against an f32 run: the
// same backend's, else the first evaluated f32 run of the model.
func evalDeltas(m *Model) {
	var first *RunReport
	byBackend := map[string]*RunReport{}
	for i := range m.Runs {
		run := &m.Runs[i]
		if run.Eval == nil || run.Precision != string(runtime.FP32) {
			continue
		}
		if first == nil {
			first = run
		}
		if byBackend[run.Backend] == nil {
			byBackend[run.Backend] = run
		}
	}
	for i := range m.Runs {
		run := &m.Runs[i]
		ref := byBackend[run.Backend]
		if ref == nil {
			ref = first
		}
		if run.Eval == nil || ref == nil || ref == run {
			continue
		}
		run.Eval.Delta = &EvalDelta{
			Reference:   ref.Backend + "/" + ref.Precision,
			EvalMetrics: run.Eval.EvalMetrics.sub(ref.Eval.EvalMetrics),
		}
	}
}
