package onnx

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/runtime"
)

// maskBias is added to the scores of masked keys: exp of it underflows to
// exactly 0, like the native engine's skipped keys, without the NaN that
// -Inf gives when every key of a (padding) query is masked.
const maskBias = -1e9

// lowering turns export ops into ONNX nodes and initializers.
type lowering struct {
	g      *export.Graph
	nodes  []*msg
	inits  []*msg
	n      int
	shared map[string]string // values computed once per graph
	rows   map[string]*rowsMemo
}

// rowsMemo shares one quantization of a weight between its int8 codes and
// its scales initializers, and drops it once both are written.
type rowsMemo struct {
	q    []int8
	s    []float32
	uses int
}

func newLowering(g *export.Graph) *lowering {
	return &lowering{g: g, shared: map[string]string{}, rows: map[string]*rowsMemo{}}
}

type attr func(*msg)

func aInt(name string, v int64) attr {
	return func(m *msg) { m.str(attrName, name); m.int64(attrType, attrTypeInt); m.int64(attrI, v) }
}

func aInts(name string, v ...int64) attr {
	return func(m *msg) { m.str(attrName, name); m.int64(attrType, attrTypeInts); m.ints(attrInts, v) }
}

func aFloat(name string, v float32) attr {
	return func(m *msg) { m.str(attrName, name); m.int64(attrType, attrTypeFloat); m.float(attrF, v) }
}

// op adds a node with one output named out (a fresh name when out is "").
func (l *lowering) op(typ string, in []string, out string, attrs ...attr) string {
	if out == "" {
		out = l.fresh(typ)
	}
	m := &msg{}
	for _, s := range in {
		m.str(nodeInput, s)
	}
	m.str(nodeOutput, out)
	m.str(nodeName, fmt.Sprintf("%s_%d", typ, len(l.nodes)))
	m.str(nodeOpType, typ)
	for _, a := range attrs {
		am := &msg{}
		a(am)
		m.message(nodeAttr, am)
	}
	l.nodes = append(l.nodes, m)
	return out
}

func (l *lowering) fresh(base string) string {
	l.n++
	return fmt.Sprintf("_%s_%d", base, l.n)
}

func tensorHeader(name string, dt int64, shape []int) *msg {
	t := &msg{}
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	if len(dims) > 0 {
		t.ints(tensorDims, dims)
	}
	t.int64(tensorDataType, dt)
	t.str(tensorName, name)
	return t
}

// constF32 and constI64 add small constants, shared by value.
func (l *lowering) constF32(shape []int, v ...float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return l.constant(fmt.Sprintf("f32%v%v", shape, v), dtFloat, shape, b)
}

func (l *lowering) constI64(shape []int, v ...int64) string {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return l.constant(fmt.Sprintf("i64%v%v", shape, v), dtInt64, shape, b)
}

// constant adds the initializer raw under a fresh name, or returns the
// name of the one already added under key.
func (l *lowering) constant(key string, dt int64, shape []int, raw []byte) string {
	if s, ok := l.shared[key]; ok {
		return s
	}
	name := l.fresh("c")
	t := tensorHeader(name, dt, shape)
	t.bytes(tensorRaw, raw)
	l.inits = append(l.inits, t)
	l.shared[key] = name
	return name
}

// lazyInit adds an initializer whose n-byte payload fill writes later.
func (l *lowering) lazyInit(name string, dt int64, shape []int, n int, fill func(io.Writer) error) string {
	t := tensorHeader(name, dt, shape)
	t.lazy(protowire.Number(tensorRaw), n, fill)
	l.inits = append(l.inits, t)
	return name
}

// weight adds a float weight as is (shape as in the model).
func (l *lowering) weight(name string) string {
	if s, ok := l.shared["w:"+name]; ok {
		return s
	}
	w := l.g.Weight(name)
	l.lazyInit(name, dtFloat, w.Shape, 4*w.Len(), func(out io.Writer) error {
		f, err := w.Floats()
		if err != nil {
			return err
		}
		return writeF32(out, f)
	})
	l.shared["w:"+name] = name
	return name
}

