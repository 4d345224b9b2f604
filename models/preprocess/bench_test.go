package preprocess

import (
	"fmt"
	"image"
	"testing"
)

func benchPixels(b *testing.B, w, h, size int) {
	p, err := New(OpenAI(size))
	if err != nil {
		b.Fatal(err)
	}
	pix, stride := packRGB(noise(w, h, 1, false), 0, BGR)
	dst := make([]float32, p.Len())
	b.SetBytes(int64(len(pix)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.FromPixels(pix, w, h, stride, BGR, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFromPixels640x480 is a VGA BGR camera frame into a 224-px model.
func BenchmarkFromPixels640x480(b *testing.B) { benchPixels(b, 640, 480, 224) }

// BenchmarkFromPixels640x480Size64 is the same frame into a 64-px model.
func BenchmarkFromPixels640x480Size64(b *testing.B) { benchPixels(b, 640, 480, 64) }

func BenchmarkFromPixels1920x1080(b *testing.B) { benchPixels(b, 1920, 1080, 224) }

func BenchmarkFromImage640x480(b *testing.B) {
	src := noise(640, 480, 1, false)
	rgba := image.NewRGBA(src.Bounds())
	copy(rgba.Pix, src.Pix)
	ycc := image.NewYCbCr(src.Bounds(), image.YCbCrSubsampleRatio420)
	for _, img := range []image.Image{rgba, src, ycc} {
		b.Run(fmt.Sprintf("%T", img), func(b *testing.B) {
			p, err := New(OpenAI(224))
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, p.Len())
			b.ReportAllocs()
			for b.Loop() {
				if err := p.FromImage(img, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
