package convert

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// stEntry is one tensor of a checkpoint being rewritten by a test.
type stEntry struct {
	dtype string
	shape []int
	raw   []byte
}

func readST(t *testing.T, path string) map[string]stEntry {
	t.Helper()
	s, err := openSource(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := map[string]stEntry{}
	for n, e := range s.tensors {
		raw := make([]byte, e.end-e.begin)
		if _, err := s.f.ReadAt(raw, s.data+e.begin); err != nil {
			t.Fatal(err)
		}
		m[n] = stEntry{e.DType, e.Shape, raw}
	}
	return m
}

func writeST(t *testing.T, path string, m map[string]stEntry) {
	t.Helper()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	hdr, off := map[string]any{}, 0
	var data bytes.Buffer
	for _, n := range names {
		e := m[n]
		hdr[n] = map[string]any{"dtype": e.dtype, "shape": e.shape, "data_offsets": []int{off, off + len(e.raw)}}
		data.Write(e.raw)
		off += len(e.raw)
	}
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, uint64(len(h)))
	out.Write(h)
	out.Write(data.Bytes())
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func f32Entry(shape ...int) stEntry {
	return stEntry{"F32", shape, make([]byte, 4*count(shape))}
}

func i64Entry(v int64) stEntry {
	return stEntry{"I64", []int{}, binary.LittleEndian.AppendUint64(nil, uint64(v))}
}

// recast rewrites every F32 tensor as F64 or BF16.
func recast(m map[string]stEntry, dtype string) {
	for n, e := range m {
		if e.dtype != "F32" {
			continue
		}
		var raw []byte
		for i := 0; i < len(e.raw); i += 4 {
			bits := binary.LittleEndian.Uint32(e.raw[i:])
			if dtype == "F64" {
				raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(float64(math.Float32frombits(bits))))
			} else {
				raw = binary.LittleEndian.AppendUint16(raw, uint16(bits>>16))
			}
		}
		m[n] = stEntry{dtype, e.shape, raw}
	}
}

// copyDir copies a fixture directory (flat) into a temporary one.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func editJSON(t *testing.T, path string, edit func(m map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// convertCase is one conversion of an edited fixture.
type convertCase struct {
	name string
	// tensors edits the checkpoint; files edits the copied fixture directory.
	tensors func(m map[string]stEntry)
	files   func(t *testing.T, dir string)
	opts    func(o *Options)
	// wantErr lists substrings of the error; empty means success, then check runs.
	wantErr []string
	check   func(t *testing.T, cfg arch.Config)
}

