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
