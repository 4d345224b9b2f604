package native

import (
	"context"
	"fmt"
	goruntime "runtime"
	"testing"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// vitB32 is OpenAI ViT-B/32's architecture; the benchmarks run it with
// random weights since no pretrained weights can be downloaded here.
func vitB32() arch.Config {
	return arch.Config{
		ImageSize: 224, PatchSize: 32,
		Vision:     arch.Tower{Width: 768, Layers: 12, Heads: 12, MLPWidth: 3072},
		Text:       arch.Tower{Width: 512, Layers: 12, Heads: 8, MLPWidth: 2048},
		ContextLen: 77, VocabSize: 49408, EmbedDim: 512, Activation: arch.QuickGELU, LNEps: 1e-5,
		Mean: arch.OpenAIMean, Std: arch.OpenAIStd, LogitScale: 100,
	}
}

// benchSessions caches sessions by precision and thread count (-cpu 1,2).
var benchSessions = map[string]runtime.Session{}

func benchSession(b *testing.B, prec runtime.Precision) runtime.Session {
	key := fmt.Sprint(prec, goruntime.GOMAXPROCS(0))
	if s, ok := benchSessions[key]; ok {
		return s
	}
	s, err := Backend{}.Open(context.Background(), randomWeights(vitB32(), 42), runtime.Options{Precision: prec})
	if err != nil {
		b.Fatal(err)
	}
	benchSessions[key] = s
	return s
}

// BenchmarkViTB32Image measures the image tower of a ViT-B/32-shaped model:
// go test -run x -bench ViTB32 ./runtime/native/
func BenchmarkViTB32Image(b *testing.B) {
	cfg := vitB32()
	for _, prec := range []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8} {
		for _, batch := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/batch%d", prec, batch), func(b *testing.B) {
				s := benchSession(b, prec)
				px := make([]float32, batch*3*cfg.ImageSize*cfg.ImageSize)
				for i := range px {
					px[i] = float32(i%7) * 0.1
				}
				out := make([]float32, batch*cfg.EmbedDim)
				b.ReportAllocs()
				for b.Loop() {
					if err := s.EncodeImages(context.Background(), px, batch, out); err != nil {
						b.Fatal(err)
					}
				}
				perImg := b.Elapsed().Seconds() / float64(b.N) / float64(batch)
				b.ReportMetric(perImg*1e3, "ms/image")
				b.ReportMetric(float64(cfg.ImageFLOPs())/perImg/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkViTB32Text12 encodes a 12-token query (start and end included);
// the engine stops at the end token instead of running all 77 positions.
func BenchmarkViTB32Text12(b *testing.B) {
	cfg := vitB32()
	ids := [][]int32{{49406, 320, 736, 4629, 16487, 525, 518, 2012, 536, 518, 2184, 49407}}
	for _, prec := range []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8} {
		b.Run(string(prec), func(b *testing.B) {
			s := benchSession(b, prec)
			out := make([]float32, cfg.EmbedDim)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.EncodeTexts(context.Background(), ids, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cfg.TextFLOPs(12))/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
		})
	}
}
