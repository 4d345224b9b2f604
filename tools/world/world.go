// Package world generates the synthetic "shapes world": small RGB scenes of
// coloured shapes with exact labels and varied captions. It is the single
// source of training data, evaluation sets, demo videos and test fixtures, so
// every sample is a pure function of (seed, split, index).
//
// A fixed set of shape × colour pairs (HeldOut) never appears in the Train
// split; the EvalHeldOut split contains at least one of them in every image,
// which measures compositional zero-shot generalisation.
package world

import (
	"fmt"
	"math/rand/v2"
)

// Shapes, colours, sizes and positions of the world, in label-id order.
var (
	Shapes    = []string{"circle", "square", "triangle", "star", "cross", "hexagon", "diamond", "ring"}
	Colors    = []string{"red", "green", "blue", "yellow", "purple", "orange", "pink", "cyan"}
	Sizes     = []string{"small", "large"}
	Positions = []string{"left", "right", "top", "bottom", "center"}
)

// colorRGB are the base colours; each object gets a small per-channel jitter.
var colorRGB = [][3]float32{
	{215, 35, 35},   // red
	{40, 165, 50},   // green
	{35, 70, 215},   // blue
	{235, 215, 35},  // yellow
	{135, 45, 185},  // purple
	{245, 135, 20},  // orange
	{250, 135, 195}, // pink
	{35, 200, 215},  // cyan
}

// Pair is a shape × colour combination (indices into Shapes and Colors).
type Pair struct{ Shape, Color int }

// HeldOut lists the 7 of 64 pairs (10.9 %) that the Train split never shows:
// the diagonal, so every shape and every colour still appears in training.
var HeldOut = []Pair{{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6}}

// IsHeldOut reports whether the pair is one of HeldOut.
func IsHeldOut(shape, color int) bool {
	for _, p := range HeldOut {
		if p.Shape == shape && p.Color == color {
			return true
		}
	}
	return false
}

// Split selects which compositions a generator draws.
type Split int

const (
	Train       Split = iota // never a held-out pair
	EvalSeen                 // only seen pairs, a sample stream disjoint from Train's
	EvalHeldOut              // at least one held-out pair per image
)

// ParseSplit maps "train", "seen" and "heldout" to a Split.
func ParseSplit(s string) (Split, error) {
	switch s {
	case "train":
		return Train, nil
	case "seen":
		return EvalSeen, nil
	case "heldout":
		return EvalHeldOut, nil
	}
	return 0, fmt.Errorf("world: unknown split %q (want train, seen or heldout)", s)
}

func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case EvalSeen:
		return "seen"
	case EvalHeldOut:
		return "heldout"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

// Options configure a Generator. The zero value is valid: seed 0, 64 px,
// Train split, 1–3 objects.
type Options struct {
	Seed  uint64
	Size  int // image width and height in pixels; 0 means 64
	Split Split
	// MaxObjects caps the objects per scene (1..3); 0 means 3. Zero-shot
	// classification sets use 1.
	MaxObjects int
}

// MaxSize bounds Options.Size so a bad flag cannot allocate gigabytes.
const MaxSize = 1024

// Object is one shape in a scene. Coordinates are fractions of the image
// width and height, so a scene renders at any resolution and a video can move
// an object to any position.
type Object struct {
	Shape, Color int
	Size         int        // index into Sizes
	Position     int        // index into Positions (the slot it was placed in)
	X, Y, R      float32    // centre and radius
	RGB          [3]float32 // jittered colour, 0..255
}

// Background kinds.
const (
	BgPlain = iota
	BgTextured
	BgNoise
)

var bgNames = []string{"plain", "textured", "noise"}

// Scene is everything needed to render one image.
type Scene struct {
	Objects    []Object
	Background int
	BgRGB      [3]float32 // base background colour
	BgAlt      [3]float32 // second colour of a textured background
	Pattern    int        // texture kind: 0 stripes, 1 checker, 2 gradient
	Period     float32    // texture period as a fraction of the width
	Noise      float32    // per-pixel noise standard deviation, 0..255 units
	Gain       float32    // global lighting gain
	Offset     float32    // global lighting offset
	Blur       bool       // a mild 3×3 blur after compositing
	NoiseSeed  uint64
}

// Label is the structured ground truth of one object, as written to JSON.
type Label struct {
	Shape    string `json:"shape"`
	Color    string `json:"color"`
	Size     string `json:"size"`
	Position string `json:"position"`
	// BBox is [x0, y0, x1, y1] in pixels, clipped to the image.
	BBox    [4]int `json:"bbox"`
	HeldOut bool   `json:"held_out"`
}

// Labels is the ground truth of one image.
type Labels struct {
	Index      uint64  `json:"index"`
	Split      string  `json:"split"`
	Background string  `json:"background"`
	Objects    []Label `json:"objects"`
}

// Sample is one generated image with its labels and captions.
type Sample struct {
	Pixels        []byte // RGB, row-major, Width*Height*3
	Width, Height int
	Scene         Scene
	Labels        Labels
	// Captions[0] is the canonical, most specific caption; the rest are
	// varied phrasings, including shape-only and colour-only ones.
	Captions []string
}

// Generator draws samples deterministically: sample i depends only on the
// options and i, never on what was generated before.
type Generator struct {
	opt  Options
	next uint64
}

// New returns a generator. A nil opt means the zero Options.
func New(opt *Options) (*Generator, error) {
	var o Options
	if opt != nil {
		o = *opt
	}
	if o.Size == 0 {
		o.Size = 64
	}
	if o.Size < 8 || o.Size > MaxSize {
		return nil, fmt.Errorf("world: size %d out of range 8..%d", o.Size, MaxSize)
	}
	if o.MaxObjects == 0 {
		o.MaxObjects = 3
	}
	if o.MaxObjects < 1 || o.MaxObjects > 3 {
		return nil, fmt.Errorf("world: max objects %d out of range 1..3", o.MaxObjects)
	}
	if o.Split < Train || o.Split > EvalHeldOut {
		return nil, fmt.Errorf("world: unknown split %d", int(o.Split))
	}
	return &Generator{opt: o}, nil
}

