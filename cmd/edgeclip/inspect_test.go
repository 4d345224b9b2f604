package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/models"
)

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tiny.safetensors")
	c := models.RandomContents(models.TinyConfig(), 1)
	c.Name, c.Version = "tiny", "0.3"
	c.Extra = map[string]string{models.KeyCard: "a test card"}
	if err := models.Write(good, c); err != nil {
		t.Fatal(err)
	}
	cfg := c.Config
	var params int64
	for _, s := range cfg.Shapes() {
		n := int64(1)
		for _, d := range s {
			n *= int64(d)
		}
		params += n
	}
	raw, _ := os.ReadFile(good)
	raw[len(raw)-1] ^= 1
	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err []string // substrings expected in stdout / stderr
	}{
		{"text", []string{"--model", good}, 0, []string{
			"model tiny 0.3", "hash " + models.HashContents(c) + " (verified)",
			"tokenizer clip-bpe, 300 merges, 814 tokens", "visual.blocks.1.mlp.fc2.weight F32 [32 64] 8192",
			"edgeclip.card a test card", "F32 61 tensors " + itoa(4*params) + " bytes", "params " + itoa(params),
			"precision f32 (auto: the file records none)",
		}, nil},
		{"hash mismatch", []string{"--model", bad}, 1, []string{"(MISMATCH)"}, []string{"content hashes to"}},
		{"shipped default", nil, 0, []string{"model world-student-int8", "(verified)",
			"precision w8 (auto: recorded in the file by edgeclip quantize)"}, nil},
		{"missing file", []string{"--model", filepath.Join(dir, "nope")}, 1, nil, []string{"no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("EDGECLIP_MODEL", "")
			var out, errb bytes.Buffer
			if code := run(context.Background(), append([]string{"inspect"}, tc.args...), &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, &out, &errb)
			}
			// Compare with runs of spaces collapsed, so column widths don't matter.
			var lines []string
			for _, l := range strings.Split(out.String(), "\n") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			flat := strings.Join(lines, "\n")
			for _, w := range tc.out {
				if !strings.Contains(flat, w) {
					t.Errorf("stdout lacks %q:\n%s", w, &out)
				}
			}
			for _, w := range tc.err {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, &errb)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"inspect", "--model", good, "--json"}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, &errb)
		}
		var r inspectReport
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if !r.HashVerified || r.Hash != models.HashContents(c) || r.Name != "tiny" {
			t.Errorf("hash %s verified %v name %q", r.Hash, r.HashVerified, r.Name)
		}
		if r.Parameters != params || len(r.Tensors) != len(cfg.Shapes()) {
			t.Errorf("parameters %d, tensors %d; want %d, %d", r.Parameters, len(r.Tensors), params, len(cfg.Shapes()))
		}
		if r.DTypes["F32"].Bytes != 4*params || r.Size <= 4*params {
			t.Errorf("F32 bytes %d, file %d, want %d and more", r.DTypes["F32"].Bytes, r.Size, 4*params)
		}
		if r.ImageFLOPs != cfg.ImageFLOPs() || r.TextFLOPs != cfg.TextFLOPs(cfg.ContextLen) || r.ImageFLOPs == 0 {
			t.Errorf("flops %d %d", r.ImageFLOPs, r.TextFLOPs)
		}
		if r.Precision != "f32" || r.PrecisionFrom != "default" {
			t.Errorf("precision %q from %q, want f32 from default", r.Precision, r.PrecisionFrom)
		}
		if r.Tokenizer.VocabSize != cfg.VocabSize || r.Config != cfg {
			t.Errorf("tokenizer %+v, config %+v", r.Tokenizer, r.Config)
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
