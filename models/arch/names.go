package arch

import "fmt"

// Tensor names of the native layout. Every converter maps its source layout
// onto these names; every backend reads them. Linear weights are stored
// [out, in] (PyTorch nn.Linear order), so y = x·Wᵀ + b.
const (
	// Image tower.
	VisPatch     = "visual.patch_embed.weight" // [width, 3*p*p], flattened conv weight (c, ky, kx)
	VisClass     = "visual.class_embedding"    // [width]
	VisPos       = "visual.positional_embedding"
	VisLnPreW    = "visual.ln_pre.weight"
	VisLnPreB    = "visual.ln_pre.bias"
	VisLnPostW   = "visual.ln_post.weight"
	VisLnPostB   = "visual.ln_post.bias"
	VisProj      = "visual.proj.weight"        // [embed, width]
	TxtToken     = "text.token_embedding"      // [vocab, width]
	TxtPos       = "text.positional_embedding" // [context, width]
	TxtLnFinalW  = "text.ln_final.weight"
	TxtLnFinalB  = "text.ln_final.bias"
	TxtProj      = "text.proj.weight" // [embed, width]
	ScaleSuffix  = "_scale"           // I8 tensor X has its per-output-channel F32 scales in X + ScaleSuffix
	VisionPrefix = "visual"
	TextPrefix   = "text"
)

// Block names the tensors of one residual attention block.
type Block struct {
	Ln1W, Ln1B string // [width]
	QKVW, QKVB string // [3*width, width], [3*width]: q, k, v stacked
	OutW, OutB string // [width, width], [width]
	Ln2W, Ln2B string
	FC1W, FC1B string // [mlp, width], [mlp]
	FC2W, FC2B string // [width, mlp], [width]
}

// BlockNames returns the tensor names of block i of the tower with the given
// prefix (VisionPrefix or TextPrefix).
func BlockNames(prefix string, i int) Block {
	p := fmt.Sprintf("%s.blocks.%d.", prefix, i)
	return Block{
		Ln1W: p + "ln_1.weight", Ln1B: p + "ln_1.bias",
		QKVW: p + "attn.qkv.weight", QKVB: p + "attn.qkv.bias",
		OutW: p + "attn.out.weight", OutB: p + "attn.out.bias",
		Ln2W: p + "ln_2.weight", Ln2B: p + "ln_2.bias",
		FC1W: p + "mlp.fc1.weight", FC1B: p + "mlp.fc1.bias",
		FC2W: p + "mlp.fc2.weight", FC2B: p + "mlp.fc2.bias",
	}
}

// Shapes returns every tensor the config requires with its expected shape
// (the F32 shape; an I8 tensor has the same shape plus a scale vector).
func (c *Config) Shapes() map[string][]int {
	v, t := c.Vision, c.Text
	m := map[string][]int{
		VisPatch: {v.Width, c.PatchDim()}, VisClass: {v.Width}, VisPos: {c.Tokens(), v.Width},
		VisLnPreW: {v.Width}, VisLnPreB: {v.Width}, VisLnPostW: {v.Width}, VisLnPostB: {v.Width},
		VisProj:  {c.EmbedDim, v.Width},
		TxtToken: {c.VocabSize, t.Width}, TxtPos: {c.ContextLen, t.Width},
		TxtLnFinalW: {t.Width}, TxtLnFinalB: {t.Width}, TxtProj: {c.EmbedDim, t.Width},
	}
	add := func(prefix string, tw Tower) {
		for i := range tw.Layers {
			b := BlockNames(prefix, i)
			w, h := tw.Width, tw.MLPWidth
			m[b.Ln1W], m[b.Ln1B], m[b.Ln2W], m[b.Ln2B] = []int{w}, []int{w}, []int{w}, []int{w}
			m[b.QKVW], m[b.QKVB] = []int{3 * w, w}, []int{3 * w}
			m[b.OutW], m[b.OutB] = []int{w, w}, []int{w}
			m[b.FC1W], m[b.FC1B] = []int{h, w}, []int{h}
			m[b.FC2W], m[b.FC2B] = []int{w, h}, []int{w}
		}
	}
	add(VisionPrefix, v)
	add(TextPrefix, t)
	return m
}

// Quantizable reports whether a tensor is a linear weight that int8 modes
// quantize per output channel. Embeddings, norms and biases stay float.
func Quantizable(name string) bool {
	switch {
	case name == VisPatch, name == VisProj, name == TxtProj:
		return true
	}
	for _, s := range []string{".attn.qkv.weight", ".attn.out.weight", ".mlp.fc1.weight", ".mlp.fc2.weight"} {
		if len(name) > len(s) && name[len(name)-len(s):] == s {
			return true
		}
	}
	return false
}
