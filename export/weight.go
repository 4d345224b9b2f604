package export

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime"
)

// Weight is a graph constant backed by a model tensor. Its values are
// decoded only when a serializer asks, one tensor at a time, so exporting a
// memory-mapped model never holds a second full copy of it.
type Weight struct {
	Name  string
	Shape []int
	// Int8 marks a linear weight that the graph's precision (w8, w8a8)
	// stores as int8 rows with one scale per output channel (first axis),
	// exactly the native engine's quantization.
	Int8 bool
	t    runtime.Tensor
}

// Len is the element count.
func (w *Weight) Len() int {
	n := 1
	for _, d := range w.Shape {
		n *= d
	}
	return n
}

// Floats returns the values as float32, dequantizing int8 and widening F16.
func (w *Weight) Floats() ([]float32, error) {
	n := w.Len()
	t := w.t
	if len(t.Data) != n*t.DType.Size() {
		return nil, fmt.Errorf("export: tensor %q: %d bytes for %s %v", w.Name, len(t.Data), t.DType, w.Shape)
	}
	out := make([]float32, n)
	switch t.DType {
	case runtime.F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case runtime.F16:
		for i := range out {
			out[i] = quant.F16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	case runtime.I8:
		rows := w.Shape[0]
		if len(t.Scales) != rows {
			return nil, fmt.Errorf("export: tensor %q: I8 with %d scales, want %d", w.Name, len(t.Scales), rows)
		}
		quant.Dequantize(int8s(t.Data), t.Scales, rows, n/rows, out)
	default:
		return nil, fmt.Errorf("export: tensor %q: unsupported dtype %s", w.Name, t.DType)
	}
	return out, nil
}

// Rows returns the weight as int8 rows and per-row scales: the file's own
// codes when it is stored as I8, otherwise quantized the way the native
// engine quantizes float weights at load (quant.QuantizeRows).
func (w *Weight) Rows() ([]int8, []float32, error) {
	if len(w.Shape) != 2 {
		return nil, nil, fmt.Errorf("export: tensor %q: int8 rows need a 2-D weight, have %v", w.Name, w.Shape)
	}
	rows, cols := w.Shape[0], w.Shape[1]
	if w.t.DType == runtime.I8 {
		if len(w.t.Data) != rows*cols || len(w.t.Scales) != rows {
			return nil, nil, fmt.Errorf("export: tensor %q: I8 with %d bytes and %d scales, want %d and %d",
				w.Name, len(w.t.Data), len(w.t.Scales), rows*cols, rows)
		}
		return append([]int8(nil), int8s(w.t.Data)...), append([]float32(nil), w.t.Scales...), nil
	}
	f, err := w.Floats()
	if err != nil {
		return nil, nil, err
	}
	q, s := make([]int8, rows*cols), make([]float32, rows)
	if err := quant.QuantizeRows(f, rows, cols, q, s); err != nil {
		return nil, nil, fmt.Errorf("export: tensor %q: %w", w.Name, err)
	}
	return q, s, nil
}

func int8s(b []byte) []int8 {
	q := make([]int8, len(b))
	for i, v := range b {
		q[i] = int8(v)
	}
	return q
}
