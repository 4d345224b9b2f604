package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestQuantizeRowsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows, cols := 7, 33
	w := make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for i := range cols { // an all-zero row
		w[3*cols+i] = 0
	}
	q := make([]int8, len(w))
	s := make([]float32, rows)
	if err := QuantizeRows(w, rows, cols, q, s); err != nil {
		t.Fatal(err)
	}
	back := make([]float32, len(w))
	Dequantize(q, s, rows, cols, back)
	for r := range rows {
		if r == 3 {
			if s[r] != 0 {
				t.Errorf("zero row scale = %v, want 0", s[r])
			}
			continue
		}
		for c := range cols {
			i := r*cols + c
			if d := math.Abs(float64(back[i] - w[i])); d > float64(s[r])/2+1e-6 {
				t.Fatalf("row %d col %d: |%v - %v| = %v > scale/2 = %v", r, c, back[i], w[i], d, s[r]/2)
			}
		}
	}
	if err := QuantizeRows(w, rows, cols+1, q, s); err == nil {
		t.Error("mismatched shape: want error")
	}
}

func TestF16(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {1e6, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00}, {5.960464477539063e-08, 0x0001}, {6.103515625e-05, 0x0400},
		{0.333251953125, 0x3555},
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	// Every finite half survives a round trip through float32.
	for h := range 1 << 16 {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		if got := F32ToF16(F16ToF32(uint16(h))); got != uint16(h) && !(h == 0x8000 && got == 0x8000) {
			t.Fatalf("round trip %#04x -> %v -> %#04x", h, F16ToF32(uint16(h)), got)
		}
	}
}
