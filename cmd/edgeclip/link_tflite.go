//go:build tflite

package main

// The TensorFlow Lite backend ("tflite"), linked only in builds with -tags tflite.
import _ "github.com/edgeclip/edgeclip/runtime/tflite"
