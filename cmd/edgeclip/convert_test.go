package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/runtime"
)

const parity = "../../models/testdata/parity"

func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring
		stderr   string // substring
		outDType runtime.DType
	}{
		{name: "openai f16", code: 0, args: []string{"--from", "openai", parity + "/openai/model.safetensors", "--out", dir + "/openai.safetensors",
			"--bpe", parity + "/openai/bpe.txt", "--vision-heads", "3", "--text-heads", "2", "--dtype", "f16", "--name", "tiny-openai"},
			stdout: "wrote " + dir + "/openai.safetensors", stderr: "encoded 61/61 tensors", outDType: runtime.F16},
		{name: "hf directory", code: 0, args: []string{"convert", "--from=hf", "--out", dir + "/hf.safetensors", parity + "/hf/model"},
			stdout: "sha256:", stderr: "ViT 48 px / 16, vision 2x32 (4 heads)", outDType: runtime.F32},
		{name: "openclip", code: 0, args: []string{"--from", "openclip", "--bpe", parity + "/openclip/bpe_simple_vocab.txt.gz",
			parity + "/openclip/open_clip_model.safetensors", "--out", dir + "/openclip.safetensors"}, stderr: "quick_gelu", outDType: runtime.F32},
		{name: "help", code: 0, args: []string{"--help"}, stderr: "--vision-heads"},
		{name: "no out", code: 2, args: []string{"--from", "hf", parity + "/hf/model"}, stderr: "usage: edgeclip convert --from"},
		{name: "unknown layout", code: 1, args: []string{"--from", "onnx", "x", "--out", dir + "/x"}, stderr: "known: hf, openai, openclip"},
		{name: "bad dtype", code: 1, args: []string{"--from", "hf", parity + "/hf/model", "--out", dir + "/x", "--dtype", "i8"}, stderr: `--dtype "i8"`},
		{name: "bad activation", code: 1, args: []string{"--from", "hf", parity + "/hf/model", "--out", dir + "/x", "--act", "relu"}, stderr: `--act "relu"`},
		{name: "conversion error", code: 1, args: []string{"--from", "openai", parity + "/openai/model.safetensors", "--out", dir + "/x",
			"--bpe", parity + "/openai/bpe.txt"}, stderr: "--vision-heads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args[0] != "convert" {
				args = append([]string{"convert"}, args...)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q does not contain %q", &stdout, tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", &stderr, tc.stderr)
			}
			if tc.outDType == 0 {
				return
			}
			out := args[indexOf(args, "--out")+1]
			f, err := models.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if w, ok := f.Tensor("text.ln_final.weight"); !ok || w.DType != tc.outDType {
				t.Errorf("%s: text.ln_final.weight %v (present %v), want dtype %s", filepath.Base(out), w.DType, ok, tc.outDType)
			}
		})
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
