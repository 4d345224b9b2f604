package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgeclip/edgeclip/quant"
)

// TestQuantizeI16 checks the activation quantizer against quant.QuantizeRow
// (the reference) bit for bit, ties and odd lengths included.
func TestQuantizeI16(t *testing.T) {
	impls(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(13, 14))
		for trial := range 300 {
			x := randF(rng, rng.IntN(90))
			switch trial % 5 {
			case 0: // halves: exact ties after scaling by 127/127
				for i := range x {
					x[i] = float32(rng.IntN(255)-127) / 2
				}
				if len(x) > 0 {
					x[0] = 127
				}
			case 1:
				clear(x)
			case 2:
				if len(x) > 0 {
					x[rng.IntN(len(x))] = float32(math.NaN())
				}
			}
			want := make([]int8, len(x))
			ws := quant.QuantizeRow(x, want)
			got := make([]int16, PairLen(len(x))+1)
			for i := range got {
				got[i] = 99
			}
			gs := QuantizeI16(x, got)
			if gs != ws && !(gs != gs && ws != ws) {
				t.Fatalf("trial %d: scale %v, want %v", trial, gs, ws)
			}
			for i, w := range want {
				if got[i] != int16(w) {
					t.Fatalf("trial %d: q[%d] = %d, want %d (x = %v)", trial, i, got[i], w, x[i])
				}
			}
			if len(x)%2 == 1 && got[len(x)] != 0 {
				t.Fatalf("trial %d: pad = %d, want 0", trial, got[len(x)])
			}
			if got[PairLen(len(x))] != 99 {
				t.Fatalf("trial %d: wrote past the padded row", trial)
			}
		}
	})
}

// TestQuantizeU8 checks the asymmetric activation quantizer: assembly and Go
// agree bit for bit, every value lands within half a step of x (or is
// clamped at the range's end), 0 is exact, and the pad is zero.
func TestQuantizeU8(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	saved := useAsm
	defer func() { useAsm = saved }()
	for trial := range 400 {
		x := randF(rng, rng.IntN(90))
		switch trial % 6 {
		case 0: // one-sided, as after GELU
			for i := range x {
				x[i] = float32(math.Abs(float64(x[i])))*3 - 0.17
			}
		case 1:
			clear(x)
		case 2:
			if len(x) > 0 {
				x[rng.IntN(len(x))] = float32(math.NaN())
			}
		case 3: // all positive: the range still includes 0
			for i := range x {
				x[i] = 1 + float32(math.Abs(float64(x[i])))
			}
		case 4: // ties after scaling: 128 steps of 1/2
			for i := range x {
				x[i] = float32(rng.IntN(129)-50) / 2
			}
			if len(x) > 1 {
				x[0], x[1] = -25, 39
			}
		}
		var got [2][]byte
		var gs [2]float32
		var gz [2]int32
		for v, asm := range []bool{false, saved} {
			useAsm = asm
			got[v] = make([]byte, QuadLen(len(x))+1)
			for i := range got[v] {
				got[v][i] = 99
			}
			gs[v], gz[v] = QuantizeU8(x, got[v])
		}
		useAsm = saved
		if gs[0] != gs[1] || gz[0] != gz[1] || string(got[0]) != string(got[1]) {
			t.Fatalf("trial %d: Go scale %v zero %d, assembly %v %d; rows equal %v", trial, gs[0], gz[0], gs[1], gz[1], string(got[0]) == string(got[1]))
		}
		q, s, z := got[0], gs[0], gz[0]
		if q[QuadLen(len(x))] != 99 {
			t.Fatalf("trial %d: wrote past the padded row", trial)
		}
		for i := len(x); i < QuadLen(len(x)); i++ {
			if q[i] != 0 {
				t.Fatalf("trial %d: pad q[%d] = %d, want 0", trial, i, q[i])
			}
		}
		lo, hi := minMaxGo(x)
		if s == 0 {
			if hi != lo {
				t.Fatalf("trial %d: scale 0 for range [%v, %v]", trial, lo, hi)
			}
			continue
		}
		if z < 0 || z > actTop || float64(s) < float64(hi-lo)/actTop*(1-1e-6) {
			t.Fatalf("trial %d: scale %v zero %d for range [%v, %v]", trial, s, z, lo, hi)
		}
		for i, v := range x {
			if q[i] > actTop {
				t.Fatalf("trial %d: q[%d] = %d > %d", trial, i, q[i], actTop)
			}
			if v != v {
				continue
			}
			d := math.Abs(float64(int32(q[i])-z)*float64(s) - float64(v))
			if d > 0.5001*float64(s)+1e-6*math.Abs(float64(v)) {
				t.Fatalf("trial %d: x[%d] = %v quantized to %d (zero %d, scale %v): off by %v", trial, i, v, q[i], z, s, d)
			}
			if v == 0 && int32(q[i]) != z {
				t.Fatalf("trial %d: x[%d] = 0 quantized to %d, zero point %d", trial, i, q[i], z)
			}
		}
	}
}
