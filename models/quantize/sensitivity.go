package quantize

import (
	"fmt"
	"math"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime"
)

// Layer is one quantizable linear layer's sensitivity: the cosine between
// its output in the mode's arithmetic and in fp32, per calibration token
// (row), with the fp32 model's own activations as input.
type Layer struct {
	Name    string  `json:"name"`
	CosMean float64 `json:"cos_mean"`
	CosMin  float64 `json:"cos_min"`
	Rows    int     `json:"rows"`
	// DType is how the output file stores the weight: I8 or F16, or F32
	// when the layer fell under the threshold.
	DType string `json:"dtype"`
}

// layerInputs runs a tower's fp32 graph with the reference evaluator
// (export.Eval), asking it for the input of every linear layer as well as
// the output, and returns those inputs by weight name with the rows to keep
// (nil keeps all).
type layerInput struct {
	x    []float32
	rows []bool
}

func layerInputs(g *export.Graph, in map[string]export.Array, keep func(name string, rows int) []bool) (map[string]layerInput, []export.Node, error) {
	var lin []export.Node
	for _, n := range g.Nodes {
		if n.Op == export.Linear && arch.Quantizable(n.In[1]) {
			lin = append(lin, n)
			g.Outputs = append(g.Outputs, export.Value{Name: n.In[0], DType: export.Float32})
		}
	}
	res, err := export.Eval(g, in)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]layerInput, len(lin))
	for _, n := range lin {
		a := res[n.In[0]]
		rows := len(a.F) / a.Shape[len(a.Shape)-1]
		out[n.In[1]] = layerInput{x: a.F, rows: keep(n.In[0], rows)}
	}
	return out, lin, nil
}

// sensitivity measures one layer: y = x·Wᵀ + b in fp32 and in the mode's
// arithmetic, cosine per kept row.
func sensitivity(mode Mode, name string, w, b []float32, out, in int, li layerInput) (Layer, error) {
	m := len(li.x) / in
	if m*in != len(li.x) || len(w) != out*in {
		return Layer{}, fmt.Errorf("quantize: layer %q: input of %d values for %d×%d weight", name, len(li.x), out, in)
	}
	ref := make([]float32, m*out)
	matmul(m, in, out, li.x, w, b, ref)
	got := make([]float32, m*out)
	switch mode {
	case F16:
		wh := make([]float32, len(w))
		for i, v := range w {
			wh[i] = quant.F16ToF32(quant.F32ToF16(v))
		}
		matmul(m, in, out, li.x, wh, b, got)
	case W8, W8A8:
		q, s := make([]int8, len(w)), make([]float32, out)
		if err := quant.QuantizeRows(w, out, in, q, s); err != nil {
			return Layer{}, err
		}
		if mode == W8 {
			wd := make([]float32, len(w))
			quant.Dequantize(q, s, out, in, wd)
			matmul(m, in, out, li.x, wd, b, got)
			break
		}
		xq, xs := make([]int8, len(li.x)), make([]float32, m)
		for i := range m {
			xs[i] = quant.QuantizeRow(li.x[i*in:(i+1)*in], xq[i*in:(i+1)*in])
		}
		matmulI8(m, in, out, xq, xs, q, s, b, got)
	}
	l := Layer{Name: name, CosMin: 1}
	var sum float64
	for i := range m {
		if li.rows != nil && !li.rows[i] {
			continue
		}
		c := cosine(ref[i*out:(i+1)*out], got[i*out:(i+1)*out])
		sum += c
		l.CosMin = math.Min(l.CosMin, c)
		l.Rows++
	}
	if l.Rows > 0 {
		l.CosMean = sum / float64(l.Rows)
	}
	return l, nil
}

