package preprocess

import (
	"errors"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// noise returns a w×h NRGBA image of seeded random colours, opaque unless
// alpha is set, in which case alpha is random too.
func noise(w, h int, seed uint64, alpha bool) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = byte(r.IntN(256))
		if i%4 == 3 && !alpha {
			m.Pix[i] = 0xff
		}
	}
	return m
}

func mustNew(t testing.TB, size int) *Preprocessor {
	t.Helper()
	p, err := New(OpenAI(size))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fromPixels runs FromPixels on the straight RGB bytes of img.
func fromPixels(t *testing.T, p *Preprocessor, img image.Image) []float32 {
	t.Helper()
	pix, stride := packRGB(img, 3, RGB)
	b := img.Bounds()
	dst := make([]float32, p.Len())
	if err := p.FromPixels(pix, b.Dx(), b.Dy(), stride, RGB, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

// opaqueWrapper hides the concrete type so FromImage takes the generic path.
type opaqueWrapper struct{ image.Image }

// TestImageTypes checks that every fast path gives the output of FromPixels
// on the same picture's RGB bytes.
func TestImageTypes(t *testing.T) {
	base := noise(131, 97, 7, false)
	translucent := noise(131, 97, 8, true)

	premul := image.NewRGBA(translucent.Bounds())
	for y := range 97 {
		for x := range 131 {
			premul.Set(x, y, translucent.At(x, y))
		}
	}
	// What dropping alpha from premul yields: NRGBAModel's un-premultiplied colour.
	premulStraight := image.NewNRGBA(premul.Bounds())
	for y := range 97 {
		for x := range 131 {
			c := color.NRGBAModel.Convert(premul.At(x, y)).(color.NRGBA)
			c.A = 0xff
			premulStraight.SetNRGBA(x, y, c)
		}
	}

	opaqueRGBA := image.NewRGBA(base.Bounds())
	copy(opaqueRGBA.Pix, base.Pix)

	gray := image.NewGray(base.Bounds())
	for i := range gray.Pix {
		gray.Pix[i] = base.Pix[4*i+1]
	}

	big := image.NewRGBA(image.Rect(-5, 3, 200, 150))
	for i := range big.Pix {
		big.Pix[i] = byte(i*7 + i/5)
		if i%4 == 3 {
			big.Pix[i] = 0xff
		}
	}
	sub := big.SubImage(image.Rect(10, 20, 141, 117)).(*image.RGBA)

	tests := []struct {
		name string
		img  image.Image
		same image.Image // picture whose RGB bytes must give the same output
	}{
		{"NRGBA", base, base},
		{"NRGBA translucent keeps straight colour", translucent, withOpaqueAlpha(translucent)},
		{"RGBA opaque", opaqueRGBA, base},
		{"RGBA premultiplied", premul, premulStraight},
		{"RGBA sub-image", sub, sub},
		{"Gray", gray, gray},
		{"generic via At", opaqueWrapper{base}, base},
	}
	yccCases := []struct {
		ratio image.YCbCrSubsampleRatio
		rect  image.Rectangle
	}{
		{image.YCbCrSubsampleRatio420, image.Rect(3, 2, 134, 99)},
		{image.YCbCrSubsampleRatio422, image.Rect(3, 2, 134, 99)},
		{image.YCbCrSubsampleRatio444, image.Rect(0, 0, 131, 97)},
		{image.YCbCrSubsampleRatio411, image.Rect(1, 0, 132, 97)},
		{image.YCbCrSubsampleRatio420, image.Rect(-3, -5, 128, 92)}, // negative origin
	}
	for _, yc := range yccCases {
		ratio := yc.ratio
		m := image.NewYCbCr(yc.rect, ratio)
		r := rand.New(rand.NewPCG(uint64(ratio), 2))
		for _, pl := range [][]byte{m.Y, m.Cb, m.Cr} {
			for i := range pl {
				pl[i] = byte(r.IntN(256))
			}
		}
		rgb := image.NewNRGBA(m.Bounds())
		for y := m.Rect.Min.Y; y < m.Rect.Max.Y; y++ {
			for x := m.Rect.Min.X; x < m.Rect.Max.X; x++ {
				c := m.YCbCrAt(x, y)
				rr, gg, bb := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				rgb.SetNRGBA(x, y, color.NRGBA{rr, gg, bb, 0xff})
			}
		}
		tests = append(tests, struct {
			name      string
			img, same image.Image
		}{"YCbCr " + ratio.String() + " " + yc.rect.String(), m, rgb})
	}

	for _, size := range []int{224, 64} {
		p := mustNew(t, size)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				want := fromPixels(t, p, tc.same)
				got := make([]float32, p.Len())
				if err := p.FromImage(tc.img, got); err != nil {
					t.Fatal(err)
				}
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("size %d: FromImage(%T) differs from FromPixels at %d: %v vs %v", size, tc.img, i, got[i], want[i])
				}
			})
		}
	}
}