func runCases(t *testing.T, layout, weights string, cases []convertCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := loadFixture(t, layout)
			src := filepath.Join(fx.dir, filepath.Dir(fx.Convert.Src))
			if layout == "hf" {
				src = filepath.Join(fx.dir, fx.Convert.Src)
			}
			dir := copyDir(t, src)
			o := fx.options()
			o.Src = filepath.Join(dir, weights)
			if o.BPE != "" {
				o.BPE = filepath.Join(dir, filepath.Base(o.BPE))
			}
			if tc.tensors != nil {
				m := readST(t, o.Src)
				tc.tensors(m)
				writeST(t, o.Src, m)
			}
			if tc.files != nil {
				tc.files(t, dir)
			}
			if layout == "hf" {
				o.Src = dir
			}
			if tc.opts != nil {
				tc.opts(&o)
			}
			c, err := Convert(context.Background(), o)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.check != nil {
					tc.check(t, c.Config)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestConvertOpenAI(t *testing.T) {
	runCases(t, "openai", "model.safetensors", []convertCase{
		{name: "missing tensor", tensors: func(m map[string]stEntry) { delete(m, "transformer.resblocks.1.ln_2.bias") },
			wantErr: []string{`tensor "transformer.resblocks.1.ln_2.bias": missing`}},
		{name: "unexpected tensor", tensors: func(m map[string]stEntry) { m["visual.transformer.resblocks.0.ls_1.gamma"] = f32Entry(48) },
			wantErr: []string{`tensor "visual.transformer.resblocks.0.ls_1.gamma": unexpected`}},
		{name: "shape disagrees", tensors: func(m map[string]stEntry) { m["transformer.resblocks.0.mlp.c_proj.bias"] = f32Entry(7) },
			wantErr: []string{`tensor "transformer.resblocks.0.mlp.c_proj.bias": shape [7], want [32]`}},
		{name: "every problem reported", tensors: func(m map[string]stEntry) {
			delete(m, "visual.ln_post.bias")
			m["extra.weight"] = f32Entry(2)
			m["visual.proj"] = f32Entry(24, 48)
		}, wantErr: []string{"3 problem(s)", `"visual.ln_post.bias": missing`, `"extra.weight": unexpected`, `"visual.proj": shape [24 48], want [48 24]`}},
		{name: "float64 weights", tensors: func(m map[string]stEntry) { recast(m, "F64") }},
		{name: "bfloat16 weights", tensors: func(m map[string]stEntry) { recast(m, "BF16") }},
		{name: "integer where a float is needed", tensors: func(m map[string]stEntry) { m["ln_final.bias"] = stEntry{"I32", []int{32}, make([]byte, 128)} },
			wantErr: []string{`"ln_final.bias": dtype I32 is not a float type`}},
		{name: "torchscript scalar disagrees", tensors: func(m map[string]stEntry) { m["vocab_size"] = i64Entry(999) },
			wantErr: []string{`tensor "vocab_size": 999, but the weights imply 754`}},
		{name: "no logit scale", tensors: func(m map[string]stEntry) { delete(m, "logit_scale") },
			wantErr: []string{`tensor "logit_scale": missing`}},
		{name: "resnet", tensors: func(m map[string]stEntry) { m["visual.layer1.0.conv1.weight"] = f32Entry(1) },
			wantErr: []string{"ResNet image towers are not supported"}},
		{name: "non-square positions", tensors: func(m map[string]stEntry) { m["visual.positional_embedding"] = f32Entry(16, 48) },
			wantErr: []string{`"visual.positional_embedding": 16 positions is not a square grid`}},
		{name: "heads not inferable", opts: func(o *Options) { o.VisionHeads = 0 },
			wantErr: []string{"cannot infer the vision tower's heads: width 48", "--vision-heads"}},
		{name: "heads do not divide", opts: func(o *Options) { o.TextHeads = 5 },
			wantErr: []string{"text heads 5 do not divide width 32"}},
		{name: "no bpe", opts: func(o *Options) { o.BPE = "" }, wantErr: []string{"needs CLIP's BPE merges file (--bpe)"}},
		{name: "tokenizer too small", files: func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "bpe.txt"))
			lines := strings.Split(string(data), "\n")
			os.WriteFile(filepath.Join(dir, "bpe.txt"), []byte(strings.Join(lines[:101], "\n")), 0o644)
		}, wantErr: []string{"tokenizer has 614 tokens but the model's vocab_size is 754"}},
		{name: "activation override", opts: func(o *Options) { o.Activation = arch.GELU },
			check: func(t *testing.T, c arch.Config) {
				if c.Activation != arch.GELU {
					t.Errorf("activation %q, want gelu", c.Activation)
				}
			}},
		{name: "not safetensors", files: func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("PK\x03\x04 a zip archive, not safetensors"), 0o644)
		}, wantErr: []string{"model.safetensors: header length"}},
		{name: "unknown layout", opts: func(o *Options) { o.From = "caffe" },
			wantErr: []string{`unknown layout "caffe" (known: hf, openai, openclip)`}},
		{name: "int8 output", opts: func(o *Options) { o.DType = runtime.I8 }, wantErr: []string{"output dtype I8 not supported"}},
	})
}

func TestConvertHF(t *testing.T) {
	runCases(t, "hf", "model.safetensors", []convertCase{
		{name: "position_ids absent", tensors: func(m map[string]stEntry) {
			delete(m, "text_model.embeddings.position_ids")
			delete(m, "vision_model.embeddings.position_ids")
		}},
		{name: "missing k_proj", tensors: func(m map[string]stEntry) { delete(m, "text_model.encoder.layers.1.self_attn.k_proj.weight") },
			wantErr: []string{`tensor "text_model.encoder.layers.1.self_attn.k_proj.weight": missing`}},
		{name: "unexpected tensor", tensors: func(m map[string]stEntry) { m["vision_model.head.weight"] = f32Entry(3) },
			wantErr: []string{`tensor "vision_model.head.weight": unexpected`}},
		{name: "config disagrees with weights", files: func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["projection_dim"] = 16 })
		}, wantErr: []string{`"visual_projection.weight": shape [32 32], want [16 32]`, `"text_projection.weight": shape [32 32], want [16 32]`}},
		{name: "unsupported activation", files: func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) {
				m["text_config"].(map[string]any)["hidden_act"] = "gelu_new"
				m["vision_config"].(map[string]any)["hidden_act"] = "gelu_new"
			})
		}, wantErr: []string{`hidden_act: "gelu_new" not supported`}},
		{name: "activations differ", files: func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["text_config"].(map[string]any)["hidden_act"] = "quick_gelu" })
		}, wantErr: []string{`text "quick_gelu" and vision "gelu" differ`}},
		{name: "defaults for absent keys", files: func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { delete(m["vision_config"].(map[string]any), "image_size") })
		}, wantErr: []string{`"vision_model.embeddings.position_embedding.weight": shape [10 32], want [197 32]`}},
		{name: "no preprocessor config", files: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "preprocessor_config.json")) },
			check: func(t *testing.T, c arch.Config) {
				if c.Mean != arch.OpenAIMean || c.Std != arch.OpenAIStd {
					t.Errorf("mean %v std %v, want OpenAI's", c.Mean, c.Std)
				}
			}},
		{name: "pickle only", files: func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "pytorch_model.bin"))
		}, wantErr: []string{"found pytorch_model.bin", "tools/pt2safetensors.py"}},
		{name: "no vocab", files: func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "vocab.json")) },
			wantErr: []string{"vocab.json"}},
	})
}