// weightT adds an [out, in] float weight transposed to [in, out] for MatMul.
func (l *lowering) weightT(w *export.Weight) string {
	o, k := w.Shape[0], w.Shape[1]
	return l.lazyInit(w.Name+".T", dtFloat, []int{k, o}, 4*o*k, func(out io.Writer) error {
		f, err := w.Floats()
		if err != nil {
			return err
		}
		buf := make([]byte, 4*o)
		for i := range k {
			for j := range o {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f[j*k+i]))
			}
			if _, err := out.Write(buf); err != nil {
				return err
			}
		}
		return nil
	})
}

func (l *lowering) memo(w *export.Weight) (*rowsMemo, error) {
	m := l.rows[w.Name]
	if m == nil {
		q, s, err := w.Rows()
		if err != nil {
			return nil, err
		}
		m = &rowsMemo{q: q, s: s}
		l.rows[w.Name] = m
	}
	m.uses++
	if m.uses == 2 {
		delete(l.rows, w.Name)
	}
	return m, nil
}

// int8T adds an int8 [out, in] weight as its transposed codes [in, out]
// and its per-output-channel scales [out].
func (l *lowering) int8T(w *export.Weight) (codes, scales string) {
	o, k := w.Shape[0], w.Shape[1]
	codes = l.lazyInit(w.Name+".q.T", dtInt8, []int{k, o}, o*k, func(out io.Writer) error {
		m, err := l.memo(w)
		if err != nil {
			return err
		}
		buf := make([]byte, o)
		for i := range k {
			for j := range o {
				buf[j] = byte(m.q[j*k+i])
			}
			if _, err := out.Write(buf); err != nil {
				return err
			}
		}
		return nil
	})
	scales = l.lazyInit(w.Name+".scale", dtFloat, []int{o}, 4*o, func(out io.Writer) error {
		m, err := l.memo(w)
		if err != nil {
			return err
		}
		return writeF32(out, m.s)
	})
	return codes, scales
}

func writeF32(w io.Writer, f []float32) error {
	const chunk = 1 << 14
	buf := make([]byte, 4*min(chunk, len(f)))
	for len(f) > 0 {
		n := min(chunk, len(f))
		for i, x := range f[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
		}
		if _, err := w.Write(buf[:4*n]); err != nil {
			return err
		}
		f = f[n:]
	}
	return nil
}

func (l *lowering) run() error {
	for _, n := range l.g.Nodes {
		if err := l.lower(n); err != nil {
			return fmt.Errorf("onnx: %s graph: node %s (%s): %w", l.g.Name, n.Out, n.Op, err)
		}
	}
	return nil
}

// seqLen is the length of axis 1 of x as a 1-element int64 tensor.
func (l *lowering) seqLen(x string) string {
	key := "len:" + x
	if s, ok := l.shared[key]; ok {
		return s
	}
	s := l.op("Shape", []string{x}, "", aInt("start", 1), aInt("end", 2))
	l.shared[key] = s
	return s
}

