package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/quantize"
	"github.com/edgeclip/edgeclip/runtime"
)

// writeTiny writes a random TinyConfig model named tiny-f32.
func writeTiny(t *testing.T, dir string) string {
	t.Helper()
	c := models.RandomContents(models.TinyConfig(), 5)
	c.Name = "tiny-f32"
	path := filepath.Join(dir, "tiny-f32.safetensors")
	if err := models.Write(path, c); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestQuantizeCommand(t *testing.T) {
	dir := t.TempDir()
	in := writeTiny(t, dir)
	// A random model's metrics move a lot with any weight change, and 20
	// images are 5 points each: only the tests of the metric gate keep the
	// default budget.
	small := []string{"--calib", "world:seed=9,n=16", "--eval-n", "20", "--max-drop", "1"}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
		out    string // written file, "" when none
		forced bool
	}{
		{name: "w8a8", args: []string{"--mode", "w8a8", "--out", dir + "/a.safetensors"}, code: 0,
			stdout: "PASS", stderr: "ETA", out: dir + "/a.safetensors"},
		{name: "impossible budget", args: []string{"--mode", "w8", "--out", dir + "/b.safetensors", "--min-cos-image", "1"}, code: 1,
			stdout: "FAIL: image embedding cosine", stderr: "exceeds its accuracy budget: image embedding cosine"},
		{name: "forced", args: []string{"--mode", "w8", "--out", dir + "/c.safetensors", "--min-cos-image", "1", "--force"}, code: 0,
			stdout: "despite exceeding the budget", out: dir + "/c.safetensors", forced: true},
		{name: "metric budget", args: []string{"--mode", "w8", "--out", dir + "/d.safetensors", "--max-drop", "-0.5"}, code: 1,
			stderr: "dropped"},
		{name: "bad mode", args: []string{"--mode", "int4", "--out", dir + "/e.safetensors"}, code: 1, stderr: `unknown mode "int4"`},
		{name: "bad calib", args: []string{"--out", dir + "/e.safetensors", "--calib", "camera:0"}, code: 1, stderr: "world:seed=S"},
		{name: "overwrite input", args: []string{"--out", in}, code: 1, stderr: "is the input model"},
		{name: "no out", args: []string{}, code: 2, stderr: "usage: edgeclip quantize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"quantize", "--model", in}
			if tc.code != 2 {
				args = append(args, small...)
			}
			args = append(args, tc.args...)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, &stdout, &stderr)
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, &stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, &stderr)
			}
			for _, a := range tc.args {
				if strings.HasSuffix(a, ".safetensors") && a != tc.out && a != in {
					if _, err := os.Stat(a); err == nil {
						t.Errorf("%s was written", a)
					}
				}
			}
			if tc.out == "" {
				return
			}
			f, err := models.Open(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, ok, err := quantize.ReadReport(f.Metadata())
			if !ok || err != nil {
				t.Fatalf("report: ok %v err %v", ok, err)
			}
			if r.Forced != tc.forced || r.Pass == tc.forced {
				t.Errorf("report pass %v forced %v, want forced %v", r.Pass, r.Forced, tc.forced)
			}
			if len(r.Metrics) == 0 {
				t.Error("report has no eval metrics")
			}
			if tn, _ := f.Tensor("visual.blocks.0.mlp.fc1.weight"); tn.DType != runtime.I8 {
				t.Errorf("fc1 stored as %s, want I8", tn.DType)
			}
		})
	}
}
