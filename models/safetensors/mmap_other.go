//go:build !unix

package safetensors

import (
	"io"
	"os"
)

// mapFile reads the whole file where memory maps are not available.
func mapFile(f *os.File, size int) ([]byte, func([]byte) error, error) {
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, nil, err
	}
	return b, func([]byte) error { return nil }, nil
}
