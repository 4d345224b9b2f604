package export

import (
	"fmt"
	"math"

	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime"
)

// Array is a dense row-major value for Eval: F for float32, I for int64.
type Array struct {
	Shape []int
	F     []float32
	I     []int64
}

// Eval runs g on the given inputs with plain loops: the executable meaning
// of the ops, checked against the native engine in this package's tests, and
// a reference a serializer's tests can bisect a mismatch with. It is slow; do
// not use it to encode.
func Eval(g *Graph, inputs map[string]Array) (map[string]Array, error) {
	env := map[string]Array{}
	for _, in := range g.Inputs {
		a, ok := inputs[in.Name]
		if !ok {
			return nil, fmt.Errorf("export: eval %s: input %q missing", g.Name, in.Name)
		}
		env[in.Name] = a
	}
	for _, w := range g.Weights {
		f, err := w.Floats()
		if err != nil {
			return nil, err
		}
		env[w.Name] = Array{Shape: w.Shape, F: f}
	}
	for _, n := range g.Nodes {
		in := make([]Array, len(n.In))
		for i, name := range n.In {
			a, ok := env[name]
			if !ok {
				return nil, fmt.Errorf("export: eval %s: node %s: value %q undefined", g.Name, n.Out, name)
			}
			in[i] = a
		}
		out, err := evalNode(g, n, in)
		if err != nil {
			return nil, fmt.Errorf("export: eval %s: node %s (%s): %w", g.Name, n.Out, n.Op, err)
		}
		env[n.Out] = out
	}
	res := map[string]Array{}
	for _, o := range g.Outputs {
		res[o.Name] = env[o.Name]
	}
	return res, nil
}

