package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/quant"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// mixed turns a float model into one that uses every dtype: linear weights
// I8 with inline Scales (Encode adds the X_scale tensors), two vectors F16.
func mixed(t testing.TB, c *Contents) *Contents {
	t.Helper()
	out := *c
	out.Tensors = nil
	for _, x := range c.Tensors {
		f := float32s(x.Data)
		switch {
		case arch.Quantizable(x.Name):
			rows, cols := x.Shape[0], x.Shape[1]
			q, s := make([]int8, rows*cols), make([]float32, rows)
			if err := quant.QuantizeRows(f, rows, cols, q, s); err != nil {
				t.Fatal(err)
			}
			b := unsafe.Slice((*byte)(unsafe.Pointer(&q[0])), len(q))
			x = runtime.Tensor{Name: x.Name, DType: runtime.I8, Shape: x.Shape, Data: bytes.Clone(b), Scales: s}
		case x.Name == arch.VisClass || x.Name == arch.TxtLnFinalB:
			b := make([]byte, 2*len(f))
			for i, v := range f {
				binary.LittleEndian.PutUint16(b[2*i:], quant.F32ToF16(v))
			}
			x = runtime.Tensor{Name: x.Name, DType: runtime.F16, Shape: x.Shape, Data: b}
		}
		out.Tensors = append(out.Tensors, x)
	}
	return &out
}

func tinyMixed(t testing.TB) *Contents {
	c := mixed(t, RandomContents(TinyConfig(), 1))
	c.Name, c.Version = "tiny-mixed", "1.0"
	c.Extra = map[string]string{KeyCard: "tiny <test> model & card\u2028\b\x01", KeyQuant: `{"mode":"w8"}`}
	return c
}

func encodeBytes(t testing.TB, c *Contents) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *Contents
	}{
		{"f32", RandomContents(TinyConfig(), 7)},
		{"mixed", tinyMixed(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "m.safetensors")
			if err := Write(p, tc.c); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got, want := f.Hash(), HashContents(tc.c); got != want || !hashRE.MatchString(got) {
				t.Errorf("hash %q, want %q", got, want)
			}
			if diff := cmp.Diff(tc.c.Config, f.Config()); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if f.Name() != tc.c.Name || f.Version() != tc.c.Version {
				t.Errorf("name/version %q %q, want %q %q", f.Name(), f.Version(), tc.c.Name, tc.c.Version)
			}
			if diff := cmp.Diff(tc.c.Tokenizer, f.Tokenizer()); diff != "" {
				t.Errorf("tokenizer (-want +got):\n%s", diff)
			}
			for k, v := range tc.c.Extra {
				if got := f.Metadata()[k]; got != v {
					t.Errorf("metadata %s = %q, want %q", k, got, v)
				}
			}
			want := byName(tc.c.Tensors)
			for _, ft := range f.Tensors() {
				w, ok := want[ft.Name]
				if !ok {
					if !strings.HasSuffix(ft.Name, arch.ScaleSuffix) {
						t.Errorf("unexpected tensor %q", ft.Name)
					}
					continue
				}
				delete(want, ft.Name)
				if ft.DType != w.DType || !equalShape(ft.Shape, w.Shape) || !bytes.Equal(ft.Data, w.Data) {
					t.Errorf("tensor %q differs: %s %v vs %s %v", ft.Name, ft.DType, ft.Shape, w.DType, w.Shape)
				}
				if diff := cmp.Diff(w.Scales, ft.Scales); w.DType == runtime.I8 && diff != "" {
					t.Errorf("tensor %q scales (-want +got):\n%s", ft.Name, diff)
				}
			}
			if len(want) > 0 {
				t.Errorf("%d tensors missing after the round trip", len(want))
			}
			// Re-encoding what was read gives the same bytes.
			orig, _ := os.ReadFile(p)
			if again := encodeBytes(t, f.Contents()); !bytes.Equal(again, orig) {
				t.Errorf("re-encoding the opened file changed its bytes")
			}
		})
	}
}

