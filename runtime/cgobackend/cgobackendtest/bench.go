package cgobackendtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/edgeclip/edgeclip/export/exporttest"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/native"
)

var vitB32 *exporttest.Weights

// BenchImage compares be with the native engine on the image tower of a
// ViT-B/32-shaped random model, batch 1, 2 threads, at each precision.
func BenchImage(b *testing.B, be runtime.Backend) {
	if vitB32 == nil {
		vitB32 = exporttest.Random(models.ViTB32(), 42, 0.02)
	}
	cfg := vitB32.Config()
	px := make([]float32, 3*cfg.ImageSize*cfg.ImageSize)
	for i := range px {
		px[i] = float32(i%7) * 0.1
	}
	out := make([]float32, cfg.EmbedDim)
	for _, prec := range Precisions {
		for _, be := range []runtime.Backend{native.Backend{}, be} {
			b.Run(fmt.Sprintf("%s/%s", prec, be.Name()), func(b *testing.B) {
				s, err := be.Open(context.Background(), vitB32, runtime.Options{Precision: prec, Threads: 2})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				if err := s.EncodeImages(context.Background(), px, 1, out); err != nil { // warm-up
					b.Fatal(err)
				}
				for b.Loop() {
					if err := s.EncodeImages(context.Background(), px, 1, out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/image")
			})
		}
	}
}
