// Package eval measures a CLIP model on fixed sets of the synthetic world
// (tools/world), so that every accuracy claim about a model — trained,
// distilled or quantized — is a number anyone can reproduce from a seed:
// zero-shot classification of shape, colour and count, text↔image retrieval,
// and, on rendered videos, the interval answers and standing alerts the
// daemon would give.
//
// Every set is a pure function of Options.Seed, and the native engine is
// deterministic, so the same model and options always give the same Result.
// The JSON schema of Result is documented in docs/eval.md.
package eval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/preprocess"
	"github.com/edgeclip/edgeclip/models/tokenizer"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/tools/world"
)

// Model is what evaluation needs: a session and the model's tokenizer and
// architecture. Name, Hash and Precision only label the result.
type Model struct {
	Session   runtime.Session
	Tokenizer *tokenizer.Tokenizer
	Config    arch.Config
	Name      string
	Hash      string
	Precision runtime.Precision
}

// Options size the evaluation. Zero values take the defaults.
type Options struct {
	// N is the number of images in each of the four image sets (zero-shot
	// seen and held-out, retrieval seen and held-out). Default 1000.
	N int
	// Seed selects the sets: seeds Seed … Seed+3 for the image sets, the
	// same as tools/train/evalworld.py, and Seed+10+i for video i.
	// Default 1001.
	Seed uint64
	// Videos is the number of rendered videos (default 0: no video level).
	Videos int
	// VideoSeconds is each video's length (default 120).
	VideoSeconds float64
	// FPS is the rate at which video frames are encoded (default 5).
	FPS float64
	// VideoSize is the rendered frame side in pixels (default 256, the
	// synth:// source's size); preprocessing scales it to the model.
	VideoSize int
	// Batch is the number of images per EncodeImages call (default 32).
	Batch int
	// Progress, when set, is called after every batch.
	Progress func(Progress)
}

// Progress reports how far a run is.
type Progress struct {
	Done, Total int // images and frames encoded
	Step        string
	Elapsed     time.Duration
}

// Limits that keep a mistyped flag from running for days.
const (
	MaxN            = 100_000
	MaxVideos       = 100
	MaxVideoSeconds = 3600
)

// DefaultSeed is the first seed of the evaluation sets.
const DefaultSeed = 1001

