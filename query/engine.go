package query

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Index is the history as queries see it (implemented by an adapter over
// the history store).
type Index interface {
	// ScoreEach calls fn, in time order, for every frame of the model
	// stamped in [since, until] (zero times leave that side open) with the
	// dot products of the frame's embedding and each query vector.
	ScoreEach(ctx context.Context, modelHash string, queries [][]float32, since, until time.Time,
		fn func(seq uint64, t time.Time, sims []float32)) error
}

// TextEncoder embeds query texts (L2-normalised).
type TextEncoder interface {
	EncodeText(ctx context.Context, text string) ([]float32, error)
}

// Options configure an Engine.
type Options struct {
	ModelHash  string
	LogitScale float32
	// Negatives replace DefaultNegatives when non-nil.
	Negatives []string
	// Vocabulary builds contrast prompts for text queries
	// (DefaultVocabulary when nil; an empty one turns them off).
	Vocabulary Vocabulary
	// CacheSize is the number of query embeddings kept (default 256).
	CacheSize int
	// Intervals are the defaults for requests that leave theirs zero.
	Intervals IntervalOptions
}

// Engine answers queries over one model's history.
type Engine struct {
	idx  Index
	enc  TextEncoder
	opts Options

	mu    sync.Mutex
	cache map[string]*list.Element
	lru   *list.List
}

type cached struct {
	text string
	vec  []float32
}

// NewEngine builds an engine; idx and enc are required.
func NewEngine(idx Index, enc TextEncoder, o Options) (*Engine, error) {
	if idx == nil || enc == nil {
		return nil, errors.New("query: NewEngine needs an index and a text encoder")
	}
	if !(o.LogitScale > 0) {
		return nil, fmt.Errorf("query: logit scale %v must be positive", o.LogitScale)
	}
	if o.Negatives == nil {
		o.Negatives = DefaultNegatives
	}
	if o.Vocabulary == nil {
		o.Vocabulary = DefaultVocabulary
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 256
	}
	return &Engine{idx: idx, enc: enc, opts: o, cache: map[string]*list.Element{}, lru: list.New()}, nil
}

// Embed returns a text's embedding, from the cache when it was asked recently.
func (e *Engine) Embed(ctx context.Context, text string) ([]float32, error) {
	e.mu.Lock()
	if el, ok := e.cache[text]; ok {
		e.lru.MoveToFront(el)
		v := el.Value.(*cached).vec
		e.mu.Unlock()
		return v, nil
	}
	e.mu.Unlock()
	v, err := e.enc.EncodeText(ctx, text)
	if err != nil {
		return nil, fmt.Errorf("query: encode %q: %w", text, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.cache[text]; !ok {
		e.cache[text] = e.lru.PushFront(&cached{text, v})
		for e.lru.Len() > e.opts.CacheSize {
			old := e.lru.Back()
			e.lru.Remove(old)
			delete(e.cache, old.Value.(*cached).text)
		}
	}
	return v, nil
}

// Request is one query. Exactly one of Text and Vector is set.
type Request struct {
	Text   string
	Vector []float32 // an image embedding for image → image search
	// Negatives add to the engine's negative prompts for this query.
	Negatives []string
	// NoContrast leaves out the contrast prompts built from Text, for a
	// query whose near misses should match too ("a car" also meaning a van).
	NoContrast   bool
	Since, Until time.Time
	TopK         int // default 10
	Intervals    IntervalOptions
}

// Result is a query's answer.
type Result struct {
	Frames    []Frame // the top-k frames, best first
	Intervals []Interval
	Scanned   int
	Took      time.Duration
}

// Search scores every frame in the window and returns top-k frames and intervals.
func (e *Engine) Search(ctx context.Context, r Request) (Result, error) {
	start := time.Now()
	var q []float32
	switch {
	case r.Text != "" && r.Vector != nil:
		return Result{}, errors.New("query: give a text or a vector, not both")
	case r.Text != "":
		v, err := e.Embed(ctx, r.Text)
		if err != nil {
			return Result{}, err
		}
		q = v
	case r.Vector != nil:
		q = r.Vector
	default:
		return Result{}, errors.New("query: empty request: give a text or a vector")
	}
	vecs := [][]float32{q}
	var vocab Vocabulary
	if !r.NoContrast {
		vocab = e.opts.Vocabulary
	}
	negs := NegativePrompts(r.Text, e.opts.Negatives, r.Negatives, vocab)
	if r.Vector != nil && len(r.Negatives) == 0 {
		negs = nil // image queries have no wording to calibrate against
	}
	for _, n := range negs {
		v, err := e.Embed(ctx, n)
		if err != nil {
			return Result{}, err
		}
		vecs = append(vecs, v)
	}
	cal := Calibration{LogitScale: e.opts.LogitScale}
	var frames []Frame
	err := e.idx.ScoreEach(ctx, e.opts.ModelHash, vecs, r.Since, r.Until, func(seq uint64, t time.Time, sims []float32) {
		frames = append(frames, Frame{Seq: seq, Time: t, Raw: sims[0], Score: cal.Score(sims[0], sims[1:])})
	})
	if err != nil {
		return Result{}, fmt.Errorf("query: scan history: %w", err)
	}
	k := r.TopK
	if k == 0 {
		k = 10
	}
	res := Result{Frames: TopK(frames, k), Scanned: len(frames)}
	io := r.Intervals
	if io.Threshold == 0 {
		io.Threshold = e.opts.Intervals.Threshold
	}
	if io.MaxGap == 0 {
		io.MaxGap = e.opts.Intervals.MaxGap
	}
	if io.MaxSilence == 0 {
		io.MaxSilence = e.opts.Intervals.MaxSilence
	}
	if io.MinFrames == 0 {
		io.MinFrames = e.opts.Intervals.MinFrames
	}
	if io.MinDuration == 0 {
		io.MinDuration = e.opts.Intervals.MinDuration
		if r.Vector != nil {
			// The minimum duration guards text queries against half-visible
			// look-alikes; an image query's own frame always answers it.
			io.MinDuration = -1
		}
	}
	res.Intervals = Intervals(frames, io)
	res.Took = time.Since(start)
	return res, nil
}

// LabelScore is one label's zero-shot probability.
type LabelScore struct {
	Label string
	Prob  float32
	Raw   float32
}

// Classify scores an image embedding against labels by CLIP's zero-shot
// rule (softmax of the logit-scaled cosines), in the order given.
func (e *Engine) Classify(ctx context.Context, image []float32, labels []string) ([]LabelScore, error) {
	if len(labels) == 0 {
		return nil, errors.New("query: classify: no labels")
	}
	sims := make([]float32, len(labels))
	for i, l := range labels {
		v, err := e.Embed(ctx, l)
		if err != nil {
			return nil, err
		}
		if len(v) != len(image) {
			return nil, fmt.Errorf("query: classify: label %q has dimension %d, image %d", l, len(v), len(image))
		}
		var s float32
		for j := range v {
			s += v[j] * image[j]
		}
		sims[i] = s
	}
	p := Softmax(e.opts.LogitScale, sims)
	out := make([]LabelScore, len(labels))
	for i := range labels {
		out[i] = LabelScore{Label: labels[i], Prob: p[i], Raw: sims[i]}
	}
	return out, nil
}
