//go:build ort

package main

// The ONNX Runtime backend ("ort"), linked only in builds with -tags ort.
import _ "github.com/edgeclip/edgeclip/runtime/ort"
