package world

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// VideoOptions configure a world video: one background, objects that enter
// from a side, stop, linger and leave, with exact ground-truth intervals.
type VideoOptions struct {
	Seed          uint64
	Width, Height int     // default 256×256 (square: CLIP crops the centre)
	FPS           float64 // default 10
	// Split chooses compositions as for images (Train never shows a
	// held-out pair); videos for evaluation use EvalSeen.
	Split Split
	// Gap is the empty time between events in seconds, drawn in [Gap, 2·Gap]
	// (default 3). Linger is the time an object rests in view, drawn in
	// [Linger, 2·Linger] (default 4).
	Gap, Linger float64
}

// VideoEvent is one object's visit: the ground truth of the video.
type VideoEvent struct {
	Index   int     `json:"index"`
	Shape   string  `json:"shape"`
	Color   string  `json:"color"`
	Size    string  `json:"size"`
	Caption string  `json:"caption"` // "a red circle"
	Start   float64 `json:"start"`   // seconds from the video start: centre enters the frame
	End     float64 `json:"end"`     // centre leaves the frame
	HeldOut bool    `json:"held_out"`

	shape, color, size int
	enter, rest, leave float64 // motion phases (seconds)
	fromLeft, toLeft   bool
	restX, restY, r    float32
	rgb                [3]float32
}

// Video renders frames on demand; events are generated lazily, so a live
// source can run for as long as it is read.
type Video struct {
	o   VideoOptions
	bg  Scene
	mu  sync.Mutex
	evs []VideoEvent
	rng *rand.Rand
	end float64 // end of the last generated event
}

const travel = 1.2 // seconds to cross from the edge to the rest position

// NewVideo validates options and draws the background.
func NewVideo(o VideoOptions) (*Video, error) {
	if o.Width == 0 && o.Height == 0 {
		o.Width, o.Height = 256, 256
	}
	if o.Width < 8 || o.Height < 8 || o.Width > 4096 || o.Height > 4096 {
		return nil, fmt.Errorf("world: video size %dx%d out of range 8..4096", o.Width, o.Height)
	}
	if o.FPS == 0 {
		o.FPS = 10
	}
	if !(o.FPS > 0 && o.FPS <= 240) {
		return nil, fmt.Errorf("world: video fps %v out of range (0, 240]", o.FPS)
	}
	if o.Gap == 0 {
		o.Gap = 3
	}
	if o.Linger == 0 {
		o.Linger = 4
	}
	if o.Gap < 0 || o.Linger <= 0 {
		return nil, fmt.Errorf("world: video gap %v and linger %v must be positive", o.Gap, o.Linger)
	}
	v := &Video{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x7ede0))}
	g := &Generator{opt: Options{Seed: o.Seed, Size: 64, Split: o.Split, MaxObjects: 1}}
	v.bg = g.scene(rand.New(rand.NewPCG(o.Seed, 0xb6)))
	v.bg.Objects = nil
	v.bg.Noise = min(v.bg.Noise, 6) // heavy per-frame noise would defeat change gating
	v.end = v.o.Gap
	return v, nil
}

// FPS is the video's frame rate.
func (v *Video) FPS() float64 { return v.o.FPS }

// Size is the frame size.
func (v *Video) Size() (w, h int) { return v.o.Width, v.o.Height }

// Events returns the ground truth of every event that starts before t seconds.
func (v *Video) Events(t float64) []VideoEvent {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.extend(t)
	var out []VideoEvent
	for _, e := range v.evs {
		if e.enter < t {
			out = append(out, e)
		}
	}
	return out
}