// TestUnpair checks the paired accumulator against separate int32 sums over
// the full range of Pillow's accumulators.
func TestUnpair(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for range 10000 {
		s0, s2 := int64(half), int64(half)
		s02 := int64(half) | int64(half)<<32
		for range 1 + r.IntN(12) {
			v0, v2 := uint64(r.IntN(256)), uint64(r.IntN(256))
			c := int64(r.Int32N(1<<23) - 1<<22)
			s0 += int64(v0) * c
			s2 += int64(v2) * c
			s02 += int64(v0|v2<<32) * c
		}
		if s0 != int64(int32(s0)) || s2 != int64(int32(s2)) {
			continue // outside int32: Pillow's accumulators could not hold it either
		}
		if lo, hi := unpair(s02); int64(lo) != s0 || int64(hi) != s2 {
			t.Fatalf("unpair = %d, %d; want %d, %d", lo, hi, s0, s2)
		}
		checked++
	}
	if checked < 5000 {
		t.Fatalf("only %d of 10000 random sums fit in int32", checked)
	}
}

func withOpaqueAlpha(m *image.NRGBA) *image.NRGBA {
	c := image.NewNRGBA(m.Bounds())
	copy(c.Pix, m.Pix)
	for i := 3; i < len(c.Pix); i += 4 {
		c.Pix[i] = 0xff
	}
	return c
}

