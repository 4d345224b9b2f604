// Package preprocess turns camera frames into CLIP's input tensor exactly as
// the reference Python pipeline does: torchvision Resize(size, BICUBIC) on a
// PIL image, CenterCrop(size), ToTensor and Normalize(mean, std).
//
// Matching PIL bit for bit matters because CLIP embeddings computed at the edge
// are compared with embeddings computed offline in Python; a different resize
// shifts every embedding a little. The resampler replicates Pillow's
// fixed-point arithmetic (see resample.go), so the 8-bit image before
// normalisation is identical to Pillow's, and the float step repeats torch's
// float32 operations.
//
// A Preprocessor keeps its scratch buffers and the filter tables for each input
// size it has seen, so a stream of same-sized frames allocates nothing.
package preprocess

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// Params describes a model's image input.
type Params struct {
	// Size is the side of the square model input in pixels (224 for ViT-B/32).
	Size int
	// Mean and Std are the per-channel (R, G, B) normalisation in [0, 1] units.
	Mean, Std [3]float32
}

// OpenAI returns the Params of OpenAI's CLIP models at the given input size.
func OpenAI(size int) Params {
	return Params{
		Size: size,
		Mean: [3]float32{0.48145466, 0.4578275, 0.40821073},
		Std:  [3]float32{0.26862954, 0.26130258, 0.27577711},
	}
}

// ChannelOrder is the byte order of a packed 3-byte pixel.
type ChannelOrder int

const (
	// RGB is red, green, blue: what most decoders produce.
	RGB ChannelOrder = iota
	// BGR is blue, green, red: what OpenCV and many cameras deliver.
	BGR
)

func (o ChannelOrder) String() string {
	switch o {
	case RGB:
		return "RGB"
	case BGR:
		return "BGR"
	}
	return fmt.Sprintf("ChannelOrder(%d)", int(o))
}

const (
	// MaxSize bounds Params.Size.
	MaxSize = 4096
	// MaxDim bounds each side of an input image, so that sizes taken from an
	// untrusted frame header cannot make the filter tables or scratch buffers
	// huge.
	MaxDim = 1 << 15
	// maxCached is how many input sizes keep their filter tables.
	maxCached = 8
)

// ErrInput marks an input the Preprocessor cannot use (bad sizes, short buffers).
var ErrInput = errors.New("invalid input")

// Preprocessor converts images into normalised CHW float32 tensors. It is
// reusable and holds scratch memory; it is not safe for concurrent use.
type Preprocessor struct {
	p     Params
	lut   [3][256]float32 // byte value → normalised value, per channel
	geoms map[[2]int]*geometry
	last  *geometry
	tmp   []byte  // horizontally filtered rows, Size*3 bytes each
	acc   []int32 // vertical accumulators, Size*3
	row   []byte  // one converted source row, for formats read indirectly
	src   source
}

// geometry is everything that depends on the input size.
type geometry struct {
	w, h   int
	hx, vy *axis
	lo, hi int // source rows that the vertical filter reads
}

// New validates p and returns a Preprocessor for it.
func New(p Params) (*Preprocessor, error) {
	if p.Size <= 0 || p.Size > MaxSize {
		return nil, fmt.Errorf("preprocess: size %d: must be in 1..%d", p.Size, MaxSize)
	}
	for c := range 3 {
		m, s := float64(p.Mean[c]), float64(p.Std[c])
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return nil, fmt.Errorf("preprocess: mean[%d] = %v: must be finite", c, m)
		}
		if math.IsNaN(s) || math.IsInf(s, 0) || s <= 0 {
			return nil, fmt.Errorf("preprocess: std[%d] = %v: must be positive and finite", c, s)
		}
	}
	pp := &Preprocessor{
		p:     p,
		geoms: make(map[[2]int]*geometry),
		acc:   make([]int32, 3*p.Size),
	}
	for c := range 3 {
		for v := range 256 {
			// torch: ToTensor divides by 255, Normalize subtracts then divides, all float32.
			x := float32(v) / 255
			pp.lut[c][v] = (x - p.Mean[c]) / p.Std[c]
		}
	}
	return pp, nil
}

