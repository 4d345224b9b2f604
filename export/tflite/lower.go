package tflite

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/runtime"
)

// maskBias is added to the scores of future keys: exp of it underflows to
// exactly 0, like the native engine's skipped keys.
const maskBias = -1e9

// lowering turns an export graph into one TFLite subgraph. Batch is 1 and
// is dropped inside the graph: activations are [L, W] matrices, which is
// what FULLY_CONNECTED takes without keep_num_dims and what XNNPACK runs.
type lowering struct {
	g      *export.Graph
	m      *model
	vals   map[string]int32 // export value → tensor
	shared map[string]int32 // constants and weights, by key
	ranges map[string]Range // w8a8: calibrated activation ranges
	n      int
	err    error // first error of a helper that cannot return one
}

func newLowering(g *export.Graph, ranges map[string]Range) *lowering {
	return &lowering{g: g, m: newModel(), vals: map[string]int32{}, shared: map[string]int32{}, ranges: ranges}
}

func (l *lowering) shape(t int32) []int32 { return l.m.tensors[t].shape }

func (l *lowering) fresh(base string) string {
	l.n++
	return fmt.Sprintf("%s_%d", base, l.n)
}

// act adds an activation tensor; an empty name gets a fresh one.
func (l *lowering) act(name string, typ int8, shape ...int32) int32 {
	if name == "" {
		name = l.fresh("t")
	}
	return l.m.addTensor(tensor{name: name, shape: shape, typ: typ})
}

// op adds an operator with one float output of the given shape.
func (l *lowering) op(code int32, in []int32, out string, opts options, shape ...int32) int32 {
	o := l.act(out, tFloat32, shape...)
	l.m.addOp(code, 1, in, []int32{o}, opts)
	return o
}

func (l *lowering) constant(key, name string, typ int8, shape []int32, data []byte) int32 {
	if t, ok := l.shared[key]; ok {
		return t
	}
	buf := l.m.addBuffer(len(data), func() ([]byte, error) { return data, nil })
	t := l.m.addTensor(tensor{name: name, shape: shape, typ: typ, buf: buf})
	l.shared[key] = t
	return t
}

func (l *lowering) constI32(shape []int32, v ...int32) int32 {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return l.constant(fmt.Sprintf("i32%v%v", shape, v), l.fresh("const"), tInt32, shape, b)
}

