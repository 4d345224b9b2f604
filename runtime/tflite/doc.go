// Package tflite is the TensorFlow Lite backend: it exports a model's
// towers to .tflite (export/tflite) and runs them with TFLite's C library,
// with the XNNPACK delegate on the CPU or, where the device's TFLite build
// provides it, the GPU delegate.
//
// It needs cgo and is built only with the `tflite` build tag; the default
// build stays pure Go. cmd/edgeclip links it from link_tflite.go. The
// library is opened with dlopen at the first Open (see Config for where it
// is looked for), so neither headers nor link flags are needed to build,
// and a binary built with the tag still runs on a device without the
// library, falling back to another backend by name.
package tflite
