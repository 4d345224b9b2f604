//go:build gocv

package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/edgeclip/edgeclip/board"
	"github.com/edgeclip/edgeclip/camera"
	"github.com/edgeclip/edgeclip/camera/gocv" // v4l2://, rtsp://, file://, gst://
)

// csi://N?width=1920&height=1080&fps=30&flip=0&sensor=imx219 is composed
// here, where board (sensor modes) and camera/gocv (GStreamer) meet.
func init() { camera.Register("csi", openCSI) }

func openCSI(ctx context.Context, u *url.URL) (camera.Source, error) {
	id, err := strconv.Atoi(u.Host)
	if err != nil || id < 0 {
		return nil, fmt.Errorf("csi: sensor %q: want csi://N", u.Host)
	}
	q := u.Query()
	num := func(key string, def int) (int, error) {
		s := q.Get(key)
		if s == "" {
			return def, nil
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("csi: %s=%q: want a non-negative integer", key, s)
		}
		return v, nil
	}
	w, err := num("width", 1920)
	if err != nil {
		return nil, err
	}
	h, err := num("height", 1080)
	if err != nil {
		return nil, err
	}
	fps, err := num("fps", 30)
	if err != nil {
		return nil, err
	}
	flip, err := num("flip", 0)
	if err != nil {
		return nil, err
	}
	b, err := board.New(board.Options{Sensor: q.Get("sensor")})
	if err != nil {
		return nil, fmt.Errorf("csi: %w", err)
	}
	p, err := b.CSIPipeline(id, w, h, fps, flip)
	if err != nil {
		return nil, fmt.Errorf("csi: %w", err)
	}
	return gocv.OpenPipeline(p)
}
