package bench

import (
	"fmt"
	"sort"
	"strings"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
)

// presets are the architectures --arch can build with random weights, so
// that speed is measured on the real shapes without downloading weights.
var presets = map[string]func() arch.Config{
	"tiny":     models.TinyConfig,
	"vit-b-32": models.ViTB32,
	"vit-b-16": ViTB16,
	"vit-l-14": ViTL14,
}

// ViTB16 is OpenAI CLIP ViT-B/16: ViT-B/32's towers on 196 patches.
func ViTB16() arch.Config {
	c := models.ViTB32()
	c.PatchSize = 16
	return c
}

// ViTL14 is OpenAI CLIP ViT-L/14 at 224 pixels (about 428 M parameters).
func ViTL14() arch.Config {
	return arch.Config{
		ImageSize: 224, PatchSize: 14,
		Vision:     arch.Tower{Width: 1024, Layers: 24, Heads: 16, MLPWidth: 4096},
		Text:       arch.Tower{Width: 768, Layers: 12, Heads: 12, MLPWidth: 3072},
		ContextLen: 77, VocabSize: 49408, EmbedDim: 768, Activation: arch.QuickGELU, LNEps: 1e-5,
		Mean: arch.OpenAIMean, Std: arch.OpenAIStd, LogitScale: 100,
	}
}

// Arches lists the architecture presets, sorted.
func Arches() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Arch returns the preset called name, or an error listing the known ones.
func Arch(name string) (arch.Config, error) {
	f, ok := presets[strings.ToLower(name)]
	if !ok {
		return arch.Config{}, fmt.Errorf("bench: unknown arch %q (known: %s)", name, strings.Join(Arches(), ", "))
	}
	return f(), nil
}

// Params counts a config's weights.
func Params(c arch.Config) int64 {
	var n int64
	for _, shape := range c.Shapes() {
		p := int64(1)
		for _, d := range shape {
			p *= int64(d)
		}
		n += p
	}
	return n
}
