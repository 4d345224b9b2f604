package tflite

import (
	"fmt"

	fb "github.com/google/flatbuffers/go"
)

// Numbers from TensorFlow Lite's schema.fbs (tensorflow/lite/schema): enum
// values, union member indices (1-based, 0 is NONE) and table field ids.
// Only what the lowering writes is named here.

// TensorType.
const (
	tFloat32 int8 = 0
	tInt32   int8 = 2
	tInt8    int8 = 9
)

// BuiltinOperator.
const (
	opAdd            int32 = 0
	opConcat         int32 = 2
	opDequantize     int32 = 6
	opFullyConnected int32 = 9
	opL2Norm         int32 = 11
	opLogistic       int32 = 14
	opMul            int32 = 18
	opReshape        int32 = 22
	opSoftmax        int32 = 25
	opGather         int32 = 36
	opTranspose      int32 = 39
	opMean           int32 = 40
	opSub            int32 = 41
	opStridedSlice   int32 = 45
	opSplit          int32 = 49
	opCast           int32 = 53
	opArgMax         int32 = 56
	opRsqrt          int32 = 76
	opSquaredDiff    int32 = 99
	opQuantize       int32 = 114
	opBatchMatMul    int32 = 126
	opGelu           int32 = 150
	// Codes from 127 on live only in OperatorCode.builtin_code; the byte
	// field deprecated_builtin_code holds this placeholder instead.
	opPlaceholderForGreater int32 = 127
)

var opNames = map[int32]string{
	opAdd: "ADD", opConcat: "CONCATENATION", opDequantize: "DEQUANTIZE", opFullyConnected: "FULLY_CONNECTED",
	opL2Norm: "L2_NORMALIZATION", opLogistic: "LOGISTIC", opMul: "MUL", opReshape: "RESHAPE",
	opSoftmax: "SOFTMAX", opGather: "GATHER", opTranspose: "TRANSPOSE", opMean: "MEAN", opSub: "SUB",
	opStridedSlice: "STRIDED_SLICE", opSplit: "SPLIT", opCast: "CAST", opArgMax: "ARG_MAX",
	opRsqrt: "RSQRT", opSquaredDiff: "SQUARED_DIFFERENCE", opQuantize: "QUANTIZE",
	opBatchMatMul: "BATCH_MATMUL", opGelu: "GELU",
}

// OpName is the schema's name of a builtin operator code.
func OpName(code int32) string {
	if s, ok := opNames[code]; ok {
		return s
	}
	return fmt.Sprintf("BUILTIN_%d", code)
}

// BuiltinOptions union members.
const (
	optNone         uint8 = 0
	optFullyConn    uint8 = 8
	optSoftmax      uint8 = 9
	optConcat       uint8 = 10
	optAdd          uint8 = 11
	optL2Norm       uint8 = 12
	optReshape      uint8 = 17
	optMul          uint8 = 21
	optGather       uint8 = 23
	optTranspose    uint8 = 26
	optReducer      uint8 = 27
	optSub          uint8 = 28
	optStridedSlice uint8 = 32
	optSplit        uint8 = 35
	optCast         uint8 = 37
	optDequantize   uint8 = 38
	optArgMax       uint8 = 40
	optSquaredDiff  uint8 = 76
	optQuantize     uint8 = 89
	optBatchMatMul  uint8 = 101
	optGelu         uint8 = 116
	schemaVersion         = 3
	fileIdentifier        = "TFL3"
	bufferAlign           = 16
)

// Table field ids (slot numbers) and field counts.
const (
	modelVersion, modelOpCodes, modelSubgraphs, modelDescription, modelBuffers, modelMetadataBuffer, modelMetadata, modelFields = 0, 1, 2, 3, 4, 5, 6, 7
	opcodeDeprecated, opcodeVersion, opcodeBuiltin, opcodeFields                                                                = 0, 2, 3, 4
	sgTensors, sgInputs, sgOutputs, sgOperators, sgName, sgFields                                                               = 0, 1, 2, 3, 4, 5
	tensorShape, tensorType, tensorBuffer, tensorName, tensorQuant, tensorFields                                                = 0, 1, 2, 3, 4, 5
	quantScale, quantZeroPoint, quantDim, quantFields                                                                           = 2, 3, 6, 7
	opOpcode, opInputs, opOutputs, opOptionsType, opOptions, opFields                                                           = 0, 1, 2, 3, 4, 5
	bufferData, bufferFields                                                                                                    = 0, 1
	metaName, metaBuffer, metaFields                                                                                            = 0, 1, 2
)

