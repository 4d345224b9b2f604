package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/quantize"
	"github.com/edgeclip/edgeclip/runtime"
)

func init() {
	register(command{name: "inspect", short: "describe a model file: config, tokenizer, tensors, hash", run: runInspect})
}

// inspectReport is what inspect prints; --json writes it as is.
type inspectReport struct {
	Path         string          `json:"path"`
	Size         int64           `json:"size"`
	Name         string          `json:"name"`
	Version      string          `json:"version"`
	Hash         string          `json:"hash"`
	HashVerified bool            `json:"hash_verified"`
	HashError    string          `json:"hash_error,omitempty"`
	Config       arch.Config     `json:"config"`
	Tokenizer    tokenizerReport `json:"tokenizer"`
	Tensors      []tensorReport  `json:"tensors"`
	// DTypes maps a dtype to its tensor count and bytes.
	DTypes     map[string]dtypeReport `json:"dtypes"`
	Parameters int64                  `json:"parameters"`
	ImageFLOPs int64                  `json:"image_flops"`
	// TextFLOPs is for a full context_length query.
	TextFLOPs int64 `json:"text_flops"`
	// Precision is what precision auto runs the file at: the one its
	// quantizer recorded, else f32 (PrecisionFrom: "model file" or "default").
	Precision     string            `json:"precision"`
	PrecisionFrom string            `json:"precision_from"`
	Extra         map[string]string `json:"extra,omitempty"`
}

type tokenizerReport struct {
	Type      string `json:"type"`
	Merges    int    `json:"merges"`
	VocabSize int    `json:"vocab_size"`
	// ExplicitVocab is true when the file lists its vocabulary.
	ExplicitVocab bool `json:"explicit_vocab"`
}

type tensorReport struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	Bytes int    `json:"bytes"`
}

type dtypeReport struct {
	Tensors int   `json:"tensors"`
	Bytes   int64 `json:"bytes"`
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", "--model FILE [--json]", stderr)
	model := fs.String("model", defaultModelPath(), "model file ($EDGECLIP_MODEL)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: give --model and no arguments", errUsage)
	}
	// Open without the hash check so that a file whose hash fails can still
	// be described; Verify then reports the outcome.
	f, err := models.OpenWith(*model, models.OpenOptions{SkipHashCheck: true})
	if err != nil {
		return err
	}
	defer f.Close()
	r := inspect(f)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printInspect(stdout, r)
	}
	if !r.HashVerified {
		return errors.New(r.HashError)
	}
	return nil
}

func inspect(f *models.File) *inspectReport {
	cfg := f.Config()
	tok := f.Tokenizer()
	r := &inspectReport{
		Path: f.Path(), Size: f.Size(), Name: f.Name(), Version: f.Version(), Hash: f.Hash(), Config: cfg,
		Tokenizer:  tokenizerReport{Type: tok.Type, Merges: len(tok.Merges), VocabSize: tok.VocabSize(), ExplicitVocab: len(tok.Vocab) > 0},
		DTypes:     map[string]dtypeReport{},
		ImageFLOPs: cfg.ImageFLOPs(), TextFLOPs: cfg.TextFLOPs(cfg.ContextLen),
		Extra: map[string]string{},
	}
	if err := f.Verify(); err != nil {
		r.HashError = err.Error()
	} else {
		r.HashVerified = true
	}
	for _, t := range f.Tensors() {
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		// Scales are bookkeeping for their I8 tensor, not parameters (no
		// architecture tensor ends in _scale).
		if !strings.HasSuffix(t.Name, arch.ScaleSuffix) {
			r.Parameters += int64(n)
		}
		r.Tensors = append(r.Tensors, tensorReport{Name: t.Name, DType: t.DType.String(), Shape: t.Shape, Bytes: len(t.Data)})
		d := r.DTypes[t.DType.String()]
		d.Tensors++
		d.Bytes += int64(len(t.Data))
		r.DTypes[t.DType.String()] = d
	}
	r.Precision, r.PrecisionFrom = string(runtime.FP32), "default"
	if p, ok := quantize.IntendedPrecision(f.Metadata()); ok {
		r.Precision, r.PrecisionFrom = string(p), "model file"
	}
	for k, v := range f.Metadata() {
		if k == models.KeyQuant || k == models.KeyCard {
			r.Extra[k] = v
		}
	}
	return r
}

func printInspect(w io.Writer, r *inspectReport) {
	verified := "verified"
	if !r.HashVerified {
		verified = "MISMATCH"
	}
	c := r.Config
	fmt.Fprintf(w, "model     %s %s (%s, %.1f MB)\n", r.Name, r.Version, r.Path, float64(r.Size)/1e6)
	fmt.Fprintf(w, "hash      %s (%s)\n", r.Hash, verified)
	fmt.Fprintf(w, "image     %d px, patch %d, width %d, layers %d, heads %d, mlp %d\n",
		c.ImageSize, c.PatchSize, c.Vision.Width, c.Vision.Layers, c.Vision.Heads, c.Vision.MLPWidth)
	fmt.Fprintf(w, "text      context %d, vocab %d, width %d, layers %d, heads %d, mlp %d\n",
		c.ContextLen, c.VocabSize, c.Text.Width, c.Text.Layers, c.Text.Heads, c.Text.MLPWidth)
	fmt.Fprintf(w, "embed     %d, activation %s, ln_eps %g, logit_scale %g\n", c.EmbedDim, c.Activation, c.LNEps, c.LogitScale)
	fmt.Fprintf(w, "tokenizer %s, %d merges, %d tokens", r.Tokenizer.Type, r.Tokenizer.Merges, r.Tokenizer.VocabSize)
	if r.Tokenizer.ExplicitVocab {
		fmt.Fprint(w, " (explicit vocab)")
	}
	fmt.Fprintf(w, "\nparams    %d (%.1f M)\n", r.Parameters, float64(r.Parameters)/1e6)
	fmt.Fprintf(w, "flops     image %s, text %s (%d tokens)\n", flops(r.ImageFLOPs), flops(r.TextFLOPs), c.ContextLen)
	why := "the file records none"
	if r.PrecisionFrom == "model file" {
		why = "recorded in the file by edgeclip quantize"
	}
	fmt.Fprintf(w, "precision %s (auto: %s)\n", r.Precision, why)
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := r.Extra[k]
		if len(v) > 200 {
			v = v[:200] + "…"
		}
		fmt.Fprintf(w, "%-9s %s\n", k, v)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "tensor\tdtype\tshape\tbytes")
	for _, t := range r.Tensors {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\n", t.Name, t.DType, t.Shape, t.Bytes)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, d := range []string{"F32", "F16", "I8"} {
		if s, ok := r.DTypes[d]; ok {
			fmt.Fprintf(w, "%-4s %4d tensors %14d bytes\n", d, s.Tensors, s.Bytes)
		}
	}
}

func flops(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GFLOP", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f MFLOP", float64(n)/1e6)
	}
	return fmt.Sprintf("%d FLOP", n)
}
