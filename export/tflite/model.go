package tflite

import (
	"fmt"
	"sort"

	fb "github.com/google/flatbuffers/go"
)

// quantParams is a tensor's affine quantization: value = scale·(q − zero),
// per channel along dim when there is more than one scale.
type quantParams struct {
	scale []float32
	zero  []int64
	dim   int32
}

type tensor struct {
	name  string
	shape []int32
	typ   int8
	buf   uint32 // 0: no data (an activation)
	quant *quantParams
}

type operator struct {
	code    int32
	version int32
	in, out []int32
	opts    options
}

// buffer is constant data, produced only when the file is written so that
// a model's weights are decoded one tensor at a time.
type buffer struct {
	size int
	fill func() ([]byte, error)
}

// model is one subgraph being assembled by the lowering.
type model struct {
	tensors []tensor
	ops     []operator
	buffers []buffer // index 0 is the schema's empty sentinel
	inputs  []int32
	outputs []int32
	meta    map[string]string
}

func newModel() *model { return &model{buffers: []buffer{{}}} }

func (m *model) addTensor(t tensor) int32 {
	m.tensors = append(m.tensors, t)
	return int32(len(m.tensors) - 1)
}

func (m *model) addBuffer(size int, fill func() ([]byte, error)) uint32 {
	m.buffers = append(m.buffers, buffer{size: size, fill: fill})
	return uint32(len(m.buffers) - 1)
}

func (m *model) addOp(code int32, version int32, in, out []int32, opts options) {
	m.ops = append(m.ops, operator{code: code, version: version, in: in, out: out, opts: opts})
}

// estimate is an upper bound of the serialized size, so that the builder
// is allocated once: flatbuffers' Go builder copies itself on every growth
// and refuses to grow past 1 GiB.
func (m *model) estimate() int {
	n := 1 << 16
	for _, b := range m.buffers {
		n += b.size + bufferAlign + 64
	}
	for _, t := range m.tensors {
		n += 96 + len(t.name) + 4*len(t.shape)
		if t.quant != nil {
			n += 64 + 12*len(t.quant.scale)
		}
	}
	for _, o := range m.ops {
		n += 96 + 4*(len(o.in)+len(o.out))
	}
	for k, v := range m.meta {
		n += 64 + len(k) + len(v)
	}
	return n
}

