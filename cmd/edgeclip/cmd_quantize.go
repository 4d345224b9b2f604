package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/edgeclip/edgeclip/eval"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/quantize"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

func init() {
	register(command{name: "quantize", short: "write an int8 (w8, w8a8) or f16 model with an accuracy report and gate", run: runQuantize})
}

func runQuantize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("quantize", "--model IN --out OUT --mode w8|w8a8|f16 [--calib SRC] [--force]", stderr)
	in := fs.String("model", "", "fp32 model file to quantize")
	out := fs.String("out", "", "model file to write")
	modeFlag := fs.String("mode", "w8a8", "w8 (int8 weights), w8a8 (int8 weights, meant for int8 activations) or f16")
	calib := fs.String("calib", quantize.DefaultCalib, "calibration inputs: world:seed=S[,n=N][,split=train|seen|heldout]")
	force := fs.Bool("force", false, "write the output even when it exceeds the accuracy budget")
	b := quantize.DefaultBudget
	fs.Float64Var(&b.MinCosImage, "min-cos-image", b.MinCosImage, "minimum mean image-embedding cosine vs fp32")
	fs.Float64Var(&b.MinCosText, "min-cos-text", b.MinCosText, "minimum mean text-embedding cosine vs fp32")
	fs.Float64Var(&b.MaxDrop, "max-drop", b.MaxDrop, "largest allowed drop of any eval metric (0.01 = 1 point)")
	fs.Float64Var(&b.MinCosLayer, "min-cos-layer", b.MinCosLayer, "per-layer output cosine under which a layer stays F32")
	evalN := fs.Int("eval-n", 1000, "images per eval set for the metric comparison (0: skip the eval comparison)")
	evalVideos := fs.Int("eval-videos", 0, "world videos in the metric comparison")
	name := fs.String("name", "", "output model name (default: the input's, -f32 replaced by -int8 or -f16)")
	threads := fs.Int("threads", 0, "threads (0: all cores)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *in == "" || *out == "" {
		fs.Usage()
		return fmt.Errorf("%w: need --model and --out", errUsage)
	}
	mode, err := quantize.ParseMode(*modeFlag)
	if err != nil {
		return err
	}
	if same(*in, *out) {
		return fmt.Errorf("--out %s is the input model: write the quantized model elsewhere", *out)
	}
	f, err := models.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	tok, err := f.Tokenizer().New()
	if err != nil {
		return fmt.Errorf("%s: tokenizer: %w", *in, err)
	}
	cal, err := quantize.WorldCalibration(*calib, f.Config(), tok)
	if err != nil {
		return err
	}
	o := quantize.Options{Mode: mode, Budget: b, Calib: cal, Name: *name, Threads: *threads}
	if !*quiet {
		bar := newETABar(stderr, "quantize")
		o.Progress = func(p quantize.Progress) { bar.update(p.Done, p.Total, p.Step, p.Elapsed) }
	}
	if *evalN > 0 {
		eo := eval.Options{N: *evalN, Videos: *evalVideos}
		o.Metrics = func(ctx context.Context, w runtime.Weights, prec runtime.Precision) (map[string]float64, error) {
			sess, err := native.Backend{}.Open(ctx, w, runtime.Options{Precision: prec, Threads: *threads})
			if err != nil {
				return nil, err
			}
			defer sess.Close()
			if !*quiet {
				eo.Progress = newETABar(stderr, "eval "+string(prec)).evalProgress
			}
			r, err := eval.Run(ctx, eval.Model{Session: sess, Tokenizer: tok, Config: w.Config(), Hash: w.Hash(), Precision: prec}, &eo)
			if err != nil {
				return nil, err
			}
			return r.Metrics(), nil
		}
	}
	start := time.Now()
	c, r, err := quantize.Quantize(ctx, f.Contents(), o)
	if err != nil {
		return err
	}
	if err := r.WriteText(stdout); err != nil {
		return err
	}
	if !r.Pass && !*force {
		return fmt.Errorf("%w; %s not written (--force writes it anyway)", r.Err(), *out)
	}
	r.Forced = !r.Pass
	if err := r.Attach(c); err != nil {
		return err
	}
	if err := models.Write(*out, c); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	note := ""
	if r.Forced {
		note = " despite exceeding the budget (--force)"
	}
	fmt.Fprintf(stdout, "wrote %s%s: %s, %.2f MB (input %.2f MB), %s, in %s\n", *out, note, c.Name,
		float64(st.Size())/1e6, float64(f.Size())/1e6, models.HashContents(c), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// same reports whether two paths name the same file (or the same path when
// out does not exist yet).
func same(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	if errA == nil && errB == nil {
		return os.SameFile(sa, sb)
	}
	return filepath.Clean(a) == filepath.Clean(b)
}
