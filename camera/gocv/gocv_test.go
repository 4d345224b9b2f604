//go:build gocv

package gocv

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/camera"
)

// squareFrame draws a white 8×8 square at x on black, like a moving object.
func squareFrame(w, h, x int) *camera.Frame {
	f := &camera.Frame{Width: w, Height: h, Stride: 3 * w, Pix: make([]byte, 3*w*h)}
	for y := h/2 - 4; y < h/2+4; y++ {
		for xx := x; xx < x+8 && xx < w; xx++ {
			copy(f.Pix[y*3*w+3*xx:], []byte{255, 255, 255})
		}
	}
	return f
}

func writeVideo(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "moving.avi")
	w, err := CreateVideo(path, "MJPG", 10, 64, 48)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Write(squareFrame(64, 48, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileRoundTrip(t *testing.T) {
	path := writeVideo(t, 20)
	src, err := camera.Open(context.Background(), "file://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var f camera.Frame
	n := 0
	for {
		err := src.Read(context.Background(), &f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Width != 64 || f.Height != 48 || !f.Valid() {
			t.Fatalf("frame %d: %dx%d stride %d", n, f.Width, f.Height, f.Stride)
		}
		// The square's centre pixel survives MJPEG within a few levels.
		p := f.Pix[24*f.Stride+3*(n+4):]
		if p[0] < 200 || p[1] < 200 || p[2] < 200 {
			t.Errorf("frame %d: square pixel %v, want ≈ white", n, p[:3])
		}
		n++
	}
	if n != 20 {
		t.Errorf("read %d frames, want 20", n)
	}
}

func TestFileLoop(t *testing.T) {
	path := writeVideo(t, 5)
	src, err := camera.Open(context.Background(), "file://"+path+"?loop=1")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var f camera.Frame
	for i := range 12 {
		if err := src.Read(context.Background(), &f); err != nil {
			t.Fatalf("read %d of a looping 5-frame file: %v", i, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	for _, uri := range []string{
		"file:///nonexistent/video.avi",
		"gst://videotestsrc ! fakesink",
		"v4l2://notanumber",
	} {
		if s, err := camera.Open(context.Background(), uri); err == nil {
			s.Close()
			t.Errorf("%s: want error", uri)
		} else {
			t.Logf("%s: %v", uri, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "garbage.avi")
	os.WriteFile(bad, []byte("not a video at all"), 0o644)
	if s, err := camera.Open(context.Background(), "file://"+bad); err == nil {
		var f camera.Frame
		if err := s.Read(context.Background(), &f); err == nil {
			t.Error("garbage file delivered a frame")
		}
		s.Close()
	}
}

func TestGstreamerPipeline(t *testing.T) {
	src, err := camera.Open(context.Background(),
		"gst://videotestsrc num-buffers=15 ! video/x-raw,width=80,height=60,format=BGR ! appsink")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var f camera.Frame
	n := 0
	for n < 20 {
		if err := src.Read(context.Background(), &f); err != nil {
			break
		}
		n++
	}
	if n != 15 || f.Width != 80 || f.Height != 60 {
		t.Errorf("got %d frames of %dx%d, want 15 of 80x60", n, f.Width, f.Height)
	}
}

// TestStallAndResume feeds raw frames through a FIFO into a GStreamer
// pipeline, stops writing (the read blocks inside OpenCV), and checks that
// the capture watchdog notices within its timeout and that frames flow again
// within a few seconds of the writer coming back.
func TestStallAndResume(t *testing.T) {
	if _, err := exec.LookPath("gst-inspect-1.0"); err != nil {
		if out, err := exec.Command("gst-inspect-1.0", "rawvideoparse").CombinedOutput(); err != nil {
			t.Logf("%s", out)
		}
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "frames.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	const w, h = 32, 24
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	paused := make(chan bool, 1)
	go func() { // the camera: 20 fps into the FIFO, pausable, reopening when the reader goes away
		frame := squareFrame(w, h, 3).Pix
		pause := false
		for ctx.Err() == nil {
			fd, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			for ctx.Err() == nil {
				select {
				case pause = <-paused:
				default:
				}
				if pause {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if _, err := fd.Write(frame); err != nil {
					break // reader closed: reopen
				}
				time.Sleep(50 * time.Millisecond)
			}
			fd.Close()
		}
	}()

	q := camera.NewQueue(2)
	const stall = 2 * time.Second
	c := camera.NewCapture(camera.CaptureOptions{
		URI:          "gst://filesrc location=" + fifo + " ! rawvideoparse width=32 height=24 format=bgr framerate=20/1 ! appsink",
		StallTimeout: stall, Backoff: []time.Duration{200 * time.Millisecond},
	}, q)
	go c.Run(ctx)
	wait := func(what string, d time.Duration, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > d {
				t.Fatalf("%s: not within %v (stats %+v)", what, d, c.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(start)
	}
	wait("first frames", 10*time.Second, func() bool { return c.Stats().Frames >= 10 })
	paused <- true
	detect := wait("stall detected", stall+3*time.Second, func() bool { return c.Stats().Stalls >= 1 })
	t.Logf("stall detected %v after the source stopped (watchdog %v)", detect, stall)
	frames := c.Stats().Frames
	paused <- false
	resume := wait("frames again", 5*time.Second, func() bool { return c.Stats().Frames > frames+5 })
	t.Logf("frames flowing again %v after the source came back", resume)
	if detect > 5*time.Second || resume > 5*time.Second {
		t.Errorf("detection %v / resume %v, want each within 5 s", detect, resume)
	}
}
