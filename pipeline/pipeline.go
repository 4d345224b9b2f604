// Package pipeline is the daemon's per-frame path: newest frame from the
// capture queue → sampling → change gating → preprocessing → image encoder →
// history store (with a JPEG thumbnail) → standing alerts → events.
//
// It sees every collaborator through a small interface of its own, so it
// knows nothing of MQTT, OpenCV or a particular backend.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/edgeclip/edgeclip/alert"
	"github.com/edgeclip/edgeclip/camera"
	"github.com/edgeclip/edgeclip/history"
	"github.com/edgeclip/edgeclip/models/preprocess"
)

// ImageEncoder encodes preprocessed images; runtime.Session satisfies it.
type ImageEncoder interface {
	EncodeImages(ctx context.Context, pixels []float32, n int, out []float32) error
}

// Store appends encoded frames; *history.Store satisfies it.
type Store interface {
	Append(r history.Record) (uint64, error)
}

// Observer evaluates standing alerts; *alert.Manager satisfies it.
type Observer interface {
	Observe(seq uint64, t time.Time, emb []float32) []alert.Event
}

// Options configure a Pipeline.
type Options struct {
	ModelHash, ModelName string
	EmbedDim             int
	Pre                  *preprocess.Preprocessor
	SampleFPS            float64 // default 5
	Gate                 camera.GateOptions
	// ThumbWidth > 0 stores a JPEG thumbnail of that width with every record.
	ThumbWidth   int
	ThumbQuality int // default 75
	// OnEvent receives alert events (the MQTT publisher, a log).
	OnEvent func(alert.Event)
	// OnFrame, if set, sees every stored frame (seq, time, embedding); the
	// slice is reused after the call returns.
	OnFrame func(seq uint64, t time.Time, emb []float32)
	// Beat is called once per loop iteration (the systemd watchdog).
	Beat   func()
	Logger *slog.Logger
}

// Stats are the pipeline's counters and rates.
type Stats struct {
	Frames    uint64        `json:"frames"`     // taken from the queue
	Sampled   uint64        `json:"sampled"`    // passed the rate sampler
	Gated     uint64        `json:"gated"`      // skipped by the change gate
	Encoded   uint64        `json:"encoded"`    // encoded and stored
	Errors    uint64        `json:"errors"`     // encode or store failures
	Events    uint64        `json:"events"`     // alert events fired
	FPS       float64       `json:"fps"`        // encoded frames per second, last 10 s
	GatedPct  float64       `json:"gated_pct"`  // of sampled frames
	EncodeP50 time.Duration `json:"encode_p50"` // preprocess + encode
	EncodeP99 time.Duration `json:"encode_p99"`
	LastSeq   uint64        `json:"last_seq"`
}

// Pipeline runs the per-frame path.
type Pipeline struct {
	q     *camera.Queue
	enc   ImageEncoder
	store Store
	obs   Observer
	o     Options

	sampler *camera.Sampler
	gate    *camera.Gate
	pixels  []float32
	emb     []float32
	thumb   thumbnailer

	mu      sync.Mutex
	stats   Stats
	lat     [512]time.Duration
	latN    int
	encoded []time.Time // ring of recent encode times for FPS
}

