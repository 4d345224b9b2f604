//go:build ort

package ort

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>

// trt_version asks TensorRT's own library for its version (e.g. 8601 or
// 100300), or returns -1 when no libnvinfer can be loaded.
static int trt_version(void) {
	const char *names[] = {"libnvinfer.so", "libnvinfer.so.10", "libnvinfer.so.8", NULL};
	for (int i = 0; names[i] != NULL; i++) {
		void *h = dlopen(names[i], RTLD_LAZY | RTLD_LOCAL);
		if (h == NULL) continue;
		int (*f)(void) = (int (*)(void))dlsym(h, "getInferLibVersion");
		int v = f != NULL ? f() : -1;
		dlclose(h);
		if (v >= 0) return v;
	}
	return -1;
}
*/
import "C"

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/cgobackend"
)

// appendProvider adds the execution provider for device. A provider this
// ONNX Runtime build or machine lacks is not an error: the session runs on
// the CPU and a warning says so, since a camera should keep working.
func (c Config) appendProvider(so *ortgo.SessionOptions, device, hash string) error {
	switch strings.ToLower(device) {
	case "", "cpu":
		return nil
	case "cuda":
		if err := appendCUDA(so); err != nil {
			slog.Warn("ort: CUDA execution provider unavailable, running on CPU", "err", err)
		}
		return nil
	case "tensorrt", "trt":
		if err := c.appendTensorRT(so, hash); err != nil {
			slog.Warn("ort: TensorRT execution provider unavailable, trying CUDA", "err", err)
		}
		// CUDA takes the nodes TensorRT does not (ONNX Runtime's advice).
		if err := appendCUDA(so); err != nil {
			slog.Warn("ort: CUDA execution provider unavailable, running on CPU", "err", err)
		}
		return nil
	}
	return fmt.Errorf("ort: device %q (want cpu, cuda or tensorrt): %w", device, runtime.ErrNotSupported)
}

func appendCUDA(so *ortgo.SessionOptions) error {
	o, err := ortgo.NewCUDAProviderOptions()
	if err != nil {
		return err
	}
	defer o.Destroy()
	return so.AppendExecutionProviderCUDA(o)
}

func (c Config) appendTensorRT(so *ortgo.SessionOptions, hash string) error {
	o, err := ortgo.NewTensorRTProviderOptions()
	if err != nil {
		return err
	}
	defer o.Destroy()
	if dir := c.trtCacheDir(hash); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			slog.Warn("ort: no TensorRT engine cache", "dir", dir, "err", err)
		} else if err := o.Update(map[string]string{
			"trt_engine_cache_enable": "1", "trt_engine_cache_path": dir,
			"trt_timing_cache_enable": "1", "trt_timing_cache_path": dir,
		}); err != nil {
			return err
		}
	}
	return so.AppendExecutionProviderTensorRT(o)
}

// trtCacheDir keys engines by model hash, TensorRT version and GPU: an
// engine built for one of them is invalid for any other.
func (c Config) trtCacheDir(hash string) string {
	root := c.TRTCacheDir
	if root == "" && c.CacheDir != "" {
		root = filepath.Join(c.CacheDir, "trt")
	}
	if root == "" || hash == "" {
		return ""
	}
	return filepath.Join(root, cgobackend.SafeName(hash), "trt"+TensorRTVersion(), cgobackend.SafeName(GPUName("/")))
}

// TensorRTVersion is libnvinfer's version number, or "none".
func TensorRTVersion() string {
	if v := C.trt_version(); v >= 0 {
		return strconv.Itoa(int(v))
	}
	return "none"
}

// GPUName names the GPU from the NVIDIA driver's /proc entry or, on a
// Jetson, the device-tree model; root is "/" outside tests.
func GPUName(root string) string {
	gpus, _ := filepath.Glob(filepath.Join(root, "proc/driver/nvidia/gpus/*/information"))
	for _, p := range gpus {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "Model" {
				f.Close()
				return strings.TrimSpace(v)
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile(filepath.Join(root, "proc/device-tree/model")); err == nil {
		if s := strings.TrimSpace(strings.TrimRight(string(b), "\x00")); s != "" {
			return s
		}
	}
	return "unknown-gpu"
}