// extend generates events until they cover time t.
func (v *Video) extend(t float64) {
	for v.end <= t+travel {
		rng := v.rng
		p := HeldOut[rng.IntN(len(HeldOut))]
		for v.o.Split != EvalHeldOut {
			p = Pair{rng.IntN(len(Shapes)), rng.IntN(len(Colors))}
			if !IsHeldOut(p.Shape, p.Color) {
				break
			}
		}
		size := rng.IntN(len(Sizes))
		// Objects come to rest in one of the world's positions, jittered
		// as in still scenes, and travel along that row.
		slot := slotXY[rng.IntN(len(slotXY))]
		e := VideoEvent{
			Index: len(v.evs), shape: p.Shape, color: p.Color, size: size,
			Shape: Shapes[p.Shape], Color: Colors[p.Color], Size: Sizes[size],
			HeldOut: IsHeldOut(p.Shape, p.Color),
			r:       sizeR[size] * (0.95 + rng.Float32()*0.1),
			restX:   slot[0] + (rng.Float32()-0.5)*0.06, restY: slot[1] + (rng.Float32()-0.5)*0.06,
			fromLeft: rng.IntN(2) == 0, toLeft: rng.IntN(2) == 0,
		}
		e.Caption = article(e.Color + " " + e.Shape)
		for c := range 3 {
			e.rgb[c] = clamp255(colorRGB[p.Color][c] + (rng.Float32()-0.5)*20)
		}
		e.enter = v.end
		e.rest = e.enter + travel
		e.leave = e.rest + v.o.Linger*(1+rng.Float64())
		// The object's centre crosses the frame edge halfway through its travel.
		e.Start = e.enter + travel*e.crossing(e.fromLeft, true)
		e.End = e.leave + travel*e.crossing(e.toLeft, false)
		v.evs = append(v.evs, e)
		v.end = e.leave + travel + v.o.Gap*(1+rng.Float64())
	}
}

// crossing is the fraction of a travel at which the centre crosses the frame
// edge: entering (from the left or right edge) or leaving (to it).
func (e *VideoEvent) crossing(left, entering bool) float64 {
	r, x := float64(e.r), float64(e.restX)
	switch {
	case left && entering:
		return r / (x + r)
	case !left && entering:
		return r / (1 + r - x)
	case left:
		return x / (x + r)
	default:
		return (1 - x) / (1 + r - x)
	}
}

// position returns the object's centre x at time t and whether it is in the scene.
func (e *VideoEvent) position(t float64) (float32, bool) {
	out := func(left bool) float64 {
		if left {
			return -float64(e.r)
		}
		return 1 + float64(e.r)
	}
	switch {
	case t < e.enter || t >= e.leave+travel:
		return 0, false
	case t < e.rest:
		a := (t - e.enter) / travel
		x0 := out(e.fromLeft)
		return float32(x0 + a*(float64(e.restX)-x0)), true
	case t < e.leave:
		return e.restX, true
	default:
		a := (t - e.leave) / travel
		x1 := out(e.toLeft)
		return float32(float64(e.restX) + a*(x1-float64(e.restX))), true
	}
}

// Frame renders frame i (at time i/FPS) into dst (RGB, w*h*3) and returns the
// events whose centre is in view.
func (v *Video) Frame(i int, dst []byte) []VideoEvent {
	t := float64(i) / v.o.FPS
	v.mu.Lock()
	v.extend(t)
	sc := v.bg
	sc.Objects = nil
	var vis []VideoEvent
	for k := len(v.evs) - 1; k >= 0 && v.evs[k].leave+travel+1 > t-60; k-- {
		e := &v.evs[k]
		x, ok := e.position(t)
		if !ok {
			continue
		}
		sc.Objects = append(sc.Objects, Object{Shape: e.shape, Color: e.color, Size: e.size, X: x, Y: e.restY, R: e.r, RGB: e.rgb})
		if t >= e.Start && t < e.End {
			vis = append(vis, *e)
		}
	}
	v.mu.Unlock()
	// Mild lighting drift over minutes, as daylight does.
	drift := float32(0.04 * sinApprox(t/90))
	sc.Gain = v.bg.Gain * (1 + drift)
	sc.NoiseSeed = v.bg.NoiseSeed ^ uint64(i)*0x9E3779B97F4A7C15
	Render(&sc, v.o.Width, v.o.Height, dst)
	return vis
}

// sinApprox is a smooth periodic function of period 2π-ish, enough for drift.
func sinApprox(x float64) float64 {
	x -= float64(int(x/2)) * 2 // period 2
	if x < 0 {
		x += 2
	}
	if x > 1 {
		return -(x - 1) * (2 - x) * 4
	}
	return x * (1 - x) * 4
}
