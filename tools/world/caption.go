package world

import (
	"math/rand/v2"
	"sort"
	"strings"
)

// Plural forms of Shapes.
var shapePlural = []string{"circles", "squares", "triangles", "stars", "crosses", "hexagons", "diamonds", "rings"}

// numberWords are the counts captions use.
var numberWords = []string{"zero", "one", "two", "three"}

var (
	sizeSyn  = [][]string{{"small", "little"}, {"large", "big"}}
	photoSyn = []string{"a photo of", "a picture of", "an image of"}
	whereStr = []string{"on the left", "on the right", "at the top", "at the bottom", "in the center"}
)

// article returns "a w" or "an w".
func article(w string) string {
	if strings.IndexByte("aeiou", w[0]) >= 0 {
		return "an " + w
	}
	return "a " + w
}

func pick(rng *rand.Rand, s []string) string { return s[rng.IntN(len(s))] }

// Canonical is the most specific caption: every object with size, colour,
// shape and place, left to right. Evaluation retrieves with it.
func Canonical(sc *Scene) string {
	objs := sortedObjects(sc)
	parts := make([]string, len(objs))
	for i, o := range objs {
		parts[i] = article(Sizes[o.Size]+" "+Colors[o.Color]+" "+Shapes[o.Shape]) + " " + whereStr[o.Position]
	}
	return strings.Join(parts, " and ")
}

// sortedObjects orders objects left to right, then top to bottom.
func sortedObjects(sc *Scene) []Object {
	objs := append([]Object(nil), sc.Objects...)
	sort.SliceStable(objs, func(i, j int) bool {
		if d := objs[i].X - objs[j].X; d < -0.05 || d > 0.05 {
			return d < 0
		}
		return objs[i].Y < objs[j].Y
	})
	return objs
}

// Captions returns the canonical caption followed by varied ones: a full
// description, a shape-only and a colour-only caption (they teach the model
// to factor shape from colour), a count or relation caption for multi-object
// scenes, and one more of any kind. Every caption is true of the image.
func Captions(sc *Scene, rng *rand.Rand) []string {
	caps := []string{Canonical(sc), full(sc, rng), shapeOnly(sc, rng), colorOnly(sc, rng)}
	if len(sc.Objects) > 1 {
		caps = append(caps, multi(sc, rng))
	} else {
		caps = append(caps, single(sc.Objects[0], rng))
	}
	switch rng.IntN(4) {
	case 0:
		caps = append(caps, shapeOnly(sc, rng))
	case 1:
		caps = append(caps, colorOnly(sc, rng))
	case 2:
		caps = append(caps, single(sc.Objects[rng.IntN(len(sc.Objects))], rng))
	default:
		caps = append(caps, full(sc, rng))
	}
	return caps
}

// single describes one object in one of several phrasings.
func single(o Object, rng *rand.Rand) string {
	c, s := Colors[o.Color], Shapes[o.Shape]
	z := pick(rng, sizeSyn[o.Size])
	switch rng.IntN(8) {
	case 0:
		return article(c + " " + s)
	case 1:
		return pick(rng, photoSyn) + " " + article(c+" "+s)
	case 2:
		return article(z + " " + c + " " + s)
	case 3:
		return article(c+" "+s) + " " + whereStr[o.Position]
	case 4:
		return whereStr[o.Position] + " there is " + article(c+" "+s)
	case 5:
		return article(s) + " that is " + c
	case 6:
		return article(s) + " colored " + c
	default:
		return pick(rng, photoSyn) + " " + article(z+" "+c+" "+s) + " " + whereStr[o.Position]
	}
}

