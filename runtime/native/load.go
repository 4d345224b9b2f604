package native

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/kernels"
)

// linear is one [out, in] layer in the arithmetic chosen at load: float
// weights (f32) or int8 weights with per-row scales (w8, w8a8).
type linear struct {
	out, in int
	// Exactly one of the packed forms is set after load, by the precision
	// and, in an int8 session of a quantized file, by the stored dtype.
	f32  *kernels.PackedF32 // fp32, or a layer the quantizer kept float
	w8   *kernels.PackedW8  // weight-only int8
	w8a8 *kernels.PackedI8  // int8 weights and activations
}

type block struct {
	ln1w, ln1b, ln2w, ln2b []float32
	qkv, out, fc1, fc2     linear
}

type tower struct {
	width, heads, mlp int
	blocks            []block
}

// model is the loaded architecture with every weight resolved.
type model struct {
	cfg   arch.Config
	prec  runtime.Precision
	quick bool // QuickGELU rather than GELU

	patch                            linear
	class, vpos                      []float32
	lnPreW, lnPreB, lnPostW, lnPostB []float32
	vproj                            linear
	vis                              tower

	tok, tpos      []float32
	lnFinW, lnFinB []float32
	tproj          linear
	txt            tower
}

type loader struct {
	w    runtime.Weights
	prec runtime.Precision
	// keepFloat: the file is quantized (it holds int8 linear weights), so
	// a float linear weight in it was kept float on purpose (the
	// quantizer's sensitivity analysis) and runs in fp32 in every session.
	keepFloat bool
	err       error
}

func (l *loader) fail(name, format string, a ...any) {
	if l.err == nil {
		l.err = fmt.Errorf("native: tensor %q: %s", name, fmt.Sprintf(format, a...))
	}
}

func (l *loader) tensor(name string, shape ...int) (runtime.Tensor, bool) {
	t, ok := l.w.Tensor(name)
	if !ok {
		l.fail(name, "missing")
		return t, false
	}
	if len(t.Shape) != len(shape) {
		l.fail(name, "shape %v, want %v", t.Shape, shape)
		return t, false
	}
	for i := range shape {
		if t.Shape[i] != shape[i] {
			l.fail(name, "shape %v, want %v", t.Shape, shape)
			return t, false
		}
	}
	return t, true
}

// floats returns a tensor as float32: a view into the weights when they are
// aligned F32, otherwise a converted copy.
func (l *loader) floats(name string, shape ...int) []float32 {
	t, ok := l.tensor(name, shape...)
	if !ok {
		return nil
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(t.Data) != n*t.DType.Size() {
		l.fail(name, "%d bytes for %s %v", len(t.Data), t.DType, t.Shape)
		return nil
	}
	switch t.DType {
	case runtime.F32:
		if n == 0 {
			return []float32{}
		}
		if uintptr(unsafe.Pointer(&t.Data[0]))%4 == 0 {
			return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
		return out
	case runtime.F16:
		out := make([]float32, n)
		for i := range out {
			out[i] = quant.F16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
		return out
	case runtime.I8:
		if len(t.Scales) != shape[0] {
			l.fail(name, "I8 tensor has %d scales, want %d", len(t.Scales), shape[0])
			return nil
		}
		out := make([]float32, n)
		q := unsafe.Slice((*int8)(unsafe.Pointer(&t.Data[0])), n)
		quant.Dequantize(q, t.Scales, shape[0], n/shape[0], out)
		return out
	}
	l.fail(name, "unsupported dtype %s", t.DType)
	return nil
}

// linear loads an [out, in] weight (and optional bias) in the session's
// precision, or in fp32 when the quantizer kept it float, and packs it once
// into the kernels' panel layout.
func (l *loader) linear(wname, bname string, out, in int) linear {
	lin := linear{out: out, in: in}
	var b []float32
	if bname != "" {
		b = l.floats(bname, out)
	}
	t, ok := l.tensor(wname, out, in)
	if !ok || l.err != nil {
		return lin
	}
	if l.prec == runtime.FP32 || l.keepFloat && t.DType != runtime.I8 {
		if w := l.floats(wname, out, in); w != nil {
			lin.f32 = kernels.PackF32(w, b, out, in)
		}
		return lin
	}
	var q []int8
	var s []float32
	if t.DType == runtime.I8 {
		if len(t.Data) != out*in || len(t.Scales) != out {
			l.fail(wname, "I8 tensor with %d bytes and %d scales, want %d and %d", len(t.Data), len(t.Scales), out*in, out)
			return lin
		}
		q, s = unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(t.Data))), out*in), t.Scales
	} else {
		// An fp32 file in an int8 session: quantize once at load.
		w := l.floats(wname, out, in)
		if w == nil {
			return lin
		}
		q, s = make([]int8, out*in), make([]float32, out)
		if err := quant.QuantizeRows(w, out, in, q, s); err != nil {
			l.fail(wname, "%v", err)
			return lin
		}
	}
	if l.prec == runtime.W8 {
		lin.w8 = kernels.PackW8(q, s, b, out, in)
	} else {
		lin.w8a8 = kernels.PackI8(q, s, b, out, in)
	}
	return lin
}

