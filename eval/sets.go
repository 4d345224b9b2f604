package eval

import (
	"context"
	"math"
	"strings"

	"github.com/edgeclip/edgeclip/tools/world"
)

// Prompt wording follows tools/world's caption templates (and
// tools/train/evalworld.py): "a photo of a circle", "a photo of a red
// object"; counts use the multi-object captions' "two objects" form.
func article(w string) string {
	if strings.IndexByte("aeiou", w[0]) >= 0 {
		return "an " + w
	}
	return "a " + w
}

// ShapePrompt and ColorPrompt are the zero-shot class prompts.
func ShapePrompt(shape string) string { return "a photo of " + article(shape) }
func ColorPrompt(color string) string { return "a photo of " + article(color+" object") }

// CountPrompt is the prompt for a scene of n objects, 1 ≤ n ≤ 3.
func CountPrompt(n int) string {
	if n == 1 {
		return "one object"
	}
	return numberWords[n] + " objects"
}

var numberWords = []string{"zero", "one", "two", "three"}

// counts are the count classes: scenes hold 1 to 3 objects.
var counts = []string{"1", "2", "3"}

func prompts(labels []string, f func(string) string) []string {
	out := make([]string, len(labels))
	for i, l := range labels {
		out[i] = f(l)
	}
	return out
}

// zeroShotAndRetrieval fills r.ZeroShot and r.Retrieval from four sets:
// single-object seen and held-out images for shape and colour, and
// 1–3-object seen and held-out images for count and retrieval.
func zeroShotAndRetrieval(ctx context.Context, e *encoder, o *Options, r *Result) error {
	r.ZeroShot.Shape.Prompts = prompts(world.Shapes, ShapePrompt)
	r.ZeroShot.Color.Prompts = prompts(world.Colors, ColorPrompt)
	r.ZeroShot.Count.Prompts = []string{CountPrompt(1), CountPrompt(2), CountPrompt(3)}
	var all []string
	for _, t := range []*Task{&r.ZeroShot.Shape, &r.ZeroShot.Color, &r.ZeroShot.Count} {
		all = append(all, t.Prompts...)
	}
	pe, err := e.texts(ctx, all)
	if err != nil {
		return err
	}
	d := e.dim
	shapeP, colorP, countP := pe[:8*d], pe[8*d:16*d], pe[16*d:]

	for _, set := range []struct {
		name  string
		seed  uint64
		split world.Split
		shape *Classification
		color *Classification
	}{
		{"zero-shot seen", o.Seed, world.EvalSeen, &r.ZeroShot.Shape.Seen, &r.ZeroShot.Color.Seen},
		{"zero-shot held-out", o.Seed + 1, world.EvalHeldOut, &r.ZeroShot.Shape.HeldOut, &r.ZeroShot.Color.HeldOut},
	} {
		samples, emb, err := e.worldSet(ctx, set.name, set.seed, set.split, 1, o.N)
		if err != nil {
			return err
		}
		shapes, colors := make([]int, len(samples)), make([]int, len(samples))
		for i, s := range samples {
			shapes[i], colors[i] = s.Scene.Objects[0].Shape, s.Scene.Objects[0].Color
		}
		*set.shape = classify(emb, d, shapeP, shapes, world.Shapes)
		*set.color = classify(emb, d, colorP, colors, world.Colors)
	}
	for _, set := range []struct {
		name  string
		seed  uint64
		split world.Split
		count *Classification
		pairs *Pairs
	}{
		{"retrieval seen", o.Seed + 2, world.EvalSeen, &r.ZeroShot.Count.Seen, &r.Retrieval.Seen},
		{"retrieval held-out", o.Seed + 3, world.EvalHeldOut, &r.ZeroShot.Count.HeldOut, &r.Retrieval.HeldOut},
	} {
		samples, emb, err := e.worldSet(ctx, set.name, set.seed, set.split, 3, o.N)
		if err != nil {
			return err
		}
		n := make([]int, len(samples))
		caps := make([]string, len(samples))
		for i, s := range samples {
			n[i] = len(s.Scene.Objects) - 1
			caps[i] = world.Canonical(&s.Scene)
		}
		*set.count = classify(emb, d, countP, n, counts)
		if *set.pairs, err = retrieval(ctx, e, emb, caps); err != nil {
			return err
		}
	}
	r.ZeroShot.Shape.Accuracy = r.ZeroShot.Shape.Seen.Accuracy
	r.ZeroShot.Color.Accuracy = r.ZeroShot.Color.Seen.Accuracy
	r.ZeroShot.Count.Accuracy = r.ZeroShot.Count.Seen.Accuracy
	r.Retrieval.T2I, r.Retrieval.I2T = r.Retrieval.Seen.T2I, r.Retrieval.Seen.I2T
	return nil
}