func TestConvertOpenCLIP(t *testing.T) {
	noConfig := func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "open_clip_config.json")) }
	cfgEdit := func(edit func(mc map[string]any)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "open_clip_config.json"), func(m map[string]any) { edit(m["model_cfg"].(map[string]any)) })
		}
	}
	vision := func(mc map[string]any) map[string]any { return mc["vision_cfg"].(map[string]any) }
	runCases(t, "openclip", "open_clip_model.safetensors", []convertCase{
		{name: "config gives heads and quick_gelu", check: func(t *testing.T, c arch.Config) {
			if c.Activation != arch.QuickGELU || c.Vision.Heads != 2 || c.Text.Heads != 4 {
				t.Errorf("activation %s, heads %d/%d; want quick_gelu, 2/4", c.Activation, c.Vision.Heads, c.Text.Heads)
			}
		}},
		{name: "no config: GELU", files: noConfig, opts: func(o *Options) { o.VisionHeads, o.TextHeads = 2, 4 },
			check: func(t *testing.T, c arch.Config) {
				if c.Activation != arch.GELU {
					t.Errorf("activation %s, want gelu (OpenCLIP's default)", c.Activation)
				}
			}},
		{name: "no config, no heads", files: noConfig, wantErr: []string{"cannot infer the vision tower's heads"}},
		{name: "bare model config by path", files: func(t *testing.T, dir string) {
			data, _ := os.ReadFile(filepath.Join(dir, "open_clip_config.json"))
			var hub map[string]json.RawMessage
			json.Unmarshal(data, &hub)
			os.WriteFile(filepath.Join(dir, "ViT-tiny.json"), hub["model_cfg"], 0o644)
			os.Remove(filepath.Join(dir, "open_clip_config.json"))
		}, opts: func(o *Options) { o.Config = filepath.Join(filepath.Dir(o.Src), "ViT-tiny.json") },
			check: func(t *testing.T, c arch.Config) {
				if c.Activation != arch.QuickGELU || c.Vision.Heads != 2 || c.Text.Heads != 4 {
					t.Errorf("activation %s, heads %d/%d; want quick_gelu, 2/4", c.Activation, c.Vision.Heads, c.Text.Heads)
				}
			}},
		{name: "config disagrees", files: cfgEdit(func(mc map[string]any) { vision(mc)["width"] = 64 }),
			wantErr: []string{"vision_cfg.width: 64, but the weights imply 32"}},
		{name: "timm tower", files: cfgEdit(func(mc map[string]any) { vision(mc)["timm_model_name"] = "convnext_base" }),
			wantErr: []string{"timm image towers (convnext_base) are not supported"}},
		{name: "resnet config", files: cfgEdit(func(mc map[string]any) { vision(mc)["layers"] = []int{3, 4, 6, 3} }),
			wantErr: []string{"ResNet image towers are not supported"}},
		{name: "attention mask absent", tensors: func(m map[string]stEntry) { delete(m, "attn_mask") }},
		{name: "layer scale tensors", tensors: func(m map[string]stEntry) { m["transformer.resblocks.0.ls_1.gamma"] = f32Entry(32) },
			wantErr: []string{`"transformer.resblocks.0.ls_1.gamma": unexpected`}},
	})
}

// TestFixturesDiscriminate shows the parity fixtures catch a wrong
// architecture: a wrong activation or head count moves the embeddings far
// beyond the parity tolerance.
func TestFixturesDiscriminate(t *testing.T) {
	for _, tc := range []struct {
		name, layout string
		edit         func(o *Options)
	}{
		{"activation", "openclip", func(o *Options) { o.Activation = arch.GELU }},
		{"heads", "openai", func(o *Options) { o.VisionHeads, o.TextHeads = 1, 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := loadFixture(t, tc.layout)
			good := encodeFixture(t, fx, convertFixture(t, fx, runtime.F32), runtime.FP32)
			o := fx.options()
			tc.edit(&o)
			bad := encodeFixture(t, fx, convertWith(t, fx, o), runtime.FP32)
			for what, pair := range map[string][2][][]float32{"text": {good.texts, bad.texts}, "image": {good.crops, bad.crops}} {
				if _, d := compare(flatten(pair[0]), flatten(pair[1])); d < 1e-3 {
					t.Errorf("%s embeddings moved by only %.1e with a wrong %s", what, d, tc.name)
				}
			}
		})
	}
}

func flatten(v [][]float32) []float32 {
	var out []float32
	for _, x := range v {
		out = append(out, x...)
	}
	return out
}
