package convert

import (
	"context"
	"encoding/json"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/modelstest"
	"github.com/edgeclip/edgeclip/models/preprocess"
	"github.com/edgeclip/edgeclip/runtime"
	_ "github.com/edgeclip/edgeclip/runtime/native"
)

// The parity fixtures are written by tools/reference/make_fixtures.py
// (`make fixtures`): tiny random CLIPs in each public layout with reference
// ids and embeddings from a PyTorch re-implementation of each upstream model.
const parityDir = "../testdata/parity"

var layoutNames = []string{"openai", "hf", "openclip"}

type fixture struct {
	dir     string
	Layout  string `json:"layout"`
	Convert struct {
		From        string `json:"from"`
		Src         string `json:"src"`
		BPE         string `json:"bpe"`
		VisionHeads int    `json:"vision_heads"`
		TextHeads   int    `json:"text_heads"`
	} `json:"convert"`
	Config arch.Config `json:"config"`
	Texts  []struct {
		Text      string    `json:"text"`
		IDs       []int32   `json:"ids"`
		Embedding []float32 `json:"embedding"`
	} `json:"texts"`
	Images []struct {
		Path      string    `json:"path"`
		Crop      string    `json:"crop"`
		Embedding []float32 `json:"embedding"`
	} `json:"images"`
}

