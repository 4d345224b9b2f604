package backendtest

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/edgeclip/edgeclip/runtime/kernels"
)

// SymmetricInt8 reports whether the native engine's w8a8 runs symmetric
// per-token int8 activations here, the arithmetic the exported int8 graphs
// describe. Where it does not (AVX2, kernels.AsymmetricU8), comparisons
// against it are looser and RerunSymmetric checks the exact match.
func SymmetricInt8() bool { return kernels.Int8Activations() == kernels.SymmetricInt8 }

// RerunSymmetric reruns the test named test of this test binary in a child
// process with GODEBUG=cpu.avx2=off, where the native engine uses symmetric
// int8 activations, and fails unless it passes there having run w8a8 (a
// subtest whose name ends in "w8a8" passed). The child has 5 minutes.
func RerunSymmetric(t *testing.T, test string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^"+test+"$", "-test.v", "-test.count", "1", "-test.timeout", "5m")
	cmd.Env = append(os.Environ(), "GODEBUG=cpu.avx2=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s with AVX2 off: %v\n%s", test, err, out)
	}
	if !bytes.Contains(out, []byte("native int8 activations: "+kernels.SymmetricInt8)) ||
		!bytes.Contains(out, []byte("w8a8 (")) || !bytes.Contains(out, []byte("--- PASS: "+test)) {
		t.Fatalf("%s with AVX2 off did not run symmetric w8a8:\n%s", test, out)
	}
}

// LogInt8 logs the native int8 activation arithmetic, which RerunSymmetric
// looks for in the child's output.
func LogInt8(t *testing.T) {
	t.Helper()
	t.Logf("native int8 activations: %s", kernels.Int8Activations())
}
