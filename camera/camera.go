// Package camera delivers frames from a video source to the encoder: one URI
// scheme per kind of source (registered by name), a capture goroutine with a
// watchdog that reopens a stalled source with backoff, a bounded newest-frame
// queue, and sampling and gating that decide which frames are worth encoding.
//
// The package is pure Go; sources that need cgo (GoCV) register from tagged
// subpackages.
package camera

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Format is the byte order of a frame's pixels.
type Format int

const (
	BGR Format = iota // OpenCV's native order
	RGB
)

// Frame is one captured image: packed 3-byte pixels.
type Frame struct {
	Seq           uint64 // assigned by Capture, increasing across reconnects
	Time          time.Time
	Width, Height int
	Stride        int
	Format        Format
	Pix           []byte
}

// Valid reports whether the frame's geometry fits its buffer.
func (f *Frame) Valid() bool {
	return f.Width > 0 && f.Height > 0 && f.Stride >= 3*f.Width && len(f.Pix) >= (f.Height-1)*f.Stride+3*f.Width
}

// CopyFrom makes f a deep copy of src, reusing f's buffer when it is large enough.
func (f *Frame) CopyFrom(src *Frame) {
	pix := f.Pix
	n := len(src.Pix)
	if cap(pix) < n {
		pix = make([]byte, n)
	}
	*f = *src
	f.Pix = pix[:n]
	copy(f.Pix, src.Pix)
}

// Source is an opened video source.
type Source interface {
	// Read fills f with the next frame, blocking until one arrives or ctx
	// ends. It may reuse f.Pix. An empty or corrupt frame returns
	// ErrBadFrame (the caller skips it); io.EOF ends a finite source.
	Read(ctx context.Context, f *Frame) error
	Close() error
}

// ErrBadFrame marks a frame that was empty or corrupt; capture counts and skips it.
var ErrBadFrame = errors.New("camera: empty or corrupt frame")

// Opener opens a source from its URI.
type Opener func(ctx context.Context, u *url.URL) (Source, error)

var (
	regMu   sync.RWMutex
	openers = map[string]Opener{}
)

// Register makes a URI scheme available. A duplicate is a programming error.
func Register(scheme string, o Opener) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := openers[scheme]; dup {
		panic("camera: scheme registered twice: " + scheme)
	}
	openers[scheme] = o
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var s []string
	for k := range openers {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Open parses uri and opens it with the opener registered for its scheme.
// A gst:// URI carries a raw GStreamer pipeline in u.Opaque, unparsed.
func Open(ctx context.Context, uri string) (Source, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return nil, err
	}
	regMu.RLock()
	o, ok := openers[u.Scheme]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("camera: %q: unknown scheme %q (known: %s)", uri, u.Scheme, strings.Join(Schemes(), ", "))
	}
	s, err := o(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("camera: open %s: %w", Redact(uri), err)
	}
	return s, nil
}

// ParseURI parses a source URI. gst:// is special: everything after the
// scheme is a pipeline (spaces, '!' and all) and lands in Opaque.
func ParseURI(uri string) (*url.URL, error) {
	if rest, ok := strings.CutPrefix(uri, "gst://"); ok {
		if strings.TrimSpace(rest) == "" {
			return nil, fmt.Errorf("camera: %q: empty GStreamer pipeline", uri)
		}
		return &url.URL{Scheme: "gst", Opaque: rest}, nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("camera: parse %q: %w", uri, err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("camera: %q: missing scheme (want e.g. file://, rtsp://, v4l2://, synth://)", uri)
	}
	return u, nil
}

// Redact hides a URI's password for logs.
func Redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}
	return u.Redacted()
}
