package tflite

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	fb "github.com/google/flatbuffers/go"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/export/exporttest"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// reader walks a TFLite flatbuffer with the schema's field ids, so that
// the writer is checked by an independent reading of the same numbers.
type reader struct{ buf []byte }

func (r reader) field(pos fb.UOffsetT, slot int) fb.UOffsetT {
	t := fb.Table{Bytes: r.buf, Pos: pos}
	return fb.UOffsetT(t.Offset(fb.VOffsetT(4 + 2*slot)))
}

func (r reader) table(pos fb.UOffsetT, slot int) (fb.UOffsetT, bool) {
	o := r.field(pos, slot)
	if o == 0 {
		return 0, false
	}
	t := fb.Table{Bytes: r.buf, Pos: pos}
	return t.Indirect(pos + o), true
}

func (r reader) vector(pos fb.UOffsetT, slot int) (start fb.UOffsetT, n int) {
	o := r.field(pos, slot)
	if o == 0 {
		return 0, 0
	}
	t := fb.Table{Bytes: r.buf, Pos: pos}
	return t.Vector(o), t.VectorLen(o)
}

func (r reader) tables(pos fb.UOffsetT, slot int) []fb.UOffsetT {
	start, n := r.vector(pos, slot)
	out := make([]fb.UOffsetT, n)
	t := fb.Table{Bytes: r.buf}
	for i := range out {
		out[i] = t.Indirect(start + fb.UOffsetT(4*i))
	}
	return out
}

func (r reader) ints(pos fb.UOffsetT, slot int) []int32 {
	start, n := r.vector(pos, slot)
	out := make([]int32, n)
	for i := range out {
		out[i] = fb.GetInt32(r.buf[start+fb.UOffsetT(4*i):])
	}
	return out
}

func (r reader) str(pos fb.UOffsetT, slot int) string {
	o := r.field(pos, slot)
	if o == 0 {
		return ""
	}
	t := fb.Table{Bytes: r.buf, Pos: pos}
	return t.String(pos + o)
}

func (r reader) u32(pos fb.UOffsetT, slot int) uint32 {
	if o := r.field(pos, slot); o != 0 {
		return fb.GetUint32(r.buf[pos+o:])
	}
	return 0
}

func (r reader) i32(pos fb.UOffsetT, slot int, def int32) int32 {
	if o := r.field(pos, slot); o != 0 {
		return fb.GetInt32(r.buf[pos+o:])
	}
	return def
}

func (r reader) i8(pos fb.UOffsetT, slot int) int8 {
	if o := r.field(pos, slot); o != 0 {
		return fb.GetInt8(r.buf[pos+o:])
	}
	return 0
}

// summary describes a model: identifier, version, inputs, outputs and the
// operator histogram, checking buffer alignment and tensor references.
func summary(t *testing.T, buf []byte) string {
	t.Helper()
	if len(buf) < 8 || string(buf[4:8]) != fileIdentifier {
		t.Fatalf("no %s file identifier", fileIdentifier)
	}
	r := reader{buf}
	root := fb.GetUOffsetT(buf)
	var sb strings.Builder
	fmt.Fprintf(&sb, "version %d\n", r.u32(root, modelVersion))
	var codes []int32
	for _, c := range r.tables(root, modelOpCodes) {
		code := r.i32(c, opcodeBuiltin, 0)
		if dep := int32(r.i8(c, opcodeDeprecated)); dep != min(code, opPlaceholderForGreater) {
			t.Errorf("%s: deprecated_builtin_code %d", OpName(code), dep)
		}
		codes = append(codes, code)
	}
	buffers := r.tables(root, modelBuffers)
	for i, b := range buffers {
		if start, n := r.vector(b, bufferData); n > 0 && start%bufferAlign != 0 {
			t.Errorf("buffer %d: data at %d, not %d-byte aligned", i, start, bufferAlign)
		}
	}
	sgs := r.tables(root, modelSubgraphs)
	if len(sgs) != 1 {
		t.Fatalf("%d subgraphs, want 1", len(sgs))
	}
	sg := sgs[0]
	tensors := r.tables(sg, sgTensors)
	describe := func(i int32) string {
		tt := tensors[i]
		return fmt.Sprintf("%s type %d %v", r.str(tt, tensorName), r.i8(tt, tensorType), r.ints(tt, tensorShape))
	}
	for _, tt := range tensors {
		if b := r.u32(tt, tensorBuffer); int(b) >= len(buffers) {
			t.Errorf("tensor %s: buffer %d of %d", r.str(tt, tensorName), b, len(buffers))
		}
	}
	for _, i := range r.ints(sg, sgInputs) {
		fmt.Fprintf(&sb, "input %s\n", describe(i))
	}
	for _, i := range r.ints(sg, sgOutputs) {
		fmt.Fprintf(&sb, "output %s\n", describe(i))
	}
	hist := map[string]int{}
	for _, op := range r.tables(sg, sgOperators) {
		hist[OpName(codes[r.u32(op, opOpcode)])]++
		for _, i := range append(r.ints(op, opInputs), r.ints(op, opOutputs)...) {
			if i < -1 || int(i) >= len(tensors) {
				t.Errorf("operator refers to tensor %d of %d", i, len(tensors))
			}
		}
	}
	names := make([]string, 0, len(hist))
	for k := range hist {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&sb, "op %s %d\n", k, hist[k])
	}
	fmt.Fprintf(&sb, "tensors %d buffers %d\n", len(tensors), len(buffers))
	for _, m := range r.tables(root, modelMetadata) {
		b := buffers[r.u32(m, metaBuffer)]
		start, n := r.vector(b, bufferData)
		fmt.Fprintf(&sb, "metadata %s=%s\n", r.str(m, metaName), buf[start:start+fb.UOffsetT(n)])
	}
	return sb.String()
}

