package world

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/edgeclip/edgeclip/camera"
)

func TestVideoGroundTruth(t *testing.T) {
	v, err := NewVideo(VideoOptions{Seed: 3, Width: 96, Height: 96, FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	const secs = 60
	evs := v.Events(secs)
	if len(evs) < 4 {
		t.Fatalf("%d events in %d s, want several", len(evs), secs)
	}
	px := make([]byte, 96*96*3)
	// Every frame: the visible set is exactly the events whose interval
	// contains the frame time, and the object's pixels are really there.
	for i := range secs * 10 {
		tm := float64(i) / 10
		vis := v.Frame(i, px)
		var want []int
		for _, e := range evs {
			if tm >= e.Start && tm < e.End {
				want = append(want, e.Index)
			}
		}
		var got []int
		for _, e := range vis {
			got = append(got, e.Index)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("t=%.1f: visible %v, truth %v", tm, got, want)
		}
	}
	for i, e := range evs {
		if !(e.End > e.Start) || e.Caption != article(e.Color+" "+e.Shape) || e.HeldOut {
			t.Errorf("event %d: %+v", i, e)
		}
		if i > 0 && evs[i-1].End > e.Start {
			t.Errorf("events %d and %d overlap", i-1, i)
		}
	}
	// Determinism: same seed, same frames.
	v2, _ := NewVideo(VideoOptions{Seed: 3, Width: 96, Height: 96, FPS: 10})
	a, b := make([]byte, len(px)), make([]byte, len(px))
	v.Frame(123, a)
	v2.Frame(123, b)
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Error("same seed rendered different frames")
	}
}

func TestSynthSource(t *testing.T) {
	src, err := camera.Open(context.Background(), "synth://?seed=2&fps=5&size=64x48&realtime=0&duration=3&start=1000")
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
		if f.Width != 64 || f.Height != 48 || f.Format != camera.RGB || f.Time.Unix() != 1000+int64(n/5) {
			t.Fatalf("frame %d: %dx%d %v", n, f.Width, f.Height, f.Time)
		}
		n++
	}
	if n != 15 {
		t.Errorf("%d frames, want 3 s × 5 fps = 15", n)
	}
	for _, bad := range []string{"synth://?fps=-1", "synth://?size=12", "synth://?seed=x", "synth://?realtime=maybe", "synth://?size=2x2"} {
		if _, err := camera.Open(context.Background(), bad); err == nil {
			t.Errorf("%s: want error", bad)
		}
	}
}
