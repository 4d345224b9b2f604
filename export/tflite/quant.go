package tflite

import (
	"fmt"
	"math"

	"github.com/edgeclip/edgeclip/export"
)

// Range is the calibrated span of one activation, for w8a8's static
// per-tensor scales.
type Range struct{ Min, Max float32 }

func (r Range) widen(v float32) Range {
	return Range{min(r.Min, v), max(r.Max, v)}
}

// asymmetric returns the int8 scale and zero point that cover r (and 0,
// which must be exact for padding).
func (r Range) asymmetric() (float32, int64) {
	lo, hi := min(float64(r.Min), 0), max(float64(r.Max), 0)
	if hi-lo < 1e-12 {
		return 1, 0
	}
	s := (hi - lo) / 255
	zp := int64(math.Round(-128 - lo/s))
	return float32(s), max(-128, min(127, zp))
}

// rows returns w's int8 codes [out, in] and per-output-channel scales:
// the file's own codes when the model stores I8, else native's
// quant.QuantizeRows. A zero row's scale 0 becomes 1 (its codes are 0).
func rows(w *export.Weight) ([]int8, []float32, error) {
	q, s, err := w.Rows()
	if err != nil {
		return nil, nil, err
	}
	for i := range s {
		if !(s[i] > 0) {
			s[i] = 1
		}
	}
	return q, s, nil
}

// int8Weight adds a linear weight's int8 codes [out, in] as a tensor with
// one scale of 1: TFLite 2.9's int8 FULLY_CONNECTED kernel reads only a
// per-tensor scale (per-channel scales give zeros), so the per-channel
// scales are applied by a MUL after the layer (channelScale), which keeps
// native's per-channel weight arithmetic exactly.
func (l *lowering) int8Weight(w *export.Weight) (codes, scales int32) {
	key := "q:" + w.Name
	if t, ok := l.shared[key]; ok {
		return t, l.shared[key+".scale"]
	}
	q, s, err := rows(w)
	if err != nil {
		l.fail(err)
		q, s = make([]int8, w.Len()), make([]float32, w.Shape[0])
	}
	buf := l.m.addBuffer(len(q), func() ([]byte, error) { return int8Bytes(q), nil })
	codes = l.m.addTensor(tensor{name: w.Name + ".q", shape: []int32{int32(w.Shape[0]), int32(w.Shape[1])}, typ: tInt8, buf: buf,
		quant: &quantParams{scale: []float32{1}, zero: []int64{0}}})
	scales = l.constant(key+".scale", w.Name+".scale", tFloat32, []int32{int32(len(s))}, f32Bytes(s))
	l.shared[key] = codes
	return codes, scales
}

// int8PerChannel adds a linear weight's int8 codes [out, in] with one
// scale per output channel (quantized_dimension 0, zero points 0), the
// layout DEQUANTIZE expands to native w8's float weights.
func (l *lowering) int8PerChannel(w *export.Weight) int32 {
	key := "qc:" + w.Name
	if t, ok := l.shared[key]; ok {
		return t
	}
	q, s, err := rows(w)
	if err != nil {
		l.fail(err)
		q, s = make([]int8, w.Len()), make([]float32, w.Shape[0])
	}
	buf := l.m.addBuffer(len(q), func() ([]byte, error) { return int8Bytes(q), nil })
	t := l.m.addTensor(tensor{name: w.Name + ".q", shape: []int32{int32(w.Shape[0]), int32(w.Shape[1])}, typ: tInt8, buf: buf,
		quant: &quantParams{scale: s, zero: make([]int64, len(s)), dim: 0}})
	l.shared[key] = t
	return t
}

func int8Bytes(q []int8) []byte {
	b := make([]byte, len(q))
	for i, v := range q {
		b[i] = byte(v)
	}
	return b
}

func (l *lowering) fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