func (l *lowering) lower(n export.Node) error {
	in, out := n.In, n.Out
	switch n.Op {
	case export.Patchify:
		S, P := l.g.Config.ImageSize, n.Patch
		G := int64(S / P)
		x := l.op("Reshape", []string{in[0], l.constI64([]int{6}, -1, 3, G, int64(P), G, int64(P))}, "")
		x = l.op("Transpose", []string{x}, "", aInts("perm", 0, 2, 4, 1, 3, 5))
		l.op("Reshape", []string{x, l.constI64([]int{3}, -1, G*G, int64(3*P*P))}, out)
	case export.Linear:
		return l.linear(n)
	case export.PrependClass:
		w := l.g.Weight(in[1])
		cls := l.lazyInit(w.Name+".3d", dtFloat, []int{1, 1, w.Shape[0]}, 4*w.Len(), func(o io.Writer) error {
			f, err := w.Floats()
			if err != nil {
				return err
			}
			return writeF32(o, f)
		})
		b := l.op("Shape", []string{in[0]}, "", aInt("start", 0), aInt("end", 1))
		shape := l.op("Concat", []string{b, l.constI64([]int{2}, 1, int64(w.Shape[0]))}, "", aInt("axis", 0))
		c := l.op("Expand", []string{cls, shape}, "")
		l.op("Concat", []string{c, in[0]}, out, aInt("axis", 1))
	case export.AddPositions:
		pos := l.op("Slice", []string{l.weight(in[1]), l.constI64([]int{1}, 0), l.seqLen(in[0]), l.constI64([]int{1}, 0)}, "")
		l.op("Add", []string{in[0], pos}, out)
	case export.Embed:
		l.op("Gather", []string{l.weight(in[1]), in[0]}, out, aInt("axis", 0))
	case export.LayerNorm:
		l.op("LayerNormalization", []string{in[0], l.weight(in[1]), l.weight(in[2])}, out,
			aInt("axis", -1), aFloat("epsilon", n.Eps))
	case export.Attention:
		l.attention(n)
	case export.GELU:
		// The erf form ORT fuses into its Gelu kernel.
		d := l.op("Div", []string{in[0], l.constF32(nil, math.Sqrt2)}, "")
		e := l.op("Erf", []string{d}, "")
		e = l.op("Add", []string{e, l.constF32(nil, 1)}, "")
		m := l.op("Mul", []string{in[0], e}, "")
		l.op("Mul", []string{m, l.constF32(nil, 0.5)}, out)
	case export.QuickGELU:
		s := l.op("Mul", []string{in[0], l.constF32(nil, 1.702)}, "")
		s = l.op("Sigmoid", []string{s}, "")
		l.op("Mul", []string{in[0], s}, out)
	case export.Add:
		l.op("Add", []string{in[0], in[1]}, out)
	case export.PoolFirst:
		l.op("Gather", []string{in[0], l.constI64(nil, 0)}, out, aInt("axis", 1))
	case export.PoolLast:
		// argmax(mask · [1..L]) is the last position whose mask is 1.
		C := l.g.Config.ContextLen
		ramp := make([]float32, C)
		for i := range ramp {
			ramp[i] = float32(i + 1)
		}
		r := l.op("Slice", []string{l.constF32([]int{C}, ramp...), l.constI64([]int{1}, 0), l.seqLen(in[1]), l.constI64([]int{1}, 0)}, "")
		m := l.op("Cast", []string{in[1]}, "", aInt("to", dtFloat))
		m = l.op("Mul", []string{m, r}, "")
		idx := l.op("ArgMax", []string{m}, "", aInt("axis", 1), aInt("keepdims", 1))
		l.op("GatherND", []string{in[0], idx}, out, aInt("batch_dims", 1))
	case export.L2Normalize:
		s := l.op("ReduceSumSquare", []string{in[0]}, "", aInts("axes", -1), aInt("keepdims", 1))
		s = l.op("Sqrt", []string{s}, "")
		s = l.op("Max", []string{s, l.constF32(nil, 1e-30)}, "")
		l.op("Div", []string{in[0], s}, out)
	default:
		return fmt.Errorf("no ONNX lowering for op %s", n.Op)
	}
	return nil
}

func (l *lowering) linear(n export.Node) error {
	x, out := n.In[0], n.Out
	w := l.g.Weight(n.In[1])
	if w == nil || len(w.Shape) != 2 {
		return fmt.Errorf("weight %q is not a 2-D graph weight", n.In[1])
	}
	y := out
	if len(n.In) > 2 {
		y = ""
	}
	switch {
	case !w.Int8:
		y = l.op("MatMul", []string{x, l.weightT(w)}, y)
	case l.g.Precision == runtime.W8:
		q, s := l.int8T(w)
		zp := l.lazyInit(w.Name+".zero", dtInt8, []int{w.Shape[0]}, w.Shape[0], func(o io.Writer) error {
			_, err := o.Write(make([]byte, w.Shape[0]))
			return err
		})
		d := l.op("DequantizeLinear", []string{q, s, zp}, "", aInt("axis", 1))
		y = l.op("MatMul", []string{x, d}, y)
	default:
		// Per-token symmetric int8 activations, quant.QuantizeRow's
		// arithmetic: s = max|x| / 127, codes = round(x · (1/s)) clamped to
		// ±127 (ONNX Round breaks exact .5 ties to even where native
		// rounds away from zero). A zero row keeps zero codes.
		q, ws := l.int8T(w)
		a := l.op("Abs", []string{x}, "")
		a = l.op("ReduceMax", []string{a}, "", aInts("axes", -1), aInt("keepdims", 1))
		s := l.op("Div", []string{a, l.constF32(nil, 127)}, "")
		s = l.op("Max", []string{s, l.constF32(nil, 1e-30)}, "")
		inv := l.op("Reciprocal", []string{s}, "")
		r := l.op("Mul", []string{x, inv}, "")
		r = l.op("Round", []string{r}, "")
		r = l.op("Clip", []string{r, l.constF32(nil, -127), l.constF32(nil, 127)}, "")
		// int8 × int8, not ONNX Runtime's uint8 × int8 fast path: on x86
		// without VNNI that path sums u8·s8 pairs in saturating int16
		// (vpmaddubsw) and drifts from the exact int32 product (cosine 0.84
		// against native w8a8 in runtime/ort tests when tried).
		xq := l.op("Cast", []string{r}, "", aInt("to", dtInt8))
		acc := l.op("MatMulInteger", []string{xq, q}, "")
		f := l.op("Cast", []string{acc}, "", aInt("to", dtFloat))
		f = l.op("Mul", []string{f, s}, "")
		y = l.op("Mul", []string{f, ws}, y)
	}
	if len(n.In) > 2 {
		l.op("Add", []string{y, l.weight(n.In[2])}, out)
	}
	return nil
}

