package native

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// mapWeights is a minimal runtime.Weights for engine tests.
type mapWeights struct {
	cfg arch.Config
	f   map[string][]float32
}

func (m *mapWeights) Config() arch.Config { return m.cfg }
func (m *mapWeights) Hash() string        { return "test" }
func (m *mapWeights) Tensor(name string) (runtime.Tensor, bool) {
	v, ok := m.f[name]
	if !ok {
		return runtime.Tensor{}, false
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return runtime.Tensor{Name: name, DType: runtime.F32, Shape: m.cfg.Shapes()[name], Data: b}, true
}

func tinyConfig(act arch.Activation) arch.Config {
	return arch.Config{
		ImageSize: 16, PatchSize: 4,
		Vision:     arch.Tower{Width: 24, Layers: 2, Heads: 3, MLPWidth: 48},
		Text:       arch.Tower{Width: 16, Layers: 2, Heads: 2, MLPWidth: 40},
		ContextLen: 10, VocabSize: 50, EmbedDim: 12, Activation: act, LNEps: 1e-5,
		Mean: arch.OpenAIMean, Std: arch.OpenAIStd, LogitScale: 100,
	}
}

func randomWeights(cfg arch.Config, seed uint64) *mapWeights {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	m := &mapWeights{cfg: cfg, f: map[string][]float32{}}
	for name, shape := range cfg.Shapes() {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.2)
			if len(shape) == 1 && (name[len(name)-6:] == "weight") {
				v[i] = 1 + float32(rng.NormFloat64()*0.1) // LayerNorm gains near 1
			}
		}
		m.f[name] = v
	}
	return m
}

// Reference forward pass in float64, written for clarity, not speed.
type ref struct {
	w   *mapWeights
	cfg arch.Config
}

func (r ref) lin(name string, x [][]float64, bias string) [][]float64 {
	W, sh := r.w.f[name], r.cfg.Shapes()[name]
	out := make([][]float64, len(x))
	for i, row := range x {
		out[i] = make([]float64, sh[0])
		for o := range sh[0] {
			var s float64
			for k := range sh[1] {
				s += row[k] * float64(W[o*sh[1]+k])
			}
			if bias != "" {
				s += float64(r.w.f[bias][o])
			}
			out[i][o] = s
		}
	}
	return out
}

func (r ref) ln(x [][]float64, g, b string) [][]float64 {
	out := make([][]float64, len(x))
	for i, row := range x {
		var mean, vs float64
		for _, v := range row {
			mean += v
		}
		mean /= float64(len(row))
		for _, v := range row {
			vs += (v - mean) * (v - mean)
		}
		inv := 1 / math.Sqrt(vs/float64(len(row))+1e-5)
		out[i] = make([]float64, len(row))
		for j, v := range row {
			out[i][j] = (v-mean)*inv*float64(r.w.f[g][j]) + float64(r.w.f[b][j])
		}
	}
	return out
}

func (r ref) tower(prefix string, t arch.Tower, x [][]float64, causal bool) [][]float64 {
	L, w, d := len(x), t.Width, t.Width/t.Heads
	for i := range t.Layers {
		n := arch.BlockNames(prefix, i)
		qkv := r.lin(n.QKVW, r.ln(x, n.Ln1W, n.Ln1B), n.QKVB)
		att := make([][]float64, L)
		for q := range L {
			att[q] = make([]float64, w)
			for h := range t.Heads {
				sc := make([]float64, L)
				mx := math.Inf(-1)
				for k := range L {
					if causal && k > q {
						sc[k] = math.Inf(-1)
						continue
					}
					for j := range d {
						sc[k] += qkv[q][h*d+j] * qkv[k][w+h*d+j]
					}
					sc[k] /= math.Sqrt(float64(d))
					mx = math.Max(mx, sc[k])
				}
				var sum float64
				for k := range L {
					sc[k] = math.Exp(sc[k] - mx)
					sum += sc[k]
				}
				for k := range L {
					for j := range d {
						att[q][h*d+j] += sc[k] / sum * qkv[k][2*w+h*d+j]
					}
				}
			}
		}
		o := r.lin(n.OutW, att, n.OutB)
		for q := range L {
			for j := range w {
				x[q][j] += o[q][j]
			}
		}
		hdn := r.lin(n.FC1W, r.ln(x, n.Ln2W, n.Ln2B), n.FC1B)
		for _, row := range hdn {
			for j, v := range row {
				if r.cfg.Activation == arch.QuickGELU {
					row[j] = v / (1 + math.Exp(-1.702*v))
				} else {
					row[j] = 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
				}
			}
		}
		o = r.lin(n.FC2W, hdn, n.FC2B)
		for q := range L {
			for j := range w {
				x[q][j] += o[q][j]
			}
		}
	}
	return x
}

func norm(v []float64) []float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	out := make([]float64, len(v))
	for i := range v {
		out[i] = v[i] / math.Sqrt(s)
	}
	return out
}

