//go:build ort

package ort

import (
	"testing"

	"github.com/edgeclip/edgeclip/runtime/cgobackend/cgobackendtest"
)

// BenchmarkViTB32Image compares ONNX Runtime with the native engine on the
// image tower of a ViT-B/32-shaped random model, batch 1, 2 threads:
//
//	go test -tags ort -run x -bench ViTB32Image -benchtime 20x ./runtime/ort/
func BenchmarkViTB32Image(b *testing.B) {
	cgobackendtest.BenchImage(b, memBackend())
}
