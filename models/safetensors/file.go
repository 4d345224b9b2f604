package safetensors

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// Tensor is one tensor with its bytes. From a File, Data is a sub-slice of
// the read-only memory map: never write to it, and do not use it after Close.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is an open safetensors file, memory-mapped read-only.
type File struct {
	Header *Header
	path   string
	data   []byte // the whole file
	unmap  func([]byte) error
	byName map[string]int // index into Header.Tensors
}

// Open maps the file at path and validates its header. Tensor bytes are not
// read until used.
//
// The map is only as stable as the file: truncating it while it is open makes
// later reads fault. edgeclip's writers replace files by rename, which is safe.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	size := fi.Size()
	// Check the header length before mapping, so that a truncated or hostile
	// file fails with a clear error instead of a zero-length map.
	var prefix [8]byte
	if _, err := io.ReadFull(f, prefix[:]); err != nil && size >= 8 {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if _, err := HeaderLen(prefix[:], size); err != nil {
		return nil, withPath(err, path)
	}
	if size > math.MaxInt {
		return nil, withPath(formatErr("", "", "%d bytes is too large to map on this platform", size), path)
	}
	data, unmap, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("safetensors: map %s: %w", path, err)
	}
	h, err := Parse(data, size)
	if err != nil {
		unmap(data)
		return nil, withPath(err, path)
	}
	st := &File{Header: h, path: path, data: data, unmap: unmap, byName: make(map[string]int, len(h.Tensors))}
	for i, t := range h.Tensors {
		st.byName[t.Name] = i
	}
	return st, nil
}

func withPath(err error, path string) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Path = path
		return fmt.Errorf("safetensors: %w", &c)
	}
	return fmt.Errorf("safetensors: %s: %w", path, err)
}

// Path is the file's path as given to Open.
func (f *File) Path() string { return f.path }

// Size is the file's size in bytes.
func (f *File) Size() int64 { return int64(len(f.data)) }

// Bytes is the whole mapped file (read-only).
func (f *File) Bytes() []byte { return f.data }

// Tensor returns the named tensor with its bytes in the map.
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := f.byName[name]
	if !ok {
		return Tensor{}, false
	}
	return f.tensor(f.Header.Tensors[i]), true
}

// Tensors returns every tensor in data order.
func (f *File) Tensors() []Tensor {
	out := make([]Tensor, len(f.Header.Tensors))
	for i, t := range f.Header.Tensors {
		out[i] = f.tensor(t)
	}
	return out
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	out := make([]string, 0, len(f.byName))
	for n := range f.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (f *File) tensor(t TensorInfo) Tensor {
	s := f.Header.DataStart
	return Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: f.data[s+t.Begin : s+t.End : s+t.End]}
}

// Close unmaps the file. Tensor data obtained from it must not be used after.
func (f *File) Close() error {
	if f.data == nil {
		return nil
	}
	err := f.unmap(f.data)
	f.data = nil
	if err != nil {
		return fmt.Errorf("safetensors: unmap %s: %w", f.path, err)
	}
	return nil
}
