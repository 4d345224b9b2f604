package preprocess

import (
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The fixtures come from tools/reference/preprocess_ref.py (torchvision 0.14,
// PIL 9.4). Each case has an input PNG and the 8-bit RGB image that
// Resize(size, BICUBIC) + CenterCrop(size) produce in Python; one case also has
// torchvision's full float32 output after ToTensor and Normalize.

type refCase struct {
	Name    string `json:"name"`
	Input   string `json:"input"`
	Mode    string `json:"mode"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Size    int    `json:"size"`
	Want    string `json:"want"`
	WantF32 string `json:"want_f32"`
}

type refIndex struct {
	Mean  [3]float32 `json:"mean"`
	Std   [3]float32 `json:"std"`
	Cases []refCase  `json:"cases"`
}

func loadIndex(t testing.TB) refIndex {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx refIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	if len(idx.Cases) == 0 {
		t.Fatal("cases.json lists no cases")
	}
	return idx
}

func loadPNG(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img
}

// packRGB returns the RGB bytes of img (alpha dropped as PIL's convert("RGB") does) with
// pad extra bytes per row, for FromPixels.
func packRGB(img image.Image, pad int, order ChannelOrder) (pix []byte, stride int) {
	b := img.Bounds()
	stride = 3*b.Dx() + pad
	pix = make([]byte, stride*b.Dy())
	for y := range b.Dy() {
		for x := range b.Dx() {
			c := img.At(b.Min.X+x, b.Min.Y+y)
			if n, ok := c.(color.NRGBA); ok { // straight colour survives alpha 0
				c = color.NRGBA64{uint16(n.R) * 0x101, uint16(n.G) * 0x101, uint16(n.B) * 0x101, 0xffff}
			}
			r, g, bl, a := c.RGBA()
			if a != 0 && a != 0xffff {
				r, g, bl = r*0xffff/a, g*0xffff/a, bl*0xffff/a
			} else if a == 0 {
				r, g, bl = 0, 0, 0
			}
			p := pix[y*stride+3*x:]
			p[0], p[1], p[2] = byte(r>>8), byte(g>>8), byte(bl>>8)
			if order == BGR {
				p[0], p[2] = p[2], p[0]
			}
		}
	}
	return pix, stride
}

// levelDiff compares dst with the 8-bit reference want (size×size RGB) in
// pixel levels: dst is mapped back through Std and Mean and rounded. It also
// counts values that are not bit-identical to the normalised reference.
func levelDiff(p *Preprocessor, dst []float32, want image.Image) (maxd int, mean float64, inexact int) {
	n := p.p.Size
	sum := 0
	for c := range 3 {
		for y := range n {
			for x := range n {
				r, g, b, _ := want.At(x, y).RGBA()
				w := [3]uint32{r >> 8, g >> 8, b >> 8}[c]
				v := dst[c*n*n+y*n+x]
				if v != p.lut[c][w] {
					inexact++
				}
				got := int(math.Round(float64((v*p.p.Std[c] + p.p.Mean[c]) * 255)))
				d := got - int(w)
				if d < 0 {
					d = -d
				}
				sum += d
				maxd = max(maxd, d)
			}
		}
	}
	return maxd, float64(sum) / float64(3*n*n), inexact
}

func TestReference(t *testing.T) {
	idx := loadIndex(t)
	for _, tc := range idx.Cases {
		t.Run(tc.Want, func(t *testing.T) {
			img := loadPNG(t, tc.Input)
			if b := img.Bounds(); b.Dx() != tc.Width || b.Dy() != tc.Height {
				t.Fatalf("input is %v, cases.json says %dx%d", b, tc.Width, tc.Height)
			}
			want := loadPNG(t, tc.Want)
			p, err := New(Params{Size: tc.Size, Mean: idx.Mean, Std: idx.Std})
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]float32, p.Len())

			if err := p.FromImage(img, dst); err != nil {
				t.Fatal(err)
			}
			maxd, mean, inexact := levelDiff(p, dst, want)
			t.Logf("FromImage(%T) %s %dx%d → %d: max diff %d levels, mean %.5f levels, %d values not bit-identical",
				img, tc.Mode, tc.Width, tc.Height, tc.Size, maxd, mean, inexact)
			if mean > 1 || maxd > 1 {
				t.Errorf("FromImage: max diff %d, mean %.4f levels; want mean ≤ 1 and max ≤ 1", maxd, mean)
			}

			pix, stride := packRGB(img, 5, RGB)
			dst2 := make([]float32, p.Len())
			if err := p.FromPixels(pix, tc.Width, tc.Height, stride, RGB, dst2); err != nil {
				t.Fatal(err)
			}
			maxd, mean, inexact = levelDiff(p, dst2, want)
			t.Logf("FromPixels(RGB): max diff %d levels, mean %.5f levels, %d values not bit-identical", maxd, mean, inexact)
			if mean > 1 || maxd > 1 {
				t.Errorf("FromPixels: max diff %d, mean %.4f levels; want mean ≤ 1 and max ≤ 1", maxd, mean)
			}

			if tc.WantF32 != "" {
				raw, err := os.ReadFile(filepath.Join("testdata", tc.WantF32))
				if err != nil {
					t.Fatal(err)
				}
				if len(raw) != 4*p.Len() {
					t.Fatalf("%s: %d bytes, want %d", tc.WantF32, len(raw), 4*p.Len())
				}
				var worst float64
				for i, v := range dst {
					w := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
					worst = max(worst, math.Abs(float64(v-w)))
				}
				t.Logf("torchvision float32 output: max abs diff %g", worst)
				if worst > 1e-6 {
					t.Errorf("max abs diff to torchvision's float32 output %g, want ≤ 1e-6", worst)
				}
			}
		})
	}
}

// TestBGR checks that the same picture given as BGR bytes gives exactly the
// output of the RGB bytes.
func TestBGR(t *testing.T) {
	idx := loadIndex(t)
	for _, name := range []string{"astronaut_640x480.png", "chelsea_97x61.png", "coffee_1000x200.png"} {
		t.Run(name, func(t *testing.T) {
			img := loadPNG(t, name)
			b := img.Bounds()
			p, err := New(Params{Size: 224, Mean: idx.Mean, Std: idx.Std})
			if err != nil {
				t.Fatal(err)
			}
			rgb, rs := packRGB(img, 0, RGB)
			bgr, bs := packRGB(img, 7, BGR)
			a, c := make([]float32, p.Len()), make([]float32, p.Len())
			if err := p.FromPixels(rgb, b.Dx(), b.Dy(), rs, RGB, a); err != nil {
				t.Fatal(err)
			}
			if err := p.FromPixels(bgr, b.Dx(), b.Dy(), bs, BGR, c); err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(a, c); i >= 0 {
				t.Fatalf("BGR differs from RGB at %d: %v vs %v", i, c[i], a[i])
			}
		})
	}
}

// firstDiff returns the first index where a and b differ, or -1.
func firstDiff(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
