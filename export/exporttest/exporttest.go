// Package exporttest provides in-memory model weights for tests of the
// exporters and of the backends that run exported graphs.
package exporttest

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime"
)

// Weights is a runtime.Weights over tensors held in memory.
type Weights struct {
	Cfg     arch.Config
	Tensors map[string]runtime.Tensor
	ID      string
}

func (w *Weights) Config() arch.Config { return w.Cfg }
func (w *Weights) Hash() string        { return w.ID }
func (w *Weights) Tensor(name string) (runtime.Tensor, bool) {
	t, ok := w.Tensors[name]
	return t, ok
}

// Tiny is a two-layer CLIP whose heads, widths and sequence lengths all
// differ, so that a transposed axis cannot go unnoticed.
func Tiny(act arch.Activation) arch.Config {
	return arch.Config{
		ImageSize: 16, PatchSize: 4,
		Vision:     arch.Tower{Width: 24, Layers: 2, Heads: 3, MLPWidth: 48},
		Text:       arch.Tower{Width: 16, Layers: 2, Heads: 2, MLPWidth: 40},
		ContextLen: 10, VocabSize: 50, EmbedDim: 12, Activation: act, LNEps: 1e-5,
		Mean: arch.OpenAIMean, Std: arch.OpenAIStd, LogitScale: 100,
	}
}

// Random returns F32 weights for cfg: normal × std (0.2 keeps attention
// far from uniform at tiny widths), LayerNorm gains 1 ± 0.1. The same
// arguments always give the same weights.
func Random(cfg arch.Config, seed uint64, std float64) *Weights {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	w := &Weights{Cfg: cfg, Tensors: map[string]runtime.Tensor{}, ID: "random"}
	names := make([]string, 0, len(cfg.Shapes()))
	shapes := cfg.Shapes()
	for n := range shapes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		shape := shapes[name]
		n := 1
		for _, d := range shape {
			n *= d
		}
		gain := len(shape) == 1 && strings.HasSuffix(name, "weight")
		b := make([]byte, 4*n)
		for i := range n {
			v := float32(rng.NormFloat64() * std)
			if gain {
				v = 1 + float32(rng.NormFloat64()*0.1)
			}
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		w.Tensors[name] = runtime.Tensor{Name: name, DType: runtime.F32, Shape: shape, Data: b}
	}
	return w
}

// Int8 returns a copy of w whose quantizable weights are stored as I8 rows
// with scales, as the quantizer writes them.
func Int8(w *Weights) *Weights {
	out := &Weights{Cfg: w.Cfg, Tensors: map[string]runtime.Tensor{}, ID: w.ID + "-i8"}
	for name, t := range w.Tensors {
		if !arch.Quantizable(name) {
			out.Tensors[name] = t
			continue
		}
		rows, cols := t.Shape[0], t.Shape[1]
		f := make([]float32, rows*cols)
		for i := range f {
			f[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
		q, s := make([]int8, len(f)), make([]float32, rows)
		if err := quant.QuantizeRows(f, rows, cols, q, s); err != nil {
			panic(err) // shapes come from the config: a bug, not input
		}
		b := make([]byte, len(q))
		for i, v := range q {
			b[i] = byte(v)
		}
		out.Tensors[name] = runtime.Tensor{Name: name, DType: runtime.I8, Shape: t.Shape, Data: b, Scales: s}
	}
	return out
}
