//go:build ort

package ort

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/export/onnx"
	"github.com/edgeclip/edgeclip/runtime"
)

func init() { runtime.Register(&Backend{}) }

// cacheFormat versions the exported-file cache: bump it when the exporter
// changes what it writes.
const cacheFormat = "v1"

// Backend runs models with ONNX Runtime. The zero value reads its Config
// from the environment at the first Open.
type Backend struct {
	// Config overrides ConfigFromEnv when non-nil.
	Config *Config
}

func (*Backend) Name() string { return "ort" }

func (*Backend) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{
		Precisions: []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8},
		Devices:    []string{"cpu", "cuda", "tensorrt"},
		// A batch of texts runs to its longest text's end token.
		TextEarlyExit: true,
	}
}

func (b *Backend) config() Config {
	if b.Config != nil {
		return *b.Config
	}
	return ConfigFromEnv()
}

// The ONNX Runtime environment is process-wide and loads one library.
var env struct {
	sync.Mutex
	lib string
	err error
}

func initEnv(lib string) error {
	env.Lock()
	defer env.Unlock()
	if env.lib != "" {
		if env.err == nil && lib != env.lib {
			return fmt.Errorf("ort: library %s requested, but %s is already loaded", lib, env.lib)
		}
		return env.err
	}
	env.lib = lib
	ortgo.SetSharedLibraryPath(lib)
	if err := ortgo.InitializeEnvironment(ortgo.WithLogLevelError()); err != nil {
		env.err = fmt.Errorf("ort: load %s (set %s or run scripts/fetch-ort.sh): %w", lib, EnvLibrary, err)
		return env.err
	}
	slog.Debug("ort: loaded ONNX Runtime", "library", lib, "version", ortgo.GetVersion())
	return nil
}

// Version loads the library named by c if needed and returns ONNX
// Runtime's version string.
func Version(c Config) (string, error) {
	if err := initEnv(findLibrary(c)); err != nil {
		return "", err
	}
	return ortgo.GetVersion(), nil
}

// Open exports w's towers to ONNX in the requested precision (or reuses
// the cached export) and starts an ONNX Runtime session for each.
func (b *Backend) Open(ctx context.Context, w runtime.Weights, opts runtime.Options) (runtime.Session, error) {
	prec := opts.Precision
	if prec == "" {
		prec = runtime.FP32
	}
	if !b.Capabilities().Supports(prec) {
		return nil, fmt.Errorf("ort: precision %q: %w", prec, runtime.ErrNotSupported)
	}
	c := b.config()
	if err := initEnv(findLibrary(c)); err != nil {
		return nil, err
	}
	img, err := export.Image(w, prec)
	if err != nil {
		return nil, err
	}
	txt, err := export.Text(w, prec)
	if err != nil {
		return nil, err
	}
	cfg := w.Config()
	s := &session{imageSize: cfg.ImageSize, embed: cfg.EmbedDim, contextLen: cfg.ContextLen, vocab: cfg.VocabSize, hasMask: true}
	dir := c.modelDir(w.Hash(), prec)
	for _, t := range []struct {
		g    *export.Graph
		file string
		dst  **ortgo.DynamicAdvancedSession
		in   []string
		out  string
	}{
		{img, onnx.ImageFile, &s.image, []string{export.PixelValues}, export.ImageEmbeds},
		{txt, onnx.TextFile, &s.text, []string{export.InputIDs, export.AttentionMask}, export.TextEmbeds},
	} {
		if err := ctx.Err(); err != nil {
			s.Close()
			return nil, fmt.Errorf("ort: %w", err)
		}
		src, err := source(dir, t.file, w, t.g)
		if err != nil {
			s.Close()
			return nil, err
		}
		so, err := c.sessionOptions(opts, w.Hash())
		if err != nil {
			s.Close()
			return nil, err
		}
		if src.path != "" {
			*t.dst, err = ortgo.NewDynamicAdvancedSession(src.path, t.in, []string{t.out}, so)
		} else {
			*t.dst, err = ortgo.NewDynamicAdvancedSessionWithONNXData(src.data, t.in, []string{t.out}, so)
		}
		so.Destroy()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("ort: %s tower: %w", t.g.Name, err)
		}
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

type onnxSource struct {
	path string
	data []byte
}

// source returns the cached file, writing it first if missing; on any
// cache trouble it falls back to an in-memory export with a warning.
func source(dir, file string, w runtime.Weights, g *export.Graph) (onnxSource, error) {
	if dir != "" {
		p := filepath.Join(dir, file)
		if _, err := os.Stat(p); err == nil {
			return onnxSource{path: p}, nil
		}
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = onnx.WriteFile(p, g, &onnx.Options{Metadata: onnx.Metadata(w, g)})
		}
		if err == nil {
			return onnxSource{path: p}, nil
		}
		slog.Warn("ort: cannot cache the ONNX export, exporting in memory", "dir", dir, "err", err)
	}
	var buf bytes.Buffer
	if err := onnx.Write(&buf, g, &onnx.Options{Metadata: onnx.Metadata(w, g)}); err != nil {
		return onnxSource{}, err
	}
	return onnxSource{data: buf.Bytes()}, nil
}

func (c Config) sessionOptions(opts runtime.Options, hash string) (*ortgo.SessionOptions, error) {
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = goruntime.GOMAXPROCS(0)
	}
	level, err := optLevel(c.OptLevel)
	if err == nil {
		err = so.SetGraphOptimizationLevel(level)
	}
	if err == nil {
		err = so.SetIntraOpNumThreads(threads)
	}
	if err == nil {
		err = so.SetInterOpNumThreads(1)
	}
	if err == nil {
		err = c.appendProvider(so, opts.Device, hash)
	}
	if err != nil {
		so.Destroy()
		return nil, err
	}
	return so, nil
}

func optLevel(s string) (ortgo.GraphOptimizationLevel, error) {
	switch strings.ToLower(s) {
	case "", "all":
		return ortgo.GraphOptimizationLevelEnableAll, nil
	case "extended":
		return ortgo.GraphOptimizationLevelEnableExtended, nil
	case "basic":
		return ortgo.GraphOptimizationLevelEnableBasic, nil
	case "disable", "none":
		return ortgo.GraphOptimizationLevelDisableAll, nil
	}
	return 0, fmt.Errorf("ort: optimisation level %q (want disable, basic, extended or all)", s)
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
