//go:build tflite

package tflite

import (
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
)

// Config is the backend's set-up beyond runtime.Options. The zero value
// exports in memory, looks for the library in the default places and uses
// XNNPACK; ConfigFromEnv fills it from the environment.
type Config struct {
	// Library is the path of libtensorflowlite_c.so (TFLite ≥ 2.9); empty
	// searches DefaultLibraryPaths.
	Library string
	// GPULibrary is a GPU delegate library (libtensorflowlite_gpu_delegate.so)
	// for builds whose main library lacks TfLiteGpuDelegateV2Create; empty
	// asks the dynamic loader for that name.
	GPULibrary string
	// CacheDir keeps exported .tflite files under <model hash>/<precision>
	// so that a model is exported (and, for w8a8, calibrated) once; empty
	// exports in memory on every Open.
	CacheDir string
	// NoXNNPACK runs every op on TFLite's builtin kernels.
	NoXNNPACK bool
}

// Environment variables read by ConfigFromEnv, the only place that reads them.
const (
	EnvLibrary    = "EDGECLIP_TFLITE_LIB"
	EnvGPULibrary = "EDGECLIP_TFLITE_GPU_LIB"
	EnvCache      = "EDGECLIP_TFLITE_CACHE"   // "off" exports in memory
	EnvXNNPACK    = "EDGECLIP_TFLITE_XNNPACK" // "off" disables the delegate
)

// ConfigFromEnv is the configuration of the registered "tflite" backend:
// the variables above, with the user cache folder
// (~/.cache/edgeclip/tflite) as the default CacheDir.
func ConfigFromEnv() Config {
	c := Config{
		Library:    os.Getenv(EnvLibrary),
		GPULibrary: os.Getenv(EnvGPULibrary),
		CacheDir:   os.Getenv(EnvCache),
		NoXNNPACK:  strings.EqualFold(os.Getenv(EnvXNNPACK), "off"),
	}
	switch c.CacheDir {
	case "off":
		c.CacheDir = ""
	case "":
		if d, err := os.UserCacheDir(); err == nil {
			c.CacheDir = filepath.Join(d, "edgeclip", "tflite")
		}
	}
	return c
}

// libArch is the folder name scripts/fetch-tflite.sh uses for this machine.
func libArch() string {
	if goruntime.GOARCH == "amd64" {
		return "x64"
	}
	return goruntime.GOARCH
}

const (
	soName    = "libtensorflowlite_c.so"
	gpuSoName = "libtensorflowlite_gpu_delegate.so"
)

// DefaultLibraryPaths lists where the library is looked for when
// Config.Library is empty, in order: next to the executable, in
// third_party/tflite/<arch>/ of the executable's folder, its parent or the
// working directory and its parents (a source checkout after
// scripts/fetch-tflite.sh), and last the bare name for the dynamic
// loader's own search (a system install, such as a board vendor's build).
func DefaultLibraryPaths() []string {
	rel := filepath.Join("third_party", "tflite", libArch(), soName)
	var paths []string
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		paths = append(paths, filepath.Join(d, soName), filepath.Join(d, rel), filepath.Join(d, "..", rel))
	}
	if wd, err := os.Getwd(); err == nil {
		for d, i := wd, 0; i < 6; d, i = filepath.Dir(d), i+1 {
			paths = append(paths, filepath.Join(d, rel))
		}
	}
	return append(paths, soName)
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

func (c Config) gpuLibrary() string {
	if c.GPULibrary != "" {
		return c.GPULibrary
	}
	return gpuSoName
}
