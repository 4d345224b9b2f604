// Package onnx serializes export graphs as ONNX models (opset 17, IR 8)
// with the protobuf wire format written directly: only the ModelProto,
// GraphProto, NodeProto, TensorProto and ValueInfoProto fields in use are
// defined here, with field numbers from onnx.proto.
//
// Lowering keeps the native engine's arithmetic (see docs/onnx.md): fp32
// linears are MatMul with the weight transposed once at export; w8 stores
// int8 weights with per-output-channel scales behind DequantizeLinear (QDQ);
// w8a8 quantizes activations per token, symmetrically, in the graph and
// multiplies with MatMulInteger (int32 accumulation) like native's kernel.
package onnx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/edgeclip/edgeclip/export"
)

// Versions written into every model.
const (
	Opset     = 17
	IRVersion = 8
)

// File names of an exported pair.
const (
	ImageFile = "image.onnx"
	TextFile  = "text.onnx"
)

// Options tune Write. The zero value is fine.
type Options struct {
	// Metadata is stored as the model's metadata_props.
	Metadata map[string]string
	// Progress, when set, is called as bytes go out with the running
	// count and the total size of the model.
	Progress func(done, total int64)
}

var errShortPayload = errors.New("onnx: tensor payload size mismatch")

// Size returns the number of bytes Write would produce for g.
func Size(g *export.Graph, opts *Options) (int64, error) {
	m, err := model(g, opts)
	if err != nil {
		return 0, err
	}
	return int64(m.size), nil
}

// Write serializes g as an ONNX model to w.
func Write(w io.Writer, g *export.Graph, opts *Options) error {
	if opts == nil {
		opts = &Options{}
	}
	m, err := model(g, opts)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var out io.Writer = bw
	if opts.Progress != nil {
		out = &progressWriter{w: bw, total: int64(m.size), fn: opts.Progress}
	}
	if err := m.writeTo(out); err != nil {
		return fmt.Errorf("onnx: write %s graph: %w", g.Name, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("onnx: write %s graph: %w", g.Name, err)
	}
	return nil
}

// Format is ONNX as the shared export drivers see it: Format.WriteDir
// exports a model as image.onnx and text.onnx, with the model hash, tower
// and precision in their metadata (export.Metadata).
var Format = export.Format{Name: "onnx", ImageFile: ImageFile, TextFile: TextFile, Write: write}

func write(w io.Writer, g *export.Graph, meta map[string]string, progress func(done, total int64)) error {
	return Write(w, g, &Options{Metadata: meta, Progress: progress})
}

// ONNX field numbers (onnx.proto).
const (
	modelIRVersion   = 1
	modelProducer    = 2
	modelProducerVer = 3
	modelGraph       = 7
	modelOpset       = 8
	modelMetadata    = 14
	opsetDomain      = 1
	opsetVersion     = 2
	entryKey         = 1
	entryValue       = 2
	graphNode        = 1
	graphName        = 2
	graphInit        = 5
	graphInput       = 11
	graphOutput      = 12
	nodeInput        = 1
	nodeOutput       = 2
	nodeName         = 3
	nodeOpType       = 4
	nodeAttr         = 5
	attrName         = 1
	attrF            = 2
	attrI            = 3
	attrInts         = 8
	attrType         = 20
	tensorDims       = 1
	tensorDataType   = 2
	tensorName       = 8
	tensorRaw        = 9
	valueName        = 1
	valueType        = 2
	typeTensor       = 1
	typeElem         = 1
	typeShape        = 2
	shapeDim         = 1
	dimValue         = 1
	dimParam         = 2
	attrTypeFloat    = 1
	attrTypeInt      = 2
	attrTypeInts     = 7
	dtFloat          = 1
	dtInt8           = 3
	dtInt32          = 6
	dtInt64          = 7
)

func model(g *export.Graph, opts *Options) (*msg, error) {
	if opts == nil {
		opts = &Options{}
	}
	l := newLowering(g)
	if err := l.run(); err != nil {
		return nil, err
	}
	gm := &msg{}
	for _, n := range l.nodes {
		gm.message(graphNode, n)
	}
	gm.str(graphName, "edgeclip_"+g.Name)
	for _, t := range l.inits {
		gm.message(graphInit, t)
	}
	for _, v := range g.Inputs {
		gm.message(graphInput, valueInfo(v))
	}
	for _, v := range g.Outputs {
		gm.message(graphOutput, valueInfo(v))
	}

	m := &msg{}
	m.int64(modelIRVersion, IRVersion)
	m.str(modelProducer, "edgeclip")
	m.str(modelProducerVer, "export/onnx")
	m.message(modelGraph, gm)
	op := &msg{}
	op.str(opsetDomain, "")
	op.int64(opsetVersion, Opset)
	m.message(modelOpset, op)
	keys := make([]string, 0, len(opts.Metadata))
	for k := range opts.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := &msg{}
		e.str(entryKey, k)
		e.str(entryValue, opts.Metadata[k])
		m.message(modelMetadata, e)
	}
	return m, nil
}

func valueInfo(v export.Value) *msg {
	sh := &msg{}
	for _, d := range v.Shape {
		dm := &msg{}
		if d.Size > 0 {
			dm.int64(dimValue, int64(d.Size))
		} else {
			dm.str(dimParam, d.Name)
		}
		sh.message(shapeDim, dm)
	}
	tt := &msg{}
	dt := int64(dtFloat)
	if v.DType == export.Int64 {
		dt = dtInt64
	}
	tt.int64(typeElem, dt)
	tt.message(typeShape, sh)
	ty := &msg{}
	ty.message(typeTensor, tt)
	vi := &msg{}
	vi.str(valueName, v.Name)
	vi.message(valueType, ty)
	return vi
}

type progressWriter struct {
	w         io.Writer
	done      int64
	total     int64
	fn        func(done, total int64)
	lastShown int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.done-p.lastShown >= p.total/100 || p.done == p.total {
		p.lastShown = p.done
		p.fn(p.done, p.total)
	}
	return n, err
}
