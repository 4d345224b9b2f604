package kernels

import "testing"

// TestDispatchARM64 checks that the NEON kernels are on wherever the CPU
// reports Advanced SIMD, so that the tests below reach them.
func TestDispatchARM64(t *testing.T) {
	if useAsm != hasNEON {
		t.Fatalf("useAsm = %v with ASIMD %v", useAsm, hasNEON)
	}
	t.Logf("NEON %v, SDOT %v", hasNEON, hasSDOT)
}

// TestTileI8ARM64 runs both int8 micro-kernels, whichever dispatch picks,
// against tileI8Go bit for bit.
func TestTileI8ARM64(t *testing.T) {
	if !hasNEON {
		t.Skip("no Advanced SIMD")
	}
	t.Run("smlal", func(t *testing.T) {
		testTileI8(t, func(kp int, a []int16, lda int, b []int8, c []float32, ldc int, sa, sb, bias []float32, mr int) {
			igemm6x16(kp, &a[0], lda, &b[0], &c[0], ldc, &sa[0], &sb[0], &bias[0], mr)
		})
	})
	t.Run("sdot", func(t *testing.T) {
		if !hasSDOT {
			t.Skip("no DotProd")
		}
		testTileI8(t, func(kp int, a []int16, lda int, b []int8, c []float32, ldc int, sa, sb, bias []float32, mr int) {
			sdot6x16(kp, &a[0], lda, &b[0], &c[0], ldc, &sa[0], &sb[0], &bias[0], mr)
		})
	})
}
