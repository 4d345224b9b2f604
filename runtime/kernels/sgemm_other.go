//go:build !amd64

package kernels

// hasAVX2 is false off amd64; arm64 NEON kernels are future work and the
// pure-Go loops serve meanwhile.
const hasAVX2 = false
