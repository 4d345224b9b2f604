// Package query turns scores over a camera's history into answers: top-k
// frames and time intervals for text and image queries, calibrated so that
// one threshold means the same thing for every query.
//
// It knows nothing of MQTT or capture: the daemon hands it frames with
// scores (from the history store) and encoded queries (from the runtime).
package query

import (
	"sort"
	"time"
)

// Frame is one scored frame of the history.
type Frame struct {
	Seq  uint64
	Time time.Time
	// Raw is the cosine similarity to the query; Score the calibrated value in [0, 1].
	Raw, Score float32
}

// Interval is a stretch of time in which the query matched.
type Interval struct {
	Start, End time.Time
	StartSeq   uint64
	EndSeq     uint64
	// Peak is the highest calibrated score inside; BestSeq its frame.
	Peak    float32
	PeakRaw float32
	BestSeq uint64
	Frames  int
}

// Duration is End − Start.
func (iv Interval) Duration() time.Duration { return iv.End.Sub(iv.Start) }

// IntervalOptions shape how matching frames become intervals.
type IntervalOptions struct {
	// Threshold on the calibrated score (default DefaultThreshold).
	Threshold float32
	// MaxGap bridges a stretch of non-matching frames between two matches
	// if it lasts at most this long (default 2 s): a few missed frames do
	// not split an event.
	MaxGap time.Duration
	// MaxSilence is how long the history may hold no frame at all and still
	// count as continuous (default 15 s). The change gate stores nothing
	// while the scene is static, so silence means "unchanged", not "gone";
	// it must exceed the gate's keep-alive.
	MaxSilence time.Duration
	// MinFrames drops intervals with fewer matching frames (default 1).
	MinFrames int
	// MinDuration drops shorter intervals (default 0.5 s; negative: keep
	// all): an object that
	// enters or leaves the frame half-visible can pass for another for a
	// frame or two. A duration, not a frame count, because the change gate
	// stores a static scene's frames seconds apart.
	MinDuration time.Duration
}

// DefaultThreshold is the calibrated score at which a frame matches: the
// query at 1.5 : 1 odds against its strongest rival prompt.
const DefaultThreshold = 0.6

func (o *IntervalOptions) defaults() {
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.MaxGap == 0 {
		o.MaxGap = 2 * time.Second
	}
	if o.MaxSilence == 0 {
		o.MaxSilence = 15 * time.Second
	}
	if o.MinFrames == 0 {
		o.MinFrames = 1
	}
	if o.MinDuration == 0 {
		o.MinDuration = 500 * time.Millisecond
	}
}

// Intervals groups frames (in any order) whose score reaches the threshold
// into intervals, sorted by start time. frames is sorted in place by time.
//
// An interval's edges are placed halfway between the first (last) matching
// frame and the non-matching frame before (after) it, when that frame is
// within MaxSilence: the event began somewhere in between, and with gating
// or a low sampling rate the midpoint is the unbiased estimate.
func Intervals(frames []Frame, o IntervalOptions) []Interval {
	o.defaults()
	sort.Slice(frames, func(i, j int) bool {
		if frames[i].Time.Equal(frames[j].Time) {
			return frames[i].Seq < frames[j].Seq
		}
		return frames[i].Time.Before(frames[j].Time)
	})
	var out []Interval
	var cur *Interval
	var last time.Time      // time of cur's last matching frame
	var firstMiss time.Time // first non-matching frame after last (zero if none)
	mid := func(a, b time.Time) time.Time { return a.Add(b.Sub(a) / 2) }
	closeCur := func() {
		if cur != nil && !firstMiss.IsZero() && firstMiss.Sub(last) <= o.MaxSilence {
			cur.End = mid(last, firstMiss)
		}
		cur = nil
	}
	for i, f := range frames {
		if f.Score < o.Threshold {
			if cur != nil && firstMiss.IsZero() {
				firstMiss = f.Time
			}
			continue
		}
		if cur != nil {
			gap := f.Time.Sub(last)
			bridge := (firstMiss.IsZero() && gap <= o.MaxSilence) || (!firstMiss.IsZero() && gap <= o.MaxGap)
			if bridge {
				cur.End, cur.EndSeq, last, firstMiss = f.Time, f.Seq, f.Time, time.Time{}
				cur.Frames++
				if f.Score > cur.Peak {
					cur.Peak, cur.PeakRaw, cur.BestSeq = f.Score, f.Raw, f.Seq
				}
				continue
			}
			closeCur()
		}
		start := f.Time
		if i > 0 && frames[i-1].Score < o.Threshold && f.Time.Sub(frames[i-1].Time) <= o.MaxSilence {
			start = mid(frames[i-1].Time, f.Time)
		}
		out = append(out, Interval{Start: start, End: f.Time, StartSeq: f.Seq, EndSeq: f.Seq,
			Peak: f.Score, PeakRaw: f.Raw, BestSeq: f.Seq, Frames: 1})
		cur, last, firstMiss = &out[len(out)-1], f.Time, time.Time{}
	}
	closeCur()
	kept := out[:0]
	for _, iv := range out {
		if iv.Frames >= o.MinFrames && iv.Duration() >= o.MinDuration {
			kept = append(kept, iv)
		}
	}
	return kept
}

// TopK returns the k highest-scoring frames, best first (ties by time).
func TopK(frames []Frame, k int) []Frame {
	if k <= 0 {
		return nil
	}
	s := append([]Frame(nil), frames...)
	sort.Slice(s, func(i, j int) bool {
		if s[i].Score != s[j].Score {
			return s[i].Score > s[j].Score
		}
		return s[i].Time.Before(s[j].Time)
	})
	if len(s) > k {
		s = s[:k]
	}
	return s
}

// IoU is the temporal intersection over union of two intervals.
func IoU(a, b Interval) float64 {
	lo, hi := a.Start, a.End
	if b.Start.After(lo) {
		lo = b.Start
	}
	if b.End.Before(hi) {
		hi = b.End
	}
	inter := hi.Sub(lo)
	if inter < 0 {
		inter = 0
	}
	union := a.Duration() + b.Duration() - inter
	if union <= 0 {
		if inter == 0 && a.Start.Equal(b.Start) && a.End.Equal(b.End) {
			return 1
		}
		return 0
	}
	return float64(inter) / float64(union)
}
