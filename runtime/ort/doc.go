// Package ort is the ONNX Runtime backend: it exports a model's towers to
// ONNX (export/onnx) and runs them with ONNX Runtime's C library through
// github.com/yalue/onnxruntime_go, on the CPU or, where the device's
// ONNX Runtime build has them, the CUDA and TensorRT execution providers.
//
// It needs cgo and is built only with the `ort` build tag; the default build
// stays pure Go. cmd/edgeclip links it from link_ort.go. The library is
// loaded at the first Open (see Config for where it is looked for), so a
// binary built with the tag still runs on a device without it, falling back
// to the native backend by name.
package ort
