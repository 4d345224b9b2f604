package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/bench"
)

func TestBenchTinyJSON(t *testing.T) {
	dir := t.TempDir()
	jsonPath, bsPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.txt")
	rep, _, stdout, stderr := runBenchJSON(t, jsonPath, "--arch", "tiny", "--iters", "1", "--rounds", "3", "--precision", "f32,w8a8",
		"--batch", "1,2", "--history-frames", "100", "--tmp", dir, "--benchstat", bsPath)
	if rep.Schema != "edgeclip.bench/v1.3" || len(rep.Models) != 1 || rep.Settings.Rounds != 3 {
		t.Fatalf("schema %q with %d models, %d rounds", rep.Schema, len(rep.Models), rep.Settings.Rounds)
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
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "100% ") {
		t.Errorf("no finished progress bar on stderr: %q", stderr)
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
		{"eval-n without eval", []string{"--arch", "tiny", "--eval-n", "50"}, 2, "need --eval"},
		{"eval-n too small", []string{"--arch", "tiny", "--eval", "--eval-n", "3"}, 2, "--eval-n 3: want 10..100000"},
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

// TestBenchEvalShipped runs bench --eval on the shipped int8 model (really
// evaluated, at f32 and w8a8) and the tiny preset (not applicable), with
// small sets so that it stays quick.
func TestBenchEvalShipped(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "out.json")
	model := filepath.Join("..", "..", "models", "shipped", "world-student-int8.safetensors")
	rep, data, stdout, _ := runBenchJSON(t, jsonPath, "--model", model, "--arch", "tiny", "--backend", "native",
		"--precision", "f32,w8a8", "--eval", "--eval-n", "100", "--iters", "2", "--tokens", "5", "--history-frames", "0",
		"--tmp", dir, "--quiet")
	if rep.Schema != "edgeclip.bench/v1.3" || !rep.Settings.Eval || len(rep.Models) != 2 {
		t.Fatalf("schema %q, settings.eval %v, %d models", rep.Schema, rep.Settings.Eval, len(rep.Models))
	}

	// The raw JSON, as a reader without package bench sees it.
	var doc struct {
		Models []struct {
			Name     string `json:"name"`
			EvalNote string `json:"eval_note"`
			Runs     []struct {
				Precision string         `json:"precision"`
				Eval      map[string]any `json:"eval"`
			} `json:"runs"`
		} `json:"models"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	fields := []string{"zero_shot_shape", "zero_shot_color", "zero_shot_count", "t2i_r1_seen", "t2i_r1_held_out", "i2t_r1_seen", "i2t_r1_held_out"}
	student := doc.Models[0]
	if student.Name != "world-student-int8" || student.EvalNote != "" || len(student.Runs) != 2 {
		t.Fatalf("first model %q, eval note %q, %d runs", student.Name, student.EvalNote, len(student.Runs))
	}
	for _, r := range student.Runs {
		e := r.Eval
		if e == nil {
			t.Errorf("%s: no eval", r.Precision)
			continue
		}
		if e["n"] != 100.0 || e["seed"] != 1001.0 {
			t.Errorf("%s: eval n %v seed %v, want 100 and 1001", r.Precision, e["n"], e["seed"])
		}
		for _, k := range fields {
			if v, ok := e[k].(float64); !ok || v < 0 || v > 1 {
				t.Errorf("%s: eval.%s = %v, want a number in [0, 1]", r.Precision, k, e[k])
			}
		}
		// Eight shapes: chance is 1/8; the student gets above 0.9.
		if v, _ := e["zero_shot_shape"].(float64); v < 0.6 {
			t.Errorf("%s: zero-shot shape accuracy %v, want well above chance (0.125)", r.Precision, v)
		}
		d, _ := e["delta"].(map[string]any)
		if r.Precision == "f32" {
			if d != nil {
				t.Errorf("f32: delta %v against itself", d)
			}
			continue
		}
		if d == nil || d["reference"] != "native/f32" {
			t.Fatalf("%s: delta %v, want one against native/f32", r.Precision, d)
		}
		// The int8 weights are the same at both precisions; only w8a8's
		// int8 activations differ, which moves a few of 100 answers at most.
		for _, k := range fields {
			v, ok := d[k].(float64)
			base, _ := student.Runs[0].Eval[k].(float64)
			own, _ := e[k].(float64)
			if !ok || v < -0.1 || v > 0.1 || math.Abs(own-base-v) > 1e-9 {
				t.Errorf("%s: delta.%s = %v; figures %v at f32, %v here", r.Precision, k, d[k], base, own)
			}
		}
	}
	preset := doc.Models[1]
	if !strings.Contains(preset.EvalNote, "not applicable") {
		t.Errorf("preset eval note %q, want not applicable", preset.EvalNote)
	}
	for _, r := range preset.Runs {
		if r.Eval != nil {
			t.Errorf("preset %s evaluated: %v", r.Precision, r.Eval)
		}
	}
	for _, want := range []string{"eval on the world: 100 images per set, seed 1001", "native/f32", "eval: not applicable"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

// runBenchJSON runs `edgeclip bench ARGS --json jsonPath` and decodes the
// report strictly (unknown fields fail), returning it, its bytes, stdout
// and stderr.
func runBenchJSON(t *testing.T, jsonPath string, args ...string) (rep bench.Report, data []byte, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append(append([]string{"bench"}, args...), "--json", jsonPath), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return rep, data, out.String(), errb.String()
}
