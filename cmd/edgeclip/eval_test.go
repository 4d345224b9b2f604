package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestEvalCommand(t *testing.T) {
	model := writeTiny(t, t.TempDir())
	runEvalJSON := func() (string, map[string]any) {
		var stdout, stderr bytes.Buffer
		args := []string{"eval", "--model", model, "--json", "--n", "20", "--videos", "1", "--video-seconds", "15", "--precision", "w8a8"}
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("exit code %d\nstderr: %s", code, &stderr)
		}
		if !strings.Contains(stderr.String(), "ETA") {
			t.Errorf("no progress on stderr: %s", &stderr)
		}
		var doc map[string]any
		if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
			t.Fatalf("stdout is not JSON: %v\n%s", err, &stdout)
		}
		return stdout.String(), doc
	}
	first, doc := runEvalJSON()
	for _, path := range []string{"zero_shot.shape.accuracy", "zero_shot.color.accuracy", "retrieval.t2i.r1", "retrieval.i2t.r1", "video.f1"} {
		v := any(doc)
		for _, k := range strings.Split(path, ".") {
			v = v.(map[string]any)[k]
		}
		if f, ok := v.(float64); !ok || f < 0 || f > 1 {
			t.Errorf("%s = %v, want a number in [0, 1]", path, v)
		}
	}
	if p := doc["model"].(map[string]any)["precision"]; p != "w8a8" {
		t.Errorf("model.precision = %v, want w8a8", p)
	}
	if second, _ := runEvalJSON(); second != first {
		t.Error("two runs gave different JSON")
	}

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"eval", "--model", model, "--n", "10", "--quiet"}, &stdout, &stderr); code != 0 {
		t.Fatalf("text run: exit %d: %s", code, &stderr)
	}
	if !strings.Contains(stdout.String(), "precision  recall") || stderr.Len() != 0 {
		t.Errorf("text report:\n%s\nstderr: %s", &stdout, &stderr)
	}
	if code := run(context.Background(), []string{"eval", "--model", model, "--n", "3"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "n = 3") {
		t.Errorf("--n 3: exit %d, stderr %s", code, &stderr)
	}
}
