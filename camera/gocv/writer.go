//go:build gocv

package gocv

import (
	"fmt"

	"gocv.io/x/gocv"

	"github.com/edgeclip/edgeclip/camera"
)

// Writer writes BGR frames to a video file through OpenCV.
type Writer struct {
	vw   *gocv.VideoWriter
	w, h int
	path string
}

// CreateVideo opens path for writing with a FourCC codec ("MJPG" for .avi
// works with Debian's OpenCV everywhere).
func CreateVideo(path, codec string, fps float64, width, height int) (*Writer, error) {
	if len(codec) != 4 {
		return nil, fmt.Errorf("gocv: codec %q: want a FourCC such as MJPG", codec)
	}
	if width <= 0 || height <= 0 || !(fps > 0) {
		return nil, fmt.Errorf("gocv: video %s: bad geometry %dx%d at %v fps", path, width, height, fps)
	}
	vw, err := gocv.VideoWriterFile(path, codec, fps, width, height, true)
	if err != nil {
		return nil, fmt.Errorf("gocv: create %s: %w", path, err)
	}
	if !vw.IsOpened() {
		vw.Close()
		return nil, fmt.Errorf("gocv: create %s: writer did not open (codec %s)", path, codec)
	}
	return &Writer{vw: vw, w: width, h: height, path: path}, nil
}

// Write appends one frame; its size must match the video's.
func (w *Writer) Write(f *camera.Frame) error {
	if f.Width != w.w || f.Height != w.h || !f.Valid() {
		return fmt.Errorf("gocv: %s: frame %dx%d, video is %dx%d", w.path, f.Width, f.Height, w.w, w.h)
	}
	pix := f.Pix
	if f.Stride != 3*f.Width {
		pix = make([]byte, 3*f.Width*f.Height)
		for y := range f.Height {
			copy(pix[y*3*f.Width:], f.Pix[y*f.Stride:y*f.Stride+3*f.Width])
		}
	}
	m, err := gocv.NewMatFromBytes(f.Height, f.Width, gocv.MatTypeCV8UC3, pix)
	if err != nil {
		return fmt.Errorf("gocv: %s: %w", w.path, err)
	}
	defer m.Close()
	if f.Format == camera.RGB {
		gocv.CvtColor(m, &m, gocv.ColorBGRToRGB)
	}
	return w.vw.Write(m)
}

// Close finishes the file.
func (w *Writer) Close() error { return w.vw.Close() }