// Params returns the parameters the Preprocessor was built with.
func (p *Preprocessor) Params() Params { return p.p }

// Len is the length of the output tensor: 3 × Size × Size.
func (p *Preprocessor) Len() int { return 3 * p.p.Size * p.p.Size }

// FromPixels preprocesses packed 3-byte pixels (RGB or BGR order) with rows
// stride bytes apart into dst, a CHW tensor of length 3 × Size × Size.
func (p *Preprocessor) FromPixels(pix []byte, width, height, stride int, order ChannelOrder, dst []float32) error {
	if err := p.check(width, height, dst); err != nil {
		return err
	}
	if order != RGB && order != BGR {
		return fmt.Errorf("preprocess: channel order %v: %w", order, ErrInput)
	}
	if stride < 3*width {
		return fmt.Errorf("preprocess: stride %d too small for width %d (need ≥ %d): %w", stride, width, 3*width, ErrInput)
	}
	if height > 1 && stride > len(pix) { // also keeps (height-1)*stride from overflowing
		return fmt.Errorf("preprocess: stride %d longer than the %d-byte pixel buffer: %w", stride, len(pix), ErrInput)
	}
	if need := (height-1)*stride + 3*width; len(pix) < need {
		return fmt.Errorf("preprocess: pixel buffer of %d bytes too short for %dx%d with stride %d (need %d): %w",
			len(pix), width, height, stride, need, ErrInput)
	}
	p.src = source{kind: srcDirect, pix: pix, stride: stride, bpp: 3, w: width, o: [3]int{0, 1, 2}}
	if order == BGR {
		p.src.o = [3]int{2, 1, 0}
	}
	p.run(width, height, dst)
	p.src = source{} // drop references to the caller's pixels
	return nil
}

// FromImage preprocesses img into dst, a CHW tensor of length 3 × Size × Size.
// *image.RGBA, *image.NRGBA, *image.YCbCr and *image.Gray are read directly
// from their pixel slices; other types go through At. Alpha is dropped, as
// PIL's convert("RGB") does: premultiplied *image.RGBA pixels are
// un-premultiplied first.
func (p *Preprocessor) FromImage(img image.Image, dst []float32) error {
	if img == nil || nilImage(img) {
		return fmt.Errorf("preprocess: nil image: %w", ErrInput)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if err := p.check(w, h, dst); err != nil {
		return err
	}
	p.src = source{w: w}
	switch m := img.(type) {
	case *image.RGBA:
		if err := checkPix(len(m.Pix), m.Stride, w, h, 4); err != nil {
			return err
		}
		p.src.kind, p.src.pix, p.src.stride, p.src.bpp, p.src.o = srcRGBA, m.Pix, m.Stride, 4, [3]int{0, 1, 2}
	case *image.NRGBA:
		if err := checkPix(len(m.Pix), m.Stride, w, h, 4); err != nil {
			return err
		}
		p.src.kind, p.src.pix, p.src.stride, p.src.bpp, p.src.o = srcDirect, m.Pix, m.Stride, 4, [3]int{0, 1, 2}
	case *image.Gray:
		if err := checkPix(len(m.Pix), m.Stride, w, h, 1); err != nil {
			return err
		}
		p.src.kind, p.src.pix, p.src.stride, p.src.bpp, p.src.o = srcDirect, m.Pix, m.Stride, 1, [3]int{0, 0, 0}
	case *image.YCbCr:
		if err := checkYCbCr(m); err != nil {
			return err
		}
		p.src.kind, p.src.ycc = srcYCbCr, m
	default:
		p.src.kind, p.src.img = srcGeneric, img
	}
	p.run(w, h, dst)
	p.src = source{} // drop references to the caller's pixels
	return nil
}

// nilImage reports a nil pointer of one of the fast-path types, whose Bounds
// would panic.
func nilImage(img image.Image) bool {
	switch m := img.(type) {
	case *image.RGBA:
		return m == nil
	case *image.NRGBA:
		return m == nil
	case *image.Gray:
		return m == nil
	case *image.YCbCr:
		return m == nil
	}
	return false
}

// check validates the input size and dst length shared by both entry points.
func (p *Preprocessor) check(w, h int, dst []float32) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("preprocess: image size %dx%d: zero or negative: %w", w, h, ErrInput)
	}
	if w > MaxDim || h > MaxDim {
		return fmt.Errorf("preprocess: image size %dx%d: larger than %d: %w", w, h, MaxDim, ErrInput)
	}
	if len(dst) != p.Len() {
		return fmt.Errorf("preprocess: dst length %d, want 3x%dx%d = %d: %w", len(dst), p.p.Size, p.p.Size, p.Len(), ErrInput)
	}
	return nil
}

