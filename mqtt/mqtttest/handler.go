package mqtttest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeclip/edgeclip/mqtt"
)

// FrameTime is the time of the frame every fake query finds.
var FrameTime = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// Handler is a fake mqtt.Handler: queries find one frame (seq 42), alerts
// live in a map, thumbnails are fixed bytes per sequence number.
type Handler struct {
	// Gate, when set, makes Query wait until it is closed (or ctx ends), so
	// a test can fill the worker pool.
	Gate chan struct{}
	// Thumbs maps a frame sequence number to its JPEG bytes.
	Thumbs map[uint64][]byte

	Queries atomic.Int64 // Query calls

	mu     sync.Mutex
	alerts map[string]mqtt.AlertSpec
	seen   map[string]int // query id -> calls
}

// Query answers with one frame and one interval; the frame's label echoes
// the query text so tests can match replies to requests.
func (h *Handler) Query(ctx context.Context, q mqtt.QueryRequest) (mqtt.QueryReply, error) {
	h.Queries.Add(1)
	h.mu.Lock()
	if h.seen == nil {
		h.seen = map[string]int{}
	}
	h.seen[q.ID]++
	h.mu.Unlock()
	if h.Gate != nil {
		select {
		case <-h.Gate:
		case <-ctx.Done():
			return mqtt.QueryReply{}, ctx.Err()
		}
	}
	if q.Text == "fail" {
		return mqtt.QueryReply{}, fmt.Errorf("fake: index unavailable")
	}
	f := mqtt.Frame{Seq: 42, Time: FrameTime, Score: 0.31, Label: q.Text}
	if q.Text == "nan" { // a broken index: the reply cannot be encoded
		f.Score = math.NaN()
	}
	if q.Thumbnails {
		f.Thumb = h.Thumbs[42]
	}
	return mqtt.QueryReply{
		Frames:    []mqtt.Frame{f},
		Intervals: []mqtt.Interval{{Start: FrameTime, End: FrameTime.Add(2 * time.Second), PeakScore: 0.31, BestSeq: 42}},
	}, nil
}

// Calls is how many times Query ran for id.
func (h *Handler) Calls(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[id]
}

// IDs returns the query ids the handler has seen.
func (h *Handler) IDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.seen))
	for id := range h.seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// SetAlert stores a.
func (h *Handler) SetAlert(_ context.Context, a mqtt.AlertSpec) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.alerts == nil {
		h.alerts = map[string]mqtt.AlertSpec{}
	}
	h.alerts[a.Name] = a
	return nil
}

// DeleteAlert removes an alert; an unknown name is mqtt.ErrNotFound.
func (h *Handler) DeleteAlert(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.alerts[name]; !ok {
		return fmt.Errorf("fake: alert %q: %w", name, mqtt.ErrNotFound)
	}
	delete(h.alerts, name)
	return nil
}

// ListAlerts returns the alerts sorted by name.
func (h *Handler) ListAlerts(context.Context) ([]mqtt.AlertSpec, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]mqtt.AlertSpec, 0, len(h.alerts))
	for _, a := range h.alerts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Thumbnail returns Thumbs[seq] or mqtt.ErrNotFound.
func (h *Handler) Thumbnail(_ context.Context, seq uint64) ([]byte, error) {
	if b, ok := h.Thumbs[seq]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("fake: frame %d: %w", seq, mqtt.ErrNotFound)
}
