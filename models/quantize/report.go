package quantize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/runtime"
)

// Report is the quantizer's accuracy report, stored as JSON under the
// output file's edgeclip.quant key (docs/eval.md describes it).
type Report struct {
	Mode Mode `json:"mode"`
	// Precision is the runtime precision the file is meant to run at; a
	// daemon may read it with IntendedPrecision.
	Precision   runtime.Precision `json:"precision"`
	Source      Source            `json:"source"`
	Calib       string            `json:"calib"`
	CalibImages int               `json:"calib_images"`
	CalibTexts  int               `json:"calib_texts"`
	Budget      Budget            `json:"budget"`
	// Layers are every quantizable layer's sensitivity, in graph order.
	Layers []Layer `json:"layers"`
	// KeptF32 names the layers that fell under Budget.MinCosLayer.
	KeptF32 []string `json:"kept_f32"`
	// ImageCosine and TextCosine compare the embeddings of the calibration
	// inputs with the fp32 model's, the quantized model running at Precision.
	ImageCosine Cosine `json:"image_cosine"`
	TextCosine  Cosine `json:"text_cosine"`
	// Metrics compares every evaluation metric (absent when not evaluated).
	Metrics []Metric `json:"metrics,omitempty"`
	Pass    bool     `json:"pass"`
	// Failures say which budget was exceeded and by how much.
	Failures []string `json:"failures,omitempty"`
	// Forced is set when the file was written despite failures (--force).
	Forced bool `json:"forced,omitempty"`
}

// Source identifies the fp32 model the file was made from.
type Source struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Hash    string `json:"hash"`
}

// Cosine summarises per-item cosines.
type Cosine struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
}

// Metric is one evaluation metric of both models.
type Metric struct {
	Name      string  `json:"name"`
	Base      float64 `json:"base"`
	Quantized float64 `json:"quantized"`
	Change    float64 `json:"change"`
}

func (r *Report) compare(base, q map[string]float64) {
	names := make([]string, 0, len(base))
	for n := range base {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v, ok := q[n]
		if !ok {
			continue
		}
		r.Metrics = append(r.Metrics, Metric{Name: n, Base: base[n], Quantized: v, Change: v - base[n]})
	}
}

// gate sets Pass and Failures from the measurements and the budget.
func (r *Report) gate() {
	r.Failures = nil
	b := r.Budget
	if r.ImageCosine.Mean < b.MinCosImage {
		r.Failures = append(r.Failures, fmt.Sprintf("image embedding cosine %.4f < %.4f", r.ImageCosine.Mean, b.MinCosImage))
	}
	if r.TextCosine.Mean < b.MinCosText {
		r.Failures = append(r.Failures, fmt.Sprintf("text embedding cosine %.4f < %.4f", r.TextCosine.Mean, b.MinCosText))
	}
	for _, m := range r.Metrics {
		// A small epsilon keeps an exact one-point drop (0.01 as a sum of
		// float64 fractions) within a one-point budget.
		if -m.Change > b.MaxDrop+1e-9 {
			r.Failures = append(r.Failures, fmt.Sprintf("%s dropped %.1f points (%.4f → %.4f), budget %.1f",
				m.Name, -100*m.Change, m.Base, m.Quantized, 100*b.MaxDrop))
		}
	}
	r.Pass = len(r.Failures) == 0
}

// Err is nil when the report passes, else an error wrapping ErrBudget that
// lists every failure.
func (r *Report) Err() error {
	if r.Pass {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrBudget, strings.Join(r.Failures, "; "))
}

// Attach stores the report in c's edgeclip.quant metadata.
func (r *Report) Attach(c *models.Contents) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("quantize: encode report: %w", err)
	}
	if c.Extra == nil {
		c.Extra = map[string]string{}
	}
	c.Extra[models.KeyQuant] = strings.TrimSuffix(b.String(), "\n")
	return nil
}

