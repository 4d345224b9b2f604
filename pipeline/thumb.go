package pipeline

import (
	"bytes"
	"image"
	"image/jpeg"

	"github.com/edgeclip/edgeclip/camera"
)

// thumbnailer box-downscales frames and JPEG-encodes them into reused buffers.
type thumbnailer struct {
	img *image.RGBA
	buf bytes.Buffer
}

// encode returns a JPEG of f scaled to width w; the bytes are valid until the next call.
func (t *thumbnailer) encode(f *camera.Frame, w, quality int) ([]byte, error) {
	if w > f.Width {
		w = f.Width
	}
	h := max(1, f.Height*w/f.Width)
	if t.img == nil || t.img.Rect.Dx() != w || t.img.Rect.Dy() != h {
		t.img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	r, b := 2, 0 // BGR
	if f.Format == camera.RGB {
		r, b = 0, 2
	}
	for y := range h {
		y0, y1 := y*f.Height/h, max(y*f.Height/h+1, (y+1)*f.Height/h)
		for x := range w {
			x0, x1 := x*f.Width/w, max(x*f.Width/w+1, (x+1)*f.Width/w)
			var sr, sg, sb, n uint32
			for yy := y0; yy < y1; yy++ {
				row := f.Pix[yy*f.Stride:]
				for xx := x0; xx < x1; xx++ {
					p := row[3*xx : 3*xx+3]
					sr += uint32(p[r])
					sg += uint32(p[1])
					sb += uint32(p[b])
					n++
				}
			}
			o := t.img.Pix[y*t.img.Stride+4*x:]
			o[0], o[1], o[2], o[3] = byte(sr/n), byte(sg/n), byte(sb/n), 255
		}
	}
	t.buf.Reset()
	if err := jpeg.Encode(&t.buf, t.img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, err
	}
	return t.buf.Bytes(), nil
}