// int8Linear is QUANTIZE → FULLY_CONNECTED (int8 × int8, int32
// accumulation) → DEQUANTIZE → × channel scales → + bias, with per-tensor
// activation scales from calibration. The layer's int8 output is the
// accumulator in code units (Σ x·q), whose range Calibrate measures.
// Everything around it (norms, softmax, GELU) stays float.
func (l *lowering) int8Linear(n export.Node, w *export.Weight, x int32) (int32, error) {
	rin, ok := l.ranges[n.In[0]]
	racc, ok2 := l.ranges[accName(n.Out)]
	if !ok || !ok2 {
		return 0, fmt.Errorf("w8a8 needs calibrated ranges for %q and %q", n.In[0], accName(n.Out))
	}
	rows, K := l.shape(x)[0], l.shape(x)[1]
	O := int32(w.Shape[0])
	sx, zx := rin.asymmetric()
	so, zo := racc.asymmetric()
	xq := l.m.addTensor(tensor{name: l.fresh(n.In[0] + ".q"), shape: []int32{rows, K}, typ: tInt8,
		quant: &quantParams{scale: []float32{sx}, zero: []int64{zx}}})
	l.m.addOp(opQuantize, 1, []int32{x}, []int32{xq}, emptyOpts(optQuantize))
	codes, _ := l.int8Weight(w)
	yq := l.m.addTensor(tensor{name: n.Out + ".acc.q", shape: []int32{rows, O}, typ: tInt8,
		quant: &quantParams{scale: []float32{so}, zero: []int64{zo}}})
	// Version 4: int8 activations and weights.
	l.m.addOp(opFullyConnected, 4, []int32{xq, codes, -1}, []int32{yq}, fcOpts())
	y := l.op(opDequantize, []int32{yq}, "", emptyOpts(optDequantize), rows, O)
	return l.channelScale(n, w, y)
}

// channelScale multiplies a layer's output in code units by the weight's
// per-channel scales and adds the bias.
func (l *lowering) channelScale(n export.Node, w *export.Weight, y int32) (int32, error) {
	_, scales := l.int8Weight(w)
	if len(n.In) < 3 {
		return l.binary(opMul, y, scales, n.Out), nil
	}
	y = l.binary(opMul, y, scales, "")
	bias, err := l.weight(n.In[2])
	if err != nil {
		return 0, err
	}
	return l.binary(opAdd, y, bias, n.Out), nil
}

func accName(out string) string { return out + ".acc" }

// accScale maps a linear's output back to code units.
type accScale struct{ scales, bias []float32 }

// linearValues lists the inputs and outputs of g's int8 linears: the
// activations w8a8 needs ranges for.
func linearValues(g *export.Graph) []string {
	var names []string
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Op != export.Linear {
			continue
		}
		if w := g.Weight(n.In[1]); w == nil || !w.Int8 {
			continue
		}
		for _, v := range []string{n.In[0], n.Out} {
			if !seen[v] {
				seen[v] = true
				names = append(names, v)
			}
		}
	}
	return names
}

// Calibrate runs g in Go (export.Eval) on each sample and returns the
// range of every activation that feeds an int8 linear and of every int8
// linear's accumulator in code units, (y − bias) / scale per channel.
func Calibrate(g *export.Graph, samples []map[string]export.Array) (map[string]Range, error) {
	names := linearValues(g)
	accs := map[string]accScale{}
	for _, n := range g.Nodes {
		w := g.Weight(n.In[min(1, len(n.In)-1)])
		if n.Op != export.Linear || w == nil || !w.Int8 {
			continue
		}
		_, s, err := rows(w)
		if err != nil {
			return nil, err
		}
		a := accScale{scales: s}
		if len(n.In) > 2 {
			if a.bias, err = g.Weight(n.In[2]).Floats(); err != nil {
				return nil, err
			}
		}
		accs[n.Out] = a
	}
	probe := *g
	probe.Outputs = nil
	for _, v := range names {
		probe.Outputs = append(probe.Outputs, export.Value{Name: v})
	}
	ranges := map[string]Range{}
	for i, s := range samples {
		out, err := export.Eval(&probe, s)
		if err != nil {
			return nil, fmt.Errorf("tflite: calibrate %s graph, sample %d: %w", g.Name, i, err)
		}
		for _, v := range names {
			widen(ranges, v, out[v].F, nil)
			if a, ok := accs[v]; ok {
				widen(ranges, accName(v), out[v].F, &a)
			}
		}
	}
	return ranges, nil
}

// widen grows ranges[key] over vals, mapped to code units when a is set.
func widen(ranges map[string]Range, key string, vals []float32, a *accScale) {
	r, ok := ranges[key]
	if !ok {
		r = Range{float32(math.Inf(1)), float32(math.Inf(-1))}
	}
	for i, v := range vals {
		if a != nil {
			c := i % len(a.scales)
			if a.bias != nil {
				v -= a.bias[c]
			}
			v /= a.scales[c]
		}
		r = r.widen(v)
	}
	ranges[key] = r
}