func checkPix(n, stride, w, h, bpp int) error {
	if stride < w*bpp {
		return fmt.Errorf("preprocess: image stride %d too small for width %d: %w", stride, w, ErrInput)
	}
	if h > 1 && stride > n { // also keeps (h-1)*stride from overflowing
		return fmt.Errorf("preprocess: image stride %d longer than its %d-byte buffer: %w", stride, n, ErrInput)
	}
	if need := (h-1)*stride + w*bpp; n < need {
		return fmt.Errorf("preprocess: image buffer of %d bytes too short (need %d): %w", n, need, ErrInput)
	}
	return nil
}

// run resizes and crops p.src (w×h) into dst.
func (p *Preprocessor) run(w, h int, dst []float32) {
	g := p.geometry(w, h)
	n := p.p.Size
	rowLen := 3 * n
	if need := (g.hi - g.lo) * rowLen; cap(p.tmp) < need {
		p.tmp = make([]byte, need)
	}
	if p.src.kind != srcDirect && cap(p.row) < 3*w {
		p.row = make([]byte, 3*w)
	}
	tmp := p.tmp[:(g.hi-g.lo)*rowLen]
	for y := g.lo; y < g.hi; y++ {
		row, bpp, o := p.src.row(y, p.row)
		off := (y - g.lo) * rowLen
		horizontal(tmp[off:off+rowLen], row, bpp, o[0], o[1], o[2], g.hx)
	}
	vertical(dst, tmp, rowLen, g.lo, g.vy, p.acc, &p.lut)
}

// geometry returns the cached filter tables for a w×h input, building them on
// first use: torchvision's Resize scales the shorter side to Size and the
// longer to int(Size·long/short); CenterCrop rounds its offsets half to even
// (Python's round).
func (p *Preprocessor) geometry(w, h int) *geometry {
	if g := p.last; g != nil && g.w == w && g.h == h {
		return g
	}
	if g, ok := p.geoms[[2]int{w, h}]; ok {
		p.last = g
		return g
	}
	n := p.p.Size
	rw, rh := ResizedSize(w, h, n)
	left, top := cropOffset(rw, n), cropOffset(rh, n)
	g := &geometry{w: w, h: h, hx: newAxis(w, rw, left, n), vy: newAxis(h, rh, top, n)}
	g.lo, g.hi = g.vy.span()
	if len(p.geoms) >= maxCached {
		clear(p.geoms)
	}
	p.geoms[[2]int{w, h}] = g
	p.last = g
	return g
}

// ResizedSize is the size torchvision's Resize(size) gives a w×h image: the
// shorter side becomes size, the longer int(size·long/short).
func ResizedSize(w, h, size int) (rw, rh int) {
	if w <= h {
		return size, int(float64(size*h) / float64(w))
	}
	return int(float64(size*w) / float64(h)), size
}

// cropOffset is torchvision's int(round((length - size) / 2.0)).
func cropOffset(length, size int) int {
	return int(math.RoundToEven(float64(length-size) / 2))
}