// matmul is y = x·Wᵀ + b in float64 accumulation: the reference, written
// out rather than borrowed from the engine's kernels so that it measures
// the format's arithmetic, not a kernel's.
func matmul(m, in, out int, x, w, b, y []float32) {
	for i := range m {
		xr := x[i*in : (i+1)*in]
		for j := range out {
			var acc float64
			for k, v := range w[j*in : (j+1)*in] {
				acc += float64(xr[k]) * float64(v)
			}
			if b != nil {
				acc += float64(b[j])
			}
			y[i*out+j] = float32(acc)
		}
	}
}

// matmulI8 is w8a8's arithmetic: int8 × int8 products summed in int32,
// scaled by the token's and the channel's scales.
func matmulI8(m, in, out int, xq []int8, xs []float32, wq []int8, ws, b, y []float32) {
	for i := range m {
		xr := xq[i*in : (i+1)*in]
		for j := range out {
			var acc int32
			for k, v := range wq[j*in : (j+1)*in] {
				acc += int32(xr[k]) * int32(v)
			}
			v := float32(acc) * xs[i] * ws[j]
			if b != nil {
				v += b[j]
			}
			y[i*out+j] = v
		}
	}
}

// cosine of two vectors; two zero vectors agree (1), one zero vector does not (0).
func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	switch {
	case aa == 0 && bb == 0:
		return 1
	case aa == 0 || bb == 0:
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// analyse returns every quantizable layer's sensitivity on the first
// calibration images and texts, image tower first, in graph order.
func analyse(w *weights, mode Mode, c *Calibration, images, texts int, progress func(string)) ([]Layer, error) {
	cfg := w.cfg
	var layers []Layer
	run := func(g *export.Graph, in map[string]export.Array, keep func(string, int) []bool) error {
		inputs, nodes, err := layerInputs(g, in, keep)
		if err != nil {
			return fmt.Errorf("quantize: %w", err)
		}
		for _, n := range nodes {
			wt, _ := w.Tensor(n.In[1])
			wf, err := floats(wt)
			if err != nil {
				return fmt.Errorf("quantize: %w", err)
			}
			var bias []float32
			if len(n.In) > 2 {
				bt, _ := w.Tensor(n.In[2])
				if bias, err = floats(bt); err != nil {
					return fmt.Errorf("quantize: %w", err)
				}
			}
			l, err := sensitivity(mode, n.In[1], wf, bias, wt.Shape[0], wt.Shape[1], inputs[n.In[1]])
			if err != nil {
				return err
			}
			layers = append(layers, l)
			progress(n.In[1])
		}
		return nil
	}

	gi, err := export.Image(w, runtime.FP32)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	images = min(images, c.Images)
	per := 3 * cfg.ImageSize * cfg.ImageSize
	px := export.Array{Shape: []int{images, 3, cfg.ImageSize, cfg.ImageSize}, F: c.Pixels[:images*per]}
	if err := run(gi, map[string]export.Array{export.PixelValues: px}, func(string, int) []bool { return nil }); err != nil {
		return nil, err
	}

	gt, err := export.Text(w, runtime.FP32)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	texts = min(texts, len(c.Texts))
	L := 0
	for _, t := range c.Texts[:texts] {
		L = max(L, len(t))
	}
	ids := export.Array{Shape: []int{texts, L}, I: make([]int64, texts*L)}
	mask := export.Array{Shape: []int{texts, L}, I: make([]int64, texts*L)}
	valid := make([]bool, texts*L)
	for i, t := range c.Texts[:texts] {
		for j, id := range t {
			ids.I[i*L+j], mask.I[i*L+j], valid[i*L+j] = int64(id), 1, true
		}
	}
	// Padded positions feed the per-token layers but are not part of any
	// text: only real tokens count. The projection sees one row per text.
	keep := func(_ string, rows int) []bool {
		if rows == len(valid) {
			return valid
		}
		return nil
	}
	if err := run(gt, map[string]export.Array{export.InputIDs: ids, export.AttentionMask: mask}, keep); err != nil {
		return nil, err
	}
	return layers, nil
}
