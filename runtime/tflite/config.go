//go:build tflite

package tflite

import (
	"os"
	"strings"

	"github.com/edgeclip/edgeclip/runtime/cgobackend"
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
	return Config{
		Library:    os.Getenv(EnvLibrary),
		GPULibrary: os.Getenv(EnvGPULibrary),
		CacheDir:   cgobackend.CacheDir(os.Getenv(EnvCache), "tflite"),
		NoXNNPACK:  strings.EqualFold(os.Getenv(EnvXNNPACK), "off"),
	}
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
func DefaultLibraryPaths() []string { return cgobackend.LibraryPaths("tflite", soName) }

func findLibrary(c Config) string { return cgobackend.FindLibrary(c.Library, DefaultLibraryPaths()) }

func (c Config) gpuLibrary() string {
	if c.GPULibrary != "" {
		return c.GPULibrary
	}
	return gpuSoName
}