// Next returns the next sample in sequence.
func (g *Generator) Next() Sample {
	s := g.Sample(g.next)
	g.next++
	return s
}

// Sample returns sample i.
func (g *Generator) Sample(i uint64) Sample {
	rng := rand.New(rand.NewPCG(g.opt.Seed, uint64(g.opt.Split)<<56^i*0x9E3779B97F4A7C15+1))
	sc := g.scene(rng)
	n := g.opt.Size
	px := make([]byte, n*n*3)
	Render(&sc, n, n, px)
	return Sample{
		Pixels: px, Width: n, Height: n, Scene: sc,
		Labels:   sceneLabels(&sc, i, g.opt.Split, n),
		Captions: Captions(&sc, rng),
	}
}

// slot centres of Positions, as fractions of the image.
var slotXY = [][2]float32{{0.24, 0.5}, {0.76, 0.5}, {0.5, 0.24}, {0.5, 0.76}, {0.5, 0.5}}

// Radii of Sizes. Small shapes are ~20 px across at 64 px: smaller ones are
// hard to tell apart (research/training-feasibility.md).
var sizeR = []float32{0.16, 0.22}

func (g *Generator) scene(rng *rand.Rand) Scene {
	var sc Scene
	n := 1
	if g.opt.MaxObjects > 1 {
		switch u := rng.Float32(); {
		case u < 0.5:
			n = 1
		case u < 0.8 || g.opt.MaxObjects == 2:
			n = 2
		default:
			n = 3
		}
	}
	pairFor := func(k int) Pair {
		if g.opt.Split == EvalHeldOut && k == 0 {
			return HeldOut[rng.IntN(len(HeldOut))]
		}
		for {
			p := Pair{rng.IntN(len(Shapes)), rng.IntN(len(Colors))}
			if g.opt.Split == EvalHeldOut || !IsHeldOut(p.Shape, p.Color) {
				return p
			}
		}
	}
	used := make([]bool, len(Positions))
	for k := 0; k < n; k++ {
		p := pairFor(k)
		if last := len(sc.Objects) - 1; last >= 0 && rng.Float32() < 0.35 {
			// Repeat the previous shape (and sometimes its colour) so that
			// counts and same-shape/different-colour scenes are common.
			p.Shape = sc.Objects[last].Shape
			if rng.Float32() < 0.5 {
				p.Color = sc.Objects[last].Color
			}
			if g.opt.Split != EvalHeldOut && IsHeldOut(p.Shape, p.Color) {
				p = pairFor(k)
			}
		}
		o, ok := place(rng, p, sc.Objects, used)
		if !ok {
			continue // no room left; the first object always fits
		}
		used[o.Position] = true
		sc.Objects = append(sc.Objects, o)
	}
	sc.Background = rng.IntN(3)
	grey := 70 + rng.Float32()*120
	for c := range 3 {
		sc.BgRGB[c] = grey + (rng.Float32()-0.5)*30
		sc.BgAlt[c] = sc.BgRGB[c] + (rng.Float32()-0.5)*70
	}
	sc.Pattern = rng.IntN(3)
	sc.Period = 0.08 + rng.Float32()*0.2
	switch sc.Background {
	case BgNoise:
		sc.Noise = 6 + rng.Float32()*14
	default:
		sc.Noise = rng.Float32() * 4
	}
	sc.Gain = 0.82 + rng.Float32()*0.3
	sc.Offset = (rng.Float32() - 0.5) * 30
	sc.Blur = rng.Float32() < 0.3
	sc.NoiseSeed = rng.Uint64()
	return sc
}

// place puts an object of the given pair in a free slot, retrying slots and
// sizes until it overlaps no earlier object.
func place(rng *rand.Rand, p Pair, prev []Object, used []bool) (Object, bool) {
	for try := 0; try < 24; try++ {
		slot := rng.IntN(len(Positions))
		if used[slot] {
			continue
		}
		size := rng.IntN(len(Sizes))
		if try >= 12 {
			size = 0
		}
		o := Object{
			Shape: p.Shape, Color: p.Color, Size: size, Position: slot,
			X: slotXY[slot][0] + (rng.Float32()-0.5)*0.06,
			Y: slotXY[slot][1] + (rng.Float32()-0.5)*0.06,
			R: sizeR[size] * (0.95 + rng.Float32()*0.1),
		}
		for c := range 3 {
			o.RGB[c] = clamp255(colorRGB[p.Color][c] + (rng.Float32()-0.5)*30)
		}
		ok := true
		for _, q := range prev {
			dx, dy := o.X-q.X, o.Y-q.Y
			if d := o.R + q.R + 0.01; dx*dx+dy*dy < d*d {
				ok = false
				break
			}
		}
		if ok {
			return o, true
		}
	}
	return Object{}, false
}

func sceneLabels(sc *Scene, i uint64, split Split, n int) Labels {
	l := Labels{Index: i, Split: split.String(), Background: bgNames[sc.Background]}
	for _, o := range sc.Objects {
		x0, y0, x1, y1 := bbox(o, n)
		l.Objects = append(l.Objects, Label{
			Shape: Shapes[o.Shape], Color: Colors[o.Color], Size: Sizes[o.Size],
			Position: Positions[o.Position], BBox: [4]int{x0, y0, x1, y1},
			HeldOut: IsHeldOut(o.Shape, o.Color),
		})
	}
	return l
}

func clamp255(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return v
}
