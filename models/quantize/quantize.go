// Package quantize rewrites an fp32 model file into a smaller one — int8
// weights with per-output-channel scales (w8, w8a8) or half precision (f16)
// — and measures what that costs before anyone ships it.
//
// Three measurements, all on calibration inputs and with the native engine
// as the reference:
//
//   - sensitivity: each linear layer's output in the mode's arithmetic
//     against fp32, with the fp32 model's own activations as input; a layer
//     under Budget.MinCosLayer stays F32 in the output file;
//   - embeddings: per-tower cosine between the quantized and the fp32
//     model's embeddings of the calibration images and texts;
//   - metrics: optionally, every evaluation metric of both models
//     (Options.Metrics, normally package eval's).
//
// The Report is stored in the output's edgeclip.quant metadata and gates it:
// a cosine under budget or a metric drop over budget fails the report.
package quantize

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

// Mode is the output's weight format.
type Mode string

const (
	// W8: int8 weights, run with fp32 activations (precision w8).
	W8 Mode = "w8"
	// W8A8: int8 weights, meant to run with dynamic int8 activations
	// (precision w8a8); the report records that precision.
	W8A8 Mode = "w8a8"
	// F16: half-precision linear weights, run as fp32.
	F16 Mode = "f16"
)

// ParseMode accepts "w8", "w8a8" and "f16".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(s)); m {
	case W8, W8A8, F16:
		return m, nil
	}
	return "", fmt.Errorf("quantize: unknown mode %q (want w8, w8a8 or f16)", s)
}

// Precision is the runtime precision a file of this mode is meant to run at.
func (m Mode) Precision() runtime.Precision {
	switch m {
	case W8:
		return runtime.W8
	case W8A8:
		return runtime.W8A8
	}
	return runtime.FP32
}

// Budget is what quantization may cost. Zero fields take the defaults.
type Budget struct {
	// MinCosImage and MinCosText bound the mean embedding cosine against
	// fp32 (defaults 0.99 and 0.98).
	MinCosImage float64 `json:"min_cos_image"`
	MinCosText  float64 `json:"min_cos_text"`
	// MaxDrop bounds the drop of any evaluation metric, as a fraction
	// (default 0.01: one point).
	MaxDrop float64 `json:"max_drop"`
	// MinCosLayer is the per-layer output cosine under which a layer stays
	// F32 (default 0.999).
	MinCosLayer float64 `json:"min_cos_layer"`
}

// DefaultBudget is the acceptance bar for int8 models.
var DefaultBudget = Budget{MinCosImage: 0.99, MinCosText: 0.98, MaxDrop: 0.01, MinCosLayer: 0.999}

func (b *Budget) defaults() error {
	d := DefaultBudget
	for _, f := range []struct {
		v   *float64
		def float64
		n   string
	}{{&b.MinCosImage, d.MinCosImage, "min_cos_image"}, {&b.MinCosText, d.MinCosText, "min_cos_text"},
		{&b.MaxDrop, d.MaxDrop, "max_drop"}, {&b.MinCosLayer, d.MinCosLayer, "min_cos_layer"}} {
		if *f.v == 0 {
			*f.v = f.def
		}
		if !(*f.v >= -1 && *f.v <= 1) {
			return fmt.Errorf("quantize: budget %s = %v: want -1..1", f.n, *f.v)
		}
	}
	return nil
}

// MetricsFunc evaluates a model at a precision and returns named metrics in
// [0, 1], higher being better (eval.Result.Metrics).
type MetricsFunc func(ctx context.Context, w runtime.Weights, prec runtime.Precision) (map[string]float64, error)

// Options configure Quantize. Mode and Calib are required.
type Options struct {
	Mode   Mode
	Budget Budget
	Calib  *Calibration
	// SensitivityImages and SensitivityTexts are how many calibration
	// inputs the per-layer analysis uses (defaults 16 and 64): it runs the
	// slow reference evaluator.
	SensitivityImages, SensitivityTexts int
	// Metrics, when set, evaluates the source and the quantized model.
	Metrics MetricsFunc
	// Name of the output model (default: the source's, "-f32" replaced by
	// "-int8" or "-f16").
	Name string
	// Threads for the engine (0: all cores).
	Threads int
	// Progress, when set, is called as the analysis advances.
	Progress func(Progress)
}

