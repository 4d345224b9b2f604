// Package export describes edgeclip's CLIP towers as format-neutral graphs
// built from a model's weights, so that every interchange format (ONNX in
// export/onnx, TFLite next) serializes one description instead of
// re-deriving the architecture.
//
// The ops are CLIP-level (Linear, LayerNorm, Attention, …), not a format's
// primitives: each serializer lowers them into what its format offers. Their
// semantics are the native engine's (runtime/native), which every exported
// graph must reproduce; Eval runs a graph in Go to pin that down.
package export

import (
	"fmt"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// Tensor names of the exported graphs, those of Hugging Face Optimum's CLIP
// exports so that files from either source are interchangeable.
const (
	PixelValues   = "pixel_values"   // float32 [batch, 3, size, size], normalised CHW
	InputIDs      = "input_ids"      // int64 [batch, sequence]
	AttentionMask = "attention_mask" // int64 [batch, sequence], 1 for tokens, 0 for padding
	ImageEmbeds   = "image_embeds"   // float32 [batch, embed], L2-normalised
	TextEmbeds    = "text_embeds"    // float32 [batch, embed], L2-normalised
)

// Symbolic dimension names.
const (
	DimBatch    = "batch"
	DimSequence = "sequence"
)

// DType is the element type of a graph input or output.
type DType uint8

const (
	Float32 DType = iota + 1
	Int64
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int64:
		return "int64"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Dim is one dimension: a fixed Size, or a symbolic Name when Size is 0.
type Dim struct {
	Size int
	Name string
}

// Value is a named graph input or output.
type Value struct {
	Name  string
	DType DType
	Shape []Dim
}

// Op is a CLIP-level operation. Shapes below use B for batch, L for
// sequence length, W for width; every op acts on the last axis unless said.
type Op uint8

const (
	// Patchify: pixels [B, 3, S, S] → [B, G·G, 3·P·P], patches in raster
	// order, each flattened channel-major (c, ky, kx). Attr Patch = P.
	Patchify Op = iota + 1
	// Linear: x [..., in], weight [out, in], optional bias [out] → x·Wᵀ + b.
	// A weight with Int8 set runs in the graph's int8 precision.
	Linear
	// PrependClass: x [B, N, W], class [W] → [B, N+1, W] with class first.
	PrependClass
	// AddPositions: x [B, L, W], table [C, W] → x + table[:L].
	AddPositions
	// Embed: ids [B, L] (int64), table [V, W] → [B, L, W].
	Embed
	// LayerNorm: x, gain [W], bias [W]. Attr Eps.
	LayerNorm
	// Attention: qkv [B, L, 3W] (q, k, v stacked on the last axis),
	// optional key mask [B, L] (int64, 0 drops a key) → [B, L, W].
	// Attrs Heads, Width, Causal. Scores are q·k/√d, softmax over keys.
	Attention
	// GELU is the exact erf GELU; QuickGELU is x·σ(1.702x).
	GELU
	QuickGELU
	// Add: elementwise sum of two same-shaped values.
	Add
	// PoolFirst: x [B, L, W] → row 0 of each sequence, [B, W].
	PoolFirst
	// PoolLast: x [B, L, W], mask [B, L] → the row at the last position
	// whose mask is 1 (the end token of a right-padded text), [B, W].
	PoolLast
	// L2Normalize: x / ‖x‖ over the last axis; a zero vector stays zero.
	L2Normalize
)

var opNames = map[Op]string{
	Patchify: "Patchify", Linear: "Linear", PrependClass: "PrependClass", AddPositions: "AddPositions",
	Embed: "Embed", LayerNorm: "LayerNorm", Attention: "Attention", GELU: "GELU", QuickGELU: "QuickGELU",
	Add: "Add", PoolFirst: "PoolFirst", PoolLast: "PoolLast", L2Normalize: "L2Normalize",
}

func (o Op) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Node is one op. In names graph inputs, earlier outputs or weights.
type Node struct {
	Op     Op
	In     []string
	Out    string
	Eps    float32 // LayerNorm
	Heads  int     // Attention
	Width  int     // Attention: W, the model width (qkv is 3W wide)
	Causal bool    // Attention
	Patch  int     // Patchify
}

// Graph is one tower.
type Graph struct {
	// Name is "image" or "text".
	Name      string
	Config    arch.Config
	Precision runtime.Precision
	Inputs    []Value
	Outputs   []Value
	Nodes     []Node
	// Weights in first-use order; look them up with Weight.
	Weights []*Weight
	byName  map[string]*Weight
}

// Weight returns the graph constant with the given name, or nil.
func (g *Graph) Weight(name string) *Weight { return g.byName[name] }

// Params is the number of weight elements.
func (g *Graph) Params() int64 {
	var n int64
	for _, w := range g.Weights {
		n += int64(w.Len())
	}
	return n
}
