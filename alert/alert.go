// Package alert runs standing text alerts over the stream of encoded frames:
// a calibrated score per frame, a threshold with hysteresis, a minimum number
// of consecutive frames and duration to start, a clear-after delay to end,
// and a cooldown before the next start. Definitions persist across restarts.
package alert

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/edgeclip/edgeclip/query"
)

// Spec defines one standing alert.
type Spec struct {
	Name string `json:"name"`
	Text string `json:"text"`
	// Negatives add to the default negative prompts for calibration.
	Negatives []string `json:"negatives,omitempty"`
	// NoContrast leaves out the contrast prompts built from the text
	// (query.Vocabulary.Contrasts), for texts whose near misses should match too.
	NoContrast bool `json:"no_contrast,omitempty"`
	// Threshold on the calibrated score to start (default query.DefaultThreshold).
	Threshold float32 `json:"threshold,omitempty"`
	// Clear is the score under which the alert may end (default Threshold − 0.2).
	Clear float32 `json:"clear,omitempty"`
	// MinFrames consecutive frames at or above Threshold start it (default
	// 3: an object entering half-visible can pass for another for a frame or two).
	MinFrames int `json:"min_frames,omitempty"`
	// MinDuration the run must also last (default 0).
	MinDuration Duration `json:"min_duration,omitempty"`
	// ClearAfter is how long the score must stay under Clear to end (default 2 s).
	ClearAfter Duration `json:"clear_after,omitempty"`
	// Cooldown after an end before a new start (default 10 s).
	Cooldown Duration `json:"cooldown,omitempty"`
}

// Duration is a time.Duration that reads and writes JSON as "2s".
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Limits on what a spec may ask for.
const (
	MaxTextLen   = 512
	MaxNegatives = query.MaxNegatives
	MaxAlerts    = 256
)

// Normalize fills defaults and validates; errors name the field.
func (s *Spec) Normalize() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("alert: %s = %v: %s", field, v, why)
	}
	if !nameRE.MatchString(s.Name) {
		return bad("name", fmt.Sprintf("%q", s.Name), "want 1–64 of a-z, 0-9, _ and -, starting with a letter or digit")
	}
	if s.Text == "" || len(s.Text) > MaxTextLen {
		return bad("text", len(s.Text), fmt.Sprintf("want 1..%d bytes", MaxTextLen))
	}
	if len(s.Negatives) > MaxNegatives {
		return bad("negatives", len(s.Negatives), fmt.Sprintf("at most %d", MaxNegatives))
	}
	for i, n := range s.Negatives {
		if n == "" || len(n) > MaxTextLen {
			return bad(fmt.Sprintf("negatives[%d]", i), len(n), fmt.Sprintf("want 1..%d bytes", MaxTextLen))
		}
	}
	if s.Threshold == 0 {
		s.Threshold = query.DefaultThreshold
	}
	if !(s.Threshold > 0 && s.Threshold <= 1) {
		return bad("threshold", s.Threshold, "want 0 < threshold ≤ 1")
	}
	if s.Clear == 0 {
		s.Clear = max(s.Threshold-0.2, s.Threshold/2)
	}
	if !(s.Clear > 0 && s.Clear <= s.Threshold) {
		return bad("clear", s.Clear, fmt.Sprintf("want 0 < clear ≤ threshold %v", s.Threshold))
	}
	if s.MinFrames == 0 {
		s.MinFrames = 3
	}
	if s.MinFrames < 1 || s.MinFrames > 10000 {
		return bad("min_frames", s.MinFrames, "want 1..10000")
	}
	if s.ClearAfter == 0 {
		s.ClearAfter = Duration(2 * time.Second)
	}
	if s.Cooldown == 0 {
		s.Cooldown = Duration(10 * time.Second)
	}
	for _, d := range []struct {
		f string
		v Duration
	}{{"min_duration", s.MinDuration}, {"clear_after", s.ClearAfter}, {"cooldown", s.Cooldown}} {
		if d.v < 0 || time.Duration(d.v) > 24*time.Hour {
			return bad(d.f, time.Duration(d.v), "want 0..24h")
		}
	}
	return nil
}

// Kind says whether an event starts or ends an alert.
type Kind string

const (
	Start Kind = "start"
	End   Kind = "end"
)

// Event is an alert turning on or off.
type Event struct {
	Name string
	Kind Kind
	Time time.Time
	// Score is the calibrated score that triggered it (the peak of the run
	// for an end event); BestSeq the frame with the peak score.
	Score   float32
	BestSeq uint64
	// Start is the start time of the run an end event closes.
	Start time.Time
}

// tracker is one alert's state machine.
type tracker struct {
	spec     Spec
	on       bool
	run      int       // consecutive frames at or above threshold
	runStart time.Time // first frame of that run
	below    time.Time // first frame under Clear while on (zero if none)
	lastEnd  time.Time
	peak     float32
	best     uint64
	started  time.Time
}

// step advances the state with one frame and returns an event if one fires.
func (t *tracker) step(seq uint64, now time.Time, score float32) (Event, bool) {
	s := &t.spec
	if !t.on {
		if score >= s.Threshold {
			if t.run == 0 {
				t.runStart, t.peak, t.best = now, score, seq
			}
			t.run++
			if score > t.peak {
				t.peak, t.best = score, seq
			}
			cooling := !t.lastEnd.IsZero() && now.Sub(t.lastEnd) < time.Duration(s.Cooldown)
			if t.run >= s.MinFrames && now.Sub(t.runStart) >= time.Duration(s.MinDuration) && !cooling {
				t.on, t.below, t.started = true, time.Time{}, t.runStart
				return Event{Name: s.Name, Kind: Start, Time: now, Score: t.peak, BestSeq: t.best, Start: t.runStart}, true
			}
		} else {
			t.run = 0
		}
		return Event{}, false
	}
	if score > t.peak {
		t.peak, t.best = score, seq
	}
	if score >= s.Clear {
		t.below = time.Time{}
		return Event{}, false
	}
	if t.below.IsZero() {
		t.below = now
	}
	if now.Sub(t.below) >= time.Duration(s.ClearAfter) {
		t.on, t.run, t.lastEnd = false, 0, now
		return Event{Name: s.Name, Kind: End, Time: now, Score: t.peak, BestSeq: t.best, Start: t.started}, true
	}
	return Event{}, false
}

// ErrNotFound is returned for an alert name that is not defined.
var ErrNotFound = errors.New("alert: no such alert")
