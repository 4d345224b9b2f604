package world

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json")

func mustNew(t testing.TB, o Options) *Generator {
	t.Helper()
	g, err := New(&o)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// sampleHash covers pixels, labels and captions of one sample.
func sampleHash(s Sample) string {
	h := sha256.New()
	h.Write(s.Pixels)
	j, _ := json.Marshal(s.Labels)
	h.Write(j)
	h.Write([]byte(strings.Join(s.Captions, "\n")))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func TestGolden(t *testing.T) {
	got := map[string][]string{}
	for _, sp := range []Split{Train, EvalSeen, EvalHeldOut} {
		g := mustNew(t, Options{Seed: 7, Split: sp})
		for range 8 {
			got[sp.String()] = append(got[sp.String()], sampleHash(g.Next()))
		}
	}
	path := filepath.Join("testdata", "golden.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	var want map[string][]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("samples changed (-golden +got); if intended, rerun with -update:\n%s", d)
	}
}

func TestSampleIsPureFunctionOfIndex(t *testing.T) {
	g := mustNew(t, Options{Seed: 3})
	var seq []string
	for range 5 {
		seq = append(seq, sampleHash(g.Next()))
	}
	g2 := mustNew(t, Options{Seed: 3})
	for i := 4; i >= 0; i-- {
		if h := sampleHash(g2.Sample(uint64(i))); h != seq[i] {
			t.Errorf("Sample(%d) = %s, Next sequence gave %s", i, h, seq[i])
		}
	}
	if sampleHash(mustNew(t, Options{Seed: 4}).Sample(0)) == seq[0] {
		t.Error("seeds 3 and 4 produced the same first sample")
	}
	if sampleHash(mustNew(t, Options{Seed: 3, Split: EvalSeen}).Sample(0)) == seq[0] {
		t.Error("train and seen splits produced the same first sample")
	}
}

func TestSplitsAndHeldOut(t *testing.T) {
	if n := len(HeldOut); n*10 < len(Shapes)*len(Colors) {
		t.Fatalf("%d held-out pairs are under 10%% of %d", n, len(Shapes)*len(Colors))
	}
	tests := []struct {
		name  string
		split Split
		// wantHeld: every image has a held-out object (true) or none has (false).
		wantHeld bool
	}{
		{"train", Train, false},
		{"seen", EvalSeen, false},
		{"heldout", EvalHeldOut, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := mustNew(t, Options{Seed: 11, Split: tc.split, Size: 16})
			for i := range uint64(3000) {
				s := g.Sample(i)
				held := false
				for _, o := range s.Scene.Objects {
					held = held || IsHeldOut(o.Shape, o.Color)
				}
				if held != tc.wantHeld {
					t.Fatalf("sample %d: held-out object present = %v, want %v (%+v)", i, held, tc.wantHeld, s.Labels)
				}
			}
		})
	}
}

var (
	shapeRe = regexp.MustCompile(`\b(` + strings.Join(Shapes, "|") + `)(s|es)?\b`)
	colorRe = regexp.MustCompile(`\b(` + strings.Join(Colors, "|") + `)\b`)
	asciiRe = regexp.MustCompile(`^[a-z ]+$`)
)

// TestCaptionsMatchLabels checks that every caption mentions only shapes and
// colours present in the image, that the canonical caption names every
// object, and that counts are right.
func TestCaptionsMatchLabels(t *testing.T) {
	g := mustNew(t, Options{Seed: 5, Size: 16})
	counts := map[string]int{}
	for i := range uint64(3000) {
		s := g.Sample(i)
		shapes, colors := map[string]int{}, map[string]int{}
		for _, o := range s.Labels.Objects {
			shapes[o.Shape]++
			colors[o.Color]++
		}
		for k, c := range s.Captions {
			if !asciiRe.MatchString(c) {
				t.Fatalf("sample %d caption %q is not plain lowercase ascii", i, c)
			}
			for _, m := range shapeRe.FindAllStringSubmatch(c, -1) {
				if shapes[m[1]] == 0 {
					t.Fatalf("sample %d caption %q names %s, labels %+v", i, c, m[1], s.Labels.Objects)
				}
			}
			for _, m := range colorRe.FindAllStringSubmatch(c, -1) {
				if colors[m[1]] == 0 {
					t.Fatalf("sample %d caption %q names %s, labels %+v", i, c, m[1], s.Labels.Objects)
				}
			}
			if k == 0 && strings.Count(c, " and ")+1 != len(s.Labels.Objects) {
				t.Fatalf("sample %d canonical caption %q does not name all %d objects", i, c, len(s.Labels.Objects))
			}
			for n, w := range numberWords[2:] {
				if strings.HasPrefix(c, w+" ") && strings.HasSuffix(c, "objects") && !strings.Contains(c, " and ") &&
					!colorRe.MatchString(c) && len(s.Labels.Objects) != n+2 {
					t.Fatalf("sample %d caption %q but %d objects", i, c, len(s.Labels.Objects))
				}
			}
			switch {
			case !colorRe.MatchString(c):
				counts["shape-only"]++
			case !shapeRe.MatchString(c):
				counts["colour-only"]++
			}
		}
	}
	for _, k := range []string{"shape-only", "colour-only"} {
		if counts[k] < 1500 {
			t.Errorf("%s captions: %d in 18000, want many", k, counts[k])
		}
	}
}

// TestObjectsInsideBBox renders single objects on a flat, noise-free
// background and checks that every changed pixel lies inside the label's box.
func TestObjectsInsideBBox(t *testing.T) {
	const n = 64
	for shape := range Shapes {
		t.Run(Shapes[shape], func(t *testing.T) {
			o := Object{Shape: shape, Color: 2, Size: 1, Position: 4, X: 0.5, Y: 0.45, R: 0.22, RGB: [3]float32{0, 0, 255}}
			sc := Scene{Objects: []Object{o}, BgRGB: [3]float32{128, 128, 128}, Gain: 1}
			px := make([]byte, n*n*3)
			Render(&sc, n, n, px)
			x0, y0, x1, y1 := bbox(o, n)
			changed := 0
			for y := range n {
				for x := range n {
					if px[(y*n+x)*3+2] == 128 {
						continue
					}
					changed++
					if x < x0 || x >= x1 || y < y0 || y >= y1 {
						t.Fatalf("pixel (%d,%d) changed outside bbox [%d %d %d %d]", x, y, x0, y0, x1, y1)
					}
				}
			}
			// Shapes are area-balanced: each covers 25–80 % of its box.
			area := (x1 - x0) * (y1 - y0)
			if changed*4 < area || changed*5 > area*4 {
				t.Errorf("%d of %d box pixels covered", changed, area)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  Options
	}{
		{"size too small", Options{Size: 4}},
		{"size too large", Options{Size: MaxSize + 1}},
		{"too many objects", Options{MaxObjects: 4}},
		{"negative objects", Options{MaxObjects: -1}},
		{"bad split", Options{Split: 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(&tc.opt); err == nil {
				t.Errorf("New(%+v) succeeded", tc.opt)
			}
		})
	}
	if _, err := ParseSplit("test"); err == nil {
		t.Error(`ParseSplit("test") succeeded`)
	}
}

func TestStreamRoundTrip(t *testing.T) {
	g := mustNew(t, Options{Seed: 2, Size: 32})
	var buf bytes.Buffer
	var want []Sample
	for range 3 {
		s := g.Next()
		want = append(want, s)
		if err := WriteRecord(&buf, &s); err != nil {
			t.Fatal(err)
		}
	}
	full := buf.Bytes()
	r := bytes.NewReader(full)
	for i, w := range want {
		h, px, err := ReadRecord(r)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if d := cmp.Diff(w.Captions, h.Captions); d != "" {
			t.Errorf("record %d captions: %s", i, d)
		}
		if !bytes.Equal(px, w.Pixels) || h.Labels.Index != w.Labels.Index {
			t.Errorf("record %d pixels or labels differ", i)
		}
	}
	if _, _, err := ReadRecord(r); err != io.EOF {
		t.Errorf("after last record: %v, want io.EOF", err)
	}
	if _, _, err := ReadRecord(bytes.NewReader(full[:len(full)-1])); err == nil {
		// The first record is complete; read all three.
		r := bytes.NewReader(full[:len(full)-1])
		var last error
		for last == nil {
			_, _, last = ReadRecord(r)
		}
		if errors.Is(last, io.EOF) && !errors.Is(last, io.ErrUnexpectedEOF) {
			t.Errorf("truncated stream ended cleanly: %v", last)
		}
	}
}

func FuzzReadRecord(f *testing.F) {
	g, _ := New(&Options{Size: 8})
	s := g.Next()
	var buf bytes.Buffer
	_ = WriteRecord(&buf, &s)
	f.Add(buf.Bytes())
	f.Add([]byte{255, 255, 255, 255})
	f.Add([]byte(`{"width":1000,"height":1000}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = ReadRecord(bytes.NewReader(b))
	})
}

func BenchmarkSample64(b *testing.B) {
	g := mustNew(b, Options{Seed: 1})
	for i := 0; b.Loop(); i++ {
		g.Sample(uint64(i))
	}
}

func ExampleGenerator() {
	g, _ := New(&Options{Seed: 1, Split: EvalHeldOut, MaxObjects: 1})
	s := g.Next()
	fmt.Println(s.Width, s.Height, len(s.Pixels), s.Labels.Objects[0].HeldOut)
	// Output: 64 64 12288 true
}