func loadFixture(t testing.TB, layout string) *fixture {
	t.Helper()
	dir := filepath.Join(parityDir, layout)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{dir: dir}
	if err := json.Unmarshal(data, fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

// options converts the fixture the way its expected.json says.
func (fx *fixture) options() Options {
	o := Options{From: fx.Convert.From, Src: filepath.Join(fx.dir, fx.Convert.Src),
		VisionHeads: fx.Convert.VisionHeads, TextHeads: fx.Convert.TextHeads}
	if fx.Convert.BPE != "" {
		o.BPE = filepath.Join(fx.dir, fx.Convert.BPE)
	}
	return o
}

// convertFixture converts, writes and reopens the fixture's model.
func convertFixture(t testing.TB, fx *fixture, dt runtime.DType) *models.File {
	t.Helper()
	o := fx.options()
	o.DType = dt
	return convertWith(t, fx, o)
}

func convertWith(t testing.TB, fx *fixture, o Options) *models.File {
	t.Helper()
	c, err := Convert(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return modelstest.WriteOpen(t, c, fx.Layout)
}

// encoded holds one session's embeddings of a fixture's inputs.
type encoded struct {
	texts, crops, images [][]float32
}

func encodeFixture(t *testing.T, fx *fixture, f *models.File, prec runtime.Precision) encoded {
	t.Helper()
	ctx := context.Background()
	cfg := f.Config()
	b, err := runtime.Get("native")
	if err != nil {
		t.Fatal(err)
	}
	s, err := b.Open(ctx, f, runtime.Options{Precision: prec})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, err := f.Tokenizer().New()
	if err != nil {
		t.Fatal(err)
	}
	var ids [][]int32
	for _, tc := range fx.Texts {
		got := tok.Encode(tc.Text, cfg.ContextLen)
		if diff := cmp.Diff(tc.IDs, got); diff != "" {
			t.Errorf("%s: ids of %q (-reference +edgeclip):\n%s", fx.Layout, tc.Text, diff)
		}
		ids = append(ids, got)
	}
	var out encoded
	e := cfg.EmbedDim
	flat := make([]float32, len(ids)*e)
	if err := s.EncodeTexts(ctx, ids, flat); err != nil {
		t.Fatal(err)
	}
	out.texts = split(flat, e)

	pp, err := preprocess.New(preprocess.Params{Size: cfg.ImageSize, Mean: cfg.Mean, Std: cfg.Std})
	if err != nil {
		t.Fatal(err)
	}
	for _, which := range []string{"crop", "path"} {
		pix := make([]float32, len(fx.Images)*pp.Len())
		for i, im := range fx.Images {
			p := im.Path
			if which == "crop" {
				p = im.Crop
			}
			if err := pp.FromImage(readImage(t, filepath.Join(fx.dir, p)), pix[i*pp.Len():(i+1)*pp.Len()]); err != nil {
				t.Fatal(err)
			}
		}
		emb := make([]float32, len(fx.Images)*e)
		if err := s.EncodeImages(ctx, pix, len(fx.Images), emb); err != nil {
			t.Fatal(err)
		}
		if which == "crop" {
			out.crops = split(emb, e)
		} else {
			out.images = split(emb, e)
		}
	}
	return out
}

func readImage(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func split(flat []float32, n int) [][]float32 {
	var out [][]float32
	for i := 0; i < len(flat); i += n {
		out = append(out, flat[i:i+n])
	}
	return out
}

// compare returns the cosine similarity and the largest absolute difference.
func compare(a, b []float32) (cos, maxAbs float64) {
	var dot, na, nb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot, na, nb = dot+x*y, na+x*x, nb+y*y
		maxAbs = math.Max(maxAbs, math.Abs(x-y))
	}
	return dot / math.Sqrt(na*nb), maxAbs
}

// worst checks every pair against the bounds and returns the worst figures.
func worst(t *testing.T, what string, names []string, got, want [][]float32, minCos, maxDiff float64) (float64, float64) {
	t.Helper()
	lo, hi := 1.0, 0.0
	for i := range want {
		cos, diff := compare(got[i], want[i])
		if cos < minCos || diff > maxDiff {
			t.Errorf("%s %q: cosine %.6f (want ≥ %g), max abs diff %.2e (want ≤ %g)", what, names[i], cos, minCos, diff, maxDiff)
		}
		lo, hi = math.Min(lo, cos), math.Max(hi, diff)
	}
	return lo, hi
}

// TestParity checks edgeclip's converted models against the PyTorch
// references: same token ids, and fp32 embeddings with cosine ≥ 0.9999 and
// max abs difference ≤ 1e-4 for texts, for images from the reference crops
// (engine only) and for images through models/preprocess (the whole path).
func TestParity(t *testing.T) {
	for _, layout := range layoutNames {
		t.Run(layout, func(t *testing.T) {
			fx := loadFixture(t, layout)
			f := convertFixture(t, fx, runtime.F32)
			// logit_scale round-trips through log and exp in float32.
			if diff := cmp.Diff(fx.Config, f.Config(), cmpopts.EquateApprox(1e-6, 0)); diff != "" {
				t.Errorf("config (-reference +converted):\n%s", diff)
			}
			got := encodeFixture(t, fx, f, runtime.FP32)
			var texts, images [][]float32
			var tn, in []string
			for _, tc := range fx.Texts {
				texts, tn = append(texts, tc.Embedding), append(tn, tc.Text)
			}
			for _, im := range fx.Images {
				images, in = append(images, im.Embedding), append(in, im.Path)
			}
			tc, td := worst(t, "text", tn, got.texts, texts, 0.9999, 1e-4)
			cc, cd := worst(t, "image crop", in, got.crops, images, 0.9999, 1e-4)
			ic, id := worst(t, "image", in, got.images, images, 0.9999, 1e-4)
			t.Logf("%s fp32: text cos ≥ %.7f maxdiff %.1e | image (ref crop) cos ≥ %.7f maxdiff %.1e | image (Go preprocess) cos ≥ %.7f maxdiff %.1e",
				layout, tc, td, cc, cd, ic, id)
		})
	}
}

// TestParityInt8 checks the int8 modes against fp32 on the same model.
func TestParityInt8(t *testing.T) {
	for _, layout := range layoutNames {
		t.Run(layout, func(t *testing.T) {
			fx := loadFixture(t, layout)
			f := convertFixture(t, fx, runtime.F32)
			ref := encodeFixture(t, fx, f, runtime.FP32)
			names := func(n int) []string { return make([]string, n) }
			for _, prec := range []runtime.Precision{runtime.W8, runtime.W8A8} {
				got := encodeFixture(t, fx, f, prec)
				tc, _ := worst(t, string(prec)+" text", names(len(ref.texts)), got.texts, ref.texts, 0.98, 2)
				ic, _ := worst(t, string(prec)+" image", names(len(ref.images)), got.images, ref.images, 0.99, 2)
				t.Logf("%s %s vs fp32: text cos ≥ %.5f, image cos ≥ %.5f", layout, prec, tc, ic)
			}
		})
	}
}

// TestParityF16 checks that an f16 conversion stays close to the reference.
func TestParityF16(t *testing.T) {
	for _, layout := range layoutNames {
		t.Run(layout, func(t *testing.T) {
			fx := loadFixture(t, layout)
			f := convertFixture(t, fx, runtime.F16)
			got := encodeFixture(t, fx, f, runtime.FP32)
			var texts, images [][]float32
			for _, tc := range fx.Texts {
				texts = append(texts, tc.Embedding)
			}
			for _, im := range fx.Images {
				images = append(images, im.Embedding)
			}
			names := func(n int) []string { return make([]string, n) }
			tc, _ := worst(t, "f16 text", names(len(texts)), got.texts, texts, 0.999, 2)
			ic, _ := worst(t, "f16 image", names(len(images)), got.crops, images, 0.999, 2)
			t.Logf("%s f16 weights: text cos ≥ %.6f, image cos ≥ %.6f", layout, tc, ic)
		})
	}
}
