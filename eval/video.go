package eval

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/edgeclip/edgeclip/alert"
	"github.com/edgeclip/edgeclip/query"
	"github.com/edgeclip/edgeclip/tools/world"
)

// matchIoU is the IoU at which an interval answers an event for precision
// and recall; goodIoU the stricter bar reported as a fraction of events.
const (
	matchIoU = 0.5
	goodIoU  = 0.7
	// alertSlack is how far outside an event an alert start still counts
	// for it: the interval code's default bridging gap.
	alertSlack = 2 * time.Second
)

func frameCount(o *Options) int { return int(math.Floor(o.VideoSeconds*o.FPS)) + 1 }

// epoch is the timestamp of every video's frame 0.
var epoch = time.Unix(1_700_000_000, 0).UTC()

func at(sec float64) time.Time { return epoch.Add(time.Duration(sec * float64(time.Second))) }
func secs(t time.Time) float64 { return t.Sub(epoch).Seconds() }

// videos renders o.Videos world videos (seen compositions), encodes every
// frame at o.FPS, answers each event's caption as the daemon's query engine
// would (calibrated against the default negatives, default interval
// options) and replays the frames through standing alerts.
func videos(ctx context.Context, e *encoder, o *Options) (*Video, error) {
	v := &Video{Videos: o.Videos, Seconds: o.VideoSeconds, FPS: o.FPS}
	cache := &textCache{e: e, vecs: map[string][]float32{}}
	var tp, sumIoU float64
	good, hour := 0, 0.0
	for vi := range o.Videos {
		vid, err := world.NewVideo(world.VideoOptions{Seed: o.Seed + 10 + uint64(vi), Width: o.VideoSize,
			Height: o.VideoSize, FPS: o.FPS, Split: world.EvalSeen})
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		nf := frameCount(o)
		buf := make([]byte, o.VideoSize*o.VideoSize*3)
		emb, err := e.images(ctx, fmt.Sprintf("video %d", vi+1), nf, func(i int) ([]byte, int, int) {
			vid.Frame(i, buf)
			return buf, o.VideoSize, o.VideoSize
		})
		if err != nil {
			return nil, err
		}
		v.Frames += nf
		hour += float64(nf-1) / o.FPS / 3600
		last := float64(nf-1) / o.FPS
		var evs []world.VideoEvent
		for _, ev := range vid.Events(last) {
			if ev.Start < last { // the centre entered before the end
				ev.End = min(ev.End, last)
				evs = append(evs, ev)
			}
		}
		byCaption := map[string][]int{}
		var captions []string
		for i, ev := range evs {
			if byCaption[ev.Caption] == nil {
				captions = append(captions, ev.Caption)
			}
			byCaption[ev.Caption] = append(byCaption[ev.Caption], i)
		}
		scores := make([]EventScore, len(evs))
		for i, ev := range evs {
			scores[i] = EventScore{Video: vi, Index: ev.Index, Caption: ev.Caption, Start: ev.Start, End: ev.End}
		}
		for _, c := range captions {
			ivs, err := answer(ctx, cache, e.m.Config.LogitScale, c, emb, e.dim, o.FPS)
			if err != nil {
				return nil, err
			}
			v.Intervals += len(ivs)
			tp += float64(score(ivs, byCaption[c], evs, scores))
		}
		if err := alerts(ctx, cache, e, captions, byCaption, evs, emb, o.FPS, scores, &v.Alerts); err != nil {
			return nil, err
		}
		for _, s := range scores {
			sumIoU += s.IoU
			if s.IoU >= goodIoU {
				good++
			}
		}
		v.PerEvent = append(v.PerEvent, scores...)
	}
	v.Events = len(v.PerEvent)
	if v.Events > 0 {
		v.MeanIoU, v.IoU07 = sumIoU/float64(v.Events), float64(good)/float64(v.Events)
		v.Recall = tp / float64(v.Events)
		detected, starts := 0, 0
		for _, s := range v.PerEvent {
			starts += s.AlertStarts
			if s.AlertStarts > 0 {
				detected++
			}
		}
		v.Alerts.Detected = float64(detected) / float64(v.Events)
		v.Alerts.StartsPerEvent = float64(starts) / float64(v.Events)
	}
	if v.Intervals > 0 {
		v.Precision = tp / float64(v.Intervals)
	}
	if v.Precision+v.Recall > 0 {
		v.F1 = 2 * v.Precision * v.Recall / (v.Precision + v.Recall)
	}
	if hour > 0 {
		v.Alerts.FalseStartsPerHour = float64(v.Alerts.FalseStarts) / hour
	}
	return v, nil
}