func evalNode(g *Graph, n Node, in []Array) (Array, error) {
	x := in[0]
	last := 0
	if len(x.Shape) > 0 {
		last = x.Shape[len(x.Shape)-1]
	}
	rows := func(a Array) int { return len(a.F) / a.Shape[len(a.Shape)-1] }
	switch n.Op {
	case Patchify:
		B, S, P := x.Shape[0], x.Shape[2], n.Patch
		G := S / P
		out := make([]float32, 0, len(x.F))
		for b := range B {
			for gy := range G {
				for gx := range G {
					for c := range 3 {
						for ky := range P {
							row := x.F[((b*3+c)*S+gy*P+ky)*S+gx*P:]
							out = append(out, row[:P]...)
						}
					}
				}
			}
		}
		return Array{Shape: []int{B, G * G, 3 * P * P}, F: out}, nil
	case Linear:
		w := g.Weight(n.In[1])
		o, k := w.Shape[0], w.Shape[1]
		m := rows(x)
		y := make([]float32, m*o)
		var bias []float32
		if len(in) > 2 {
			bias = in[2].F
		}
		wf := in[1].F
		var xq []int8
		var xs []float32
		var wq []int8
		var ws []float32
		if w.Int8 {
			var err error
			if wq, ws, err = w.Rows(); err != nil {
				return Array{}, err
			}
			wf = make([]float32, len(wq))
			quant.Dequantize(wq, ws, o, k, wf)
			if g.Precision == runtime.W8A8 {
				xq, xs = make([]int8, len(x.F)), make([]float32, m)
				for i := range m {
					xs[i] = quant.QuantizeRow(x.F[i*k:(i+1)*k], xq[i*k:(i+1)*k])
				}
			}
		}
		for i := range m {
			for j := range o {
				var v float32
				if xq != nil {
					var acc int32
					for p := range k {
						acc += int32(xq[i*k+p]) * int32(wq[j*k+p])
					}
					v = float32(acc) * xs[i] * ws[j]
				} else {
					var s float64
					for p := range k {
						s += float64(x.F[i*k+p]) * float64(wf[j*k+p])
					}
					v = float32(s)
				}
				if bias != nil {
					v += bias[j]
				}
				y[i*o+j] = v
			}
		}
		return Array{Shape: append(append([]int(nil), x.Shape[:len(x.Shape)-1]...), o), F: y}, nil
	case PrependClass:
		B, N, W := x.Shape[0], x.Shape[1], x.Shape[2]
		out := make([]float32, 0, B*(N+1)*W)
		for b := range B {
			out = append(out, in[1].F...)
			out = append(out, x.F[b*N*W:(b+1)*N*W]...)
		}
		return Array{Shape: []int{B, N + 1, W}, F: out}, nil
	case AddPositions:
		L, W := x.Shape[1], x.Shape[2]
		if L > in[1].Shape[0] {
			return Array{}, fmt.Errorf("sequence %d longer than %d positions", L, in[1].Shape[0])
		}
		out := append([]float32(nil), x.F...)
		for i := range out {
			out[i] += in[1].F[(i/W)%L*W+i%W]
		}
		return Array{Shape: x.Shape, F: out}, nil
	case Embed:
		V, W := in[1].Shape[0], in[1].Shape[1]
		out := make([]float32, 0, len(x.I)*W)
		for _, id := range x.I {
			if id < 0 || id >= int64(V) {
				return Array{}, fmt.Errorf("token id %d outside vocabulary of %d", id, V)
			}
			out = append(out, in[1].F[int(id)*W:(int(id)+1)*W]...)
		}
		return Array{Shape: append(append([]int(nil), x.Shape...), W), F: out}, nil
	case LayerNorm:
		out := make([]float32, len(x.F))
		for r := range rows(x) {
			row := x.F[r*last : (r+1)*last]
			var mean, vs float64
			for _, v := range row {
				mean += float64(v)
			}
			mean /= float64(last)
			for _, v := range row {
				vs += (float64(v) - mean) * (float64(v) - mean)
			}
			inv := 1 / math.Sqrt(vs/float64(last)+float64(n.Eps))
			for j, v := range row {
				out[r*last+j] = float32((float64(v)-mean)*inv)*in[1].F[j] + in[2].F[j]
			}
		}
		return Array{Shape: x.Shape, F: out}, nil
	case Attention:
		return evalAttention(n, in)
	case GELU, QuickGELU:
		out := make([]float32, len(x.F))
		for i, v := range x.F {
			if n.Op == QuickGELU {
				out[i] = float32(float64(v) / (1 + math.Exp(-1.702*float64(v))))
			} else {
				out[i] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
			}
		}
		return Array{Shape: x.Shape, F: out}, nil
	case Add:
		out := make([]float32, len(x.F))
		for i := range out {
			out[i] = x.F[i] + in[1].F[i]
		}
		return Array{Shape: x.Shape, F: out}, nil
	case PoolFirst, PoolLast:
		B, L, W := x.Shape[0], x.Shape[1], x.Shape[2]
		out := make([]float32, 0, B*W)
		for b := range B {
			pos := 0
			if n.Op == PoolLast {
				for l := range L {
					if in[1].I[b*L+l] != 0 {
						pos = l
					}
				}
			}
			out = append(out, x.F[(b*L+pos)*W:(b*L+pos+1)*W]...)
		}
		return Array{Shape: []int{B, W}, F: out}, nil
	case L2Normalize:
		out := append([]float32(nil), x.F...)
		for r := range rows(x) {
			row := out[r*last : (r+1)*last]
			var s float64
			for _, v := range row {
				s += float64(v) * float64(v)
			}
			if s > 0 {
				for j := range row {
					row[j] = float32(float64(row[j]) / math.Sqrt(s))
				}
			}
		}
		return Array{Shape: x.Shape, F: out}, nil
	}
	return Array{}, fmt.Errorf("unknown op %s", n.Op)
}

func evalAttention(n Node, in []Array) (Array, error) {
	qkv := in[0]
	B, L, W := qkv.Shape[0], qkv.Shape[1], qkv.Shape[2]/3
	H := n.Heads
	d := W / H
	out := make([]float32, B*L*W)
	sc := make([]float64, L)
	for b := range B {
		row := func(l, part, h int) []float32 {
			o := (b*L+l)*3*W + part*W + h*d
			return qkv.F[o : o+d]
		}
		for h := range H {
			for i := range L {
				mx := math.Inf(-1)
				for j := range L {
					sc[j] = math.Inf(-1)
					if (n.Causal && j > i) || (len(in) > 1 && in[1].I[b*L+j] == 0) {
						continue
					}
					var s float64
					q, k := row(i, 0, h), row(j, 1, h)
					for t := range d {
						s += float64(q[t]) * float64(k[t])
					}
					sc[j] = s / math.Sqrt(float64(d))
					mx = math.Max(mx, sc[j])
				}
				if math.IsInf(mx, -1) {
					continue // every key masked: a padding query, left zero
				}
				var sum float64
				for j := range L {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				o := out[(b*L+i)*W+h*d : (b*L+i)*W+h*d+d]
				for j := range L {
					if sc[j] == 0 {
						continue
					}
					for t, v := range row(j, 2, h) {
						o[t] += float32(sc[j] / sum * float64(v))
					}
				}
			}
		}
	}
	return Array{Shape: []int{B, L, W}, F: out}, nil
}
