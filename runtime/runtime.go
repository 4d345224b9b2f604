// Package runtime is edgeclip's inference API: the Backend interface that
// every engine implements (the native Go engine, ONNX Runtime, TFLite), a
// registry they join by name, and the tensor views they read weights from.
//
// Backends are asked before they are used: Capabilities says which
// precisions a backend runs, and a request it cannot serve returns an error
// wrapping ErrNotSupported so that callers can fall back with errors.Is.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/edgeclip/edgeclip/models/arch"
)

// DType is a tensor element type of the model file.
type DType uint8

const (
	F32 DType = iota + 1
	F16
	I8
)

func (d DType) String() string {
	switch d {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case I8:
		return "I8"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size is the byte size of one element.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16:
		return 2
	case I8:
		return 1
	}
	return 0
}

// Tensor is a read-only view of one weight. Data is little-endian and may
// point straight into a memory-mapped file: never write to it.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
	// Scales holds the per-output-channel (first axis) scales of an I8
	// tensor: value = int8 × scale. Nil for float tensors.
	Scales []float32
}

// Weights is what a backend needs from a model: its architecture and its
// tensors by native name (see models/arch). *models.File implements it.
type Weights interface {
	Config() arch.Config
	Tensor(name string) (Tensor, bool)
	// Hash is the model's content hash, used to key caches.
	Hash() string
}

// Precision selects the arithmetic of the linear layers.
type Precision string

const (
	FP32 Precision = "f32"
	// W8 keeps int8 weights (dequantized on the fly) and fp32 activations.
	W8 Precision = "w8"
	// W8A8 quantizes activations per token at run time and multiplies in
	// int8 with int32 accumulation. LayerNorm, softmax and GELU stay fp32.
	W8A8 Precision = "w8a8"
)

// ParsePrecision accepts "f32", "w8" and "w8a8".
func ParsePrecision(s string) (Precision, error) {
	switch p := Precision(strings.ToLower(s)); p {
	case FP32, W8, W8A8:
		return p, nil
	}
	return "", fmt.Errorf("runtime: unknown precision %q (want f32, w8 or w8a8)", s)
}

// Options configure a session. The zero value means fp32 on all cores.
type Options struct {
	Precision Precision
	// Threads caps parallelism; 0 uses GOMAXPROCS.
	Threads int
	// Device is backend-specific ("cpu", "cuda", "tensorrt", ...); empty is the default.
	Device string
}

// Capabilities is what a backend can run.
type Capabilities struct {
	Precisions []Precision
	Devices    []string
	// TextEarlyExit is true when text encoding stops at the end token.
	TextEarlyExit bool
}

// Supports reports whether p is among the precisions.
func (c Capabilities) Supports(p Precision) bool {
	for _, q := range c.Precisions {
		if q == p {
			return true
		}
	}
	return false
}

// Session encodes images and texts with one loaded model.
type Session interface {
	// EncodeImages encodes n images given as normalised CHW float32 pixels
	// (n × 3 × size × size, as models/preprocess writes them) into
	// out (n × embed_dim), L2-normalised.
	EncodeImages(ctx context.Context, pixels []float32, n int, out []float32) error
	// EncodeTexts encodes token id sequences (start token … end token, no
	// padding, at most context_length long) into out (len(ids) × embed_dim),
	// L2-normalised. The end token is the sequence's last id.
	EncodeTexts(ctx context.Context, ids [][]int32, out []float32) error
	Close() error
}

// Backend loads models into sessions.
type Backend interface {
	Name() string
	Capabilities() Capabilities
	Open(ctx context.Context, w Weights, opts Options) (Session, error)
}

// ErrNotSupported is wrapped by backends for requests outside their capabilities.
var ErrNotSupported = errors.New("not supported")

var (
	mu       sync.RWMutex
	backends = map[string]Backend{}
)

// Register makes a backend available by name. It panics on a duplicate name,
// since that is a programming error caught at init.
func Register(b Backend) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := backends[b.Name()]; dup {
		panic("runtime: backend registered twice: " + b.Name())
	}
	backends[b.Name()] = b
}

// Get returns the backend registered under name, or an error listing the known ones.
func Get(name string) (Backend, error) {
	mu.RLock()
	defer mu.RUnlock()
	if b, ok := backends[name]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("runtime: unknown backend %q (known: %s)", name, strings.Join(namesLocked(), ", "))
}

// Names lists the registered backends, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	var n []string
	for k := range backends {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