// TestGolden pins the exact bytes of a tiny model, so that any change to
// the layout, the metadata or the hash is deliberate: go test -run Golden -update
func TestGolden(t *testing.T) {
	sum := sha256.Sum256(encodeBytes(t, tinyMixed(t)))
	got := hex.EncodeToString(sum[:]) + "\n"
	path := filepath.Join("testdata", "tiny.golden.sha256")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("encoded bytes hash to %s, golden %s", got, want)
	}
}

func TestLayout(t *testing.T) {
	data := encodeBytes(t, tinyMixed(t))
	n := binary.LittleEndian.Uint64(data)
	if (8+n)%8 != 0 {
		t.Errorf("8 + header length %d is not a multiple of 8", n)
	}
	f, err := Open(writeTemp(t, data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	last := -1
	for _, ti := range f.st.Header.Tensors { // data order
		g := map[string]int{"F32": 0, "F16": 1, "I8": 2}[string(ti.DType)]
		if g < last {
			t.Errorf("tensor %q (%s) after a later dtype group", ti.Name, ti.DType)
		}
		last = g
		tt, _ := f.Tensor(ti.Name)
		if len(tt.Data) > 0 && &tt.Data[0] != &f.st.Bytes()[f.st.Header.DataStart+ti.Begin] {
			t.Errorf("tensor %q was copied, want a view into the map", ti.Name)
		}
	}
}

func TestMisalignedIsCopied(t *testing.T) {
	// A foreign writer may put an F16 tensor of odd length first, leaving
	// every F32 tensor after it misaligned in the map. Width 33 gives a
	// 66-byte F16 LayerNorm weight.
	cfg := TinyConfig()
	cfg.Vision.Width, cfg.Vision.Heads = 33, 3
	c := RandomContents(cfg, 3)
	for i, x := range c.Tensors {
		if x.Name == arch.VisLnPreW {
			b := make([]byte, 2*33)
			for j, v := range float32s(x.Data) {
				binary.LittleEndian.PutUint16(b[2*j:], quant.F32ToF16(v))
			}
			c.Tensors[i] = runtime.Tensor{Name: x.Name, DType: runtime.F16, Shape: x.Shape, Data: b}
		}
	}
	data := moveFirst(t, encodeBytes(t, c), arch.VisLnPreW)
	f, err := Open(writeTemp(t, data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Hash() != HashContents(c) {
		t.Errorf("hash changed with the data order")
	}
	want := byName(c.Tensors)
	copied := 0
	for _, ti := range f.st.Header.Tensors {
		got, _ := f.Tensor(ti.Name)
		if uintptr(unsafe.Pointer(&got.Data[0]))%uintptr(got.DType.Size()) != 0 {
			t.Errorf("tensor %q is misaligned", ti.Name)
		}
		if &got.Data[0] != &f.st.Bytes()[f.st.Header.DataStart+ti.Begin] {
			copied++
		}
		if !bytes.Equal(got.Data, want[ti.Name].Data) {
			t.Errorf("tensor %q bytes differ", ti.Name)
		}
	}
	if copied == 0 {
		t.Errorf("no tensor was copied; the test file is not misaligned")
	}
}

// moveFirst rewrites a file so that the named tensor's bytes come first in
// the data section, shifting the others after it.
func moveFirst(t testing.TB, file []byte, name string) []byte {
	return rewriteHeader(t, file, func(h map[string]any, d []byte) []byte {
		off := func(k string) []any { return h[k].(map[string]any)["data_offsets"].([]any) }
		b, e := int(off(name)[0].(float64)), int(off(name)[1].(float64))
		out := append(bytes.Clone(d[b:e]), d[:b]...)
		out = append(out, d[e:]...)
		for k := range h {
			if k == "__metadata__" {
				continue
			}
			o := off(k)
			ob, oe := o[0].(float64), o[1].(float64)
			switch {
			case k == name:
				o[0], o[1] = 0.0, float64(e-b)
			case int(ob) < b:
				o[0], o[1] = ob+float64(e-b), oe+float64(e-b)
			}
		}
		return out
	})
}

func TestScalesAttached(t *testing.T) {
	c := tinyMixed(t)
	f, err := Open(writeTemp(t, encodeBytes(t, c)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, _ := f.Tensor(arch.VisProj)
	s, ok := f.Tensor(arch.VisProj + arch.ScaleSuffix)
	if w.DType != runtime.I8 || !ok || len(w.Scales) != w.Shape[0] {
		t.Fatalf("I8 %s: dtype %s, %d scales, scale tensor listed %v", arch.VisProj, w.DType, len(w.Scales), ok)
	}
	if got := float32s(s.Data); got[0] != w.Scales[0] || math.IsNaN(float64(got[0])) {
		t.Errorf("Scales[0] = %v, scale tensor has %v", w.Scales[0], got[0])
	}
}

func TestHashSpec(t *testing.T) {
	// The recipe from docs/model-format.md, computed by hand.
	meta := map[string]string{"b": "2", "a": "1", KeyHash: "ignored"}
	ts := []runtime.Tensor{
		{Name: "y", DType: runtime.I8, Shape: []int{2}, Data: []byte{1, 2}},
		{Name: "x", DType: runtime.F32, Shape: []int{}, Data: []byte{0, 0, 128, 63}},
	}
	want := sha256.Sum256([]byte("a\x001\x00b\x002\x00" + "x\x00F32\x00\x00\x00\x00\x80\x3f" + "y\x00I8\x002\x00\x01\x02"))
	if got := contentHash(meta, ts); got != "sha256:"+hex.EncodeToString(want[:]) {
		t.Errorf("contentHash = %s, want sha256:%x", got, want)
	}
}

func TestWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.safetensors")
	if err := Write(p, RandomContents(TinyConfig(), 1)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(p)
	bad := RandomContents(TinyConfig(), 2)
	bad.Tensors = bad.Tensors[1:]
	if err := Write(p, bad); err == nil {
		t.Fatal("Write of an invalid model succeeded")
	}
	after, _ := os.ReadFile(p)
	entries, _ := os.ReadDir(dir)
	if !bytes.Equal(before, after) || len(entries) != 1 {
		t.Errorf("failed Write changed the old file or left %d entries", len(entries))
	}
}

func TestRandomMerges(t *testing.T) {
	m := RandomMerges(2000)
	have := map[string]bool{}
	for c := 'a'; c <= 'z'; c++ {
		have[string(c)], have[string(c)+"</w>"] = true, true
	}
	for i, s := range m {
		a, b, ok := strings.Cut(s, " ")
		if !ok || !have[a] || !have[b] || have[a+b] {
			t.Fatalf("merge %d %q joins unknown symbols or repeats a token", i, s)
		}
		have[a+b] = true
	}
	if n := len(RandomMerges(ViTB32().VocabSize - DerivedVocabExtra)); n != 48894 {
		t.Errorf("ViT-B/32 merges: %d, want 48894", n)
	}
}

// rewriteHeader decodes a file's header, lets fn edit it and the data
// section, and re-encodes it with valid padding.
func rewriteHeader(t testing.TB, file []byte, fn func(h map[string]any, data []byte) []byte) []byte {
	t.Helper()
	n := binary.LittleEndian.Uint64(file)
	var h map[string]any
	if err := json.Unmarshal(file[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	data := fn(h, bytes.Clone(file[8+n:]))
	hb, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	return rawFile(hb, data)
}

func rawFile(header, data []byte) []byte {
	for (8+len(header))%8 != 0 {
		header = append(header, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(out, header...), data...)
}