func (l *loader) tower(prefix string, t arch.Tower) tower {
	tw := tower{width: t.Width, heads: t.Heads, mlp: t.MLPWidth}
	for i := range t.Layers {
		n := arch.BlockNames(prefix, i)
		w, h := t.Width, t.MLPWidth
		tw.blocks = append(tw.blocks, block{
			ln1w: l.floats(n.Ln1W, w), ln1b: l.floats(n.Ln1B, w),
			ln2w: l.floats(n.Ln2W, w), ln2b: l.floats(n.Ln2B, w),
			qkv: l.linear(n.QKVW, n.QKVB, 3*w, w),
			out: l.linear(n.OutW, n.OutB, w, w),
			fc1: l.linear(n.FC1W, n.FC1B, h, w),
			fc2: l.linear(n.FC2W, n.FC2B, w, h),
		})
	}
	return tw
}

// quantized reports whether any linear weight of w is stored int8.
func quantized(w runtime.Weights, cfg arch.Config) bool {
	for name := range cfg.Shapes() {
		if !arch.Quantizable(name) {
			continue
		}
		if t, ok := w.Tensor(name); ok && t.DType == runtime.I8 {
			return true
		}
	}
	return false
}

func load(w runtime.Weights, prec runtime.Precision) (*model, error) {
	cfg := w.Config()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("native: %w", err)
	}
	l := &loader{w: w, prec: prec, keepFloat: prec != runtime.FP32 && quantized(w, cfg)}
	vw, tw, e := cfg.Vision.Width, cfg.Text.Width, cfg.EmbedDim
	m := &model{cfg: cfg, prec: prec, quick: cfg.Activation == arch.QuickGELU}
	m.patch = l.linear(arch.VisPatch, "", vw, cfg.PatchDim())
	m.class = l.floats(arch.VisClass, vw)
	m.vpos = l.floats(arch.VisPos, cfg.Tokens(), vw)
	m.lnPreW, m.lnPreB = l.floats(arch.VisLnPreW, vw), l.floats(arch.VisLnPreB, vw)
	m.lnPostW, m.lnPostB = l.floats(arch.VisLnPostW, vw), l.floats(arch.VisLnPostB, vw)
	m.vproj = l.linear(arch.VisProj, "", e, vw)
	m.vis = l.tower(arch.VisionPrefix, cfg.Vision)
	m.tok = l.floats(arch.TxtToken, cfg.VocabSize, tw)
	m.tpos = l.floats(arch.TxtPos, cfg.ContextLen, tw)
	m.lnFinW, m.lnFinB = l.floats(arch.TxtLnFinalW, tw), l.floats(arch.TxtLnFinalB, tw)
	m.tproj = l.linear(arch.TxtProj, "", e, tw)
	m.txt = l.tower(arch.TextPrefix, cfg.Text)
	if l.err != nil {
		return nil, l.err
	}
	return m, nil
}
