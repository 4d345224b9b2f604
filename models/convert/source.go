package convert

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/edgeclip/edgeclip/quant"
)

// maxHeader caps a checkpoint's JSON header (real ones are well under 1 MiB).
const maxHeader = 100 << 20

// maxTensorBytes caps one source tensor (the largest public CLIP weight,
// ViT-bigG's token embedding in f32, is about 250 MB).
const maxTensorBytes = 4 << 30

// srcSizes are the element sizes of every safetensors dtype. A checkpoint
// may hold any of them (int64 position_ids, bf16 weights); only the float
// ones can be converted.
var srcSizes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// srcTensor is one entry of a source checkpoint's header.
type srcTensor struct {
	DType      string
	Shape      []int
	begin, end int64 // relative to the data section
}

// source is a safetensors checkpoint opened for reading. It is read with
// ReadAt, one tensor at a time, so a converter holds only what it has taken.
type source struct {
	path    string
	f       *os.File
	data    int64 // offset of the data section
	tensors map[string]srcTensor
	used    map[string]bool
}

func openSource(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("convert: %w", err)
	}
	var n [8]byte
	if _, err := io.ReadFull(f, n[:]); err != nil {
		f.Close()
		return nil, fmt.Errorf("convert: %s: not a safetensors file: %w", path, err)
	}
	hlen := binary.LittleEndian.Uint64(n[:])
	if hlen > maxHeader || int64(hlen) > st.Size()-8 {
		f.Close()
		return nil, fmt.Errorf("convert: %s: header length %d exceeds the limit or the file size %d", path, hlen, st.Size())
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(f, hdr); err != nil {
		f.Close()
		return nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	tensors, err := parseHeader(hdr, st.Size()-8-int64(hlen))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	return &source{path: path, f: f, data: 8 + int64(hlen), tensors: tensors, used: map[string]bool{}}, nil
}

// parseHeader decodes a safetensors JSON header and checks every entry
// against the size of the data section: known dtype, non-negative shape,
// element count × size == byte length (overflow-checked), offsets inside
// the data. Overlaps are harmless for reading and are not checked.
func parseHeader(hdr []byte, dataSize int64) (map[string]srcTensor, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	out := make(map[string]srcTensor, len(raw))
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType   string  `json:"dtype"`
			Shape   []int64 `json:"shape"`
			Offsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		size, ok := srcSizes[e.DType]
		if !ok {
			return nil, fmt.Errorf("tensor %q: unknown dtype %q", name, e.DType)
		}
		if len(e.Offsets) != 2 || e.Offsets[0] < 0 || e.Offsets[0] > e.Offsets[1] || e.Offsets[1] > dataSize {
			return nil, fmt.Errorf("tensor %q: data_offsets %v outside the data section of %d bytes", name, e.Offsets, dataSize)
		}
		if len(e.Shape) > 8 {
			return nil, fmt.Errorf("tensor %q: %d dimensions", name, len(e.Shape))
		}
		count, shape := int64(1), make([]int, len(e.Shape))
		for i, d := range e.Shape {
			if d < 0 || d > maxTensorBytes {
				return nil, fmt.Errorf("tensor %q: bad shape %v", name, e.Shape)
			}
			if d > 0 && count > maxTensorBytes/d {
				return nil, fmt.Errorf("tensor %q: shape %v too large", name, e.Shape)
			}
			count *= d
			shape[i] = int(d)
		}
		if count*int64(size) != e.Offsets[1]-e.Offsets[0] {
			return nil, fmt.Errorf("tensor %q: %s %v needs %d bytes, data_offsets give %d",
				name, e.DType, e.Shape, count*int64(size), e.Offsets[1]-e.Offsets[0])
		}
		out[name] = srcTensor{DType: e.DType, Shape: shape, begin: e.Offsets[0], end: e.Offsets[1]}
	}
	return out, nil
}

func (s *source) Close() error { return s.f.Close() }

// has reports whether the checkpoint holds a tensor.
func (s *source) has(name string) bool { _, ok := s.tensors[name]; return ok }

// shape returns a tensor's shape, or nil when it is absent.
func (s *source) shape(name string) []int { return s.tensors[name].Shape }

// ignore marks tensors the layout knows and deliberately drops (buffers).
func (s *source) ignore(names ...string) {
	for _, n := range names {
		if s.has(n) {
			s.used[n] = true
		}
	}
}

// unused lists the tensors nobody took, sorted.
func (s *source) unused() []string {
	var out []string
	for n := range s.tensors {
		if !s.used[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// errMissing marks a tensor that the layout needs and the checkpoint lacks.
var errMissing = errors.New("missing")

// floats reads a float tensor as float32 and marks it used.
func (s *source) floats(name string) ([]float32, []int, error) {
	t, ok := s.tensors[name]
	if !ok {
		return nil, nil, errMissing
	}
	s.used[name] = true
	buf := make([]byte, t.end-t.begin)
	if _, err := s.f.ReadAt(buf, s.data+t.begin); err != nil {
		return nil, nil, err
	}
	n := len(buf) / srcSizes[t.DType]
	out := make([]float32, n)
	switch t.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = quant.F16ToF32(binary.LittleEndian.Uint16(buf[2*i:]))
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(buf[2*i:])) << 16)
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:])))
		}
	default:
		return nil, nil, fmt.Errorf("dtype %s is not a float type", t.DType)
	}
	return out, t.Shape, nil
}

// int reads a scalar integer tensor (OpenAI's input_resolution and friends).
func (s *source) int(name string) (int64, bool) {
	t, ok := s.tensors[name]
	if !ok || t.end-t.begin != 8 || (t.DType != "I64" && t.DType != "U64") {
		return 0, false
	}
	var b [8]byte
	if _, err := s.f.ReadAt(b[:], s.data+t.begin); err != nil {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(b[:])), true
}
