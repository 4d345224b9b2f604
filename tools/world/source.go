package world

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgeclip/edgeclip/camera"
)

func init() { camera.Register("synth", OpenSource) }

// SourceOptions parses a synth:// URI's query:
//
//	seed     world seed (default 1)
//	fps      frame rate (default 10)
//	size     WxH (default 256x256)
//	realtime 1 paces frames by the wall clock and stamps them now (default);
//	         0 delivers frames as fast as they are read, stamped start + i/fps
//	start    with realtime=0, the Unix time of frame 0 (default 1700000000)
//	duration end of the video in seconds (0: endless)
//	gap, linger, split  as in VideoOptions ("train", "seen", "heldout")
func SourceOptions(u *url.URL) (VideoOptions, bool, time.Time, float64, error) {
	q := u.Query()
	o := VideoOptions{Seed: 1}
	realtime := true
	start := time.Unix(1_700_000_000, 0)
	var dur float64
	num := func(key string, dst *float64) error {
		if s := q.Get(key); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v < 0 {
				return fmt.Errorf("synth: %s=%q: want a non-negative number", key, s)
			}
			*dst = v
		}
		return nil
	}
	if s := q.Get("seed"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return o, false, start, 0, fmt.Errorf("synth: seed=%q: want an unsigned integer", s)
		}
		o.Seed = v
	}
	for _, kv := range []struct {
		k string
		d *float64
	}{{"fps", &o.FPS}, {"gap", &o.Gap}, {"linger", &o.Linger}, {"duration", &dur}} {
		if err := num(kv.k, kv.d); err != nil {
			return o, false, start, 0, err
		}
	}
	if s := q.Get("size"); s != "" {
		w, h, ok := strings.Cut(s, "x")
		wi, e1 := strconv.Atoi(w)
		hi, e2 := strconv.Atoi(h)
		if !ok || e1 != nil || e2 != nil {
			return o, false, start, 0, fmt.Errorf("synth: size=%q: want WxH", s)
		}
		o.Width, o.Height = wi, hi
	}
	switch q.Get("realtime") {
	case "", "1", "true":
	case "0", "false":
		realtime = false
	default:
		return o, false, start, 0, fmt.Errorf("synth: realtime=%q: want 0 or 1", q.Get("realtime"))
	}
	if s := q.Get("start"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return o, false, start, 0, fmt.Errorf("synth: start=%q: want Unix seconds", s)
		}
		start = time.Unix(v, 0)
	}
	if s := q.Get("split"); s != "" {
		sp, err := ParseSplit(s)
		if err != nil {
			return o, false, start, 0, fmt.Errorf("synth: %w", err)
		}
		o.Split = sp
	}
	return o, realtime, start, dur, nil
}

// source is the world as a live camera.
type source struct {
	v        *Video
	realtime bool
	start    time.Time
	dur      float64
	i        int
	t0       time.Time
}

// OpenSource opens synth://?seed=… as a camera source.
func OpenSource(ctx context.Context, u *url.URL) (camera.Source, error) {
	o, realtime, start, dur, err := SourceOptions(u)
	if err != nil {
		return nil, err
	}
	v, err := NewVideo(o)
	if err != nil {
		return nil, err
	}
	return &source{v: v, realtime: realtime, start: start, dur: dur, t0: time.Now()}, nil
}

func (s *source) Read(ctx context.Context, f *camera.Frame) error {
	fps := s.v.FPS()
	t := float64(s.i) / fps
	if s.dur > 0 && t >= s.dur {
		return io.EOF
	}
	if s.realtime {
		due := s.t0.Add(time.Duration(t * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
	}
	w, h := s.v.Size()
	n := w * h * 3
	if cap(f.Pix) < n {
		f.Pix = make([]byte, n)
	}
	f.Pix = f.Pix[:n]
	s.v.Frame(s.i, f.Pix)
	f.Width, f.Height, f.Stride, f.Format = w, h, 3*w, camera.RGB
	if s.realtime {
		f.Time = time.Now()
	} else {
		f.Time = s.start.Add(time.Duration(t * float64(time.Second)))
	}
	s.i++
	return nil
}

func (s *source) Close() error { return nil }
