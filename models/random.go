package models

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// ViTB32 is OpenAI CLIP ViT-B/32's architecture, the reference size for
// benchmarks (about 151 M parameters, 605 MB as F32).
func ViTB32() arch.Config {
	return arch.Config{
		ImageSize: 224, PatchSize: 32,
		Vision:     arch.Tower{Width: 768, Layers: 12, Heads: 12, MLPWidth: 3072},
		Text:       arch.Tower{Width: 512, Layers: 12, Heads: 8, MLPWidth: 2048},
		ContextLen: 77, VocabSize: 49408, EmbedDim: 512, Activation: arch.QuickGELU, LNEps: 1e-5,
		Mean: arch.OpenAIMean, Std: arch.OpenAIStd, LogitScale: 100,
	}
}

// TinyConfig is a two-layer CLIP small enough for unit tests (about 60 k
// parameters) that still exercises every tensor kind; its vocabulary is
// DerivedVocabExtra + 300 merges.
func TinyConfig() arch.Config {
	return arch.Config{
		ImageSize: 32, PatchSize: 8,
		Vision:     arch.Tower{Width: 32, Layers: 2, Heads: 2, MLPWidth: 64},
		Text:       arch.Tower{Width: 32, Layers: 2, Heads: 2, MLPWidth: 64},
		ContextLen: 16, VocabSize: DerivedVocabExtra + 300, EmbedDim: 16, Activation: arch.QuickGELU, LNEps: 1e-5,
		Mean: arch.OpenAIMean, Std: arch.OpenAIStd, LogitScale: 100,
	}
}

// RandomContents builds an F32 model with random weights for cfg: weights
// and embeddings normal × 0.02, LayerNorm weights 1 ± 0.1, biases small and
// non-zero, so that every code path sees realistic magnitudes. The
// tokenizer has VocabSize − 514 merges over ASCII letters (see
// RandomMerges); a VocabSize below 514 gets an explicit placeholder vocab.
// The same cfg and seed always give the same model.
func RandomContents(cfg arch.Config, seed int64) *Contents {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6564676563_6c6970))
	shapes := cfg.Shapes()
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	c := &Contents{Name: "random", Version: fmt.Sprintf("seed-%d", seed), Config: cfg}
	for _, n := range names {
		shape := shapes[n]
		count := 1
		for _, d := range shape {
			count *= d
		}
		gen := func() float64 { return 0.02 * rng.NormFloat64() }
		switch {
		case strings.HasSuffix(n, "ln_1.weight"), strings.HasSuffix(n, "ln_2.weight"), n == arch.VisLnPreW,
			n == arch.VisLnPostW, n == arch.TxtLnFinalW:
			gen = func() float64 { return 1 + 0.2*(rng.Float64()-0.5) }
		case strings.HasSuffix(n, ".bias"):
			gen = func() float64 { return 0.01 * rng.NormFloat64() }
		}
		data := make([]byte, 4*count)
		for i := range count {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(gen())))
		}
		c.Tensors = append(c.Tensors, runtime.Tensor{Name: n, DType: runtime.F32, Shape: shape, Data: data})
	}
	c.Tokenizer = TokenizerSpec{Type: TokenizerCLIPBPE, Merges: []string{}}
	if cfg.VocabSize >= DerivedVocabExtra {
		c.Tokenizer.Merges = RandomMerges(cfg.VocabSize - DerivedVocabExtra)
	} else {
		for i := range cfg.VocabSize {
			c.Tokenizer.Vocab = append(c.Tokenizer.Vocab, fmt.Sprintf("<|tok%d|>", i))
		}
	}
	return c
}

// RandomMerges returns n valid CLIP BPE merges over the letters a–z: every
// string of length 2, 3, … in order, each as "prefix last" and as
// "prefix last</w>", so each merge joins two symbols that exist by then
// and makes a new one.
func RandomMerges(n int) []string {
	out := make([]string, 0, n)
	var prefixes []string
	for c := 'a'; c <= 'z'; c++ {
		prefixes = append(prefixes, string(c))
	}
	for len(out) < n {
		var next []string
		for _, p := range prefixes {
			for c := 'a'; c <= 'z' && len(out) < n; c++ {
				out = append(out, p+" "+string(c))
				if len(out) < n {
					out = append(out, p+" "+string(c)+"</w>")
				}
				next = append(next, p+string(c))
			}
		}
		prefixes = next
	}
	return out
}
