//go:build tflite

package tflite

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The subset of TensorFlow Lite's C API (tensorflow/lite/c/c_api.h, 2.9)
// that edgeclip calls, resolved with dlsym so that the library path is a
// run-time setting and the build needs no TFLite headers or link flags.
typedef void (*tfl_reporter)(void*, const char*, va_list);

typedef struct {
	void* h;
	const char* (*Version)(void);
	void* (*ModelCreate)(const void*, size_t);
	void* (*ModelCreateFromFile)(const char*);
	void (*ModelDelete)(void*);
	void* (*OptionsCreate)(void);
	void (*OptionsDelete)(void*);
	void (*OptionsSetNumThreads)(void*, int32_t);
	void (*OptionsAddDelegate)(void*, void*);
	void (*OptionsSetErrorReporter)(void*, tfl_reporter, void*);
	void (*OptionsSetEnableDelegateFallback)(void*, int); // optional
	void* (*InterpreterCreate)(const void*, const void*);
	void (*InterpreterDelete)(void*);
	int32_t (*InputCount)(const void*);
	void* (*InputTensor)(const void*, int32_t);
	int32_t (*OutputCount)(const void*);
	const void* (*OutputTensor)(const void*, int32_t);
	int (*AllocateTensors)(void*);
	int (*Invoke)(void*);
	int (*TensorType)(const void*);
	int32_t (*NumDims)(const void*);
	int32_t (*Dim)(const void*, int32_t);
	size_t (*ByteSize)(const void*);
	const char* (*TensorName)(const void*);
	int (*CopyFromBuffer)(void*, const void*, size_t);
	int (*CopyToBuffer)(const void*, void*, size_t);
	void* (*XNNCreate)(const void*);   // optional
	void (*XNNDelete)(void*);
	void* (*GPUCreate)(const void*);   // optional: TfLiteGpuDelegateV2Create
	void (*GPUDelete)(void*);
} tfl_api;

#define TFL_SYM(field, name, required) do { \
	*(void**)(&a->field) = dlsym(a->h, name); \
	if (!a->field && required) { snprintf(err, n, "missing symbol %s", name); return -1; } \
} while (0)

static int tfl_load(tfl_api* a, const char* path, const char* gpu_path, char* err, size_t n) {
	memset(a, 0, sizeof(*a));
	a->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!a->h) { snprintf(err, n, "%s", dlerror()); return -1; }
	TFL_SYM(Version, "TfLiteVersion", 1);
	TFL_SYM(ModelCreate, "TfLiteModelCreate", 1);
	TFL_SYM(ModelCreateFromFile, "TfLiteModelCreateFromFile", 1);
	TFL_SYM(ModelDelete, "TfLiteModelDelete", 1);
	TFL_SYM(OptionsCreate, "TfLiteInterpreterOptionsCreate", 1);
	TFL_SYM(OptionsDelete, "TfLiteInterpreterOptionsDelete", 1);
	TFL_SYM(OptionsSetNumThreads, "TfLiteInterpreterOptionsSetNumThreads", 1);
	TFL_SYM(OptionsAddDelegate, "TfLiteInterpreterOptionsAddDelegate", 1);
	TFL_SYM(OptionsSetErrorReporter, "TfLiteInterpreterOptionsSetErrorReporter", 1);
	TFL_SYM(OptionsSetEnableDelegateFallback, "TfLiteInterpreterOptionsSetEnableDelegateFallback", 0);
	TFL_SYM(InterpreterCreate, "TfLiteInterpreterCreate", 1);
	TFL_SYM(InterpreterDelete, "TfLiteInterpreterDelete", 1);
	TFL_SYM(InputCount, "TfLiteInterpreterGetInputTensorCount", 1);
	TFL_SYM(InputTensor, "TfLiteInterpreterGetInputTensor", 1);
	TFL_SYM(OutputCount, "TfLiteInterpreterGetOutputTensorCount", 1);
	TFL_SYM(OutputTensor, "TfLiteInterpreterGetOutputTensor", 1);
	TFL_SYM(AllocateTensors, "TfLiteInterpreterAllocateTensors", 1);
	TFL_SYM(Invoke, "TfLiteInterpreterInvoke", 1);
	TFL_SYM(TensorType, "TfLiteTensorType", 1);
	TFL_SYM(NumDims, "TfLiteTensorNumDims", 1);
	TFL_SYM(Dim, "TfLiteTensorDim", 1);
	TFL_SYM(ByteSize, "TfLiteTensorByteSize", 1);
	TFL_SYM(TensorName, "TfLiteTensorName", 1);
	TFL_SYM(CopyFromBuffer, "TfLiteTensorCopyFromBuffer", 1);
	TFL_SYM(CopyToBuffer, "TfLiteTensorCopyToBuffer", 1);
	TFL_SYM(XNNCreate, "TfLiteXNNPackDelegateCreate", 0);
	TFL_SYM(XNNDelete, "TfLiteXNNPackDelegateDelete", 0);
	TFL_SYM(GPUCreate, "TfLiteGpuDelegateV2Create", 0);
	TFL_SYM(GPUDelete, "TfLiteGpuDelegateV2Delete", 0);
	if ((!a->GPUCreate || !a->GPUDelete) && gpu_path && gpu_path[0]) {
		// A separately built GPU delegate (libtensorflowlite_gpu_delegate.so).
		void* g = dlopen(gpu_path, RTLD_NOW | RTLD_LOCAL);
		if (g) {
			*(void**)(&a->GPUCreate) = dlsym(g, "TfLiteGpuDelegateV2Create");
			*(void**)(&a->GPUDelete) = dlsym(g, "TfLiteGpuDelegateV2Delete");
		}
	}
	if (!a->GPUCreate || !a->GPUDelete) { a->GPUCreate = NULL; a->GPUDelete = NULL; }
	if (!a->XNNCreate || !a->XNNDelete) { a->XNNCreate = NULL; a->XNNDelete = NULL; }
	return 0;
}

