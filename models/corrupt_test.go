package models

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/safetensors"
	"github.com/edgeclip/edgeclip/runtime"
)

// encodeUnchecked writes c without Encode's validation, after letting edit
// change the metadata and tensors, with a hash that matches the result: the
// file is wrong only in the way the test intends.
func encodeUnchecked(t testing.TB, c *Contents, edit func(meta map[string]string, ts map[string]runtime.Tensor)) []byte {
	t.Helper()
	meta, list, err := prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	ts := byName(list)
	edit(meta, ts)
	list = list[:0]
	for _, x := range ts {
		list = append(list, x)
	}
	meta[KeyHash] = contentHash(meta, list)
	var st []safetensors.Tensor
	for _, x := range list {
		st = append(st, safetensors.Tensor{Name: x.Name, DType: stDType(x.DType), Shape: x.Shape, Data: x.Data})
	}
	var b bytes.Buffer
	if err := safetensors.Write(&b, meta, st); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func offsets(h map[string]any, name string) []any {
	return h[name].(map[string]any)["data_offsets"].([]any)
}

func TestOpenCorrupt(t *testing.T) {
	good := encodeBytes(t, tinyMixed(t))
	n := binary.LittleEndian.Uint64(good)
	for _, tc := range []struct {
		name string
		data func() []byte
		want []string // substrings of the error
		is   error
	}{
		{"empty", func() []byte { return nil }, []string{"at least 8"}, safetensors.ErrFormat},
		{"truncated", func() []byte { return good[:len(good)-100] }, []string{`tensor "`, "data_offsets", "outside"}, safetensors.ErrFormat},
		{"header too long", func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint64(b, safetensors.MaxHeaderSize+8)
			return b
		}, []string{"header length", "exceeds"}, safetensors.ErrFormat},
		{"header past end", func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint64(b, uint64(len(good)))
			return b
		}, []string{"header length"}, safetensors.ErrFormat},
		{"bad JSON", func() []byte { return rawFile([]byte(`{"a": {"dtype": tru`), good[8+n:]) }, []string{"bad JSON"}, safetensors.ErrFormat},
		{"not an object", func() []byte { return rawFile([]byte(`[1, 2]`), nil) }, []string{"not a JSON object"}, safetensors.ErrFormat},
		{"metadata not string", func() []byte {
			return rewriteHeader(t, good, func(h map[string]any, d []byte) []byte {
				h["__metadata__"].(map[string]any)[KeyCard] = 5
				return d
			})
		}, []string{"__metadata__", `"edgeclip.card"`, "not a string"}, safetensors.ErrFormat},
		{"overlapping", func() []byte {
			return rewriteHeader(t, good, func(h map[string]any, d []byte) []byte {
				o := offsets(h, arch.TxtProj+arch.ScaleSuffix)
				o[0], o[1] = o[0].(float64)-4, o[1].(float64)-4
				return d
			})
		}, []string{"overlaps"}, safetensors.ErrFormat},
		{"gap", func() []byte {
			return rewriteHeader(t, good, func(h map[string]any, d []byte) []byte {
				// Move the last I8 tensor 8 bytes later.
				o := offsets(h, "visual.proj.weight")
				if o[1].(float64) != float64(len(d)) {
					t.Fatalf("visual.proj.weight is not last")
				}
				o[0], o[1] = o[0].(float64)+8, o[1].(float64)+8
				return append(d, make([]byte, 8)...)
			})
		}, []string{`tensor "visual.proj.weight"`, "gap"}, safetensors.ErrFormat},
		{"trailing data", func() []byte { return append(bytes.Clone(good), make([]byte, 8)...) }, []string{"cover"}, safetensors.ErrFormat},
		{"out of range", func() []byte {
			return rewriteHeader(t, good, func(h map[string]any, d []byte) []byte {
				offsets(h, arch.VisClass)[1] = 1e15
				return d
			})
		}, []string{`tensor "visual.class_embedding"`, "outside"}, safetensors.ErrFormat},
		{"wrong dtype size", func() []byte {
			return rewriteHeader(t, good, func(h map[string]any, d []byte) []byte {
				h[arch.TxtPos].(map[string]any)["dtype"] = "F16"
				return d
			})
		}, []string{`tensor "text.positional_embedding"`, "data_offsets", "F16"}, safetensors.ErrFormat},
		{"unsupported dtype", func() []byte {
			return rewriteHeader(t, good, func(h map[string]any, d []byte) []byte {
				h[arch.TxtPos].(map[string]any)["dtype"] = "BF16"
				return d
			})
		}, []string{`tensor "text.positional_embedding"`, "dtype", "BF16 is not supported"}, safetensors.ErrUnsupported},
		{"negative dim", func() []byte {
			return rewriteHeader(t, good, func(h map[string]any, d []byte) []byte {
				h[arch.TxtPos].(map[string]any)["shape"] = []int{-16, -32}
				return d
			})
		}, []string{`tensor "text.positional_embedding"`, "shape", "-16"}, safetensors.ErrFormat},
		{"not edgeclip", func() []byte {
			return encodeUnchecked(t, tinyMixed(t), func(m map[string]string, _ map[string]runtime.Tensor) { delete(m, KeyFormat) })
		}, []string{KeyFormat}, ErrInvalid},
		{"missing tensor", func() []byte {
			return encodeUnchecked(t, tinyMixed(t), func(_ map[string]string, ts map[string]runtime.Tensor) { delete(ts, arch.TxtPos) })
		}, []string{`tensor "text.positional_embedding"`, "missing"}, ErrInvalid},
		{"wrong shape", func() []byte {
			return encodeUnchecked(t, tinyMixed(t), func(_ map[string]string, ts map[string]runtime.Tensor) {
				x := ts[arch.TxtPos]
				x.Shape = []int{32, 16}
				ts[arch.TxtPos] = x
			})
		}, []string{`tensor "text.positional_embedding"`, "shape [32 16], want [16 32]"}, ErrInvalid},
		{"unexpected tensor", func() []byte {
			return encodeUnchecked(t, tinyMixed(t), func(_ map[string]string, ts map[string]runtime.Tensor) {
				ts["visual.extra"] = runtime.Tensor{Name: "visual.extra", DType: runtime.F32, Shape: []int{1}, Data: make([]byte, 4)}
			})
		}, []string{`tensor "visual.extra"`, "unexpected"}, ErrInvalid},
		{"bad config value", func() []byte {
			c := tinyMixed(t)
			c.Config.Vision.Heads = 5
			return encodeUnchecked(t, c, func(map[string]string, map[string]runtime.Tensor) {})
		}, []string{"config: vision.heads = 5", "must divide"}, arch.ErrInvalid},
		{"config missing key", func() []byte {
			return encodeUnchecked(t, tinyMixed(t), func(m map[string]string, _ map[string]runtime.Tensor) {
				m[KeyConfig] = strings.Replace(m[KeyConfig], `"ln_eps"`, `"ln_epsilon"`, 1)
			})
		}, []string{"config: ln_eps: missing"}, ErrInvalid},
		{"config unknown key", func() []byte {
			return encodeUnchecked(t, tinyMixed(t), func(m map[string]string, _ map[string]runtime.Tensor) {
				m[KeyConfig] = strings.Replace(m[KeyConfig], `{`, `{"dropout":0.1,`, 1)
			})
		}, []string{"config:", "dropout"}, ErrInvalid},
		{"tokenizer too large", func() []byte {
			c := tinyMixed(t)
			c.Tokenizer.Merges = append(c.Tokenizer.Merges, "a b")
			return encodeUnchecked(t, c, func(map[string]string, map[string]runtime.Tensor) {})
		}, []string{"tokenizer: 815 tokens but config vocab_size = 814"}, ErrInvalid},
		{"missing scale", func() []byte {
			return encodeUnchecked(t, tinyMixed(t), func(_ map[string]string, ts map[string]runtime.Tensor) {
				delete(ts, arch.VisProj+arch.ScaleSuffix)
			})
		}, []string{`tensor "visual.proj.weight"`, "without its scales"}, ErrInvalid},
		{"scale wrong shape", func() []byte {
			return encodeUnchecked(t, tinyMixed(t), func(_ map[string]string, ts map[string]runtime.Tensor) {
				s := ts[arch.VisProj+arch.ScaleSuffix]
				s.Shape, s.Data = []int{2}, s.Data[:8]
				ts[s.Name] = s
			})
		}, []string{`tensor "visual.proj.weight_scale"`, "want F32 [16]"}, ErrInvalid},
		{"I8 layer norm", func() []byte {
			return encodeUnchecked(t, tinyMixed(t), func(_ map[string]string, ts map[string]runtime.Tensor) {
				ts[arch.VisLnPreW] = runtime.Tensor{Name: arch.VisLnPreW, DType: runtime.I8, Shape: []int{32}, Data: make([]byte, 32)}
			})
		}, []string{`tensor "visual.ln_pre.weight"`, "only allowed for linear weights"}, ErrInvalid},
		{"hash mismatch", func() []byte {
			b := bytes.Clone(good)
			b[len(b)-1] ^= 1
			return b
		}, []string{KeyHash, "content hashes to"}, ErrHashMismatch},
		{"hash malformed", func() []byte {
			return rewriteHeader(t, good, func(h map[string]any, d []byte) []byte {
				h["__metadata__"].(map[string]any)[KeyHash] = "md5:00"
				return d
			})
		}, []string{KeyHash, "md5:00"}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := os.WriteFile(p, tc.data(), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Open(p)
			if err == nil {
				f.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "models: "+p+": ") {
				t.Errorf("error %q does not start with %q", msg, "models: "+p+": ")
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", msg, tc.is)
			}
		})
	}
}

