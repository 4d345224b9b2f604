//go:build tflite

package tflite

import (
	"os"
	"testing"

	"github.com/edgeclip/edgeclip/runtime/cgobackend/cgobackendtest"
)

// BenchmarkViTB32Image compares TFLite (XNNPACK) with the native engine on
// the image tower of a ViT-B/32-shaped random model, batch 1, 2 threads:
//
//	go test -tags tflite -run x -bench ViTB32Image -benchtime 10x ./runtime/tflite/
func BenchmarkViTB32Image(b *testing.B) {
	// One cache for the run: w8a8 calibration of ViT-B/32 in Go takes a while.
	cache, err := os.MkdirTemp("", "tflite-bench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(cache)
	cgobackendtest.BenchImage(b, cacheBackend(cache))
}
