// Package safetensors reads and writes the safetensors container
// (https://huggingface.co/docs/safetensors): an 8-byte header length, a JSON
// header, then raw little-endian tensor bytes.
//
// The header comes from untrusted files, so Parse checks every size and
// offset against the file before anything is allocated from it, and a reader
// opened with Open hands out tensors as sub-slices of a read-only memory map.
// The package is a leaf: it knows nothing of CLIP or of edgeclip's metadata.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strings"
)

// DType is an element type name as it appears in the header.
type DType string

// The element types this package reads and writes.
const (
	F32 DType = "F32"
	F16 DType = "F16"
	I8  DType = "I8"
)

// Size is the byte size of one element, or 0 for a type this package does
// not support.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16:
		return 2
	case I8:
		return 1
	}
	return 0
}

// otherDTypes are valid safetensors types that edgeclip does not use; they
// get an "unsupported" rather than an "unknown" error so that a user knows to
// convert the file rather than suspect corruption.
var otherDTypes = map[string]bool{
	"BOOL": true, "U8": true, "I16": true, "U16": true, "BF16": true, "I32": true, "U32": true,
	"F64": true, "I64": true, "U64": true, "F8_E4M3": true, "F8_E5M2": true,
}

// MaxHeaderSize caps the JSON header (the reference implementation uses the
// same 100 MiB limit).
const MaxHeaderSize = 100 << 20

var (
	// ErrFormat marks a malformed container.
	ErrFormat = errors.New("malformed safetensors file")
	// ErrUnsupported marks a well-formed file using a dtype this package
	// does not handle; convert the file to F32, F16 or I8.
	ErrUnsupported = errors.New("unsupported")
)

// Error describes what is wrong with a file: which file, which tensor, which
// header field. Each part is omitted when empty.
type Error struct {
	Path   string
	Tensor string
	Field  string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	if e.Tensor != "" {
		fmt.Fprintf(&b, "tensor %q: ", e.Tensor)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// detail is a message that matches a sentinel with errors.Is without
// repeating the sentinel's text.
type detail struct {
	msg string
	is  error
}

func (d *detail) Error() string { return d.msg }
func (d *detail) Unwrap() error { return d.is }

func formatErr(tensor, field, format string, a ...any) *Error {
	return &Error{Tensor: tensor, Field: field, Err: &detail{fmt.Sprintf(format, a...), ErrFormat}}
}

// TensorInfo is one tensor's header entry. Begin and End are offsets into
// the data section.
type TensorInfo struct {
	Name       string
	DType      DType
	Shape      []int
	Begin, End int64
}

// Header is a parsed, validated header.
type Header struct {
	Metadata map[string]string
	// Tensors in data order (by Begin).
	Tensors []TensorInfo
	// DataStart is the file offset of the data section (8 + header length).
	DataStart int64
}

// HeaderLen reads the 8-byte prefix and checks the header length against
// the cap and the file size. It is the only thing a reader needs before it
// knows how many bytes the header takes.
func HeaderLen(prefix []byte, fileSize int64) (int64, error) {
	if len(prefix) < 8 || fileSize < 8 {
		return 0, formatErr("", "", "file is %d bytes, want at least 8", fileSize)
	}
	n := binary.LittleEndian.Uint64(prefix)
	if n > MaxHeaderSize {
		return 0, formatErr("", "header length", "%d bytes exceeds the %d byte limit", n, MaxHeaderSize)
	}
	if int64(n) > fileSize-8 {
		return 0, formatErr("", "header length", "%d bytes but the file has %d after the prefix", n, fileSize-8)
	}
	return int64(n), nil
}

type rawEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets []uint64 `json:"data_offsets"`
}

// Parse validates the header at the start of data, a file of fileSize bytes
// (data needs to hold at least the header). Errors are *Error values naming
// the tensor and field at fault.
func Parse(data []byte, fileSize int64) (*Header, error) {
	n, err := HeaderLen(data, fileSize)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) < 8+n {
		return nil, formatErr("", "header", "have %d of its %d bytes", len(data)-8, n)
	}
	dec := json.NewDecoder(bytes.NewReader(data[8 : 8+n]))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, formatErr("", "header", "not a JSON object")
	}
	h := &Header{Metadata: map[string]string{}, DataStart: 8 + n}
	dataSize := fileSize - h.DataStart
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, formatErr("", "header", "bad JSON: %v", err)
		}
		key := tok.(string) // object keys are always strings
		if seen[key] {
			return nil, formatErr(key, "", "appears twice in the header")
		}
		seen[key] = true
		if key == "__metadata__" {
			if err := parseMetadata(dec, h.Metadata); err != nil {
				return nil, err
			}
			continue
		}
		t, err := parseEntry(dec, key, dataSize)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, t)
	}
	if _, err := dec.Token(); err != nil {
		return nil, formatErr("", "header", "bad JSON: %v", err)
	}
	if rest := bytes.TrimRight(data[8+dec.InputOffset():8+n], " \t\r\n"); len(rest) > 0 {
		return nil, formatErr("", "header", "trailing bytes after the JSON object")
	}
	if err := checkCoverage(h.Tensors, dataSize); err != nil {
		return nil, err
	}
	return h, nil
}

