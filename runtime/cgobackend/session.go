package cgobackend

import (
	"context"
	"fmt"
	goruntime "runtime"
	"sync"

	"github.com/edgeclip/edgeclip/runtime"
)

// Precision resolves a requested precision ("" is FP32) against b's
// capabilities; one b lacks is an error wrapping runtime.ErrNotSupported.
func Precision(b runtime.Backend, p runtime.Precision) (runtime.Precision, error) {
	if p == "" {
		p = runtime.FP32
	}
	if !b.Capabilities().Supports(p) {
		return "", fmt.Errorf("%s: precision %q: %w", b.Name(), p, runtime.ErrNotSupported)
	}
	return p, nil
}

// Threads is opts.Threads, or GOMAXPROCS when that is 0 or less.
func Threads(opts runtime.Options) int {
	if opts.Threads > 0 {
		return opts.Threads
	}
	return goruntime.GOMAXPROCS(0)
}

// Towers are a session's two encoders over a native library. Session calls
// them one at a time, with arguments it has checked, and never after Close.
type Towers interface {
	EncodeImages(ctx context.Context, pixels []float32, n int, out []float32) error
	EncodeTexts(ctx context.Context, ids [][]int32, out []float32) error
	// Close frees the native handles; Session calls it once.
	Close() error
}

// Session is a runtime.Session over Towers. Calls are serialised, since
// native interpreters are not safe for concurrent use and each call already
// uses the configured threads; arguments are checked against Dims, and
// calls after Close are refused.
type Session struct {
	name   string
	dims   Dims
	towers Towers
	mu     sync.Mutex
	closed bool
}

// NewSession makes a session of towers; name (the backend's) prefixes its
// errors.
func NewSession(name string, d Dims, towers Towers) *Session {
	return &Session{name: name, dims: d, towers: towers}
}

func (s *Session) EncodeImages(ctx context.Context, pixels []float32, n int, out []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: session closed", s.name)
	}
	if err := s.dims.CheckImages(pixels, n, out); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return s.towers.EncodeImages(ctx, pixels, n, out)
}

func (s *Session) EncodeTexts(ctx context.Context, ids [][]int32, out []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: session closed", s.name)
	}
	if err := s.dims.CheckTexts(ids, out); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return s.towers.EncodeTexts(ctx, ids, out)
}

// Close frees the towers; closing again does nothing.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.towers.Close()
}

// Dims are the sizes a session checks its callers' buffers against.
type Dims struct {
	ImageSize int
	Embed     int
	// ContextLen and Vocab bound the token ids; 0 is unknown (a foreign
	// file that does not declare them), which skips the check.
	ContextLen int
	Vocab      int
}

// CheckImages checks EncodeImages' arguments: n images of 3×S×S pixels
// and room for n embeddings.
func (d Dims) CheckImages(pixels []float32, n int, out []float32) error {
	size, e := d.ImageSize, d.Embed
	if n < 0 || len(pixels) != n*3*size*size {
		return fmt.Errorf("EncodeImages: %d pixels for %d images of 3×%d×%d", len(pixels), n, size, size)
	}
	if len(out) != n*e {
		return fmt.Errorf("EncodeImages: output length %d, want %d", len(out), n*e)
	}
	return nil
}

// CheckTexts checks EncodeTexts' arguments: room for one embedding per
// text, and texts of 1 to ContextLen ids within the vocabulary.
func (d Dims) CheckTexts(ids [][]int32, out []float32) error {
	if len(out) != len(ids)*d.Embed {
		return fmt.Errorf("EncodeTexts: output length %d, want %d", len(out), len(ids)*d.Embed)
	}
	for i, seq := range ids {
		if len(seq) == 0 || (d.ContextLen > 0 && len(seq) > d.ContextLen) {
			return fmt.Errorf("EncodeTexts: text %d has %d tokens, want 1..%d", i, len(seq), d.ContextLen)
		}
		for j, id := range seq {
			if id < 0 || (d.Vocab > 0 && int(id) >= d.Vocab) {
				return fmt.Errorf("EncodeTexts: text %d token %d: id %d outside vocabulary of %d", i, j, id, d.Vocab)
			}
		}
	}
	return nil
}
