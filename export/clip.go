package export

import (
	"fmt"
	"slices"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// builder accumulates a graph and the first error.
type builder struct {
	g     *Graph
	w     runtime.Weights
	shape map[string][]int
	err   error
}

func newBuilder(name string, w runtime.Weights, prec runtime.Precision) (*builder, error) {
	if prec == "" {
		prec = runtime.FP32
	}
	if _, err := runtime.ParsePrecision(string(prec)); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	cfg := w.Config()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return &builder{
		g:     &Graph{Name: name, Config: cfg, Precision: prec, byName: map[string]*Weight{}},
		w:     w,
		shape: cfg.Shapes(),
	}, nil
}

// weight adds the model tensor name as a constant and returns its name.
func (b *builder) weight(name string) string {
	if b.g.byName[name] != nil || b.err != nil {
		return name
	}
	want := b.shape[name]
	t, ok := b.w.Tensor(name)
	switch {
	case !ok:
		b.err = fmt.Errorf("export: tensor %q: missing", name)
	case !slices.Equal(t.Shape, want):
		b.err = fmt.Errorf("export: tensor %q: shape %v, want %v", name, t.Shape, want)
	}
	wt := &Weight{Name: name, Shape: want, t: t,
		Int8: b.g.Precision != runtime.FP32 && arch.Quantizable(name)}
	b.g.Weights = append(b.g.Weights, wt)
	b.g.byName[name] = wt
	return name
}

func (b *builder) node(n Node) string {
	b.g.Nodes = append(b.g.Nodes, n)
	return n.Out
}

func (b *builder) linear(x, out, w, bias string) string {
	in := []string{x, b.weight(w)}
	if bias != "" {
		in = append(in, b.weight(bias))
	}
	return b.node(Node{Op: Linear, In: in, Out: out})
}

func (b *builder) norm(x, out, g, bias string) string {
	return b.node(Node{Op: LayerNorm, In: []string{x, b.weight(g), b.weight(bias)}, Out: out, Eps: b.g.Config.LNEps})
}

// tower adds the residual blocks; mask is the key mask input or "".
func (b *builder) tower(prefix string, t arch.Tower, x, mask string, causal bool) string {
	act := QuickGELU
	if b.g.Config.Activation == arch.GELU {
		act = GELU
	}
	for i := range t.Layers {
		n := arch.BlockNames(prefix, i)
		p := fmt.Sprintf("%s.blocks.%d.", prefix, i)
		h := b.norm(x, p+"ln_1", n.Ln1W, n.Ln1B)
		qkv := b.linear(h, p+"attn.qkv", n.QKVW, n.QKVB)
		in := []string{qkv}
		if mask != "" {
			in = append(in, mask)
		}
		a := b.node(Node{Op: Attention, In: in, Out: p + "attn", Heads: t.Heads, Width: t.Width, Causal: causal})
		o := b.linear(a, p+"attn.out", n.OutW, n.OutB)
		x = b.node(Node{Op: Add, In: []string{x, o}, Out: p + "res_1"})
		h = b.norm(x, p+"ln_2", n.Ln2W, n.Ln2B)
		m := b.linear(h, p+"mlp.fc1", n.FC1W, n.FC1B)
		m = b.node(Node{Op: act, In: []string{m}, Out: p + "mlp.act"})
		o = b.linear(m, p+"mlp.fc2", n.FC2W, n.FC2B)
		x = b.node(Node{Op: Add, In: []string{x, o}, Out: p + "res_2"})
	}
	return x
}

func (b *builder) done() (*Graph, error) {
	if b.err != nil {
		return nil, b.err
	}
	return b.g, nil
}

// Image describes the image tower of w in precision prec (empty means fp32):
// pixel_values → image_embeds, the native engine's EncodeImages.
func Image(w runtime.Weights, prec runtime.Precision) (*Graph, error) {
	b, err := newBuilder("image", w, prec)
	if err != nil {
		return nil, err
	}
	c := b.g.Config
	batch := Dim{Name: DimBatch}
	b.g.Inputs = []Value{{Name: PixelValues, DType: Float32,
		Shape: []Dim{batch, {Size: 3}, {Size: c.ImageSize}, {Size: c.ImageSize}}}}
	b.g.Outputs = []Value{{Name: ImageEmbeds, DType: Float32, Shape: []Dim{batch, {Size: c.EmbedDim}}}}

	x := b.node(Node{Op: Patchify, In: []string{PixelValues}, Out: "visual.patches", Patch: c.PatchSize})
	x = b.linear(x, "visual.patch_embed", arch.VisPatch, "")
	x = b.node(Node{Op: PrependClass, In: []string{x, b.weight(arch.VisClass)}, Out: "visual.tokens"})
	x = b.node(Node{Op: AddPositions, In: []string{x, b.weight(arch.VisPos)}, Out: "visual.embed"})
	x = b.norm(x, "visual.ln_pre", arch.VisLnPreW, arch.VisLnPreB)
	x = b.tower(arch.VisionPrefix, c.Vision, x, "", false)
	x = b.node(Node{Op: PoolFirst, In: []string{x}, Out: "visual.pooled"})
	x = b.norm(x, "visual.ln_post", arch.VisLnPostW, arch.VisLnPostB)
	x = b.linear(x, "visual.proj", arch.VisProj, "")
	b.node(Node{Op: L2Normalize, In: []string{x}, Out: ImageEmbeds})
	return b.done()
}

// Text describes the text tower: input_ids, attention_mask → text_embeds.
// Texts are right-padded; each is pooled at the last position whose mask is
// 1, its end token. That needs no assumption about token ids, unlike the
// argmax(input_ids) of OpenAI and Hugging Face, which holds only while the
// end token has the highest id. Padded keys are masked as Hugging Face does,
// so under the causal mask padding never changes a text's embedding.
func Text(w runtime.Weights, prec runtime.Precision) (*Graph, error) {
	b, err := newBuilder("text", w, prec)
	if err != nil {
		return nil, err
	}
	c := b.g.Config
	batch, seq := Dim{Name: DimBatch}, Dim{Name: DimSequence}
	b.g.Inputs = []Value{
		{Name: InputIDs, DType: Int64, Shape: []Dim{batch, seq}},
		{Name: AttentionMask, DType: Int64, Shape: []Dim{batch, seq}},
	}
	b.g.Outputs = []Value{{Name: TextEmbeds, DType: Float32, Shape: []Dim{batch, {Size: c.EmbedDim}}}}

	x := b.node(Node{Op: Embed, In: []string{InputIDs, b.weight(arch.TxtToken)}, Out: "text.tokens"})
	x = b.node(Node{Op: AddPositions, In: []string{x, b.weight(arch.TxtPos)}, Out: "text.embed"})
	x = b.tower(arch.TextPrefix, c.Text, x, AttentionMask, true)
	x = b.node(Node{Op: PoolLast, In: []string{x, AttentionMask}, Out: "text.pooled"})
	x = b.norm(x, "text.ln_final", arch.TxtLnFinalW, arch.TxtLnFinalB)
	x = b.linear(x, "text.proj", arch.TxtProj, "")
	b.node(Node{Op: L2Normalize, In: []string{x}, Out: TextEmbeds})
	return b.done()
}
