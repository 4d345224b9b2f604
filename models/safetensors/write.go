package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
)

// groupOrder places F32 before F16 before I8 so that, with no gaps and an
// 8-aligned data section, every tensor is aligned for its type.
var groupOrder = map[DType]int{F32: 0, F16: 1, I8: 2}

// Write writes a safetensors file: metadata keys sorted, tensors ordered F32,
// F16, I8 and by name within a group, no gaps, the header padded with spaces
// so that 8 + N is a multiple of 8. The same input always gives the same bytes.
func Write(w io.Writer, metadata map[string]string, tensors []Tensor) error {
	order, err := Order(tensors)
	if err != nil {
		return err
	}
	var hb bytes.Buffer
	hb.WriteString(`{"__metadata__":{`)
	keys := make([]string, 0, len(metadata))
	for k := range metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			hb.WriteByte(',')
		}
		quote(&hb, k)
		hb.WriteByte(':')
		quote(&hb, metadata[k])
	}
	hb.WriteByte('}')
	var off int64
	for _, t := range order {
		hb.WriteByte(',')
		quote(&hb, t.Name)
		fmt.Fprintf(&hb, `:{"dtype":"%s","shape":[`, t.DType)
		for i, d := range t.Shape {
			if i > 0 {
				hb.WriteByte(',')
			}
			hb.WriteString(strconv.Itoa(d))
		}
		end := off + int64(len(t.Data))
		fmt.Fprintf(&hb, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	hb.WriteByte('}')
	for (8+hb.Len())%8 != 0 {
		hb.WriteByte(' ')
	}
	if hb.Len() > MaxHeaderSize {
		return fmt.Errorf("safetensors: header of %d bytes exceeds the %d byte limit", hb.Len(), MaxHeaderSize)
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(hb.Len()))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := w.Write(hb.Bytes()); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	for _, t := range order {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: write tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// Order checks tensors for writing (unique names, known dtypes, data length
// matching the shape) and returns them in the order Write lays them out.
func Order(tensors []Tensor) ([]Tensor, error) {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		switch {
		case t.Name == "" || t.Name == "__metadata__":
			return nil, fmt.Errorf("safetensors: tensor name %q is not allowed", t.Name)
		case seen[t.Name]:
			return nil, fmt.Errorf("safetensors: tensor %q: listed twice", t.Name)
		case t.DType.Size() == 0:
			return nil, fmt.Errorf("safetensors: tensor %q: dtype %q not supported (want F32, F16 or I8)", t.Name, t.DType)
		}
		seen[t.Name] = true
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: tensor %q: shape %v has a negative dimension", t.Name, t.Shape)
			}
			n *= d
		}
		if n*t.DType.Size() != len(t.Data) {
			return nil, fmt.Errorf("safetensors: tensor %q: %d bytes, but %s %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, n*t.DType.Size())
		}
	}
	out := append([]Tensor(nil), tensors...)
	sort.Slice(out, func(i, j int) bool {
		gi, gj := groupOrder[out[i].DType], groupOrder[out[j].DType]
		if gi != gj {
			return gi < gj
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// quote writes s as a JSON string without HTML escaping, so that headers
// stay readable and match tools/modelfile.py byte for byte.
func quote(b *bytes.Buffer, s string) {
	e := json.NewEncoder(b)
	e.SetEscapeHTML(false)
	e.Encode(s)             // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}