func (r ref) image(px []float32) []float64 {
	c := r.cfg
	S, p, g, w := c.ImageSize, c.PatchSize, c.Grid(), c.Vision.Width
	var patches [][]float64
	for gy := range g {
		for gx := range g {
			var v []float64
			for ch := range 3 {
				for ky := range p {
					for kx := range p {
						v = append(v, float64(px[ch*S*S+(gy*p+ky)*S+gx*p+kx]))
					}
				}
			}
			patches = append(patches, v)
		}
	}
	emb := r.lin(arch.VisPatch, patches, "")
	x := [][]float64{make([]float64, w)}
	for j := range w {
		x[0][j] = float64(r.w.f[arch.VisClass][j])
	}
	x = append(x, emb...)
	for i := range x {
		for j := range w {
			x[i][j] += float64(r.w.f[arch.VisPos][i*w+j])
		}
	}
	x = r.ln(x, arch.VisLnPreW, arch.VisLnPreB)
	x = r.tower(arch.VisionPrefix, c.Vision, x, false)
	pooled := r.ln(x[:1], arch.VisLnPostW, arch.VisLnPostB)
	return norm(r.lin(arch.VisProj, pooled, "")[0])
}

func (r ref) text(ids []int32) []float64 {
	w := r.cfg.Text.Width
	x := make([][]float64, len(ids))
	for i, id := range ids {
		x[i] = make([]float64, w)
		for j := range w {
			x[i][j] = float64(r.w.f[arch.TxtToken][int(id)*w+j]) + float64(r.w.f[arch.TxtPos][i*w+j])
		}
	}
	x = r.tower(arch.TextPrefix, r.cfg.Text, x, true)
	pooled := r.ln(x[len(x)-1:], arch.TxtLnFinalW, arch.TxtLnFinalB)
	return norm(r.lin(arch.TxtProj, pooled, "")[0])
}

func cosine(a []float32, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * b[i]
		aa += float64(a[i]) * float64(a[i])
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}

func TestEngineMatchesReference(t *testing.T) {
	for _, act := range []arch.Activation{arch.QuickGELU, arch.GELU} {
		for _, prec := range []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8} {
			t.Run(string(act)+"/"+string(prec), func(t *testing.T) {
				cfg := tinyConfig(act)
				w := randomWeights(cfg, 3)
				sess, err := Backend{}.Open(context.Background(), w, runtime.Options{Precision: prec, Threads: 2})
				if err != nil {
					t.Fatal(err)
				}
				defer sess.Close()
				r := ref{w: w, cfg: cfg}
				minCos, maxDiff := 1.0, 0.0
				if prec == runtime.FP32 {
					minCos, maxDiff = 0.99999, 1e-4
				} else {
					minCos, maxDiff = 0.99, 1
				}
				rng := rand.New(rand.NewPCG(5, 6))
				const n = 3
				px := make([]float32, n*3*cfg.ImageSize*cfg.ImageSize)
				for i := range px {
					px[i] = float32(rng.NormFloat64())
				}
				out := make([]float32, n*cfg.EmbedDim)
				if err := sess.EncodeImages(context.Background(), px, n, out); err != nil {
					t.Fatal(err)
				}
				per := 3 * cfg.ImageSize * cfg.ImageSize
				for i := range n {
					want := r.image(px[i*per : (i+1)*per])
					got := out[i*cfg.EmbedDim : (i+1)*cfg.EmbedDim]
					check(t, "image", i, got, want, minCos, maxDiff)
				}
				texts := [][]int32{{48, 3, 7, 49}, {48, 49}, {48, 1, 2, 3, 4, 5, 6, 7, 8, 49}, {5}}
				tout := make([]float32, len(texts)*cfg.EmbedDim)
				if err := sess.EncodeTexts(context.Background(), texts, tout); err != nil {
					t.Fatal(err)
				}
				for i, ids := range texts {
					check(t, "text", i, tout[i*cfg.EmbedDim:(i+1)*cfg.EmbedDim], r.text(ids), minCos, maxDiff)
				}
			})
		}
	}
}

func check(t *testing.T, what string, i int, got []float32, want []float64, minCos, maxDiff float64) {
	t.Helper()
	c := cosine(got, want)
	var md float64
	for j := range got {
		md = math.Max(md, math.Abs(float64(got[j])-want[j]))
	}
	t.Logf("%s %d: cosine %.7f max abs diff %.2g", what, i, c, md)
	if c < minCos || md > maxDiff {
		t.Errorf("%s %d: cosine %.7f (want ≥ %v), max abs diff %.3g (want ≤ %v)", what, i, c, minCos, md, maxDiff)
	}
}

func TestEngineRejectsBadInput(t *testing.T) {
	cfg := tinyConfig(arch.QuickGELU)
	sess, err := Backend{}.Open(context.Background(), randomWeights(cfg, 1), runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, cfg.EmbedDim)
	for name, ids := range map[string][][]int32{
		"empty": {{}}, "too long": {make([]int32, cfg.ContextLen+1)}, "negative": {{-1}}, "past vocab": {{int32(cfg.VocabSize)}},
	} {
		if err := sess.EncodeTexts(context.Background(), ids, out); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
	if err := sess.EncodeImages(context.Background(), make([]float32, 5), 1, out); err == nil {
		t.Error("short pixels: want error")
	}
	w := randomWeights(cfg, 1)
	delete(w.f, arch.BlockNames(arch.TextPrefix, 1).FC2W)
	if _, err := (Backend{}).Open(context.Background(), w, runtime.Options{}); err == nil {
		t.Error("missing tensor: want error")
	} else {
		t.Log(err)
	}
	if _, err := (Backend{}).Open(context.Background(), w, runtime.Options{Precision: "f64"}); err == nil {
		t.Error("unknown precision: want error")
	}
}
