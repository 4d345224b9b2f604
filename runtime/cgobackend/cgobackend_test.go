package cgobackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/export/exporttest"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"sha256-ab12.CD_ef": "sha256-ab12.CD_ef",
		"a/b\\c:d e":        "a_b_c_d_e",
		"../x":              ".._x",
		"":                  "_",
		".":                 "_",
		"..":                "_",
		"é":                 "__", // two bytes of UTF-8
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestModelDir(t *testing.T) {
	if got := ModelDir("", "h", "v1", runtime.W8); got != "" {
		t.Errorf("no root: %q, want in-memory", got)
	}
	if got := ModelDir("/c", "", "v1", runtime.W8); got != "" {
		t.Errorf("no hash: %q, want in-memory", got)
	}
	if got, want := ModelDir("/c", "a/b", "v1", runtime.W8), filepath.Join("/c", "a_b", "v1", "w8"); got != want {
		t.Errorf("ModelDir = %q, want %q", got, want)
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	t.Setenv("HOME", "/home/u")
	for env, want := range map[string]string{
		"off":  "",
		"/my":  "/my",
		"rel/": "rel/",
		"":     filepath.Join("/xdg", "edgeclip", "onnx"),
	} {
		if got := CacheDir(env, "onnx"); got != want {
			t.Errorf("CacheDir(%q) = %q, want %q", env, got, want)
		}
	}
}

func TestFindLibrary(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	file := filepath.Join(dir, "lib.so")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.so")
	for _, c := range []struct {
		name, lib string
		paths     []string
		want      string
	}{
		{"set", "/x.so", []string{file, "lib.so"}, "/x.so"},
		{"first file", "", []string{missing, sub, file, "lib.so"}, file},
		{"none: the soname", "", []string{missing, sub, "lib.so"}, "lib.so"},
		{"soname only", "", []string{"lib.so"}, "lib.so"},
	} {
		if got := FindLibrary(c.lib, c.paths); got != c.want {
			t.Errorf("%s: FindLibrary = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLibraryPaths(t *testing.T) {
	paths := LibraryPaths("onnxruntime", "libx.so.1")
	if paths[len(paths)-1] != "libx.so.1" {
		t.Errorf("last path %q, want the bare soname", paths[len(paths)-1])
	}
	arch := goruntime.GOARCH
	if arch == "amd64" {
		arch = "x64"
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// From runtime/cgobackend, two folders up is the checkout.
	want := filepath.Join(filepath.Dir(filepath.Dir(wd)), "third_party", "onnxruntime", arch, "libx.so.1")
	found := false
	for _, p := range paths {
		found = found || p == want
	}
	if !found {
		t.Errorf("paths %q lack the checkout's %s", paths, want)
	}
}

// fakeFormat writes the graph's name and metadata as text; writes fails
// every write when set.
func fakeFormat(fails *bool) export.Format {
	return export.Format{Name: "fake", ImageFile: "i", TextFile: "t",
		Write: func(w io.Writer, g *export.Graph, meta map[string]string, _ func(done, total int64)) error {
			if *fails {
				return errors.New("disk on fire")
			}
			_, err := fmt.Fprintf(w, "%s %s", g.Name, meta["edgeclip.precision"])
			return err
		}}
}

func TestExport(t *testing.T) {
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 1, 0.2)
	builds := 0
	build := func() (*export.Graph, error) { builds++; return export.Image(w, runtime.W8) }
	var fails bool
	f := fakeFormat(&fails)

	src, err := Export("b", "", "i", f, w, build)
	if err != nil || src.Path != "" || string(src.Data) != "image w8" {
		t.Fatalf("no cache: %+v, %v; want the bytes in memory", src, err)
	}

	dir := filepath.Join(t.TempDir(), "cache")
	for i := range 2 {
		src, err = Export("b", dir, "i", f, w, build)
		want := filepath.Join(dir, "i")
		if err != nil || src.Path != want || src.Data != nil {
			t.Fatalf("cache, open %d: %+v, %v; want path %s", i, src, err, want)
		}
		if data, err := os.ReadFile(want); err != nil || string(data) != "image w8" {
			t.Fatalf("cached file holds %q, %v", data, err)
		}
	}
	if builds != 2 {
		t.Errorf("built %d graphs, want 2 (none for the cache hit)", builds)
	}

	// A file where the cache folder should be: in memory, with a warning.
	blocked := filepath.Join(t.TempDir(), "blocked")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err = Export("b", filepath.Join(blocked, "sub"), "i", f, w, build)
	if err != nil || src.Path != "" || string(src.Data) != "image w8" {
		t.Errorf("blocked cache: %+v, %v; want the bytes in memory", src, err)
	}

	fails = true
	if _, err := Export("b", "", "i", f, w, build); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("failing writer: err = %v", err)
	}
	boom := errors.New("boom")
	if _, err := Export("b", "", "i", f, w, func() (*export.Graph, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("failing build: err = %v, want %v", err, boom)
	}
}

type capsBackend struct{}

func (capsBackend) Name() string { return "caps" }
func (capsBackend) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{Precisions: []runtime.Precision{runtime.FP32, runtime.W8}}
}
func (capsBackend) Open(context.Context, runtime.Weights, runtime.Options) (runtime.Session, error) {
	return nil, errors.New("not for opening")
}

func TestPrecision(t *testing.T) {
	b := capsBackend{}
	for in, want := range map[runtime.Precision]runtime.Precision{"": runtime.FP32, runtime.FP32: runtime.FP32, runtime.W8: runtime.W8} {
		if got, err := Precision(b, in); err != nil || got != want {
			t.Errorf("Precision(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := Precision(b, runtime.W8A8)
	if !errors.Is(err, runtime.ErrNotSupported) || !strings.HasPrefix(err.Error(), "caps: ") {
		t.Errorf("unsupported precision: err = %v, want caps: … ErrNotSupported", err)
	}
}

func TestThreads(t *testing.T) {
	if got := Threads(runtime.Options{Threads: 3}); got != 3 {
		t.Errorf("Threads(3) = %d", got)
	}
	for _, n := range []int{0, -1} {
		if got := Threads(runtime.Options{Threads: n}); got != goruntime.GOMAXPROCS(0) {
			t.Errorf("Threads(%d) = %d, want GOMAXPROCS %d", n, got, goruntime.GOMAXPROCS(0))
		}
	}
}

func TestDims(t *testing.T) {
	d := Dims{ImageSize: 2, Embed: 3, ContextLen: 4, Vocab: 10}
	for _, c := range []struct {
		name   string
		pixels int
		n      int
		out    int
		ok     bool
	}{
		{"two images", 24, 2, 6, true},
		{"none", 0, 0, 0, true},
		{"short pixels", 23, 2, 6, false},
		{"negative n", 0, -1, 0, false},
		{"short out", 24, 2, 5, false},
	} {
		err := d.CheckImages(make([]float32, c.pixels), c.n, make([]float32, c.out))
		if (err == nil) != c.ok {
			t.Errorf("images %s: err = %v, want ok %v", c.name, err, c.ok)
		}
	}
	unknown := Dims{ImageSize: 2, Embed: 3}
	for _, c := range []struct {
		name      string
		ids       [][]int32
		out       int
		ok, okUnk bool
	}{
		{"fits", [][]int32{{1, 9}, {0, 1, 2, 3}}, 6, true, true},
		{"no texts", nil, 0, true, true},
		{"short out", [][]int32{{1}}, 2, false, false},
		{"empty text", [][]int32{{}}, 3, false, false},
		{"too long", [][]int32{{1, 2, 3, 4, 5}}, 3, false, true},
		{"negative id", [][]int32{{-1}}, 3, false, false},
		{"past vocab", [][]int32{{10}}, 3, false, true},
	} {
		out := make([]float32, c.out)
		if err := d.CheckTexts(c.ids, out); (err == nil) != c.ok {
			t.Errorf("texts %s: err = %v, want ok %v", c.name, err, c.ok)
		}
		if err := unknown.CheckTexts(c.ids, out); (err == nil) != c.okUnk {
			t.Errorf("texts %s, unknown context and vocabulary: err = %v, want ok %v", c.name, err, c.okUnk)
		}
	}
}

// fakeTowers records what reaches the native side.
type fakeTowers struct {
	images, texts, closes int
	err                   error
}

func (f *fakeTowers) EncodeImages(context.Context, []float32, int, []float32) error {
	f.images++
	return f.err
}

func (f *fakeTowers) EncodeTexts(context.Context, [][]int32, []float32) error {
	f.texts++
	return f.err
}

func (f *fakeTowers) Close() error { f.closes++; return f.err }

func TestSession(t *testing.T) {
	ctx := context.Background()
	f := &fakeTowers{}
	s := NewSession("fake", Dims{ImageSize: 1, Embed: 2, ContextLen: 3, Vocab: 4}, f)
	if err := s.EncodeImages(ctx, make([]float32, 3), 1, make([]float32, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.EncodeTexts(ctx, [][]int32{{1, 2}}, make([]float32, 2)); err != nil {
		t.Fatal(err)
	}
	err := s.EncodeImages(ctx, make([]float32, 2), 1, make([]float32, 2))
	if err == nil || !strings.HasPrefix(err.Error(), "fake: EncodeImages: ") {
		t.Errorf("short pixels: err = %v, want fake: EncodeImages: …", err)
	}
	err = s.EncodeTexts(ctx, [][]int32{{4}}, make([]float32, 2))
	if err == nil || !strings.HasPrefix(err.Error(), "fake: EncodeTexts: ") {
		t.Errorf("id past vocabulary: err = %v, want fake: EncodeTexts: …", err)
	}
	if f.images != 1 || f.texts != 1 {
		t.Errorf("towers ran %d image and %d text calls, want only the 2 valid ones", f.images, f.texts)
	}
	f.err = errors.New("native")
	if err := s.EncodeTexts(ctx, nil, nil); !errors.Is(err, f.err) {
		t.Errorf("towers' error: got %v", err)
	}
	if err := s.Close(); !errors.Is(err, f.err) {
		t.Errorf("Close: err = %v, want the towers'", err)
	}
	if err := s.Close(); err != nil || f.closes != 1 {
		t.Errorf("second Close: err = %v, towers closed %d times; want nil and once", err, f.closes)
	}
	if err := s.EncodeImages(ctx, make([]float32, 3), 1, make([]float32, 2)); err == nil || err.Error() != "fake: session closed" {
		t.Errorf("after Close: err = %v, want fake: session closed", err)
	}
	if err := s.EncodeTexts(ctx, [][]int32{{1}}, make([]float32, 2)); err == nil || f.texts != 2 {
		t.Errorf("texts after Close: err = %v, towers ran %d text calls; want an error and no call", err, f.texts)
	}
}

// overlapTowers fails when two calls are inside it at once.
type overlapTowers struct {
	fakeTowers
	inside, overlaps atomic.Int32
}

func (o *overlapTowers) EncodeImages(ctx context.Context, px []float32, n int, out []float32) error {
	if o.inside.Add(1) > 1 {
		o.overlaps.Add(1)
	}
	goruntime.Gosched()
	o.inside.Add(-1)
	return nil
}

// TestSessionSerialises: concurrent callers reach the towers one at a time.
func TestSessionSerialises(t *testing.T) {
	o := &overlapTowers{}
	s := NewSession("fake", Dims{ImageSize: 1, Embed: 1}, o)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if err := s.EncodeImages(context.Background(), make([]float32, 3), 1, make([]float32, 1)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := o.overlaps.Load(); n != 0 {
		t.Errorf("%d calls overlapped inside the towers", n)
	}
}