// attention lowers packed-qkv multi-head attention to MatMul/Softmax.
func (l *lowering) attention(n export.Node) {
	qkv := n.In[0]
	H, W := int64(n.Heads), int64(n.Width)
	D := W / H
	split := l.constI64([]int{3}, W, W, W)
	q, k, v := l.fresh("q"), l.fresh("k"), l.fresh("v")
	m := &msg{}
	m.str(nodeInput, qkv)
	m.str(nodeInput, split)
	for _, o := range []string{q, k, v} {
		m.str(nodeOutput, o)
	}
	m.str(nodeName, fmt.Sprintf("Split_%d", len(l.nodes)))
	m.str(nodeOpType, "Split")
	am := &msg{}
	aInt("axis", -1)(am)
	m.message(nodeAttr, am)
	l.nodes = append(l.nodes, m)

	heads := l.constI64([]int{4}, 0, 0, H, D)
	q = l.op("Transpose", []string{l.op("Reshape", []string{q, heads}, "")}, "", aInts("perm", 0, 2, 1, 3))
	k = l.op("Transpose", []string{l.op("Reshape", []string{k, heads}, "")}, "", aInts("perm", 0, 2, 3, 1))
	v = l.op("Transpose", []string{l.op("Reshape", []string{v, heads}, "")}, "", aInts("perm", 0, 2, 1, 3))
	s := l.op("MatMul", []string{q, k}, "")
	s = l.op("Mul", []string{s, l.constF32(nil, float32(1/math.Sqrt(float64(D))))}, "")
	mask := ""
	if len(n.In) > 1 {
		mask = n.In[1]
	}
	if bias := l.attnBias(qkv, mask, n.Causal); bias != "" {
		s = l.op("Add", []string{s, bias}, "")
	}
	p := l.op("Softmax", []string{s}, "", aInt("axis", -1))
	o := l.op("MatMul", []string{p, v}, "")
	o = l.op("Transpose", []string{o}, "", aInts("perm", 0, 2, 1, 3))
	l.op("Reshape", []string{o, l.constI64([]int{3}, 0, 0, W)}, n.Out)
}

// attnBias is the additive score mask, built once per graph: causal
// [L, L] and/or key padding [B, 1, 1, L]; "" when there is none.
func (l *lowering) attnBias(x, mask string, causal bool) string {
	key := fmt.Sprintf("bias:%s:%v", mask, causal)
	if s, ok := l.shared[key]; ok {
		return s
	}
	bias := ""
	if causal {
		C := l.g.Config.ContextLen
		c := make([]float32, C*C)
		for i := range C {
			for j := i + 1; j < C; j++ {
				c[i*C+j] = maskBias
			}
		}
		L := l.seqLen(x)
		LL := l.op("Concat", []string{L, L}, "", aInt("axis", 0))
		bias = l.op("Slice", []string{l.constF32([]int{C, C}, c...), l.constI64([]int{2}, 0, 0), LL, l.constI64([]int{2}, 0, 1)}, "")
	}
	if mask != "" {
		f := l.op("Cast", []string{mask}, "", aInt("to", dtFloat))
		f = l.op("Sub", []string{l.constF32(nil, 1), f}, "")
		f = l.op("Mul", []string{f, l.constF32(nil, maskBias)}, "")
		f = l.op("Unsqueeze", []string{f, l.constI64([]int{2}, 1, 2)}, "")
		if bias != "" {
			f = l.op("Add", []string{bias, f}, "")
		}
		bias = f
	}
	l.shared[key] = bias
	return bias
}
