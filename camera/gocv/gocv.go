//go:build gocv

// Package gocv registers the OpenCV-backed camera sources (GoCV v0.31.0 on
// Debian's OpenCV 4.6): v4l2://, rtsp://, file:// and gst://. It also writes
// video files for the world generator's demo videos.
//
// Reads cannot be interrupted inside OpenCV, so the capture watchdog in the
// camera package is what bounds a hung read; FFmpeg's own open and read
// timeouts are set for network sources.
package gocv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"

	"gocv.io/x/gocv"

	"github.com/edgeclip/edgeclip/camera"
)

func init() {
	camera.Register("v4l2", openV4L2)
	camera.Register("rtsp", openNetwork)
	camera.Register("rtsps", openNetwork)
	camera.Register("file", openFile)
	camera.Register("gst", openGst)
}

// source wraps a VideoCapture and one Mat reused for every frame.
type source struct {
	mu     sync.Mutex
	vc     *gocv.VideoCapture
	mat    gocv.Mat
	finite bool
	loop   bool
	reopen func() (*gocv.VideoCapture, error)
	closed bool
}

func newSource(vc *gocv.VideoCapture, finite bool) *source {
	return &source{vc: vc, mat: gocv.NewMat(), finite: finite}
}

// Read copies the next frame's BGR pixels into f.Pix (reusing it).
func (s *source) Read(ctx context.Context, f *camera.Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("gocv: source closed")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if ok := s.vc.Read(&s.mat); !ok {
		if s.finite && s.loop && s.reopen != nil {
			// Rewind by reopening: seeking is unreliable across containers.
			s.vc.Close()
			vc, err := s.reopen()
			if err != nil {
				return fmt.Errorf("gocv: loop: %w", err)
			}
			s.vc = vc
			if !s.vc.Read(&s.mat) {
				return io.EOF
			}
		} else if s.finite {
			return io.EOF
		} else {
			return errors.New("gocv: read failed (stream ended or device lost)")
		}
	}
	if s.mat.Empty() {
		return camera.ErrBadFrame
	}
	return matToFrame(s.mat, f)
}

// matToFrame copies a CV_8UC3 (or grey / BGRA) Mat into f as packed BGR.
func matToFrame(m gocv.Mat, f *camera.Frame) error {
	w, h := m.Cols(), m.Rows()
	if w <= 0 || h <= 0 {
		return camera.ErrBadFrame
	}
	n := w * h * 3
	if cap(f.Pix) < n {
		f.Pix = make([]byte, n)
	}
	f.Pix = f.Pix[:n]
	f.Width, f.Height, f.Stride, f.Format = w, h, 3*w, camera.BGR
	switch m.Type() {
	case gocv.MatTypeCV8UC3:
		data, err := m.DataPtrUint8()
		if err != nil {
			return fmt.Errorf("%w: %v", camera.ErrBadFrame, err)
		}
		step := m.Step()
		if step == 3*w {
			copy(f.Pix, data[:n])
		} else {
			for y := range h {
				copy(f.Pix[y*3*w:(y+1)*3*w], data[y*step:y*step+3*w])
			}
		}
	case gocv.MatTypeCV8UC1, gocv.MatTypeCV8UC4:
		bgr := gocv.NewMat()
		defer bgr.Close()
		code := gocv.ColorGrayToBGR
		if m.Type() == gocv.MatTypeCV8UC4 {
			code = gocv.ColorBGRAToBGR
		}
		gocv.CvtColor(m, &bgr, code)
		return matToFrame(bgr, f)
	default:
		return fmt.Errorf("%w: unsupported Mat type %v", camera.ErrBadFrame, m.Type())
	}
	return nil
}

func (s *source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.mat.Close()
	return s.vc.Close()
}

func applySize(vc *gocv.VideoCapture, q url.Values) error {
	for _, p := range []struct {
		key  string
		prop gocv.VideoCaptureProperties
	}{{"width", gocv.VideoCaptureFrameWidth}, {"height", gocv.VideoCaptureFrameHeight}, {"fps", gocv.VideoCaptureFPS}} {
		if v := q.Get(p.key); v != "" {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x <= 0 || x > 10000 {
				return fmt.Errorf("query parameter %s=%q: want a positive number", p.key, v)
			}
			vc.Set(p.prop, x)
		}
	}
	return nil
}

// openV4L2 accepts v4l2:///dev/video0 and v4l2://0.
func openV4L2(ctx context.Context, u *url.URL) (camera.Source, error) {
	dev := u.Path
	if dev == "" {
		dev = u.Host
	}
	id, err := strconv.Atoi(strings.TrimPrefix(dev, "/dev/video"))
	if err != nil || id < 0 {
		return nil, fmt.Errorf("v4l2: device %q: want /dev/videoN or N", dev)
	}
	vc, err := gocv.OpenVideoCaptureWithAPI(id, gocv.VideoCaptureV4L2)
	if err != nil {
		return nil, fmt.Errorf("v4l2: %w", err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("v4l2: device %s did not open", dev)
	}
	if err := applySize(vc, u.Query()); err != nil {
		vc.Close()
		return nil, err
	}
	return newSource(vc, false), nil
}

var ffmpegOnce sync.Once

// openNetwork opens RTSP through FFmpeg with TCP transport and a socket
// timeout, so a dead camera fails the open and reads instead of hanging.
func openNetwork(ctx context.Context, u *url.URL) (camera.Source, error) {
	ffmpegOnce.Do(func() {
		if os.Getenv("OPENCV_FFMPEG_CAPTURE_OPTIONS") == "" {
			os.Setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp|timeout;5000000")
		}
	})
	vc, err := gocv.OpenVideoCaptureWithAPI(u.String(), gocv.VideoCaptureFFmpeg)
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, errors.New("ffmpeg: stream did not open")
	}
	return newSource(vc, false), nil
}

// openFile opens file://PATH; ?loop=1 restarts at the end.
func openFile(ctx context.Context, u *url.URL) (camera.Source, error) {
	path := u.Path
	if u.Host != "" { // file://relative/path
		path = u.Host + u.Path
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	open := func() (*gocv.VideoCapture, error) {
		vc, err := gocv.OpenVideoCaptureWithAPI(path, gocv.VideoCaptureFFmpeg)
		if err != nil {
			return nil, err
		}
		if !vc.IsOpened() {
			vc.Close()
			return nil, fmt.Errorf("file: %s: not a video OpenCV can read", path)
		}
		return vc, nil
	}
	vc, err := open()
	if err != nil {
		return nil, err
	}
	s := newSource(vc, true)
	s.loop = u.Query().Get("loop") == "1" || u.Query().Get("loop") == "true"
	s.reopen = open
	return s, nil
}

// openGst opens a raw GStreamer pipeline ending in appsink.
func openGst(ctx context.Context, u *url.URL) (camera.Source, error) {
	return OpenPipeline(u.Opaque)
}

// OpenPipeline opens a GStreamer pipeline string (used by csi://, which the
// daemon builds from the board's sensor modes).
func OpenPipeline(pipeline string) (camera.Source, error) {
	if !strings.Contains(pipeline, "appsink") {
		return nil, fmt.Errorf("gstreamer: pipeline must end in appsink: %q", pipeline)
	}
	vc, err := gocv.OpenVideoCaptureWithAPI(pipeline, gocv.VideoCaptureGstreamer)
	if err != nil {
		return nil, fmt.Errorf("gstreamer: %w", err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("gstreamer: pipeline did not start: %q", pipeline)
	}
	return newSource(vc, false), nil
}
