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
// alerts. edgeclip scores a frame by CLIP's own zero-shot rule: the softmax,
// at the model's logit scale, of the query against a set of negative
// prompts (generic background descriptions plus any the user names):
//
//	score = exp(L·s_q) / (exp(L·s_q) + Σ_n exp(L·s_n))
//
// It answers "does this frame match the query better than it matches
// nothing in particular?", so 0.5 is a natural threshold whatever the query,
// and a scene-wide drift moves the query and the negatives together.
type Calibration struct {
	// LogitScale is the model's trained multiplier (exp of logit_scale).
	LogitScale float32
	// Negatives are the embeddings of the negative prompts, each of the
	// query's dimension.
	Negatives [][]float32
}

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
// frame's similarities to each negative (negRaw[i] for Negatives[i]).
func (c *Calibration) Score(raw float32, negRaw []float32) float32 {
	if len(negRaw) == 0 {
		// No negatives: map the cosine into [0, 1] monotonically so that
		// ordering survives; thresholds then are raw. Compact (int8)
		// history vectors can push a cosine a hair past 1: clip.
		return min(1, max(0, (raw+1)/2))
	}
	l := float64(c.LogitScale)
	m := float64(raw)
	for _, n := range negRaw {
		m = math.Max(m, float64(n))
	}
	num := math.Exp(l * (float64(raw) - m))
	den := num
	for _, n := range negRaw {
		den += math.Exp(l * (float64(n) - m))
	}
	return float32(num / den)
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