// full names every object (colour and shape) in a random order and phrasing.
func full(sc *Scene, rng *rand.Rand) string {
	if len(sc.Objects) == 1 {
		return single(sc.Objects[0], rng)
	}
	if same, ok := allSame(sc); ok && rng.IntN(2) == 0 {
		return numberWords[len(sc.Objects)] + " " + Colors[same.Color] + " " + shapePlural[same.Shape]
	}
	objs := append([]Object(nil), sc.Objects...)
	rng.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
	parts := make([]string, len(objs))
	for i, o := range objs {
		parts[i] = article(Colors[o.Color] + " " + Shapes[o.Shape])
	}
	s := strings.Join(parts, " and ")
	if rng.IntN(3) == 0 {
		s = pick(rng, photoSyn) + " " + s
	}
	return s
}

// allSame reports whether every object has the same shape and colour.
func allSame(sc *Scene) (Object, bool) {
	o := sc.Objects[0]
	for _, q := range sc.Objects[1:] {
		if q.Shape != o.Shape || q.Color != o.Color {
			return o, false
		}
	}
	return o, true
}

// shapeOnly names shapes without colours.
func shapeOnly(sc *Scene, rng *rand.Rand) string {
	if len(sc.Objects) == 1 {
		o := sc.Objects[0]
		s := Shapes[o.Shape]
		switch rng.IntN(4) {
		case 0:
			return "a photo of " + article(s)
		case 1:
			return article(s)
		case 2:
			return article(pick(rng, sizeSyn[o.Size]) + " " + s)
		default:
			return article(s) + " " + whereStr[o.Position]
		}
	}
	counts := make([]int, len(Shapes))
	var order []int
	for _, o := range sc.Objects {
		if counts[o.Shape] == 0 {
			order = append(order, o.Shape)
		}
		counts[o.Shape]++
	}
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	parts := make([]string, len(order))
	for i, s := range order {
		if counts[s] == 1 {
			parts[i] = article(Shapes[s])
		} else {
			parts[i] = numberWords[counts[s]] + " " + shapePlural[s]
		}
	}
	return strings.Join(parts, " and ")
}

// colorOnly names colours without shapes.
func colorOnly(sc *Scene, rng *rand.Rand) string {
	if len(sc.Objects) == 1 {
		o := sc.Objects[0]
		c := Colors[o.Color]
		switch rng.IntN(4) {
		case 0:
			return "a photo of " + article(c+" object")
		case 1:
			return "something " + c
		case 2:
			return article(c + " shape")
		default:
			return article(pick(rng, sizeSyn[o.Size]) + " " + c + " object")
		}
	}
	counts := make([]int, len(Colors))
	var order []int
	for _, o := range sc.Objects {
		if counts[o.Color] == 0 {
			order = append(order, o.Color)
		}
		counts[o.Color]++
	}
	parts := make([]string, len(order))
	for i, c := range order {
		if counts[c] == 1 {
			parts[i] = article(Colors[c] + " object")
		} else {
			parts[i] = numberWords[counts[c]] + " " + Colors[c] + " objects"
		}
	}
	return strings.Join(parts, " and ")
}

// multi is a count or a spatial relation between two objects.
func multi(sc *Scene, rng *rand.Rand) string {
	n := len(sc.Objects)
	if rng.IntN(3) == 0 {
		return numberWords[n] + " " + pick(rng, []string{"objects", "shapes"})
	}
	a, b := sc.Objects[0], sc.Objects[1+rng.IntN(n-1)]
	dx, dy := b.X-a.X, b.Y-a.Y
	rel := ""
	switch {
	case abs32(dx) >= abs32(dy) && dx > 0.15:
		rel = pick(rng, []string{"left of", "to the left of"})
	case abs32(dx) >= abs32(dy) && dx < -0.15:
		rel = pick(rng, []string{"right of", "to the right of"})
	case dy > 0.15:
		rel = "above"
	case dy < -0.15:
		rel = "below"
	default:
		return full(sc, rng)
	}
	other := article(Shapes[b.Shape])
	if rng.IntN(2) == 0 {
		other = article(Colors[b.Color] + " " + Shapes[b.Shape])
	}
	return article(Colors[a.Color]+" "+Shapes[a.Shape]) + " " + rel + " " + other
}