// classify predicts, for each image, the prompt of highest cosine (the
// softmax of CLIP's zero-shot rule is monotonic in it; ties go to the
// first) and scores the predictions against truth.
func classify(emb []float32, d int, promptEmb []float32, truth []int, labels []string) Classification {
	k := len(labels)
	pred := make([]int, len(truth))
	for i := range truth {
		best, bs := 0, dot(row(emb, i, d), row(promptEmb, 0, d))
		for c := 1; c < k; c++ {
			if s := dot(row(emb, i, d), row(promptEmb, c, d)); s > bs {
				best, bs = c, s
			}
		}
		pred[i] = best
	}
	return report(pred, truth, labels)
}

// report is a classification report: per-class precision, recall and F1,
// accuracy and macro-averaged F1.
func report(pred, truth []int, labels []string) Classification {
	k := len(labels)
	tp, predicted, support := make([]int, k), make([]int, k), make([]int, k)
	correct := 0
	for i, t := range truth {
		support[t]++
		predicted[pred[i]]++
		if pred[i] == t {
			tp[t]++
			correct++
		}
	}
	c := Classification{N: len(truth), Classes: make([]ClassScore, k)}
	if len(truth) > 0 {
		c.Accuracy = float64(correct) / float64(len(truth))
	}
	for j := range k {
		s := ClassScore{Label: labels[j], Support: support[j]}
		if predicted[j] > 0 {
			s.Precision = float64(tp[j]) / float64(predicted[j])
		}
		if support[j] > 0 {
			s.Recall = float64(tp[j]) / float64(support[j])
		}
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		c.Classes[j] = s
		c.MacroF1 += s.F1 / float64(k)
	}
	return c
}

// retrieval encodes the distinct captions of a set and scores it.
func retrieval(ctx context.Context, e *encoder, img []float32, caps []string) (Pairs, error) {
	ids := map[string]int{}
	var uniq []string
	capID := make([]int, len(caps))
	for i, c := range caps {
		id, ok := ids[c]
		if !ok {
			id = len(uniq)
			ids[c] = id
			uniq = append(uniq, c)
		}
		capID[i] = id
	}
	txt, err := e.texts(ctx, uniq)
	if err != nil {
		return Pairs{}, err
	}
	p := Pairs{N: len(caps), Captions: len(uniq)}
	p.T2I, p.I2T = recall(img, txt, e.dim, capID)
	return p, nil
}

// recall scores text→image and image→text recall@1/5/10 of n images
// against distinct captions, capID[i] being image i's caption. It counts
// once per pair: identical captions are the same query, so any image
// sharing the query's caption is a correct answer, and image→text ranks the
// distinct captions. A wrong item that ties the best correct one counts as
// ranked above it, so a model whose embeddings are all equal scores zero.
func recall(img, txt []float32, d int, capID []int) (t2i, i2t Recall) {
	n, u := len(capID), len(txt)/d
	if n == 0 {
		return
	}
	sim := make([]float32, n*u) // image i × caption j
	for i := range n {
		for j := range u {
			sim[i*u+j] = dot(row(img, i, d), row(txt, j, d))
		}
	}
	var a, b [3]int
	ks := [3]int{1, 5, 10}
	hit := func(acc *[3]int, rank int) {
		for x, k := range ks {
			if rank < k {
				acc[x]++
			}
		}
	}
	// Text → image: the rank of the best image with the query's caption.
	rankT2I := make([]int, u)
	for j := range u {
		best := float32(math.Inf(-1))
		for i := range n {
			if capID[i] == j {
				best = max(best, sim[i*u+j])
			}
		}
		for i := range n {
			if capID[i] != j && sim[i*u+j] >= best {
				rankT2I[j]++
			}
		}
	}
	for i := range n {
		hit(&a, rankT2I[capID[i]])
		// Image → text: the rank of the image's caption among the distinct captions.
		s, rank := sim[i*u+capID[i]], 0
		for j := range u {
			if j != capID[i] && sim[i*u+j] >= s {
				rank++
			}
		}
		hit(&b, rank)
	}
	frac := func(c [3]int) Recall {
		return Recall{R1: float64(c[0]) / float64(n), R5: float64(c[1]) / float64(n), R10: float64(c[2]) / float64(n)}
	}
	return frac(a), frac(b)
}
