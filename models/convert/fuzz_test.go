package convert

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseHeader feeds arbitrary headers to the checkpoint reader: it must
// never panic, and every tensor it accepts must lie inside the data section
// with a byte length that matches its dtype and shape.
func FuzzParseHeader(f *testing.F) {
	f.Add([]byte(`{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`), int64(24))
	f.Add([]byte(`{"__metadata__":{"format":"pt"},"p":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`), int64(8))
	f.Add([]byte(`{"b":{"dtype":"BF16","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`), int64(0))
	f.Add([]byte(`{"c":{"dtype":"F16","shape":[-1],"data_offsets":[4,2]}}`), int64(4))
	if data, err := os.ReadFile(filepath.Join(parityDir, "openai", "model.safetensors")); err == nil && len(data) > 8 {
		n := int(data[0]) | int(data[1])<<8 | int(data[2])<<16
		if 8+n <= len(data) {
			f.Add(data[8:8+n], int64(len(data)-8-n))
		}
	}
	f.Fuzz(func(t *testing.T, hdr []byte, dataSize int64) {
		if dataSize < 0 {
			dataSize = -dataSize
		}
		ts, err := parseHeader(hdr, dataSize)
		if err != nil {
			return
		}
		for name, e := range ts {
			n := int64(srcSizes[e.DType])
			for _, d := range e.Shape {
				n *= int64(d)
			}
			if e.begin < 0 || e.end > dataSize || e.begin > e.end || n != e.end-e.begin {
				t.Fatalf("tensor %q accepted with %s %v at [%d, %d) of %d bytes", name, e.DType, e.Shape, e.begin, e.end, dataSize)
			}
		}
	})
}