// Progress reports how far Quantize is (metrics evaluation reports its own).
type Progress struct {
	Done, Total int
	Step        string
	Elapsed     time.Duration
}

var (
	// ErrQuantized: the source already holds int8 weights; quantize its
	// fp32 original instead.
	ErrQuantized = errors.New("not a float tensor (quantize the fp32 model)")
	// ErrBudget marks a report whose measurements exceed the budget.
	ErrBudget = errors.New("quantization exceeds its accuracy budget")
)

// Quantize converts src in o.Mode and measures the result. The returned
// contents do not carry the report yet (see Report.Attach). It fails only on
// bad input; a blown budget is the report's Pass = false, and Report.Err.
func Quantize(ctx context.Context, src *models.Contents, o Options) (*models.Contents, *Report, error) {
	start := time.Now()
	if _, err := ParseMode(string(o.Mode)); err != nil {
		return nil, nil, err
	}
	if err := o.Budget.defaults(); err != nil {
		return nil, nil, err
	}
	if o.Calib == nil || o.Calib.Images < 1 || len(o.Calib.Texts) < 1 {
		return nil, nil, errors.New("quantize: calibration needs at least one image and one text")
	}
	cfg := src.Config
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("quantize: %s: %w", src.Name, err)
	}
	if got, want := len(o.Calib.Pixels), o.Calib.Images*3*cfg.ImageSize*cfg.ImageSize; got != want {
		return nil, nil, fmt.Errorf("quantize: calibration: %d pixel values for %d images of %d px", got, o.Calib.Images, cfg.ImageSize)
	}
	if o.SensitivityImages <= 0 {
		o.SensitivityImages = 16
	}
	if o.SensitivityTexts <= 0 {
		o.SensitivityTexts = 64
	}
	base, err := floatContents(src)
	if err != nil {
		return nil, nil, err
	}
	bw := newWeights(base)

	nLayers := 0
	for _, t := range base.Tensors {
		if arch.Quantizable(t.Name) {
			nLayers++
		}
	}
	p := &progress{o: o.Progress, start: start, total: nLayers + 4}
	layers, err := analyse(bw, o.Mode, o.Calib, o.SensitivityImages, o.SensitivityTexts, func(name string) { p.step("sensitivity " + name) })
	if err != nil {
		return nil, nil, err
	}
	r := &Report{Mode: o.Mode, Precision: o.Mode.Precision(), Calib: o.Calib.Source,
		CalibImages: o.Calib.Images, CalibTexts: len(o.Calib.Texts), Budget: o.Budget,
		Source: Source{Name: src.Name, Version: src.Version, Hash: bw.hash}}
	out := &models.Contents{Name: o.Name, Version: src.Version, Config: cfg, Tokenizer: src.Tokenizer, Extra: map[string]string{}}
	if out.Name == "" {
		out.Name = OutputName(src.Name, o.Mode)
	}
	for k, v := range src.Extra {
		if k != models.KeyQuant {
			out.Extra[k] = v
		}
	}
	keepF32 := map[string]bool{}
	for i := range layers {
		l := &layers[i]
		switch {
		case l.CosMean < o.Budget.MinCosLayer:
			l.DType = runtime.F32.String()
			keepF32[l.Name] = true
			r.KeptF32 = append(r.KeptF32, l.Name)
		case o.Mode == F16:
			l.DType = runtime.F16.String()
		default:
			l.DType = runtime.I8.String()
		}
	}
	r.Layers = layers
	for _, t := range base.Tensors {
		if !arch.Quantizable(t.Name) || keepF32[t.Name] {
			out.Tensors = append(out.Tensors, t)
			continue
		}
		nt, err := convert(t, o.Mode)
		if err != nil {
			return nil, nil, err
		}
		out.Tensors = append(out.Tensors, nt)
	}
	qw := newWeights(out)

	if err := embeddingCosines(ctx, bw, qw, o, r, p); err != nil {
		return nil, nil, err
	}
	if o.Metrics != nil {
		b, err := o.Metrics(ctx, bw, runtime.FP32)
		if err != nil {
			return nil, nil, fmt.Errorf("quantize: evaluate the fp32 model: %w", err)
		}
		q, err := o.Metrics(ctx, qw, r.Precision)
		if err != nil {
			return nil, nil, fmt.Errorf("quantize: evaluate the %s model: %w", o.Mode, err)
		}
		r.compare(b, q)
	}
	r.gate()
	return out, r, nil
}