func parseMetadata(dec *json.Decoder, into map[string]string) error {
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return formatErr("", "__metadata__", "want an object of strings: %v", err)
	}
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return formatErr("", "__metadata__", "key %q: value is not a string", k)
		}
		into[k] = s
	}
	return nil
}

func parseEntry(dec *json.Decoder, name string, dataSize int64) (TensorInfo, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return TensorInfo{}, formatErr("", "header", "bad JSON: %v", err)
	}
	var e rawEntry
	ed := json.NewDecoder(bytes.NewReader(raw))
	ed.DisallowUnknownFields()
	if err := ed.Decode(&e); err != nil {
		return TensorInfo{}, formatErr(name, "entry", "want {dtype, shape, data_offsets}: %v", err)
	}
	t := TensorInfo{Name: name, DType: DType(e.DType)}
	size := t.DType.Size()
	switch {
	case e.DType == "":
		return t, formatErr(name, "dtype", "missing")
	case size == 0 && otherDTypes[e.DType]:
		return t, &Error{Tensor: name, Field: "dtype", Err: &detail{fmt.Sprintf("%s is not supported (want F32, F16 or I8)", e.DType), ErrUnsupported}}
	case size == 0:
		return t, formatErr(name, "dtype", "unknown type %q", e.DType)
	}
	if e.Shape == nil {
		return t, formatErr(name, "shape", "missing")
	}
	count := uint64(1)
	t.Shape = make([]int, len(e.Shape)) // bounded by the header length
	for i, d := range e.Shape {
		if d < 0 {
			return t, formatErr(name, "shape", "dimension %d is %d", i, d)
		}
		hi, lo := bits.Mul64(count, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return t, formatErr(name, "shape", "%v overflows the element count", e.Shape)
		}
		count, t.Shape[i] = lo, int(d)
	}
	if uint64(int(count)) != count {
		return t, formatErr(name, "shape", "%v too large for this platform", e.Shape)
	}
	if len(e.Offsets) != 2 {
		return t, formatErr(name, "data_offsets", "want [begin, end], got %d numbers", len(e.Offsets))
	}
	b, end := e.Offsets[0], e.Offsets[1]
	if b > end || end > uint64(dataSize) {
		return t, formatErr(name, "data_offsets", "[%d, %d] outside the %d byte data section", b, end, dataSize)
	}
	if hi, lo := bits.Mul64(count, uint64(size)); hi != 0 || lo != end-b {
		return t, formatErr(name, "data_offsets", "%d bytes, but %s %v needs %d×%d", end-b, t.DType, e.Shape, count, size)
	}
	t.Begin, t.End = int64(b), int64(end)
	return t, nil
}

// checkCoverage sorts tensors by offset and requires them to tile the data
// section: no overlap, no gap, nothing left over.
func checkCoverage(ts []TensorInfo, dataSize int64) error {
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Begin != ts[j].Begin {
			return ts[i].Begin < ts[j].Begin
		}
		return ts[i].End < ts[j].End
	})
	var pos int64
	prev := ""
	for _, t := range ts {
		switch {
		case t.Begin < pos:
			return formatErr(t.Name, "data_offsets", "begin %d overlaps tensor %q (ends at %d)", t.Begin, prev, pos)
		case t.Begin > pos:
			return formatErr(t.Name, "data_offsets", "begin %d leaves a gap after offset %d", t.Begin, pos)
		}
		pos, prev = t.End, t.Name
	}
	if pos != dataSize {
		return formatErr("", "data", "tensors cover %d of %d bytes", pos, dataSize)
	}
	return nil
}