func (l *lowering) constF32(shape []int32, v ...float32) int32 {
	key := fmt.Sprintf("f32%v%v", shape, v)
	if len(v) > 16 {
		key = "" // large constants are built once by their callers
	}
	if t, ok := l.shared[key]; ok && key != "" {
		return t
	}
	t := l.constant(l.fresh("c"), l.fresh("const"), tFloat32, shape, f32Bytes(v))
	if key != "" {
		l.shared[key] = t
	}
	return t
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// weight adds a float graph weight with the given shape (same element
// count as the model's), decoded when the file is written.
func (l *lowering) weight(name string, shape ...int32) (int32, error) {
	if t, ok := l.shared["w:"+name]; ok {
		return t, nil
	}
	w := l.g.Weight(name)
	if w == nil {
		return 0, fmt.Errorf("weight %q is not in the graph", name)
	}
	if len(shape) == 0 {
		for _, d := range w.Shape {
			shape = append(shape, int32(d))
		}
	}
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	if n != w.Len() {
		return 0, fmt.Errorf("weight %q: %d elements, want shape %v", name, w.Len(), shape)
	}
	buf := l.m.addBuffer(4*n, func() ([]byte, error) {
		f, err := w.Floats()
		if err != nil {
			return nil, err
		}
		return f32Bytes(f), nil
	})
	t := l.m.addTensor(tensor{name: name, shape: shape, typ: tFloat32, buf: buf})
	l.shared["w:"+name] = t
	return t, nil
}

func (l *lowering) run() error {
	c := l.g.Config
	for _, in := range l.g.Inputs {
		var t int32
		switch in.Name {
		case export.PixelValues:
			s := int32(c.ImageSize)
			t = l.act(in.Name, tFloat32, 1, 3, s, s)
		case export.InputIDs, export.AttentionMask:
			t = l.act(in.Name, tInt32, 1, int32(c.ContextLen))
		default:
			return fmt.Errorf("tflite: %s graph: unknown input %q", l.g.Name, in.Name)
		}
		l.vals[in.Name] = t
		l.m.inputs = append(l.m.inputs, t)
	}
	for _, n := range l.g.Nodes {
		if err := l.lower(n); err != nil {
			return fmt.Errorf("tflite: %s graph: node %s (%s): %w", l.g.Name, n.Out, n.Op, err)
		}
	}
	if l.err != nil {
		return fmt.Errorf("tflite: %s graph: %w", l.g.Name, l.err)
	}
	for _, o := range l.g.Outputs {
		t, ok := l.vals[o.Name]
		if !ok {
			return fmt.Errorf("tflite: %s graph: output %q not produced", l.g.Name, o.Name)
		}
		l.m.outputs = append(l.m.outputs, t)
	}
	return nil
}

// reshape keeps x's element type.
func (l *lowering) reshape(x int32, out string, shape ...int32) int32 {
	o := l.act(out, l.m.tensors[x].typ, shape...)
	l.m.addOp(opReshape, 1, []int32{x, l.constI32([]int32{int32(len(shape))}, shape...)}, []int32{o}, reshapeOpts(shape))
	return o
}

func (l *lowering) transpose(x int32, perm ...int32) int32 {
	in := l.shape(x)
	shape := make([]int32, len(perm))
	for i, p := range perm {
		shape[i] = in[p]
	}
	return l.op(opTranspose, []int32{x, l.constI32([]int32{int32(len(perm))}, perm...)}, "", emptyOpts(optTranspose), shape...)
}

func (l *lowering) binary(code int32, a, b int32, out string) int32 {
	sa, sb := l.shape(a), l.shape(b)
	shape := sa
	if len(sb) > len(sa) {
		shape = sb
	}
	var opts options
	switch code {
	case opAdd:
		opts = emptyOpts(optAdd)
	case opMul:
		opts = emptyOpts(optMul)
	case opSub:
		opts = emptyOpts(optSub)
	case opSquaredDiff:
		opts = emptyOpts(optSquaredDiff)
	}
	return l.op(code, []int32{a, b}, out, opts, append([]int32(nil), shape...)...)
}

func (l *lowering) lower(n export.Node) error {
	in := make([]int32, 0, len(n.In))
	for _, name := range n.In {
		if l.g.Weight(name) != nil {
			in = append(in, -1) // weights are added by the op that knows their layout
			continue
		}
		t, ok := l.vals[name]
		if !ok {
			return fmt.Errorf("value %q undefined", name)
		}
		in = append(in, t)
	}
	c := l.g.Config
	var out int32
	var err error
	switch n.Op {
	case export.Patchify:
		S, P := int32(c.ImageSize), int32(n.Patch)
		G := S / P
		x := l.reshape(in[0], "", 3, G, P, G, P)
		x = l.transpose(x, 1, 3, 0, 2, 4)
		out = l.reshape(x, n.Out, G*G, 3*P*P)
	case export.Linear:
		out, err = l.linear(n, in[0])
	case export.PrependClass:
		w := l.g.Weight(n.In[1])
		var cls int32
		if cls, err = l.weight(n.In[1], 1, int32(w.Shape[0])); err != nil {
			return err
		}
		s := l.shape(in[0])
		out = l.op(opConcat, []int32{cls, in[0]}, n.Out, concatOpts(0), s[0]+1, s[1])
	case export.AddPositions:
		var pos int32
		if pos, err = l.weight(n.In[1]); err != nil {
			return err
		}
		if s, p := l.shape(in[0]), l.shape(pos); s[0] != p[0] {
			return fmt.Errorf("%d tokens but %d positions: the TFLite graphs run at full context", s[0], p[0])
		}
		out = l.binary(opAdd, in[0], pos, n.Out)
	case export.Embed:
		var table int32
		if table, err = l.weight(n.In[1]); err != nil {
			return err
		}
		L := l.shape(in[0])[1]
		ids := l.reshape(in[0], "", L)
		out = l.op(opGather, []int32{table, ids}, n.Out, gatherOpts(0), L, l.shape(table)[1])
	case export.LayerNorm:
		out, err = l.layerNorm(n, in[0])
	case export.Attention:
		out = l.attention(n, in[0])
	case export.GELU:
		out = l.op(opGelu, []int32{in[0]}, n.Out, geluOpts(), l.shape(in[0])...)
	case export.QuickGELU:
		s := l.binary(opMul, in[0], l.constF32([]int32{1}, 1.702), "")
		s = l.op(opLogistic, []int32{s}, "", options{}, l.shape(s)...)
		out = l.binary(opMul, in[0], s, n.Out)
	case export.Add:
		out = l.binary(opAdd, in[0], in[1], n.Out)
	case export.PoolFirst:
		W := l.shape(in[0])[1]
		out = l.op(opStridedSlice, []int32{in[0], l.constI32([]int32{2}, 0, 0), l.constI32([]int32{2}, 1, W), l.constI32([]int32{2}, 1, 1)},
			n.Out, stridedSliceOpts(), 1, W)
	case export.PoolLast:
		// argmax(mask · [1..C]) is the last position whose mask is 1.
		C := l.shape(in[1])[1]
		ramp := make([]float32, C)
		for i := range ramp {
			ramp[i] = float32(i + 1)
		}
		m := l.op(opCast, []int32{in[1]}, "", castOpts(tInt32, tFloat32), 1, C)
		m = l.binary(opMul, m, l.constF32([]int32{C}, ramp...), "")
		idx := l.act("", tInt32, 1)
		l.m.addOp(opArgMax, 1, []int32{m, l.constI32([]int32{1}, 1)}, []int32{idx}, argMaxOpts(tInt32))
		out = l.op(opGather, []int32{in[0], idx}, n.Out, gatherOpts(0), 1, l.shape(in[0])[1])
	case export.L2Normalize:
		out = l.op(opL2Norm, []int32{in[0]}, n.Out, emptyOpts(optL2Norm), l.shape(in[0])...)
	default:
		return fmt.Errorf("no TFLite lowering for op %s", n.Op)
	}
	if err != nil {
		return err
	}
	l.vals[n.Out] = out
	return nil
}

// layerNorm over the last axis with MEAN/SQUARED_DIFFERENCE/RSQRT, the
// pattern TFLite's converter emits for Keras LayerNormalization.
func (l *lowering) layerNorm(n export.Node, x int32) (int32, error) {
	s := l.shape(x)
	rows := s[0]
	gain, err := l.weight(n.In[1])
	if err != nil {
		return 0, err
	}
	bias, err := l.weight(n.In[2])
	if err != nil {
		return 0, err
	}
	axis := l.constI32([]int32{1}, int32(len(s)-1))
	mean := l.op(opMean, []int32{x, axis}, "", reducerOpts(true), rows, 1)
	d := l.binary(opSub, x, mean, "")
	v := l.op(opSquaredDiff, []int32{x, mean}, "", emptyOpts(optSquaredDiff), s...)
	v = l.op(opMean, []int32{v, axis}, "", reducerOpts(true), rows, 1)
	v = l.binary(opAdd, v, l.constF32([]int32{1}, n.Eps), "")
	v = l.op(opRsqrt, []int32{v}, "", options{}, rows, 1)
	y := l.binary(opMul, d, v, "")
	y = l.binary(opMul, y, gain, "")
	return l.binary(opAdd, y, bias, n.Out), nil
}

// attention: qkv [L, 3W] → heads [3, H, L, D] → per-head BATCH_MATMUL,
// softmax and BATCH_MATMUL → [L, W]. Text towers add the causal mask; key
// padding needs no mask since right padding sits after every real query.
func (l *lowering) attention(n export.Node, qkv int32) int32 {
	L := l.shape(qkv)[0]
	H, W := int32(n.Heads), int32(n.Width)
	D := W / H
	x := l.reshape(qkv, "", L, 3, H, D)
	x = l.transpose(x, 1, 2, 0, 3) // [3, H, L, D]
	parts := []int32{l.act("", tFloat32, 1, H, L, D), l.act("", tFloat32, 1, H, L, D), l.act("", tFloat32, 1, H, L, D)}
	l.m.addOp(opSplit, 1, []int32{l.constI32(nil, 0), x}, parts, splitOpts(3))
	q := l.reshape(parts[0], "", H, L, D)
	k := l.reshape(parts[1], "", H, L, D)
	v := l.reshape(parts[2], "", H, L, D)
	s := l.op(opBatchMatMul, []int32{q, k}, "", batchMatMulOpts(false, true), H, L, L)
	s = l.binary(opMul, s, l.constF32([]int32{1}, float32(1/math.Sqrt(float64(D)))), "")
	if n.Causal {
		key := fmt.Sprintf("causal%d", L)
		bias, ok := l.shared[key]
		if !ok {
			c := make([]float32, L*L)
			for i := range L {
				for j := i + 1; j < L; j++ {
					c[i*L+j] = maskBias
				}
			}
			bias = l.constF32([]int32{1, L, L}, c...)
			l.shared[key] = bias
		}
		s = l.binary(opAdd, s, bias, "")
	}
	p := l.op(opSoftmax, []int32{s}, "", softmaxOpts(1), H, L, L)
	o := l.op(opBatchMatMul, []int32{p, v}, "", batchMatMulOpts(false, false), H, L, D)
	o = l.transpose(o, 1, 0, 2)
	return l.reshape(o, n.Out, L, W)
}

// linear lowers Linear by precision: float FULLY_CONNECTED (f32), int8
// per-channel weights behind DEQUANTIZE (w8), or QUANTIZE → int8
// FULLY_CONNECTED → DEQUANTIZE with calibrated activation scales (w8a8).
func (l *lowering) linear(n export.Node, x int32) (int32, error) {
	w := l.g.Weight(n.In[1])
	if w == nil || len(w.Shape) != 2 {
		return 0, fmt.Errorf("weight %q is not a 2-D graph weight", n.In[1])
	}
	O := int32(w.Shape[0])
	rows := l.shape(x)[0]
	switch {
	case !w.Int8:
		wt, err := l.weight(w.Name)
		if err != nil {
			return 0, err
		}
		bias := int32(-1)
		if len(n.In) > 2 {
			if bias, err = l.weight(n.In[2]); err != nil {
				return 0, err
			}
		}
		return l.op(opFullyConnected, []int32{x, wt, bias}, n.Out, fcOpts(), rows, O), nil
	case l.g.Precision == runtime.W8:
		// Weight-only int8, native w8's arithmetic: per-channel int8 codes,
		// DEQUANTIZE (computed once for a constant input) and a float
		// FULLY_CONNECTED. TFLite's hybrid kernel is not used: 2.9's arm64
		// dot-product path of it faults (under qemu, Cortex-A76 / Neoverse
		// N1 models), and on x86 it ran slower than XNNPACK fp32.
		wf := l.op(opDequantize, []int32{l.int8PerChannel(w)}, w.Name+".dequant", emptyOpts(optDequantize),
			int32(w.Shape[0]), int32(w.Shape[1]))
		bias := int32(-1)
		if len(n.In) > 2 {
			var err error
			if bias, err = l.weight(n.In[2]); err != nil {
				return 0, err
			}
		}
		return l.op(opFullyConnected, []int32{x, wf, bias}, n.Out, fcOpts(), rows, O), nil
	default:
		return l.int8Linear(n, w, x)
	}
}
