//go:build tflite

package tflite

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/edgeclip/edgeclip/export"
	tfl "github.com/edgeclip/edgeclip/export/tflite"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/cgobackend"
)

func init() { runtime.Register(&Backend{}) }

// cacheFormat versions the exported-file cache: bump it when the exporter
// changes what it writes.
const cacheFormat = "v1"

// Devices: "cpu" (XNNPACK unless disabled) and "gpu" (the GPU delegate,
// OpenCL or OpenGL ES as the device's build has it).
var devices = []string{"cpu", "gpu"}

// Backend runs models with TensorFlow Lite. The zero value reads its Config
// from the environment at the first Open.
type Backend struct {
	// Config overrides ConfigFromEnv when non-nil.
	Config *Config
}

func (*Backend) Name() string { return "tflite" }

func (*Backend) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{
		Precisions: []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8},
		Devices:    devices,
		// Texts always run at the full context length (fixed shapes).
		TextEarlyExit: false,
	}
}

func (b *Backend) config() Config {
	if b.Config != nil {
		return *b.Config
	}
	return ConfigFromEnv()
}

// Version loads the library named by c if needed and returns TFLite's
// version string.
func Version(c Config) (string, error) {
	l, err := loadLibrary(findLibrary(c), c.gpuLibrary())
	if err != nil {
		return "", err
	}
	return l.version, nil
}

// Open exports w's towers to TFLite in the requested precision (or reuses
// the cached export) and starts an interpreter for each.
func (b *Backend) Open(ctx context.Context, w runtime.Weights, opts runtime.Options) (runtime.Session, error) {
	prec, err := cgobackend.Precision(b, opts.Precision)
	if err != nil {
		return nil, err
	}
	dev := strings.ToLower(opts.Device)
	if dev == "" {
		dev = "cpu"
	}
	if !slices.Contains(devices, dev) {
		return nil, fmt.Errorf("tflite: device %q (have %s): %w", opts.Device, strings.Join(devices, ", "), runtime.ErrNotSupported)
	}
	c := b.config()
	lib, err := loadLibrary(findLibrary(c), c.gpuLibrary())
	if err != nil {
		return nil, err
	}
	useGPU := dev == "gpu"
	if useGPU && !lib.gpu {
		slog.Warn("tflite: GPU delegate unavailable in this TFLite build, running on CPU", "library", lib.path)
		useGPU = false
	}
	threads := cgobackend.Threads(opts)
	cfg := w.Config()
	s := &towers{Dims: cgobackend.Dims{ImageSize: cfg.ImageSize, Embed: cfg.EmbedDim, ContextLen: cfg.ContextLen, Vocab: cfg.VocabSize}}
	dir := cgobackend.ModelDir(c.CacheDir, w.Hash(), cacheFormat, prec)
	for _, t := range []struct {
		build func(runtime.Weights, runtime.Precision) (*export.Graph, error)
		file  string
		dst   **interpreter
	}{{export.Image, tfl.ImageFile, &s.image}, {export.Text, tfl.TextFile, &s.text}} {
		if err := ctx.Err(); err != nil {
			s.Close()
			return nil, fmt.Errorf("tflite: %w", err)
		}
		src, err := cgobackend.Export("tflite", dir, t.file, tfl.Format, w, func() (*export.Graph, error) { return t.build(w, prec) })
		if err != nil {
			s.Close()
			return nil, err
		}
		it, err := lib.newInterpreter(src.Path, src.Data, threads, !c.NoXNNPACK, useGPU)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("tflite: %s: %w", t.file, err)
		}
		*t.dst = it
		if useGPU && !it.gpuUsed {
			slog.Warn("tflite: GPU delegate could not be created, running on CPU", "file", t.file)
		}
	}
	if err := s.check(); err != nil {
		s.Close()
		return nil, err
	}
	return cgobackend.NewSession("tflite", s.Dims, s), nil
}
