//go:build ort

package ort

import (
	"os"

	"github.com/edgeclip/edgeclip/runtime/cgobackend"
)

// Config is the backend's set-up beyond runtime.Options. The zero value
// exports in memory, looks for the library in the default places and
// optimises fully; ConfigFromEnv fills it from the environment.
type Config struct {
	// Library is the path of libonnxruntime.so (ONNX Runtime ≥ 1.24);
	// empty searches DefaultLibraryPaths.
	Library string
	// CacheDir keeps exported ONNX files under <model hash>/<precision>
	// so that a model is exported once; empty exports in memory on every
	// Open. Models without a hash are always exported in memory.
	CacheDir string
	// OptLevel is the graph optimisation level: "disable", "basic",
	// "extended" or "all" (the default).
	OptLevel string
	// TRTCacheDir is the root of TensorRT engine caches, one folder per
	// model hash, TensorRT version and GPU; empty uses CacheDir/trt, or no
	// engine cache when CacheDir is empty too.
	TRTCacheDir string
}

// Environment variables read by ConfigFromEnv, the only place that reads them.
const (
	EnvLibrary  = "EDGECLIP_ORT_LIB"
	EnvCache    = "EDGECLIP_ORT_CACHE" // "off" exports in memory
	EnvOptLevel = "EDGECLIP_ORT_OPT"
	EnvTRTCache = "EDGECLIP_ORT_TRT_CACHE"
)

// ConfigFromEnv is the configuration of the registered "ort" backend:
// the variables above, with the user cache folder
// (~/.cache/edgeclip/onnx) as the default CacheDir.
func ConfigFromEnv() Config {
	return Config{
		Library:     os.Getenv(EnvLibrary),
		CacheDir:    cgobackend.CacheDir(os.Getenv(EnvCache), "onnx"),
		OptLevel:    os.Getenv(EnvOptLevel),
		TRTCacheDir: os.Getenv(EnvTRTCache),
	}
}

// DefaultLibraryPaths lists where the library is looked for when
// Config.Library is empty, in order: next to the executable, in
// third_party/onnxruntime/<arch>/ of the executable's folder, its parent
// or the working directory and its parents (a source checkout after
// scripts/fetch-ort.sh), and last the bare soname for the dynamic
// loader's own search (a system install such as JetPack's).
func DefaultLibraryPaths() []string {
	return cgobackend.LibraryPaths("onnxruntime", "libonnxruntime.so.1")
}

func findLibrary(c Config) string { return cgobackend.FindLibrary(c.Library, DefaultLibraryPaths()) }
