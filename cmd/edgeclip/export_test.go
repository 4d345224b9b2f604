package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/models"
)

func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.safetensors")
	if err := models.Write(model, models.RandomContents(models.TinyConfig(), 1)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
		files  []string
	}{
		{name: "onnx f32", args: []string{"--model", model, "--out", dir + "/f32"}, stdout: "wrote " + dir + "/f32/image.onnx",
			stderr: "text.onnx: 100%", files: []string{"f32/image.onnx", "f32/text.onnx"}},
		{name: "onnx w8a8 quiet", args: []string{"--model", model, "--format", "ONNX", "--out", dir + "/q", "--precision", "w8a8", "--quiet"},
			stdout: "text.onnx", files: []string{"q/image.onnx", "q/text.onnx"}},
		{name: "no out", code: 2, args: []string{"--model", model}, stderr: "usage: edgeclip export"},
		{name: "unknown format", code: 1, args: []string{"--model", model, "--out", dir + "/x", "--format", "pb"}, stderr: "known formats: onnx"},
		{name: "bad precision", code: 1, args: []string{"--model", model, "--out", dir + "/x", "--precision", "i4"}, stderr: `unknown precision "i4"`},
		{name: "missing model", code: 1, args: []string{"--model", dir + "/none", "--out", dir + "/x"}, stderr: "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"export"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stdout %q / stderr %q, want %q / %q", &stdout, &stderr, tc.stdout, tc.stderr)
			}
			for _, f := range tc.files {
				if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
}