// TestGolden pins what the exporter writes for a tiny model in every
// precision: a readable summary and the bytes' hash. Regenerate with
//
//	go test ./export/tflite/ -run Golden -update
func TestGolden(t *testing.T) {
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 11, 0.2)
	for _, prec := range []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8} {
		for _, tw := range []struct {
			name  string
			build func(runtime.Weights, runtime.Precision) (*export.Graph, error)
		}{{"image", export.Image}, {"text", export.Text}} {
			t.Run(tw.name+"/"+string(prec), func(t *testing.T) {
				g, err := tw.build(w, prec)
				if err != nil {
					t.Fatal(err)
				}
				data, err := Build(g, &Options{Metadata: export.Metadata(w, g)})
				if err != nil {
					t.Fatal(err)
				}
				again, err := Build(g, &Options{Metadata: export.Metadata(w, g)})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(data, again) {
					t.Error("two builds of the same graph differ")
				}
				got := summary(t, data) + fmt.Sprintf("sha256 %x\n", sha256.Sum256(data))
				exporttest.Golden(t, filepath.Join("testdata", tw.name+"-"+string(prec)+".golden"), got, *update)
			})
		}
	}
}

// TestWriteDir writes both files atomically and leaves no temporaries.
func TestWriteDir(t *testing.T) {
	w := exporttest.Random(exporttest.Tiny(arch.QuickGELU), 2, 0.2)
	dir := filepath.Join(t.TempDir(), "out")
	var calls int
	if err := Format.WriteDir(dir, w, runtime.W8, func(string, int64, int64) { calls++ }); err != nil {
		t.Fatal(err)
	}
	names := exporttest.DirNames(t, dir)
	if strings.Join(names, ",") != ImageFile+","+TextFile {
		t.Errorf("wrote %v, want %s and %s", names, ImageFile, TextFile)
	}
	if calls == 0 {
		t.Error("no progress callbacks")
	}
	data, err := os.ReadFile(filepath.Join(dir, TextFile))
	if err != nil {
		t.Fatal(err)
	}
	if s := summary(t, data); !strings.Contains(s, "metadata edgeclip.precision=w8") || !strings.Contains(s, "input attention_mask type 2 [1 10]") {
		t.Errorf("text.tflite summary:\n%s", s)
	}
}

// TestW8A8Ranges checks calibration: every int8 linear gets an input and
// an accumulator range, and an empty range set is an error, not a guess.
func TestW8A8Ranges(t *testing.T) {
	w := exporttest.Random(exporttest.Tiny(arch.GELU), 4, 0.2)
	g, err := export.Image(w, runtime.W8A8)
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := Calibrate(g, Samples(g, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		if n.Op != export.Linear {
			continue
		}
		for _, k := range []string{n.In[0], accName(n.Out)} {
			r, ok := ranges[k]
			if !ok || !(r.Min < r.Max) {
				t.Errorf("range %q = %+v, %v", k, r, ok)
			}
		}
	}
	if _, err := Build(g, &Options{Ranges: map[string]Range{}}); err == nil || !strings.Contains(err.Error(), "calibrated") {
		t.Errorf("Build without ranges: err = %v, want a calibration error", err)
	}
}

func TestRangeAsymmetric(t *testing.T) {
	for _, c := range []struct {
		name string
		r    Range
	}{
		{"positive", Range{0.5, 6}},
		{"negative", Range{-3, -1}},
		{"straddling", Range{-2, 5}},
		{"empty", Range{0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, zp := c.r.asymmetric()
			if !(s > 0) || zp < -128 || zp > 127 {
				t.Fatalf("scale %v zero point %d", s, zp)
			}
			lo, hi := float32(-128-zp)*s, float32(127-zp)*s
			if lo > min(c.r.Min, 0)+s/2 || hi < max(c.r.Max, 0)-s/2 {
				t.Errorf("covers [%v, %v], want %+v", lo, hi, c.r)
			}
		})
	}
}