func (o *Options) defaults() error {
	if o.N == 0 {
		o.N = 1000
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.VideoSeconds == 0 {
		o.VideoSeconds = 120
	}
	if o.FPS == 0 {
		o.FPS = 5
	}
	if o.VideoSize == 0 {
		o.VideoSize = 256
	}
	if o.Batch == 0 {
		o.Batch = 32
	}
	switch {
	case o.N < 10 || o.N > MaxN:
		return fmt.Errorf("eval: n = %d: want 10..%d", o.N, MaxN)
	case o.Videos < 0 || o.Videos > MaxVideos:
		return fmt.Errorf("eval: videos = %d: want 0..%d", o.Videos, MaxVideos)
	case !(o.VideoSeconds >= 1 && o.VideoSeconds <= MaxVideoSeconds):
		return fmt.Errorf("eval: video seconds = %v: want 1..%d", o.VideoSeconds, MaxVideoSeconds)
	case !(o.FPS > 0 && o.FPS <= 60):
		return fmt.Errorf("eval: fps = %v: want (0, 60]", o.FPS)
	case o.VideoSize < 8 || o.VideoSize > 1024:
		return fmt.Errorf("eval: video size = %d: want 8..1024", o.VideoSize)
	case o.Batch < 1 || o.Batch > 1024:
		return fmt.Errorf("eval: batch = %d: want 1..1024", o.Batch)
	}
	return nil
}

// Run evaluates m. A nil o means the defaults.
func Run(ctx context.Context, m Model, o *Options) (*Result, error) {
	var opt Options
	if o != nil {
		opt = *o
	}
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	if m.Session == nil || m.Tokenizer == nil {
		return nil, errors.New("eval: model needs a session and a tokenizer")
	}
	if err := m.Config.Validate(); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	enc, err := newEncoder(m, &opt)
	if err != nil {
		return nil, err
	}
	enc.total = 4 * opt.N
	if opt.Videos > 0 {
		enc.total += opt.Videos * frameCount(&opt)
	}
	r := &Result{
		Model:   ModelInfo{Name: m.Name, Hash: m.Hash, Precision: string(m.Precision)},
		Options: Settings{N: opt.N, Seed: opt.Seed, ImageSize: enc.size},
	}
	if r.Model.Precision == "" {
		r.Model.Precision = string(runtime.FP32)
	}
	if err := zeroShotAndRetrieval(ctx, enc, &opt, r); err != nil {
		return nil, err
	}
	if opt.Videos > 0 {
		v, err := videos(ctx, enc, &opt)
		if err != nil {
			return nil, err
		}
		r.Video = v
	}
	return r, nil
}

// encoder batches images and texts through the session and reports progress.
type encoder struct {
	m     Model
	o     *Options
	pre   *preprocess.Preprocessor
	size  int // rendering size of world images: the model's input size
	dim   int
	px    []float32
	done  int
	total int
	start time.Time
}

func newEncoder(m Model, o *Options) (*encoder, error) {
	c := m.Config
	pre, err := preprocess.New(preprocess.Params{Size: c.ImageSize, Mean: c.Mean, Std: c.Std})
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	size := min(max(c.ImageSize, 8), world.MaxSize)
	return &encoder{m: m, o: o, pre: pre, size: size, dim: c.EmbedDim, start: time.Now()}, nil
}

// images encodes n RGB images produced by get (pixels, width, height) and
// returns n × dim embeddings.
func (e *encoder) images(ctx context.Context, step string, n int, get func(i int) ([]byte, int, int)) ([]float32, error) {
	out := make([]float32, n*e.dim)
	per := e.pre.Len()
	for lo := 0; lo < n; lo += e.o.Batch {
		hi := min(lo+e.o.Batch, n)
		if cap(e.px) < (hi-lo)*per {
			e.px = make([]float32, e.o.Batch*per)
		}
		px := e.px[:(hi-lo)*per]
		for i := lo; i < hi; i++ {
			pix, w, h := get(i)
			if err := e.pre.FromPixels(pix, w, h, 3*w, preprocess.RGB, px[(i-lo)*per:(i-lo+1)*per]); err != nil {
				return nil, fmt.Errorf("eval: %s: image %d: %w", step, i, err)
			}
		}
		if err := e.m.Session.EncodeImages(ctx, px, hi-lo, out[lo*e.dim:hi*e.dim]); err != nil {
			return nil, fmt.Errorf("eval: %s: %w", step, err)
		}
		e.done += hi - lo
		if e.o.Progress != nil {
			e.o.Progress(Progress{Done: e.done, Total: e.total, Step: step, Elapsed: time.Since(e.start)})
		}
	}
	return out, nil
}

// texts encodes texts into len(texts) × dim embeddings.
func (e *encoder) texts(ctx context.Context, texts []string) ([]float32, error) {
	out := make([]float32, len(texts)*e.dim)
	const batch = 256
	ids := make([][]int32, 0, batch)
	for lo := 0; lo < len(texts); lo += batch {
		hi := min(lo+batch, len(texts))
		ids = ids[:0]
		for _, t := range texts[lo:hi] {
			ids = append(ids, e.m.Tokenizer.Encode(t, e.m.Config.ContextLen))
		}
		if err := e.m.Session.EncodeTexts(ctx, ids, out[lo*e.dim:hi*e.dim]); err != nil {
			return nil, fmt.Errorf("eval: encode texts: %w", err)
		}
	}
	return out, nil
}

// worldSet renders n samples of one split and encodes them.
func (e *encoder) worldSet(ctx context.Context, step string, seed uint64, split world.Split, maxObjects, n int) ([]world.Sample, []float32, error) {
	g, err := world.New(&world.Options{Seed: seed, Size: e.size, Split: split, MaxObjects: maxObjects})
	if err != nil {
		return nil, nil, fmt.Errorf("eval: %w", err)
	}
	samples := make([]world.Sample, n)
	emb, err := e.images(ctx, step, n, func(i int) ([]byte, int, int) {
		s := g.Sample(uint64(i))
		samples[i] = s
		samples[i].Pixels = nil // keep labels and scenes, not n images of pixels
		return s.Pixels, s.Width, s.Height
	})
	return samples, emb, err
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func row(m []float32, i, d int) []float32 { return m[i*d : (i+1)*d] }
