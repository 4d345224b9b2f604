package kernels

import (
	"math/rand/v2"
	"runtime/debug"
	"syscall"
	"testing"
	"unsafe"
)

// guarded returns n elements of T that end where an inaccessible page
// begins, so that a kernel reading or writing one element too far faults.
func guarded[T int8 | int16 | float32](t *testing.T, n int) []T {
	t.Helper()
	size, page := int(unsafe.Sizeof(T(0))), syscall.Getpagesize()
	body := (n*size + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, body+page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[body:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[body-n*size])), n)
}

var guardSink float32

// faults reports whether f touched a guard page.
func faults(f func()) (fault bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			fault = true
		}
	}()
	f()
	return false
}

// TestGuardPages checks that every micro-kernel stays inside its operands
// (A's mr rows of k values, B's k rows, C's mr rows of 16, sa's mr scales)
// for each mr and for k around every unrolling.
func TestGuardPages(t *testing.T) {
	if !hasNEON {
		t.Skip("no Advanced SIMD")
	}
	if x := guarded[float32](t, 1); !faults(func() { guardSink = *(*float32)(unsafe.Add(unsafe.Pointer(&x[0]), 4)) }) {
		t.Fatal("the guard page does not fault")
	}
	rng := rand.New(rand.NewPCG(27, 28))
	for k := range 13 {
		for mr := 1; mr <= 6; mr++ {
			lda, ldc := k+1, Panel+1
			a := guarded[float32](t, (mr-1)*lda+max(k, 1))
			copy(a, randF(rng, len(a)))
			c := guarded[float32](t, (mr-1)*ldc+Panel)
			bias, scale := guarded[float32](t, Panel), guarded[float32](t, Panel)
			bf := guarded[float32](t, max(k, 1)*Panel)
			copy(bf, randF(rng, len(bf)))
			b8 := guarded[int8](t, max(k, 1)*Panel)
			copy(b8, randI8(rng, len(b8)))
			kp := (k + 1) / 2
			a16 := guarded[int16](t, (mr-1)*2*kp+max(2*kp, 1))
			b16 := guarded[int8](t, max(2*kp, 1)*Panel)
			sa := guarded[float32](t, mr)
			calls := map[string]func(){
				"sgemm6x16": func() { sgemm6x16(k, &a[0], lda, &bf[0], Panel, &c[0], ldc, &bias[0], mr) },
				"wgemm6x16": func() { wgemm6x16(k, &a[0], lda, &b8[0], &c[0], ldc, &scale[0], &bias[0], mr) },
				"igemm6x16": func() { igemm6x16(kp, &a16[0], 2*kp, &b16[0], &c[0], ldc, &sa[0], &scale[0], &bias[0], mr) },
			}
			if hasSDOT {
				calls["sdot6x16"] = func() { sdot6x16(kp, &a16[0], 2*kp, &b16[0], &c[0], ldc, &sa[0], &scale[0], &bias[0], mr) }
			}
			for name, f := range calls {
				if faults(f) {
					t.Fatalf("%s k=%d mr=%d: touched memory past an operand", name, k, mr)
				}
			}
		}
	}
}
