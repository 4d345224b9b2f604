package main

import "github.com/edgeclip/edgeclip/export/tflite"

// `edgeclip export --format tflite`: pure Go, in every build.
func init() {
	exportFormats["tflite"] = tflite.Format
}