// OutputName derives the quantized model's name: "world-student-f32" in
// w8a8 becomes "world-student-int8".
func OutputName(src string, m Mode) string {
	suffix := "-int8"
	if m == F16 {
		suffix = "-f16"
	}
	return strings.TrimSuffix(src, "-f32") + suffix
}

// floatContents returns src with every tensor as F32, refusing I8 ones.
func floatContents(src *models.Contents) (*models.Contents, error) {
	c := *src
	c.Tensors = make([]runtime.Tensor, 0, len(src.Tensors))
	for _, t := range src.Tensors {
		if t.DType == runtime.F32 {
			c.Tensors = append(c.Tensors, t)
			continue
		}
		if t.DType == runtime.I8 {
			return nil, fmt.Errorf("quantize: %s: tensor %q: %w", src.Name, t.Name, ErrQuantized)
		}
		f, err := floats(t)
		if err != nil {
			return nil, fmt.Errorf("quantize: %s: %w", src.Name, err)
		}
		c.Tensors = append(c.Tensors, runtime.Tensor{Name: t.Name, DType: runtime.F32, Shape: t.Shape, Data: f32Bytes(f)})
	}
	return &c, nil
}

// convert stores a linear weight in the mode's format.
func convert(t runtime.Tensor, m Mode) (runtime.Tensor, error) {
	w, err := floats(t)
	if err != nil {
		return t, fmt.Errorf("quantize: %w", err)
	}
	if m == F16 {
		return runtime.Tensor{Name: t.Name, DType: runtime.F16, Shape: t.Shape, Data: f16Bytes(w)}, nil
	}
	rows := t.Shape[0]
	cols := len(w) / max(rows, 1)
	q, s := make([]int8, len(w)), make([]float32, rows)
	if err := quant.QuantizeRows(w, rows, cols, q, s); err != nil {
		return t, fmt.Errorf("quantize: tensor %q: %w", t.Name, err)
	}
	return runtime.Tensor{Name: t.Name, DType: runtime.I8, Shape: t.Shape, Data: i8Bytes(q), Scales: s}, nil
}

// embeddingCosines encodes the calibration inputs with both models.
func embeddingCosines(ctx context.Context, base, q *weights, o Options, r *Report, p *progress) error {
	b := native.Backend{}
	bs, err := b.Open(ctx, base, runtime.Options{Precision: runtime.FP32, Threads: o.Threads})
	if err != nil {
		return fmt.Errorf("quantize: open the fp32 model: %w", err)
	}
	defer bs.Close()
	qs, err := b.Open(ctx, q, runtime.Options{Precision: r.Precision, Threads: o.Threads})
	if err != nil {
		return fmt.Errorf("quantize: open the %s model: %w", o.Mode, err)
	}
	defer qs.Close()
	d := base.cfg.EmbedDim
	n := o.Calib.Images
	eb, eq := make([]float32, n*d), make([]float32, n*d)
	for i, s := range []runtime.Session{bs, qs} {
		if err := s.EncodeImages(ctx, o.Calib.Pixels, n, [][]float32{eb, eq}[i]); err != nil {
			return fmt.Errorf("quantize: encode calibration images: %w", err)
		}
		p.step("embeddings: images")
	}
	r.ImageCosine = cosines(eb, eq, d)
	nt := len(o.Calib.Texts)
	tb, tq := make([]float32, nt*d), make([]float32, nt*d)
	for i, s := range []runtime.Session{bs, qs} {
		if err := s.EncodeTexts(ctx, o.Calib.Texts, [][]float32{tb, tq}[i]); err != nil {
			return fmt.Errorf("quantize: encode calibration texts: %w", err)
		}
		p.step("embeddings: texts")
	}
	r.TextCosine = cosines(tb, tq, d)
	return nil
}

func cosines(a, b []float32, d int) Cosine {
	c := Cosine{N: len(a) / d, Min: 1}
	for i := range c.N {
		v := cosine(a[i*d:(i+1)*d], b[i*d:(i+1)*d])
		c.Mean += v / float64(c.N)
		c.Min = min(c.Min, v)
	}
	return c
}

type progress struct {
	o           func(Progress)
	start       time.Time
	done, total int
}

func (p *progress) step(s string) {
	p.done++
	if p.o != nil {
		p.o(Progress{Done: p.done, Total: p.total, Step: s, Elapsed: time.Since(p.start)})
	}
}
