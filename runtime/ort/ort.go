//go:build ort

package ort

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/export/onnx"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/cgobackend"
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
	prec, err := cgobackend.Precision(b, opts.Precision)
	if err != nil {
		return nil, err
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
	s := &towers{Dims: cgobackend.Dims{ImageSize: cfg.ImageSize, Embed: cfg.EmbedDim, ContextLen: cfg.ContextLen, Vocab: cfg.VocabSize}, hasMask: true}
	dir := cgobackend.ModelDir(c.CacheDir, w.Hash(), cacheFormat, prec)
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
		src, err := cgobackend.Export("ort", dir, t.file, onnx.Format, w, func() (*export.Graph, error) { return t.g, nil })
		if err != nil {
			s.Close()
			return nil, err
		}
		so, err := c.sessionOptions(opts, w.Hash())
		if err != nil {
			s.Close()
			return nil, err
		}
		if src.Path != "" {
			*t.dst, err = ortgo.NewDynamicAdvancedSession(src.Path, t.in, []string{t.out}, so)
		} else {
			*t.dst, err = ortgo.NewDynamicAdvancedSessionWithONNXData(src.Data, t.in, []string{t.out}, so)
		}
		so.Destroy()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("ort: %s tower: %w", t.g.Name, err)
		}
	}
	return cgobackend.NewSession("ort", s.Dims, s), nil
}

func (c Config) sessionOptions(opts runtime.Options, hash string) (*ortgo.SessionOptions, error) {
	so, err := ortgo.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("ort: session options: %w", err)
	}
	threads := cgobackend.Threads(opts)
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
