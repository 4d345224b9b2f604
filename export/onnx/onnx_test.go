package onnx_test

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/export/exporttest"
	"github.com/edgeclip/edgeclip/export/onnx"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var precisions = []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8}

func tinyWeights() runtime.Weights { return exporttest.Random(exporttest.Tiny(arch.GELU), 11, 0.2) }

// TestGolden pins the exported bytes: a hash per tower and precision of
// the tiny model. Regenerate with go test ./export/onnx -update.
func TestGolden(t *testing.T) {
	var lines []string
	for _, prec := range precisions {
		for _, tower := range []string{"image", "text"} {
			b := encode(t, tinyWeights(), tower, prec)
			lines = append(lines, fmt.Sprintf("%s %s %d %x", tower, prec, len(b), sha256.Sum256(b)))
		}
	}
	got := strings.Join(lines, "\n") + "\n"
	exporttest.Golden(t, filepath.Join("testdata", "tiny.golden"), got, *update)
}

func encode(t *testing.T, w runtime.Weights, tower string, prec runtime.Precision) []byte {
	t.Helper()
	build := export.Image
	if tower == "text" {
		build = export.Text
	}
	g, err := build(w, prec)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var last, total int64
	opts := &onnx.Options{Metadata: export.Metadata(w, g), Progress: func(d, tot int64) { last, total = d, tot }}
	if err := onnx.Write(&buf, g, opts); err != nil {
		t.Fatal(err)
	}
	size, err := onnx.Size(g, opts)
	if err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != size || last != size || total != size {
		t.Errorf("%s %s: wrote %d bytes, Size says %d, progress ended at %d of %d", tower, prec, buf.Len(), size, last, total)
	}
	return buf.Bytes()
}

// TestChecker runs the ONNX reference checker with full shape inference
// over every export (needs Debian's python3-onnx).
func TestChecker(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import onnx").Run(); err != nil {
		t.Skipf("python3-onnx not available: %v", err)
	}
	dir := t.TempDir()
	for _, prec := range precisions {
		sub := filepath.Join(dir, string(prec))
		if err := onnx.Format.WriteDir(sub, tinyWeights(), prec, nil); err != nil {
			t.Fatal(err)
		}
	}
	script := `
import sys, onnx
for p in sys.argv[1:]:
    m = onnx.load(p)
    onnx.checker.check_model(m, full_check=True)
    g = m.graph
    print(p, m.opset_import[0].version, [i.name for i in g.input], [o.name for o in g.output],
          [d.dim_param or d.dim_value for d in g.output[0].type.tensor_type.shape.dim], len(g.node))
`
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.onnx"))
	if len(files) != 6 {
		t.Fatalf("exported %d files, want 6", len(files))
	}
	out, err := exec.Command(py, append([]string{"-c", script}, files...)...).CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("onnx.checker: %v", err)
	}
	for _, want := range []string{"['pixel_values'] ['image_embeds'] ['batch', 12]", "['input_ids', 'attention_mask'] ['text_embeds'] ['batch', 12]"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("checker output lacks %q", want)
		}
	}
}