// ReadReport decodes the edgeclip.quant metadata of a model file; ok is
// false when the file has none.
func ReadReport(meta map[string]string) (r *Report, ok bool, err error) {
	s, ok := meta[models.KeyQuant]
	if !ok {
		return nil, false, nil
	}
	r = &Report{}
	if err := json.Unmarshal([]byte(s), r); err != nil {
		return nil, true, fmt.Errorf("quantize: metadata %s: %w", models.KeyQuant, err)
	}
	return r, true, nil
}

// IntendedPrecision is the precision a quantized file was made to run at
// (w8a8 for a w8a8 file); ok is false for files without a valid report.
func IntendedPrecision(meta map[string]string) (p runtime.Precision, ok bool) {
	r, ok, err := ReadReport(meta)
	if !ok || err != nil {
		return "", false
	}
	p, err = runtime.ParsePrecision(string(r.Precision))
	return p, err == nil
}

// Auto is the precision setting that runs a file at the precision its
// quantizer recorded (IntendedPrecision), and any other file at f32: an int8
// file is small because it is meant to run in int8, not dequantized.
const Auto = "auto"

// ResolvePrecision turns a requested precision ("", Auto, or one that
// runtime.ParsePrecision accepts) into the one to open a file with metadata
// meta at. auto is true when the request left the choice to the file, so a
// caller may fall back to f32 where a backend cannot run it; an explicit
// request is returned as is.
func ResolvePrecision(requested string, meta map[string]string) (p runtime.Precision, auto bool, err error) {
	if requested != "" && !strings.EqualFold(requested, Auto) {
		if p, err = runtime.ParsePrecision(requested); err != nil {
			return "", false, fmt.Errorf("unknown precision %q (want auto, f32, w8 or w8a8)", requested)
		}
		return p, false, nil
	}
	if p, ok := IntendedPrecision(meta); ok {
		return p, true, nil
	}
	return runtime.FP32, true, nil
}

// WriteText prints the report for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "quantization %s of %s (%s), run at %s; calibration %s: %d images, %d texts\n",
		r.Mode, r.Source.Name, r.Source.Hash, r.Precision, r.Calib, r.CalibImages, r.CalibTexts)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "layer\tcos mean\tcos min\trows\tstored\n")
	for _, l := range r.Layers {
		fmt.Fprintf(tw, "%s\t%.5f\t%.5f\t%d\t%s\n", l.Name, l.CosMean, l.CosMin, l.Rows, l.DType)
	}
	tw.Flush()
	if len(r.KeptF32) > 0 {
		fmt.Fprintf(&b, "%d layers under the layer threshold %.4g stay F32: %s\n", len(r.KeptF32), r.Budget.MinCosLayer, strings.Join(r.KeptF32, ", "))
	} else {
		fmt.Fprintf(&b, "every layer passed the layer threshold %.4g\n", r.Budget.MinCosLayer)
	}
	fmt.Fprintf(&b, "embedding cosine vs fp32: image mean %.5f min %.5f (n %d, budget %.4g); text mean %.5f min %.5f (n %d, budget %.4g)\n",
		r.ImageCosine.Mean, r.ImageCosine.Min, r.ImageCosine.N, r.Budget.MinCosImage,
		r.TextCosine.Mean, r.TextCosine.Min, r.TextCosine.N, r.Budget.MinCosText)
	if len(r.Metrics) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "metric\tfp32\t%s\tchange\n", r.Mode)
		for _, m := range r.Metrics {
			fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%+.4f\n", m.Name, m.Base, m.Quantized, m.Change)
		}
		tw.Flush()
	}
	if r.Pass {
		fmt.Fprintf(&b, "PASS: within budget (metric drop ≤ %.1f points)\n", 100*r.Budget.MaxDrop)
	} else {
		fmt.Fprintf(&b, "FAIL: %s\n", strings.Join(r.Failures, "; "))
	}
	_, err := w.Write(b.Bytes())
	return err
}
