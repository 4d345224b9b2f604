package preprocess

import (
	"fmt"
	"image"
	"image/color"
)

// srcKind says how source rows are read.
type srcKind int

const (
	srcDirect  srcKind = iota // rows filtered in place: packed RGB/BGR, NRGBA, Gray
	srcRGBA                   // in place when the row is opaque, else un-premultiplied
	srcYCbCr                  // converted row by row
	srcGeneric                // image.At, converted row by row
)

// source reads one row of the input at a time. It lives inside the
// Preprocessor so that setting it up does not allocate.
type source struct {
	kind   srcKind
	pix    []byte
	stride int
	bpp    int    // bytes per pixel in pix
	o      [3]int // offsets of R, G, B within a pixel
	w      int
	ycc    *image.YCbCr
	img    image.Image
}

// row returns source row y (0-based from the image's top) and its layout.
// scratch (at least 3·w bytes) receives rows that need converting.
func (s *source) row(y int, scratch []byte) (row []byte, bpp int, o [3]int) {
	switch s.kind {
	case srcDirect:
		return s.pix[y*s.stride : y*s.stride+s.w*s.bpp], s.bpp, s.o
	case srcRGBA:
		r := s.pix[y*s.stride : y*s.stride+s.w*4]
		if opaque(r) {
			return r, 4, s.o
		}
		unpremultiply(scratch[:3*s.w], r)
	case srcYCbCr:
		yccRow(scratch[:3*s.w], s.ycc, y)
	case srcGeneric:
		genericRow(scratch[:3*s.w], s.img, y)
	}
	return scratch[:3*s.w], 3, [3]int{0, 1, 2}
}

// opaque reports whether every alpha byte of an RGBA row is 0xff.
func opaque(r []byte) bool {
	for i := 3; i < len(r); i += 4 {
		if r[i] != 0xff {
			return false
		}
	}
	return true
}

// unpremultiply converts premultiplied RGBA to straight RGB the way
// color.NRGBAModel does, so that alpha is dropped as in PIL's convert("RGB").
func unpremultiply(dst, src []byte) {
	for i := range len(dst) / 3 {
		p := src[i*4 : i*4+4 : i*4+4]
		d := dst[i*3 : i*3+3 : i*3+3]
		switch a := uint32(p[3]); a {
		case 0xff:
			d[0], d[1], d[2] = p[0], p[1], p[2]
		case 0:
			d[0], d[1], d[2] = 0, 0, 0
		default:
			d[0] = byte(uint32(p[0]) * 0xffff / a >> 8)
			d[1] = byte(uint32(p[1]) * 0xffff / a >> 8)
			d[2] = byte(uint32(p[2]) * 0xffff / a >> 8)
		}
	}
}

// yccRow converts row y of m to RGB with image/color's conversion.
func yccRow(dst []byte, m *image.YCbCr, y int) {
	b := m.Rect
	ay := b.Min.Y + y
	yp := m.Y[m.YOffset(b.Min.X, ay):]
	shift := -1
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio440:
		shift = 0
	case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
		shift = 1
	case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
		shift = 2
	}
	if shift < 0 || b.Min.X < 0 {
		// Negative x divides differently from a shift; take COffset's word for it.
		for i := range len(dst) / 3 {
			x := b.Min.X + i
			ci := m.COffset(x, ay)
			dst[i*3], dst[i*3+1], dst[i*3+2] = color.YCbCrToRGB(yp[i], m.Cb[ci], m.Cr[ci])
		}
		return
	}
	c0 := m.COffset(b.Min.X, ay)
	x0 := b.Min.X >> shift
	for i := range len(dst) / 3 {
		ci := c0 + (b.Min.X+i)>>shift - x0
		dst[i*3], dst[i*3+1], dst[i*3+2] = color.YCbCrToRGB(yp[i], m.Cb[ci], m.Cr[ci])
	}
}

// genericRow reads row y of img through At, dropping alpha as unpremultiply does.
func genericRow(dst []byte, img image.Image, y int) {
	b := img.Bounds()
	ay := b.Min.Y + y
	for i := range len(dst) / 3 {
		r, g, bl, a := img.At(b.Min.X+i, ay).RGBA()
		switch a {
		case 0xffff:
		case 0:
			r, g, bl = 0, 0, 0
		default:
			r, g, bl = r*0xffff/a, g*0xffff/a, bl*0xffff/a
		}
		dst[i*3], dst[i*3+1], dst[i*3+2] = byte(r>>8), byte(g>>8), byte(bl>>8)
	}
}

// checkYCbCr verifies that the planes of m cover its bounds, so that a
// malformed image returns an error instead of panicking mid-frame. The stride
// limits come first so that the offset arithmetic cannot overflow.
func checkYCbCr(m *image.YCbCr) error {
	b := m.Rect
	tall := b.Dy() > 1
	last := image.Pt(b.Max.X-1, b.Max.Y-1)
	if m.YStride < b.Dx() || tall && m.YStride > len(m.Y) {
		return fmt.Errorf("preprocess: YCbCr luma stride %d does not fit width %d and %d bytes: %w", m.YStride, b.Dx(), len(m.Y), ErrInput)
	}
	if y0, y1 := m.YOffset(b.Min.X, b.Min.Y), m.YOffset(last.X, last.Y); y0 < 0 || y1 < 0 || y1 >= len(m.Y) {
		return fmt.Errorf("preprocess: YCbCr luma plane too short for %v: %w", b, ErrInput)
	}
	nc := min(len(m.Cb), len(m.Cr))
	if m.CStride < 0 || tall && m.CStride > nc {
		return fmt.Errorf("preprocess: YCbCr chroma stride %d does not fit %d bytes: %w", m.CStride, nc, ErrInput)
	}
	if c0, c1 := m.COffset(b.Min.X, b.Min.Y), m.COffset(last.X, last.Y); c0 < 0 || c1 < 0 || c1 >= nc {
		return fmt.Errorf("preprocess: YCbCr chroma planes too short for %v: %w", b, ErrInput)
	}
	return nil
}
