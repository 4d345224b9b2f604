package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/bench"
)

func TestBenchTinyJSON(t *testing.T) {
	dir := t.TempDir()
	jsonPath, bsPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.txt")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"bench", "--arch", "tiny", "--iters", "3", "--precision", "f32,w8a8",
		"--batch", "1,2", "--history-frames", "100", "--tmp", dir, "--json", jsonPath, "--benchstat", bsPath}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if rep.Schema != "edgeclip.bench/v1" || len(rep.Models) != 1 {
		t.Fatalf("schema %q with %d models", rep.Schema, len(rep.Models))
	}
	m := rep.Models[0]
	var native []bench.RunReport
	for _, r := range m.Runs {
		if r.Backend == "native" {
			native = append(native, r)
		}
	}
	if len(native) != 2 || native[0].Precision != "f32" || native[1].Precision != "w8a8" {
		t.Fatalf("native runs %+v, want f32 and w8a8", native)
	}
	for _, r := range native {
		if len(r.Image) != 2 || len(r.Text) != 3 || r.Accuracy == nil || r.Image[0].Iters != 3 {
			t.Errorf("%s: %d image and %d text timings, accuracy %v", r.Precision, len(r.Image), len(r.Text), r.Accuracy)
		}
	}
	if m.History == nil || m.History.Frames != 100 {
		t.Errorf("history %+v, want 100 frames", m.History)
	}
	for _, want := range []string{"model tiny (arch:tiny)", "native   w8a8", "pipeline: not measured (no --source)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errb.String(), "100% ") {
		t.Errorf("no finished progress bar on stderr: %q", errb.String())
	}
	bs, err := os.ReadFile(bsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bs), "BenchmarkImage/model=tiny/backend=native/prec=f32/batch=2-") {
		t.Errorf("benchstat file lacks the f32 batch 2 line:\n%s", bs)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "edgeclip-bench-*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestBenchErrors(t *testing.T) {
	t.Setenv("EDGECLIP_MODEL", "")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"duration and iters", []string{"--arch", "tiny", "--duration", "1s", "--iters", "2"}, 2, "not both"},
		{"bad precision", []string{"--arch", "tiny", "--precision", "f64"}, 1, `unknown precision "f64"`},
		{"unknown arch", []string{"--arch", "vit-h-14"}, 1, `unknown arch "vit-h-14"`},
		{"unknown backend", []string{"--arch", "tiny", "--backend", "tpu"}, 1, `unknown backend "tpu"`},
		{"source without pipeline", []string{"--arch", "tiny", "--source", "synth://"}, 1, "no pipeline measurement"},
		{"missing model file", []string{"--model", "/nonexistent.safetensors", "--quiet"}, 1, "/nonexistent.safetensors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "source without pipeline" && benchPipeline != nil {
				t.Skip("this build links a pipeline measurement")
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"bench", "--tmp", t.TempDir()}, tc.args...), &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errb.String(), tc.code, tc.want)
			}
		})
	}
}