typedef struct {
	void *model, *options, *interp, *xnn, *gpu, *data;
	char err[2048];
} tfl_session;

static void tfl_report(void* user, const char* format, va_list args) {
	tfl_session* s = user;
	size_t used = strlen(s->err);
	if (used + 2 >= sizeof(s->err)) return;
	if (used > 0) { s->err[used++] = ';'; s->err[used++] = ' '; s->err[used] = 0; }
	vsnprintf(s->err + used, sizeof(s->err) - used, format, args);
}

// XNNPACK's options struct: num_threads, flags, then fields later releases
// add (weights cache pointer); left zero, they mean "default".
typedef struct { int32_t num_threads; uint32_t flags; char rest[56]; } tfl_xnn_options;

enum { TFL_XNN_QS8 = 1 };

static void tfl_free(tfl_api* a, tfl_session* s) {
	if (!s) return;
	if (s->interp) a->InterpreterDelete(s->interp);
	if (s->options) a->OptionsDelete(s->options);
	if (s->model) a->ModelDelete(s->model);
	if (s->xnn) a->XNNDelete(s->xnn);
	if (s->gpu) a->GPUDelete(s->gpu);
	free(s->data);
	free(s);
}

// tfl_new builds an interpreter from a file (path) or bytes (data, copied:
// the model must outlive its TfLiteModel). gpu: 1 asks for the GPU
// delegate; *gpu_used tells whether one was attached.
static tfl_session* tfl_new(tfl_api* a, const char* path, const void* data, size_t size,
		int threads, int xnn_threads, int xnn, int gpu, int* gpu_used, char* err, size_t n) {
	tfl_session* s = calloc(1, sizeof(tfl_session));
	*gpu_used = 0;
	if (!s) { snprintf(err, n, "out of memory"); return NULL; }
	if (path) {
		s->model = a->ModelCreateFromFile(path);
	} else {
		s->data = malloc(size);
		if (!s->data) { snprintf(err, n, "out of memory"); tfl_free(a, s); return NULL; }
		memcpy(s->data, data, size);
		s->model = a->ModelCreate(s->data, size);
	}
	if (!s->model) { snprintf(err, n, "not a valid TFLite model"); tfl_free(a, s); return NULL; }
	s->options = a->OptionsCreate();
	a->OptionsSetErrorReporter(s->options, tfl_report, s);
	a->OptionsSetNumThreads(s->options, threads);
	if (gpu && a->GPUCreate) {
		s->gpu = a->GPUCreate(NULL);
		if (s->gpu) {
			a->OptionsAddDelegate(s->options, s->gpu);
			if (a->OptionsSetEnableDelegateFallback) a->OptionsSetEnableDelegateFallback(s->options, 1);
			*gpu_used = 1;
		}
	}
	if (!s->gpu && xnn && a->XNNCreate) {
		tfl_xnn_options o;
		memset(&o, 0, sizeof(o));
		o.num_threads = xnn_threads;
		o.flags = TFL_XNN_QS8;
		s->xnn = a->XNNCreate(&o);
		if (s->xnn) a->OptionsAddDelegate(s->options, s->xnn);
	}
	s->interp = a->InterpreterCreate(s->model, s->options);
	if (!s->interp) { snprintf(err, n, "create interpreter: %s", s->err); tfl_free(a, s); return NULL; }
	if (a->AllocateTensors(s->interp) != 0) { snprintf(err, n, "allocate tensors: %s", s->err); tfl_free(a, s); return NULL; }
	return s;
}

