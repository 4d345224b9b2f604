//go:build ort

package ort

import (
	"os"
	"path/filepath"
	goruntime "runtime"
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
	c := Config{
		Library:     os.Getenv(EnvLibrary),
		CacheDir:    os.Getenv(EnvCache),
		OptLevel:    os.Getenv(EnvOptLevel),
		TRTCacheDir: os.Getenv(EnvTRTCache),
	}
	switch c.CacheDir {
	case "off":
		c.CacheDir = ""
	case "":
		if d, err := os.UserCacheDir(); err == nil {
			c.CacheDir = filepath.Join(d, "edgeclip", "onnx")
		}
	}
	return c
}

// libArch is the folder name scripts/fetch-ort.sh uses for this machine.
func libArch() string {
	if goruntime.GOARCH == "amd64" {
		return "x64"
	}
	return goruntime.GOARCH
}

// DefaultLibraryPaths lists where the library is looked for when
// Config.Library is empty, in order: next to the executable, in
// third_party/onnxruntime/<arch>/ of the executable's folder, its parent
// or the working directory and its parents (a source checkout after
// scripts/fetch-ort.sh), and last the bare soname for the dynamic
// loader's own search (a system install such as JetPack's).
func DefaultLibraryPaths() []string {
	const so = "libonnxruntime.so.1"
	rel := filepath.Join("third_party", "onnxruntime", libArch(), so)
	var paths []string
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		paths = append(paths, filepath.Join(d, so), filepath.Join(d, rel), filepath.Join(d, "..", rel))
	}
	if wd, err := os.Getwd(); err == nil {
		for d, i := wd, 0; i < 6; d, i = filepath.Dir(d), i+1 {
			paths = append(paths, filepath.Join(d, rel))
		}
	}
	return append(paths, so)
}

func findLibrary(c Config) string {
	if c.Library != "" {
		return c.Library
	}
	paths := DefaultLibraryPaths()
	for _, p := range paths[:len(paths)-1] {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return paths[len(paths)-1]
}