func TestSkipHashCheck(t *testing.T) {
	b := encodeBytes(t, tinyMixed(t))
	b[len(b)-1] ^= 1
	p := writeTemp(t, b)
	f, err := OpenWith(p, OpenOptions{SkipHashCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Verify(); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("Verify = %v, want ErrHashMismatch", err)
	}
}

func TestEncodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(c *Contents)
		want string
	}{
		{"missing tensor", func(c *Contents) { c.Tensors = c.Tensors[1:] }, "missing"},
		{"reserved extra", func(c *Contents) { c.Extra = map[string]string{KeyHash: "x"} }, "reserved"},
		{"bad config", func(c *Contents) { c.Config.LNEps = 0 }, "config: ln_eps = 0"},
		{"tokenizer type", func(c *Contents) { c.Tokenizer.Type = "wordpiece" }, `tokenizer: type = "wordpiece"`},
		{"bad merge", func(c *Contents) { c.Tokenizer.Merges[3] = "abc" }, `merges[3] = "abc"`},
		{"duplicate", func(c *Contents) { c.Tensors = append(c.Tensors, c.Tensors[0]) }, "listed twice"},
		{"short data", func(c *Contents) { c.Tensors[0].Data = c.Tensors[0].Data[:4] }, "bytes, want"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := RandomContents(TinyConfig(), 1)
			tc.edit(c)
			err := Encode(&bytes.Buffer{}, c)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "models: ") {
				t.Errorf("Encode = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// FuzzOpen feeds arbitrary bytes to Open through a real file: it must
// return an error or a valid model, never panic.
func FuzzOpen(f *testing.F) {
	good := encodeBytes(f, RandomContents(TinyConfig(), 1))
	f.Add(good)
	f.Add(good[:64])
	f.Add(rawFile([]byte(`{"__metadata__":{"edgeclip.format":"1"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`), make([]byte, 4)))
	f.Add(rawFile([]byte(`{"a":{"dtype":"I8","shape":[9223372036854775807,2],"data_offsets":[0,0]}}`), nil))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.safetensors")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Open(p)
		if err != nil {
			return
		}
		for _, x := range m.Tensors() {
			_ = x.Data[len(x.Data)-1:]
		}
		m.Close()
	})
}
