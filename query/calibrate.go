package query

import (
	"fmt"
	"math"
)

// Calibration turns raw CLIP cosines into scores comparable across queries.
//
// Raw similarities sit in a narrow band (for public CLIPs about 0.15–0.35)
// that moves with the query's wording, the scene and the lighting, so a
// fixed raw threshold is meaningless — the reason Frigate refuses text
// alerts. edgeclip scores a frame by how much better the query describes it
// than the best of a set of alternative prompts: generic background
// descriptions, the user's negatives and the query's contrast prompts (the
// query with one attribute swapped, see Vocabulary):
//
//	score = σ(L · (s_q − max_n s_n))
//
// where L is the model's logit scale. This is CLIP's two-way zero-shot
// probability of the query against its strongest rival: 0.5 means a tie,
// 0.6 odds of 1.5 : 1 (the default threshold). Unlike a softmax over all
// prompts it does not shrink as contrast prompts are added, and a
// scene-wide drift moves the query and its rivals together.
type Calibration struct {
	// LogitScale is the model's trained multiplier (exp of logit_scale).
	LogitScale float32
	// Negatives are the embeddings of the negative prompts, each of the
	// query's dimension.
	Negatives [][]float32
}

// MaxNegatives bounds the negative prompts a query or alert may name: each
// is a text encode and a dot product per scored frame.
const MaxNegatives = 16

// DefaultNegatives are the background prompts used when a query names none.
var DefaultNegatives = []string{
	"a photo of an empty scene",
	"a photo of the background",
	"a photo of nothing in particular",
	"a blurry photo",
}

// Validate checks that the calibration can score vectors of dim d.
func (c *Calibration) Validate(d int) error {
	if !(c.LogitScale > 0) || math.IsInf(float64(c.LogitScale), 0) {
		return fmt.Errorf("query: calibration: logit scale %v must be positive", c.LogitScale)
	}
	for i, n := range c.Negatives {
		if len(n) != d {
			return fmt.Errorf("query: calibration: negative %d has dimension %d, want %d", i, len(n), d)
		}
	}
	return nil
}

// Score calibrates the raw similarity of a frame to the query, given the
// frame's similarities to each negative (negRaw[i] for Negatives[i]): the
// logistic of the logit-scaled margin over the best negative.
func (c *Calibration) Score(raw float32, negRaw []float32) float32 {
	if len(negRaw) == 0 {
		// No negatives: map the cosine into [0, 1] monotonically so that
		// ordering survives; thresholds then are raw. Compact (int8)
		// history vectors can push a cosine a hair past 1: clip.
		return min(1, max(0, (raw+1)/2))
	}
	l := float64(c.LogitScale)
	best := math.Inf(-1)
	for _, n := range negRaw {
		best = math.Max(best, float64(n))
	}
	return float32(1 / (1 + math.Exp(-l*(float64(raw)-best))))
}

// Softmax returns CLIP zero-shot probabilities of labels for one image:
// softmax(L · cos) over the label similarities.
func Softmax(logitScale float32, sims []float32) []float32 {
	out := make([]float32, len(sims))
	m := math.Inf(-1)
	for _, s := range sims {
		m = math.Max(m, float64(s))
	}
	var sum float64
	for i, s := range sims {
		e := math.Exp(float64(logitScale) * (float64(s) - m))
		out[i] = float32(e)
		sum += e
	}
	for i := range out {
		out[i] = float32(float64(out[i]) / sum)
	}
	return out
}

// NegativePrompts lists the prompts a text query is calibrated against:
// the background prompts, the caller's own negatives, then the query's
// contrast prompts from vocab (none when vocab is nil). Duplicates and the
// query itself are dropped.
func NegativePrompts(text string, background, extra []string, vocab Vocabulary) []string {
	seen := map[string]bool{text: true}
	var out []string
	add := func(ps []string) {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	add(background)
	add(extra)
	add(vocab.Contrasts(text))
	return out
}
