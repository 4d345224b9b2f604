package quantize

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime"
)

// weights serves Contents to a backend without writing a file, so that the
// quantized model can be measured before it is written (the report goes into
// the file's metadata).
type weights struct {
	cfg  arch.Config
	hash string
	t    map[string]runtime.Tensor
}

var _ runtime.Weights = (*weights)(nil)

func newWeights(c *models.Contents) *weights {
	w := &weights{cfg: c.Config, hash: models.HashContents(c), t: make(map[string]runtime.Tensor, len(c.Tensors))}
	for _, t := range c.Tensors {
		w.t[t.Name] = t
	}
	// An I8 tensor read from a file carries its scales as a separate tensor.
	for n, t := range w.t {
		if s, ok := w.t[n+arch.ScaleSuffix]; ok && t.DType == runtime.I8 && t.Scales == nil {
			t.Scales = toFloats(s.Data)
			w.t[n] = t
		}
	}
	return w
}

func (w *weights) Config() arch.Config                       { return w.cfg }
func (w *weights) Tensor(name string) (runtime.Tensor, bool) { t, ok := w.t[name]; return t, ok }
func (w *weights) Hash() string                              { return w.hash }

// floats returns a float tensor's values (F32 or F16).
func floats(t runtime.Tensor) ([]float32, error) {
	switch t.DType {
	case runtime.F32:
		if len(t.Data)%4 != 0 {
			return nil, fmt.Errorf("tensor %q: %d bytes is not a whole number of F32 values", t.Name, len(t.Data))
		}
		return toFloats(t.Data), nil
	case runtime.F16:
		out := make([]float32, len(t.Data)/2)
		for i := range out {
			out[i] = quant.F16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q: dtype %s: %w", t.Name, t.DType, ErrQuantized)
}

func toFloats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f16Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], quant.F32ToF16(x))
	}
	return b
}

func i8Bytes(q []int8) []byte {
	b := make([]byte, len(q))
	for i, v := range q {
		b[i] = byte(v)
	}
	return b
}
