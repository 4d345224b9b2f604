package bench

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/preprocess"
	"github.com/edgeclip/edgeclip/models/tokenizer"
)

// Fixed inputs: the same pixels and captions on every run, so accuracy
// figures of two runs compare.

// captions are the accuracy texts: short camera queries of varied length.
var captions = []string{
	"a person",
	"a red car parked in front of the house",
	"two dogs playing on the grass near a blue fence",
	"an empty street at night with wet reflections and one bicycle leaning on a lamp post",
}

const (
	srcW, srcH = 320, 240 // a small camera frame, resized and cropped by preprocess
	numImages  = 4
)

// images returns numImages preprocessed frames (a gradient, a checkerboard,
// discs on a background and noise) as one CHW batch for cfg.
func images(cfg arch.Config) ([]float32, error) {
	pp, err := preprocess.New(preprocess.Params{Size: cfg.ImageSize, Mean: cfg.Mean, Std: cfg.Std})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	n := pp.Len()
	out := make([]float32, numImages*n)
	pix := make([]byte, srcW*srcH*3)
	rng := rand.New(rand.NewPCG(7, 11))
	for k := range numImages {
		for y := range srcH {
			for x := range srcW {
				p := pix[(y*srcW+x)*3:]
				switch k {
				case 0: // gradient
					p[0], p[1], p[2] = byte(x*255/srcW), byte(y*255/srcH), 128
				case 1: // checkerboard
					v := byte(40)
					if (x/20+y/20)%2 == 0 {
						v = 220
					}
					p[0], p[1], p[2] = v, v, 255-v
				case 2: // discs
					p[0], p[1], p[2] = 30, 90, 40
					for i, c := range [][3]int{{80, 120, 50}, {220, 90, 35}, {250, 190, 25}} {
						if dx, dy := x-c[0], y-c[1]; dx*dx+dy*dy < c[2]*c[2] {
							p[0], p[1], p[2] = byte(200-i*60), byte(50+i*70), byte(30+i*90)
						}
					}
				default: // noise
					p[0], p[1], p[2] = byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())
				}
			}
		}
		if err := pp.FromPixels(pix, srcW, srcH, srcW*3, preprocess.RGB, out[k*n:(k+1)*n]); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	return out, nil
}

// batchOf repeats the fixed images to fill a batch of b.
func batchOf(fixed []float32, b int) []float32 {
	per := len(fixed) / numImages
	out := make([]float32, b*per)
	for i := range b {
		copy(out[i*per:], fixed[(i%numImages)*per:(i%numImages+1)*per])
	}
	return out
}

// texts tokenizes the captions with the model's tokenizer and makes, for
// each timed length n, a query of n ids (start, random ids, end).
type texts struct {
	captions [][]int32
	start    int32
	end      int32
	vocab    int
}

func newTexts(tok *tokenizer.Tokenizer, cfg arch.Config) *texts {
	t := &texts{start: tok.StartID(), end: tok.EndID(), vocab: min(tok.VocabSize(), cfg.VocabSize)}
	for _, c := range captions {
		t.captions = append(t.captions, tok.Encode(c, cfg.ContextLen))
	}
	return t
}

// query returns a query of n ids, the same for every run of a model.
func (t *texts) query(n int) []int32 {
	rng := rand.New(rand.NewPCG(uint64(n), 3))
	ids := make([]int32, n)
	ids[0], ids[n-1] = t.start, t.end
	for i := 1; i < n-1; i++ {
		ids[i] = int32(rng.IntN(max(t.vocab-2, 1)))
	}
	return ids
}

// cosines compares rows of a with rows of b (dim each): mean and minimum.
func cosines(a, b []float32, dim int) (mean, lo float64) {
	rows := len(a) / dim
	lo = math.Inf(1)
	for r := range rows {
		var dot, na, nb float64
		for i := r * dim; i < (r+1)*dim; i++ {
			x, y := float64(a[i]), float64(b[i])
			dot += x * y
			na += x * x
			nb += y * y
		}
		c := dot / math.Sqrt(na*nb)
		if na == 0 || nb == 0 {
			c = 0
		}
		mean += c
		lo = min(lo, c)
	}
	if rows == 0 {
		return 0, 0
	}
	return mean / float64(rows), lo
}