// New builds a pipeline; q, enc, store and o.Pre are required, obs may be nil.
func New(q *camera.Queue, enc ImageEncoder, store Store, obs Observer, o Options) (*Pipeline, error) {
	if q == nil || enc == nil || store == nil || o.Pre == nil {
		return nil, fmt.Errorf("pipeline: queue, encoder, store and preprocessor are required")
	}
	if o.EmbedDim <= 0 || o.ModelHash == "" {
		return nil, fmt.Errorf("pipeline: embed dim %d and model hash %q are required", o.EmbedDim, o.ModelHash)
	}
	if o.SampleFPS == 0 {
		o.SampleFPS = 5
	}
	if o.ThumbQuality == 0 {
		o.ThumbQuality = 75
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Pipeline{
		q: q, enc: enc, store: store, obs: obs, o: o,
		sampler: camera.NewSampler(o.SampleFPS),
		gate:    camera.NewGate(o.Gate),
		pixels:  make([]float32, o.Pre.Len()),
		emb:     make([]float32, o.EmbedDim),
	}, nil
}

// Run processes frames until ctx ends or the queue closes and drains.
func (p *Pipeline) Run(ctx context.Context) error {
	var f camera.Frame
	for {
		if p.o.Beat != nil {
			p.o.Beat()
		}
		// A short wait keeps the watchdog beating while the camera is idle.
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		ok := p.q.Pop(wctx, &f)
		idle := wctx.Err() != nil
		cancel()
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			if idle {
				continue // no frame this second
			}
			return nil // queue closed: the source ended
		}
		if err := p.process(ctx, &f); err != nil {
			if ctx.Err() != nil {
				return nil // stopping mid-frame is a stop, not a dropped frame
			}
			p.o.Logger.Warn("pipeline: frame dropped", "seq", f.Seq, "err", err)
			p.mu.Lock()
			p.stats.Errors++
			p.mu.Unlock()
		}
	}
}

func (p *Pipeline) process(ctx context.Context, f *camera.Frame) error {
	p.mu.Lock()
	p.stats.Frames++
	p.mu.Unlock()
	if !p.sampler.Keep(f.Time) {
		return nil
	}
	keep, _ := p.gate.Keep(f)
	p.mu.Lock()
	p.stats.Sampled++
	if !keep {
		p.stats.Gated++
	}
	p.mu.Unlock()
	if !keep {
		return nil
	}
	start := time.Now()
	order := preprocess.BGR
	if f.Format == camera.RGB {
		order = preprocess.RGB
	}
	if err := p.o.Pre.FromPixels(f.Pix, f.Width, f.Height, f.Stride, order, p.pixels); err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	if err := p.enc.EncodeImages(ctx, p.pixels, 1, p.emb); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	took := time.Since(start)
	var thumb []byte
	if p.o.ThumbWidth > 0 {
		var err error
		if thumb, err = p.thumb.encode(f, p.o.ThumbWidth, p.o.ThumbQuality); err != nil {
			return fmt.Errorf("thumbnail: %w", err)
		}
	}
	seq, err := p.store.Append(history.Record{Time: f.Time, ModelHash: p.o.ModelHash, ModelName: p.o.ModelName,
		Embedding: p.emb, Thumb: thumb})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if p.o.OnFrame != nil {
		p.o.OnFrame(seq, f.Time, p.emb)
	}
	var evs []alert.Event
	if p.obs != nil {
		evs = p.obs.Observe(seq, f.Time, p.emb)
	}
	for _, ev := range evs {
		if p.o.OnEvent != nil {
			p.o.OnEvent(ev)
		}
	}
	now := time.Now()
	p.mu.Lock()
	p.stats.Encoded++
	p.stats.Events += uint64(len(evs))
	p.stats.LastSeq = seq
	p.lat[p.latN%len(p.lat)] = took
	p.latN++
	p.encoded = append(p.encoded, now)
	if len(p.encoded) > 1024 {
		p.encoded = append(p.encoded[:0], p.encoded[512:]...)
	}
	p.mu.Unlock()
	return nil
}

// Stats returns a snapshot with rates and latency percentiles.
func (p *Pipeline) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	if s.Sampled > 0 {
		s.GatedPct = 100 * float64(s.Gated) / float64(s.Sampled)
	}
	n := min(p.latN, len(p.lat))
	if n > 0 {
		l := append([]time.Duration(nil), p.lat[:n]...)
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		s.EncodeP50 = l[n*50/100]
		s.EncodeP99 = l[min(n-1, n*99/100)]
	}
	cut := time.Now().Add(-10 * time.Second)
	cnt := 0
	first := time.Time{}
	for _, t := range p.encoded {
		if t.After(cut) {
			if first.IsZero() {
				first = t
			}
			cnt++
		}
	}
	if cnt > 1 {
		s.FPS = float64(cnt-1) / time.Since(first).Seconds()
	}
	return s
}
