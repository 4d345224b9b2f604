package quantize

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/preprocess"
	"github.com/edgeclip/edgeclip/models/tokenizer"
	"github.com/edgeclip/edgeclip/tools/world"
)

// Calibration holds the inputs the quantizer measures a model on.
type Calibration struct {
	// Source describes where the inputs came from (recorded in the report).
	Source string
	// Pixels holds Images preprocessed images (Images × 3 × size × size).
	Pixels []float32
	Images int
	// Texts are token id sequences as runtime.Session.EncodeTexts takes them.
	Texts [][]int32
}

// DefaultCalib is the calibration source when none is given: world images
// from a seed that no evaluation set uses, in the training distribution.
const DefaultCalib = "world:seed=9"

// Limits of a calibration spec.
const (
	MaxCalibImages = 10_000
	defaultImages  = 256
)

// WorldCalibration generates calibration inputs from a spec
// "world:seed=S[,n=N][,split=train|seen|heldout]" (defaults: n 256, split
// train): N world images rendered at the model's input size, and every
// distinct caption of them.
func WorldCalibration(spec string, cfg arch.Config, tok *tokenizer.Tokenizer) (*Calibration, error) {
	rest, ok := strings.CutPrefix(spec, "world:")
	if !ok {
		return nil, fmt.Errorf("quantize: calibration %q: want world:seed=S[,n=N][,split=train|seen|heldout]", spec)
	}
	opt := world.Options{Seed: 9, Split: world.Train, Size: min(max(cfg.ImageSize, 8), world.MaxSize)}
	n := defaultImages
	for _, kv := range strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == '&' }) {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "seed":
			opt.Seed, err = strconv.ParseUint(v, 10, 64)
		case "n":
			n, err = strconv.Atoi(v)
			if err == nil && (n < 1 || n > MaxCalibImages) {
				err = fmt.Errorf("want 1..%d", MaxCalibImages)
			}
		case "split":
			opt.Split, err = world.ParseSplit(v)
		default:
			err = fmt.Errorf("unknown key (want seed, n or split)")
		}
		if err != nil {
			return nil, fmt.Errorf("quantize: calibration %q: %s: %v", spec, kv, err)
		}
	}
	g, err := world.New(&opt)
	if err != nil {
		return nil, fmt.Errorf("quantize: calibration %q: %w", spec, err)
	}
	pre, err := preprocess.New(preprocess.Params{Size: cfg.ImageSize, Mean: cfg.Mean, Std: cfg.Std})
	if err != nil {
		return nil, fmt.Errorf("quantize: calibration: %w", err)
	}
	c := &Calibration{Source: spec, Images: n, Pixels: make([]float32, n*pre.Len())}
	seen := map[string]bool{}
	for i := range n {
		s := g.Sample(uint64(i))
		if err := pre.FromPixels(s.Pixels, s.Width, s.Height, 3*s.Width, preprocess.RGB, c.Pixels[i*pre.Len():(i+1)*pre.Len()]); err != nil {
			return nil, fmt.Errorf("quantize: calibration image %d: %w", i, err)
		}
		for _, t := range s.Captions {
			if !seen[t] {
				seen[t] = true
				c.Texts = append(c.Texts, tok.Encode(t, cfg.ContextLen))
			}
		}
	}
	return c, nil
}