func TestCropOffsetAndResizedSize(t *testing.T) {
	tests := []struct {
		name           string
		w, h, size     int
		rw, rh, dx, dy int
	}{
		{"landscape 4:3", 640, 480, 224, 298, 224, 37, 0},
		{"portrait", 300, 500, 224, 224, 373, 0, 74},
		{"half rounds to even up", 451, 301, 224, 335, 224, 56, 0},   // 55.5 → 56
		{"half rounds to even down", 225, 339, 224, 224, 337, 0, 56}, // 56.5 → 56
		{"square", 224, 224, 224, 224, 224, 0, 0},
		{"upscale", 97, 61, 224, 356, 224, 66, 0},
		{"one pixel high", 1000, 1, 64, 64000, 64, 31968, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rw, rh := ResizedSize(tc.w, tc.h, tc.size)
			dx, dy := cropOffset(rw, tc.size), cropOffset(rh, tc.size)
			if rw != tc.rw || rh != tc.rh || dx != tc.dx || dy != tc.dy {
				t.Errorf("got %dx%d crop at (%d,%d), want %dx%d at (%d,%d)", rw, rh, dx, dy, tc.rw, tc.rh, tc.dx, tc.dy)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	ok := OpenAI(224)
	tests := []struct {
		name string
		edit func(*Params)
		want string
	}{
		{"zero size", func(p *Params) { p.Size = 0 }, "size 0"},
		{"huge size", func(p *Params) { p.Size = MaxSize + 1 }, "size 4097"},
		{"zero std", func(p *Params) { p.Std[1] = 0 }, "std[1]"},
		{"negative std", func(p *Params) { p.Std[2] = -1 }, "std[2]"},
		{"NaN mean", func(p *Params) { p.Mean[0] = float32(math.NaN()) }, "mean[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.edit(&p)
			_, err := New(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestInputErrors(t *testing.T) {
	p := mustNew(t, 32)
	dst := make([]float32, p.Len())
	pix := make([]byte, 10*10*3)
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"zero width", func() error { return p.FromPixels(pix, 0, 10, 30, RGB, dst) }, "zero or negative"},
		{"negative height", func() error { return p.FromPixels(pix, 10, -1, 30, RGB, dst) }, "zero or negative"},
		{"too large", func() error { return p.FromPixels(pix, MaxDim+1, 1, 3*(MaxDim+1), RGB, dst) }, "larger than"},
		{"stride too small", func() error { return p.FromPixels(pix, 10, 10, 29, RGB, dst) }, "stride 29 too small"},
		{"buffer too short", func() error { return p.FromPixels(pix[:299], 10, 10, 30, RGB, dst) }, "too short"},
		{"stride overflows buffer", func() error { return p.FromPixels(pix, 10, 10, 31, RGB, dst) }, "too short"},
		{"bad order", func() error { return p.FromPixels(pix, 10, 10, 30, ChannelOrder(7), dst) }, "ChannelOrder(7)"},
		{"dst short", func() error { return p.FromPixels(pix, 10, 10, 30, RGB, dst[1:]) }, "dst length"},
		{"dst nil", func() error { return p.FromImage(image.NewGray(image.Rect(0, 0, 4, 4)), nil) }, "dst length"},
		{"nil image", func() error { return p.FromImage(nil, dst) }, "nil image"},
		{"nil *image.YCbCr", func() error { return p.FromImage((*image.YCbCr)(nil), dst) }, "nil image"},
		{"empty image", func() error { return p.FromImage(image.NewRGBA(image.Rect(0, 0, 0, 5)), dst) }, "zero or negative"},
		{"RGBA short Pix", func() error {
			return p.FromImage(&image.RGBA{Pix: make([]byte, 100), Stride: 40, Rect: image.Rect(0, 0, 10, 10)}, dst)
		}, "too short"},
		{"Gray small stride", func() error {
			return p.FromImage(&image.Gray{Pix: make([]byte, 100), Stride: 5, Rect: image.Rect(0, 0, 10, 10)}, dst)
		}, "stride 5 too small"},
		{"huge stride", func() error { return p.FromPixels(pix, 10, 2, 1<<62, RGB, dst) }, "longer than"},
		{"RGBA huge stride", func() error {
			return p.FromImage(&image.RGBA{Pix: make([]byte, 400), Stride: 1 << 62, Rect: image.Rect(0, 0, 10, 10)}, dst)
		}, "longer than"},
		{"YCbCr huge stride", func() error {
			m := image.NewYCbCr(image.Rect(0, 0, 10, 10), image.YCbCrSubsampleRatio420)
			m.YStride = 1 << 62
			return p.FromImage(m, dst)
		}, "luma stride"},
		{"YCbCr short chroma", func() error {
			m := image.NewYCbCr(image.Rect(0, 0, 10, 10), image.YCbCrSubsampleRatio420)
			m.Cr = m.Cr[:3]
			return p.FromImage(m, dst)
		}, "chroma"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInput) {
				t.Fatalf("error %v, want ErrInput mentioning %q", err, tc.want)
			}
		})
	}
}

// TestZeroAllocs checks that a warm Preprocessor allocates nothing per frame.
func TestZeroAllocs(t *testing.T) {
	p := mustNew(t, 224)
	dst := make([]float32, p.Len())
	img := noise(640, 480, 3, false)
	pix, stride := packRGB(img, 0, BGR)
	rgba := image.NewRGBA(img.Bounds())
	copy(rgba.Pix, img.Pix)
	tests := []struct {
		name string
		call func() error
	}{
		{"FromPixels BGR", func() error { return p.FromPixels(pix, 640, 480, stride, BGR, dst) }},
		{"FromImage RGBA", func() error { return p.FromImage(rgba, dst) }},
		{"FromImage NRGBA", func() error { return p.FromImage(img, dst) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil { // warm up: tables and scratch
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(10, func() { _ = tc.call() }); n != 0 {
				t.Fatalf("%v allocations per frame, want 0", n)
			}
		})
	}
}

// TestSizeChanges checks that alternating input sizes (more than the cache
// holds) still give the same output as a fresh Preprocessor.
func TestSizeChanges(t *testing.T) {
	p := mustNew(t, 48)
	for i := range 3 * maxCached {
		w, h := 40+i*13, 90-i*2
		img := noise(w, h, uint64(i), false)
		got := make([]float32, p.Len())
		if err := p.FromImage(img, got); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, p.Len())
		if err := mustNew(t, 48).FromImage(img, want); err != nil {
			t.Fatal(err)
		}
		if j := firstDiff(got, want); j >= 0 {
			t.Fatalf("%dx%d: reused Preprocessor differs at %d", w, h, j)
		}
	}
	if len(p.geoms) > maxCached {
		t.Fatalf("%d cached geometries, want ≤ %d", len(p.geoms), maxCached)
	}
}

func FuzzFromPixels(f *testing.F) {
	f.Add(uint16(640), uint16(480), uint16(0), uint8(0), uint8(224), []byte{1, 2, 3})
	f.Add(uint16(1), uint16(1), uint16(0), uint8(1), uint8(1), []byte{255, 0, 7})
	f.Add(uint16(3), uint16(900), uint16(5), uint8(0), uint8(16), []byte{})
	f.Add(uint16(0), uint16(4), uint16(3), uint8(2), uint8(8), []byte{9})
	f.Fuzz(func(t *testing.T, w, h, pad uint16, order, size uint8, seed []byte) {
		p, err := New(Params{Size: int(size), Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.25, 0.25, 0.25}})
		if err != nil {
			if size != 0 {
				t.Fatalf("New(size %d): %v", size, err)
			}
			return
		}
		width, height := int(w%1200), int(h%1200)
		stride := 3*width + int(pad%64) - 8 // sometimes too small
		n := max(0, height*max(stride, 0))
		if n > 1<<22 {
			n = 1 << 22
		}
		if len(seed) > 0 && seed[0]&1 == 1 && n > 0 {
			n -= int(seed[0]) % n // sometimes too short
		}
		pix := make([]byte, n)
		for i := range pix {
			if len(seed) > 0 {
				pix[i] = seed[i%len(seed)] + byte(i)
			}
		}
		dst := make([]float32, p.Len())
		err = p.FromPixels(pix, width, height, stride, ChannelOrder(order%3), dst)
		if err != nil {
			if !errors.Is(err, ErrInput) {
				t.Fatalf("error %v does not wrap ErrInput", err)
			}
			return
		}
		lo, hi := p.lut[0][0], p.lut[0][255]
		for i, v := range dst {
			if !(v >= lo && v <= hi) {
				t.Fatalf("dst[%d] = %v outside [%v, %v]", i, v, lo, hi)
			}
		}
	})
}