// serialize writes the model as a TFLite flatbuffer.
func (m *model) serialize(name, description string) ([]byte, error) {
	size := m.estimate()
	if size > 1<<31-1 {
		return nil, fmt.Errorf("tflite: %s graph: %d bytes exceed the 2 GiB flatbuffer limit", name, size)
	}
	b := fb.NewBuilder(size)

	// Metadata strings go into extra buffers after the weights.
	keys := make([]string, 0, len(m.meta))
	for k := range m.meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bufs := append([]buffer(nil), m.buffers...)
	metaBuf := make([]uint32, len(keys))
	for i, k := range keys {
		v := []byte(m.meta[k])
		metaBuf[i] = uint32(len(bufs))
		bufs = append(bufs, buffer{size: len(v), fill: func() ([]byte, error) { return v, nil }})
	}

	// Operator codes, in first-use order.
	type codeKey struct{ code, version int32 }
	codeIndex := map[codeKey]uint32{}
	var codes []codeKey
	for _, o := range m.ops {
		k := codeKey{o.code, o.version}
		if _, ok := codeIndex[k]; !ok {
			codeIndex[k] = uint32(len(codes))
			codes = append(codes, k)
		}
	}
	codeOffs := make([]fb.UOffsetT, len(codes))
	for i, c := range codes {
		dep := min(c.code, opPlaceholderForGreater)
		codeOffs[i] = table(b, opcodeFields, func() {
			b.PrependInt32Slot(opcodeBuiltin, c.code, 0)
			b.PrependInt32Slot(opcodeVersion, c.version, 1)
			b.PrependInt8Slot(opcodeDeprecated, int8(dep), 0)
		})
	}
	opcodes := offsetVector(b, codeOffs)

	tensorOffs := make([]fb.UOffsetT, len(m.tensors))
	for i, t := range m.tensors {
		nameOff := b.CreateString(t.name)
		shape := int32Vector(b, t.shape)
		var q fb.UOffsetT
		if t.quant != nil {
			sc := float32Vector(b, t.quant.scale)
			zp := int64Vector(b, t.quant.zero)
			q = table(b, quantFields, func() {
				b.PrependUOffsetTSlot(quantScale, sc, 0)
				b.PrependUOffsetTSlot(quantZeroPoint, zp, 0)
				b.PrependInt32Slot(quantDim, t.quant.dim, 0)
			})
		}
		tensorOffs[i] = table(b, tensorFields, func() {
			b.PrependUOffsetTSlot(tensorShape, shape, 0)
			b.PrependUOffsetTSlot(tensorName, nameOff, 0)
			if q != 0 {
				b.PrependUOffsetTSlot(tensorQuant, q, 0)
			}
			b.PrependUint32Slot(tensorBuffer, t.buf, 0)
			b.PrependInt8Slot(tensorType, t.typ, 0)
		})
	}
	tensors := offsetVector(b, tensorOffs)

	opOffs := make([]fb.UOffsetT, len(m.ops))
	for i, o := range m.ops {
		in := int32Vector(b, o.in)
		out := int32Vector(b, o.out)
		var opts fb.UOffsetT
		if o.opts.build != nil {
			opts = o.opts.build(b)
		}
		idx := codeIndex[codeKey{o.code, o.version}]
		opOffs[i] = table(b, opFields, func() {
			b.PrependUint32Slot(opOpcode, idx, 0)
			b.PrependUOffsetTSlot(opInputs, in, 0)
			b.PrependUOffsetTSlot(opOutputs, out, 0)
			if opts != 0 {
				b.PrependUOffsetTSlot(opOptions, opts, 0)
				b.PrependUint8Slot(opOptionsType, o.opts.typ, 0)
			}
		})
	}
	operators := offsetVector(b, opOffs)
	inputs := int32Vector(b, m.inputs)
	outputs := int32Vector(b, m.outputs)
	nameOff := b.CreateString(name)
	sg := table(b, sgFields, func() {
		b.PrependUOffsetTSlot(sgTensors, tensors, 0)
		b.PrependUOffsetTSlot(sgInputs, inputs, 0)
		b.PrependUOffsetTSlot(sgOutputs, outputs, 0)
		b.PrependUOffsetTSlot(sgOperators, operators, 0)
		b.PrependUOffsetTSlot(sgName, nameOff, 0)
	})
	subgraphs := offsetVector(b, []fb.UOffsetT{sg})

	// Buffers after the subgraph, so that the file's tail is tables, not
	// weights: TFLite 2.9's arm64 hybrid kernels read a few bytes past a
	// weight, which faults when it ends a memory-mapped file.
	// Each buffer's data is 16-byte aligned for mmap-friendly loading.
	bufOffs := make([]fb.UOffsetT, len(bufs))
	for i := len(bufs) - 1; i >= 0; i-- {
		var data fb.UOffsetT
		if bufs[i].fill != nil {
			d, err := bufs[i].fill()
			if err != nil {
				return nil, err
			}
			if len(d) != bufs[i].size {
				return nil, fmt.Errorf("tflite: %s graph: buffer %d: %d bytes, want %d", name, i, len(d), bufs[i].size)
			}
			b.Prep(bufferAlign, len(d))
			data = b.CreateByteVector(d)
		}
		bufOffs[i] = table(b, bufferFields, func() {
			if data != 0 {
				b.PrependUOffsetTSlot(bufferData, data, 0)
			}
		})
	}
	buffers := offsetVector(b, bufOffs)

	metaOffs := make([]fb.UOffsetT, len(keys))
	for i, k := range keys {
		n := b.CreateString(k)
		metaOffs[i] = table(b, metaFields, func() {
			b.PrependUOffsetTSlot(metaName, n, 0)
			b.PrependUint32Slot(metaBuffer, metaBuf[i], 0)
		})
	}
	var metadata fb.UOffsetT
	if len(keys) > 0 {
		metadata = offsetVector(b, metaOffs)
	}
	desc := b.CreateString(description)
	root := table(b, modelFields, func() {
		b.PrependUint32Slot(modelVersion, schemaVersion, 0)
		b.PrependUOffsetTSlot(modelOpCodes, opcodes, 0)
		b.PrependUOffsetTSlot(modelSubgraphs, subgraphs, 0)
		b.PrependUOffsetTSlot(modelDescription, desc, 0)
		b.PrependUOffsetTSlot(modelBuffers, buffers, 0)
		if metadata != 0 {
			b.PrependUOffsetTSlot(modelMetadata, metadata, 0)
		}
	})
	b.FinishWithFileIdentifier(root, []byte(fileIdentifier))
	return b.FinishedBytes(), nil
}