static int tfl_tensor(tfl_api* a, tfl_session* s, int output, int i, int* type, int* ndims, int32_t* dims, int max, size_t* bytes) {
	const void* t = output ? a->OutputTensor(s->interp, i) : a->InputTensor(s->interp, i);
	if (!t) return -1;
	*type = a->TensorType(t);
	*ndims = a->NumDims(t);
	for (int d = 0; d < *ndims && d < max; d++) dims[d] = a->Dim(t, d);
	*bytes = a->ByteSize(t);
	return 0;
}

static const char* tfl_tensor_name(tfl_api* a, tfl_session* s, int output, int i) {
	const void* t = output ? a->OutputTensor(s->interp, i) : a->InputTensor(s->interp, i);
	return t ? a->TensorName(t) : "";
}

// tfl_run copies up to two inputs in, invokes, and copies output 0 out.
static int tfl_run(tfl_api* a, tfl_session* s, const void* in0, size_t n0, const void* in1, size_t n1, void* out, size_t nout) {
	s->err[0] = 0;
	if (a->CopyFromBuffer(a->InputTensor(s->interp, 0), in0, n0) != 0) return -1;
	if (in1 && a->CopyFromBuffer(a->InputTensor(s->interp, 1), in1, n1) != 0) return -1;
	if (a->Invoke(s->interp) != 0) return -1;
	return a->CopyToBuffer(a->OutputTensor(s->interp, 0), out, nout);
}

static int tfl_counts(tfl_api* a, tfl_session* s, int output) {
	return output ? a->OutputCount(s->interp) : a->InputCount(s->interp);
}

static const char* tfl_version(tfl_api* a) { return a->Version(); }
static int tfl_has_xnn(tfl_api* a) { return a->XNNCreate != NULL; }
static int tfl_has_gpu(tfl_api* a) { return a->GPUCreate != NULL; }
static const char* tfl_err(tfl_session* s) { return s->err; }
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// TensorFlow Lite's TfLiteType values this backend feeds and reads.
const (
	typeFloat32 = 1
	typeInt32   = 2
)

// library is one loaded libtensorflowlite_c.
type library struct {
	api     *C.tfl_api
	path    string
	version string
	xnnpack bool
	gpu     bool
}

// The dynamic loader keeps a library for the life of the process; load
// each path once.
var libs struct {
	sync.Mutex
	byPath map[string]*library
}