// answer is query.Engine.Search's interval answer for one caption over the
// encoded frames: scores calibrated against the default negatives and the
// caption's contrast prompts, then query.Intervals with defaults.
func answer(ctx context.Context, cache *textCache, scale float32, caption string, emb []float32, d int, fps float64) ([]query.Interval, error) {
	q, err := cache.Embed(ctx, caption)
	if err != nil {
		return nil, err
	}
	cal := &query.Calibration{LogitScale: scale}
	for _, p := range query.NegativePrompts(caption, query.DefaultNegatives, nil, query.DefaultVocabulary) {
		v, err := cache.Embed(ctx, p)
		if err != nil {
			return nil, err
		}
		cal.Negatives = append(cal.Negatives, v)
	}
	n := len(emb) / d
	frames := make([]query.Frame, n)
	neg := make([]float32, len(cal.Negatives))
	for i := range n {
		f := row(emb, i, d)
		for k, nv := range cal.Negatives {
			neg[k] = dot(f, nv)
		}
		raw := dot(f, q)
		frames[i] = query.Frame{Seq: uint64(i), Time: at(float64(i) / fps), Raw: raw, Score: cal.Score(raw, neg)}
	}
	return query.Intervals(frames, query.IntervalOptions{}), nil
}

// score sets each event's best IoU and returns the number of one-to-one
// matches at IoU ≥ matchIoU between the caption's intervals and its events,
// taken greedily from the highest IoU.
func score(ivs []query.Interval, events []int, evs []world.VideoEvent, scores []EventScore) int {
	type pair struct {
		iou    float64
		iv, ev int
	}
	var pairs []pair
	for _, ei := range events {
		gt := query.Interval{Start: at(evs[ei].Start), End: at(evs[ei].End)}
		for k, iv := range ivs {
			u := query.IoU(gt, iv)
			if u > scores[ei].IoU {
				scores[ei].IoU = u
				scores[ei].Best = []float64{secs(iv.Start), secs(iv.End)}
			}
			if u >= matchIoU {
				pairs = append(pairs, pair{u, k, ei})
			}
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].iou != pairs[j].iou {
			return pairs[i].iou > pairs[j].iou
		}
		return pairs[i].iv < pairs[j].iv
	})
	usedIv, usedEv := map[int]bool{}, map[int]bool{}
	tp := 0
	for _, p := range pairs {
		if !usedIv[p.iv] && !usedEv[p.ev] {
			usedIv[p.iv], usedEv[p.ev] = true, true
			tp++
		}
	}
	return tp
}

// alerts replays the frames through an alert.Manager with one alert per
// caption and attributes each start to an event of that caption.
func alerts(ctx context.Context, cache *textCache, e *encoder, captions []string, byCaption map[string][]int,
	evs []world.VideoEvent, emb []float32, fps float64, scores []EventScore, st *Alerts) error {
	m, err := alert.Open(ctx, cache, alert.Options{LogitScale: e.m.Config.LogitScale})
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	name := map[string]string{}
	for i, c := range captions {
		n := fmt.Sprintf("event-%d", i)
		name[n] = c
		if _, err := m.Set(ctx, alert.Spec{Name: n, Text: c}); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
	}
	d := e.dim
	for i := range len(emb) / d {
		for _, ev := range m.Observe(uint64(i), at(float64(i)/fps), row(emb, i, d)) {
			if ev.Kind != alert.Start {
				continue
			}
			hit := false
			for _, ei := range byCaption[name[ev.Name]] {
				if !ev.Time.Before(at(evs[ei].Start).Add(-alertSlack)) && !ev.Time.After(at(evs[ei].End).Add(alertSlack)) {
					scores[ei].AlertStarts++
					hit = true
					break
				}
			}
			if !hit {
				st.FalseStarts++
			}
		}
	}
	return nil
}

// textCache embeds texts once; it is the alert manager's Embedder.
type textCache struct {
	e    *encoder
	vecs map[string][]float32
}

func (c *textCache) Embed(ctx context.Context, text string) ([]float32, error) {
	if v, ok := c.vecs[text]; ok {
		return v, nil
	}
	v, err := c.e.texts(ctx, []string{text})
	if err != nil {
		return nil, err
	}
	c.vecs[text] = v
	return v, nil
}
