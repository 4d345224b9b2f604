// Package convert turns public CLIP checkpoints (OpenAI, Hugging Face,
// OpenCLIP) into edgeclip model contents: the architecture read from the
// checkpoint, its tokenizer, and the weights renamed, split, stacked and
// transposed into the native layout of models/arch.
//
// Each source layout is a plug-in registered by name from init. Checkpoints
// are read from safetensors only: a PyTorch pickle is never unpickled in Go
// (tools/pt2safetensors.py converts one). The reader here accepts every
// safetensors dtype (int64 buffers, bf16 weights) because checkpoints in the
// wild carry them, unlike the stricter edgeclip model file reader.
package convert

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/tokenizer"
	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime"
)

// Options select the source and the output. From and Src are required;
// every other field has a default.
type Options struct {
	// From is the layout name: "openai", "hf" or "openclip" (see Layouts).
	From string
	// Src is the checkpoint: a safetensors file (openai, openclip) or a
	// Hugging Face model directory (hf).
	Src string
	// BPE is CLIP's merges file (bpe_simple_vocab_16e6.txt, gzipped or
	// not). Required by openai and openclip; hf reads vocab.json and merges.txt.
	BPE string
	// Config is an OpenCLIP model config JSON (open_clip_config.json or a
	// model_configs/*.json). Default: open_clip_config.json beside Src.
	Config string
	// DType of the output weights: runtime.F32 (default) or runtime.F16.
	DType runtime.DType
	// Activation overrides the layout's MLP activation when set.
	Activation arch.Activation
	// VisionHeads and TextHeads override the attention head counts (any
	// layout). OpenAI checkpoints do not record them; OpenAI uses width/64.
	VisionHeads, TextHeads int
	// Name and Version label the model; Name defaults to Src's base name.
	Name, Version string
	// Progress, when set, is called after each output tensor is encoded.
	Progress func(done, total int, tensor string)
}

// Checkpoint is what a layout reads: the architecture, the tokenizer and
// the weights already mapped onto native names and shapes, in float32.
type Checkpoint struct {
	Config    arch.Config
	Tokenizer models.TokenizerSpec
	Tensors   map[string]Tensor
}

// Tensor is one native weight in float32, row-major.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Layout reads one public checkpoint layout.
type Layout interface {
	Name() string
	Read(ctx context.Context, opts *Options) (*Checkpoint, error)
}

var (
	mu      sync.RWMutex
	layouts = map[string]Layout{}
)

// Register makes a layout available by name; a duplicate name panics (a
// programming error caught at init).
func Register(l Layout) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := layouts[l.Name()]; dup {
		panic("convert: layout registered twice: " + l.Name())
	}
	layouts[l.Name()] = l
}

// Layouts lists the registered layout names, sorted.
func Layouts() []string {
	mu.RLock()
	defer mu.RUnlock()
	var n []string
	for k := range layouts {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Convert reads the checkpoint and returns the model contents, ready for
// models.Write. Every problem with the checkpoint is reported by tensor name.
func Convert(ctx context.Context, opts Options) (*models.Contents, error) {
	mu.RLock()
	l, ok := layouts[opts.From]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("convert: unknown layout %q (known: %s)", opts.From, strings.Join(Layouts(), ", "))
	}
	if opts.DType == 0 {
		opts.DType = runtime.F32
	}
	if opts.DType != runtime.F32 && opts.DType != runtime.F16 {
		return nil, fmt.Errorf("convert: output dtype %s not supported (want F32 or F16)", opts.DType)
	}
	if opts.Src == "" {
		return nil, errors.New("convert: no source checkpoint given")
	}
	cp, err := l.Read(ctx, &opts)
	if err != nil {
		return nil, err
	}
	if opts.Activation != "" {
		cp.Config.Activation = opts.Activation
	}
	if opts.VisionHeads > 0 {
		cp.Config.Vision.Heads = opts.VisionHeads
	}
	if opts.TextHeads > 0 {
		cp.Config.Text.Heads = opts.TextHeads
	}
	if err := cp.Config.Validate(); err != nil {
		return nil, fmt.Errorf("convert: %s: %w", opts.Src, err)
	}
	if err := checkNative(cp); err != nil {
		return nil, fmt.Errorf("convert: %s: %w", opts.Src, err)
	}
	tok, err := tokenizer.New(cp.Tokenizer.Merges, cp.Tokenizer.Vocab)
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", opts.Src, err)
	}
	if tok.VocabSize() != cp.Config.VocabSize {
		return nil, fmt.Errorf("convert: %s: tokenizer has %d tokens but the model's vocab_size is %d",
			opts.Src, tok.VocabSize(), cp.Config.VocabSize)
	}
	c := &models.Contents{Name: opts.Name, Version: opts.Version, Config: cp.Config, Tokenizer: cp.Tokenizer}
	if c.Name == "" {
		c.Name = strings.TrimSuffix(filepath.Base(opts.Src), filepath.Ext(opts.Src))
	}
	names := make([]string, 0, len(cp.Tensors))
	for n := range cp.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c.Tensors = append(c.Tensors, encode(n, cp.Tensors[n], opts.DType))
		delete(cp.Tensors, n) // let the float32 copy go
		if opts.Progress != nil {
			opts.Progress(i+1, len(names), n)
		}
	}
	return c, nil
}

// checkNative compares the layout's output with what the config requires.
// A layout that validates its sources never fails here; this is the net
// under a layout bug.
func checkNative(cp *Checkpoint) error {
	want := cp.Config.Shapes()
	var errs []error
	for n, shape := range want {
		t, ok := cp.Tensors[n]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("native tensor %q: missing", n))
		case !sameShape(t.Shape, shape):
			errs = append(errs, fmt.Errorf("native tensor %q: shape %v, want %v", n, t.Shape, shape))
		case len(t.Data) != count(shape):
			errs = append(errs, fmt.Errorf("native tensor %q: %d values for shape %v", n, len(t.Data), shape))
		}
	}
	for n := range cp.Tensors {
		if _, ok := want[n]; !ok {
			errs = append(errs, fmt.Errorf("native tensor %q: unexpected", n))
		}
	}
	sortErrs(errs)
	return errors.Join(errs...)
}

func encode(name string, t Tensor, dt runtime.DType) runtime.Tensor {
	out := runtime.Tensor{Name: name, DType: dt, Shape: append([]int(nil), t.Shape...)}
	if dt == runtime.F16 {
		out.Data = make([]byte, 2*len(t.Data))
		for i, v := range t.Data {
			binary.LittleEndian.PutUint16(out.Data[2*i:], quant.F32ToF16(v))
		}
		return out
	}
	out.Data = make([]byte, 4*len(t.Data))
	for i, v := range t.Data {
		binary.LittleEndian.PutUint32(out.Data[4*i:], math.Float32bits(v))
	}
	return out
}

func count(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortErrs(errs []error) {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
}
