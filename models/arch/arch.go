// Package arch describes a CLIP architecture as data: the hyperparameters read
// from a model file's metadata and the names of the tensors they imply.
// It is a leaf package so that the runtime, the model file and the converters
// can all agree on one description without importing each other.
package arch

import (
	"errors"
	"fmt"
)

// Activation names the MLP non-linearity.
type Activation string

const (
	QuickGELU Activation = "quick_gelu" // x * sigmoid(1.702 x), OpenAI CLIP
	GELU      Activation = "gelu"       // exact erf GELU, most OpenCLIP and HF models
)

// Tower holds the hyperparameters of one transformer tower.
type Tower struct {
	Width  int `json:"width"`
	Layers int `json:"layers"`
	Heads  int `json:"heads"`
	// MLPWidth is the hidden width of the MLP (usually 4 × Width).
	MLPWidth int `json:"mlp_width"`
}

// Config is the architecture of a CLIP model. It is stored as JSON under the
// "edgeclip.config" key of a model file's metadata.
type Config struct {
	ImageSize  int        `json:"image_size"`
	PatchSize  int        `json:"patch_size"`
	Vision     Tower      `json:"vision"`
	Text       Tower      `json:"text"`
	ContextLen int        `json:"context_length"`
	VocabSize  int        `json:"vocab_size"`
	EmbedDim   int        `json:"embed_dim"`
	Activation Activation `json:"activation"`
	// LNEps is the LayerNorm epsilon (1e-5 for every public CLIP).
	LNEps float32 `json:"ln_eps"`
	// Mean and Std normalise RGB pixels scaled to [0, 1].
	Mean [3]float32 `json:"mean"`
	Std  [3]float32 `json:"std"`
	// LogitScale is exp(logit_scale) of the trained model: the multiplier of
	// cosine similarities before a softmax.
	LogitScale float32 `json:"logit_scale"`
}

// OpenAI's normalisation constants, used by every public CLIP checkpoint.
var (
	OpenAIMean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	OpenAIStd  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// Bounds that no sane CLIP exceeds; they keep a hostile header from making
// the loader allocate gigabytes.
const (
	MaxImageSize  = 1024
	MaxWidth      = 8192
	MaxLayers     = 96
	MaxHeads      = 128
	MaxContextLen = 1024
	MaxVocabSize  = 1 << 20
)

// ErrInvalid marks a config that fails validation.
var ErrInvalid = errors.New("invalid architecture config")

// Validate checks every field against sane bounds and internal consistency.
func (c *Config) Validate() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrInvalid, field, v, why)
	}
	in := func(field string, v, lo, hi int) error {
		if v < lo || v > hi {
			return bad(field, v, fmt.Sprintf("want %d..%d", lo, hi))
		}
		return nil
	}
	checks := []error{
		in("image_size", c.ImageSize, 1, MaxImageSize),
		in("patch_size", c.PatchSize, 1, MaxImageSize),
		in("context_length", c.ContextLen, 2, MaxContextLen),
		in("vocab_size", c.VocabSize, 3, MaxVocabSize),
		in("embed_dim", c.EmbedDim, 1, MaxWidth),
	}
	for _, t := range []struct {
		name string
		t    Tower
	}{{"vision", c.Vision}, {"text", c.Text}} {
		checks = append(checks,
			in(t.name+".width", t.t.Width, 1, MaxWidth),
			in(t.name+".layers", t.t.Layers, 0, MaxLayers),
			in(t.name+".heads", t.t.Heads, 1, MaxHeads),
			in(t.name+".mlp_width", t.t.MLPWidth, 1, 8*MaxWidth),
		)
		if t.t.Heads > 0 && t.t.Width%t.t.Heads != 0 {
			checks = append(checks, bad(t.name+".heads", t.t.Heads, fmt.Sprintf("must divide width %d", t.t.Width)))
		}
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if c.ImageSize%c.PatchSize != 0 {
		return bad("patch_size", c.PatchSize, fmt.Sprintf("must divide image_size %d", c.ImageSize))
	}
	if c.Activation != QuickGELU && c.Activation != GELU {
		return bad("activation", c.Activation, `want "quick_gelu" or "gelu"`)
	}
	if !(c.LNEps > 0 && c.LNEps < 1) {
		return bad("ln_eps", c.LNEps, "want 0 < eps < 1")
	}
	for i := range 3 {
		if !(c.Std[i] > 0 && c.Std[i] < 100) {
			return bad("std", c.Std, "each value must be in (0, 100)")
		}
		if !(c.Mean[i] > -100 && c.Mean[i] < 100) {
			return bad("mean", c.Mean, "each value must be in (-100, 100)")
		}
	}
	if !(c.LogitScale > 0 && c.LogitScale <= 1000) {
		return bad("logit_scale", c.LogitScale, "want 0 < scale <= 1000")
	}
	return nil
}

// Grid is the number of patches along one side of the image.
func (c *Config) Grid() int { return c.ImageSize / c.PatchSize }

// Tokens is the image tower's sequence length: patches plus the class token.
func (c *Config) Tokens() int { g := c.Grid(); return g*g + 1 }

// PatchDim is the length of one flattened patch (3 × p × p, channel-major).
func (c *Config) PatchDim() int { return 3 * c.PatchSize * c.PatchSize }