func loadLibrary(path, gpuPath string) (*library, error) {
	libs.Lock()
	defer libs.Unlock()
	key := path + "\x00" + gpuPath
	if l := libs.byPath[key]; l != nil {
		return l, nil
	}
	api := (*C.tfl_api)(C.calloc(1, C.size_t(unsafe.Sizeof(C.tfl_api{}))))
	cpath, cgpu := C.CString(path), C.CString(gpuPath)
	defer C.free(unsafe.Pointer(cpath))
	defer C.free(unsafe.Pointer(cgpu))
	var errBuf [512]C.char
	if C.tfl_load(api, cpath, cgpu, &errBuf[0], C.size_t(len(errBuf))) != 0 {
		C.free(unsafe.Pointer(api))
		return nil, fmt.Errorf("tflite: load %s (set %s or run scripts/fetch-tflite.sh): %s", path, EnvLibrary, C.GoString(&errBuf[0]))
	}
	l := &library{api: api, path: path, version: C.GoString(C.tfl_version(api)),
		xnnpack: C.tfl_has_xnn(api) != 0, gpu: C.tfl_has_gpu(api) != 0}
	if libs.byPath == nil {
		libs.byPath = map[string]*library{}
	}
	libs.byPath[key] = l
	return l, nil
}

// tensorInfo describes an input or output of an interpreter.
type tensorInfo struct {
	name  string
	typ   int
	shape []int
	bytes int
}

// interpreter is one TFLite interpreter with its model and delegates.
type interpreter struct {
	lib     *library
	s       *C.tfl_session
	inputs  []tensorInfo
	output  tensorInfo
	gpuUsed bool
}

// newInterpreter loads a model from path (memory-mapped by TFLite), or
// from a copy of data when path is empty. threads goes to both the
// builtin kernels and XNNPACK's pool; they run one after the other.
func (l *library) newInterpreter(path string, data []byte, threads int, xnnpack, gpu bool) (*interpreter, error) {
	var errBuf [2048]C.char
	var cpath *C.char
	var cdata unsafe.Pointer
	if path != "" {
		cpath = C.CString(path)
		defer C.free(unsafe.Pointer(cpath))
	} else {
		if len(data) == 0 {
			return nil, fmt.Errorf("tflite: empty model")
		}
		cdata = unsafe.Pointer(&data[0]) // tfl_new copies it; the model must outlive the call

	}
	var gpuUsed C.int
	s := C.tfl_new(l.api, cpath, cdata, C.size_t(len(data)), C.int(threads), C.int(threads), cbool(xnnpack), cbool(gpu), &gpuUsed,
		&errBuf[0], C.size_t(len(errBuf)))
	if s == nil {
		return nil, fmt.Errorf("tflite: %s", C.GoString(&errBuf[0]))
	}
	it := &interpreter{lib: l, s: s, gpuUsed: gpuUsed != 0}
	for i := range int(C.tfl_counts(l.api, s, 0)) {
		it.inputs = append(it.inputs, it.info(0, i))
	}
	if C.tfl_counts(l.api, s, 1) < 1 {
		it.close()
		return nil, fmt.Errorf("tflite: model has no output")
	}
	it.output = it.info(1, 0)
	return it, nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func (it *interpreter) info(output, i int) tensorInfo {
	var typ, nd C.int
	var dims [8]C.int32_t
	var bytes C.size_t
	C.tfl_tensor(it.lib.api, it.s, C.int(output), C.int(i), &typ, &nd, &dims[0], C.int(len(dims)), &bytes)
	t := tensorInfo{name: C.GoString(C.tfl_tensor_name(it.lib.api, it.s, C.int(output), C.int(i))), typ: int(typ), bytes: int(bytes)}
	for d := range min(int(nd), len(dims)) {
		t.shape = append(t.shape, int(dims[d]))
	}
	return t
}

// run feeds in0 (and in1 when the model has a second input), invokes and
// copies output 0 into out. Sizes must match the tensors exactly.
func (it *interpreter) run(in0 unsafe.Pointer, n0 int, in1 unsafe.Pointer, n1 int, out unsafe.Pointer, nout int) error {
	if C.tfl_run(it.lib.api, it.s, in0, C.size_t(n0), in1, C.size_t(n1), out, C.size_t(nout)) != 0 {
		return fmt.Errorf("tflite: invoke: %s", C.GoString(C.tfl_err(it.s)))
	}
	return nil
}

func (it *interpreter) close() {
	if it.s != nil {
		C.tfl_free(it.lib.api, it.s)
		it.s = nil
	}
}
