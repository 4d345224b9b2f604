//go:build tflite

package tflite

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/edgeclip/edgeclip/export"
	tfl "github.com/edgeclip/edgeclip/export/tflite"
	"github.com/edgeclip/edgeclip/runtime"
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
	prec := opts.Precision
	if prec == "" {
		prec = runtime.FP32
	}
	if !b.Capabilities().Supports(prec) {
		return nil, fmt.Errorf("tflite: precision %q: %w", prec, runtime.ErrNotSupported)
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
	threads := opts.Threads
	if threads <= 0 {
		threads = goruntime.GOMAXPROCS(0)
	}
	cfg := w.Config()
	s := &session{embed: cfg.EmbedDim, imageSize: cfg.ImageSize, contextLen: cfg.ContextLen, vocab: cfg.VocabSize}
	dir := c.modelDir(w.Hash(), prec)
	for _, t := range []struct {
		build func(runtime.Weights, runtime.Precision) (*export.Graph, error)
		file  string
		dst   **interpreter
	}{{export.Image, tfl.ImageFile, &s.image}, {export.Text, tfl.TextFile, &s.text}} {
		if err := ctx.Err(); err != nil {
			s.Close()
			return nil, fmt.Errorf("tflite: %w", err)
		}
		path, data, err := source(dir, t.file, w, prec, t.build)
		if err != nil {
			s.Close()
			return nil, err
		}
		it, err := lib.newInterpreter(path, data, threads, !c.NoXNNPACK, useGPU)
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
	return s, nil
}

// modelDir is where the exports of one model and precision are cached, or
// "" for in-memory export.
func (c Config) modelDir(hash string, prec runtime.Precision) string {
	if c.CacheDir == "" || hash == "" {
		return ""
	}
	return filepath.Join(c.CacheDir, safeName(hash), cacheFormat, string(prec))
}

// source returns the cached file's path, writing it first if missing, or
// the exported bytes when there is no cache; on cache trouble it falls
// back to an in-memory export with a warning.
func source(dir, file string, w runtime.Weights, prec runtime.Precision,
	build func(runtime.Weights, runtime.Precision) (*export.Graph, error)) (string, []byte, error) {
	var p string
	if dir != "" {
		p = filepath.Join(dir, file)
		if _, err := os.Stat(p); err == nil {
			return p, nil, nil
		}
	}
	g, err := build(w, prec)
	if err != nil {
		return "", nil, err
	}
	opts := &tfl.Options{Metadata: tfl.Metadata(w, g)}
	if dir != "" {
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = tfl.WriteFile(p, g, opts)
		}
		if err == nil {
			return p, nil, nil
		}
		slog.Warn("tflite: cannot cache the TFLite export, exporting in memory", "dir", dir, "err", err)
	}
	var buf bytes.Buffer
	if err := tfl.Write(&buf, g, opts); err != nil {
		return "", nil, err
	}
	return "", buf.Bytes(), nil
}

// safeName keeps letters, digits, '.', '-' and '_' of s for a path element.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 || string(b) == "." || string(b) == ".." {
		return "_"
	}
	return string(b)
}