// options builds one builtin options table; nil writes an empty table.
type options struct {
	typ   uint8
	build func(b *fb.Builder) fb.UOffsetT
}

func table(b *fb.Builder, fields int, set func()) fb.UOffsetT {
	b.StartObject(fields)
	if set != nil {
		set()
	}
	return b.EndObject()
}

func emptyOpts(typ uint8) options {
	return options{typ: typ, build: func(b *fb.Builder) fb.UOffsetT { return table(b, 0, nil) }}
}

// fcOpts: fused_activation_function 0, weights_format 1, keep_num_dims 2,
// asymmetric_quantize_inputs 3.
func fcOpts() options {
	return options{typ: optFullyConn, build: func(b *fb.Builder) fb.UOffsetT { return table(b, 4, nil) }}
}

// softmaxOpts: beta 0.
func softmaxOpts(beta float32) options {
	return options{typ: optSoftmax, build: func(b *fb.Builder) fb.UOffsetT {
		return table(b, 1, func() { b.PrependFloat32Slot(0, beta, 0) })
	}}
}

// concatOpts: axis 0, fused_activation_function 1.
func concatOpts(axis int32) options {
	return options{typ: optConcat, build: func(b *fb.Builder) fb.UOffsetT {
		return table(b, 2, func() { b.PrependInt32Slot(0, axis, 0) })
	}}
}

// gatherOpts: axis 0, batch_dims 1.
func gatherOpts(axis int32) options {
	return options{typ: optGather, build: func(b *fb.Builder) fb.UOffsetT {
		return table(b, 2, func() { b.PrependInt32Slot(0, axis, 0) })
	}}
}

// reducerOpts: keep_dims 0.
func reducerOpts(keep bool) options {
	return options{typ: optReducer, build: func(b *fb.Builder) fb.UOffsetT {
		return table(b, 1, func() { b.PrependBoolSlot(0, keep, false) })
	}}
}

// splitOpts: num_splits 0.
func splitOpts(n int32) options {
	return options{typ: optSplit, build: func(b *fb.Builder) fb.UOffsetT {
		return table(b, 1, func() { b.PrependInt32Slot(0, n, 0) })
	}}
}

// castOpts: in_data_type 0, out_data_type 1.
func castOpts(in, out int8) options {
	return options{typ: optCast, build: func(b *fb.Builder) fb.UOffsetT {
		return table(b, 2, func() { b.PrependInt8Slot(0, in, 0); b.PrependInt8Slot(1, out, 0) })
	}}
}

// argMaxOpts: output_type 0.
func argMaxOpts(out int8) options {
	return options{typ: optArgMax, build: func(b *fb.Builder) fb.UOffsetT {
		return table(b, 1, func() { b.PrependInt8Slot(0, out, 0) })
	}}
}

// batchMatMulOpts: adj_x 0, adj_y 1, asymmetric_quantize_inputs 2.
func batchMatMulOpts(adjX, adjY bool) options {
	return options{typ: optBatchMatMul, build: func(b *fb.Builder) fb.UOffsetT {
		return table(b, 3, func() { b.PrependBoolSlot(0, adjX, false); b.PrependBoolSlot(1, adjY, false) })
	}}
}

// geluOpts: approximate 0.
func geluOpts() options { return emptyOpts(optGelu) }

// reshapeOpts: new_shape 0 (also given as the second input tensor).
func reshapeOpts(shape []int32) options {
	return options{typ: optReshape, build: func(b *fb.Builder) fb.UOffsetT {
		v := int32Vector(b, shape)
		return table(b, 1, func() { b.PrependUOffsetTSlot(0, v, 0) })
	}}
}

// stridedSliceOpts: begin_mask 0, end_mask 1, ellipsis_mask 2,
// new_axis_mask 3, shrink_axis_mask 4.
func stridedSliceOpts() options {
	return options{typ: optStridedSlice, build: func(b *fb.Builder) fb.UOffsetT { return table(b, 5, nil) }}
}

func int32Vector(b *fb.Builder, v []int32) fb.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt32(v[i])
	}
	return b.EndVector(len(v))
}

func float32Vector(b *fb.Builder, v []float32) fb.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependFloat32(v[i])
	}
	return b.EndVector(len(v))
}

func int64Vector(b *fb.Builder, v []int64) fb.UOffsetT {
	b.StartVector(8, len(v), 8)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt64(v[i])
	}
	return b.EndVector(len(v))
}

func offsetVector(b *fb.Builder, v []fb.UOffsetT) fb.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependUOffsetT(v[i])
	}
	return b.EndVector(len(v))
}
