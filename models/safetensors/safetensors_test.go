package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func file(header string, data []byte) []byte {
	h := []byte(header)
	for (8+len(h))%8 != 0 {
		h = append(h, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(out, h...), data...)
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		data         int    // data section size
		want         string // "" for success, else a substring of the error
		is           error
	}{
		{"empty object", `{}`, 0, "", nil},
		{"two tensors any order", `{"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]},"a":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}`, 6, "", nil},
		{"scalar and empty", `{"s":{"dtype":"F16","shape":[],"data_offsets":[0,2]},"e":{"dtype":"F32","shape":[0,5],"data_offsets":[2,2]}}`, 2, "", nil},
		{"metadata null", `{"__metadata__":null}`, 0, "", nil},
		{"not object", `"x"`, 0, "not a JSON object", ErrFormat},
		{"bad JSON", `{"a":}`, 0, "bad JSON", ErrFormat},
		{"trailing garbage", `{} x`, 0, "trailing", ErrFormat},
		{"duplicate tensor", `{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"I8","shape":[1],"data_offsets":[1,2]}}`, 2, `tensor "a": appears twice`, ErrFormat},
		{"metadata number", `{"__metadata__":{"k":1}}`, 0, `key "k"`, ErrFormat},
		{"unknown field", `{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1],"x":1}}`, 1, `tensor "a": entry`, ErrFormat},
		{"missing dtype", `{"a":{"shape":[1],"data_offsets":[0,1]}}`, 1, `tensor "a": dtype: missing`, ErrFormat},
		{"unknown dtype", `{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, 1, `unknown type "Q4"`, ErrFormat},
		{"bf16", `{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}`, 2, "BF16 is not supported", ErrUnsupported},
		{"f64", `{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}`, 8, "F64 is not supported", ErrUnsupported},
		{"missing shape", `{"a":{"dtype":"I8","data_offsets":[0,1]}}`, 1, "shape: missing", ErrFormat},
		{"negative dim", `{"a":{"dtype":"I8","shape":[-1],"data_offsets":[0,1]}}`, 1, "dimension 0 is -1", ErrFormat},
		{"fractional dim", `{"a":{"dtype":"I8","shape":[1.5],"data_offsets":[0,1]}}`, 1, `tensor "a": entry`, ErrFormat},
		{"overflow", `{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0, "overflows", ErrFormat},
		{"size overflow", `{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}`, 0, "needs", ErrFormat},
		{"one offset", `{"a":{"dtype":"I8","shape":[1],"data_offsets":[0]}}`, 1, "want [begin, end]", ErrFormat},
		{"negative offset", `{"a":{"dtype":"I8","shape":[1],"data_offsets":[-1,0]}}`, 1, `tensor "a": entry`, ErrFormat},
		{"reversed", `{"a":{"dtype":"I8","shape":[0],"data_offsets":[1,0]}}`, 1, "outside", ErrFormat},
		{"past end", `{"a":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}`, 1, "outside", ErrFormat},
		{"size mismatch", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4, "4 bytes, but F32 [2] needs 2×4", ErrFormat},
		{"overlap", `{"a":{"dtype":"I8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"I8","shape":[2],"data_offsets":[1,3]}}`, 3, `tensor "b": data_offsets: begin 1 overlaps tensor "a"`, ErrFormat},
		{"gap", `{"a":{"dtype":"I8","shape":[1],"data_offsets":[1,2]}}`, 2, `tensor "a": data_offsets: begin 1 leaves a gap`, ErrFormat},
		{"uncovered tail", `{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, 2, "cover 1 of 2", ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := file(tc.header, make([]byte, tc.data))
			h, err := Parse(b, int64(len(b)))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if h.DataStart%8 != 0 {
					t.Errorf("DataStart %d", h.DataStart)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.is) {
				t.Fatalf("Parse = %v, want an error containing %q matching %v", err, tc.want, tc.is)
			}
		})
	}
}

func TestHeaderLen(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    uint64
		size int64
		want string
	}{
		{"ok", 8, 16, ""},
		{"tiny file", 0, 7, "at least 8"},
		{"too big", MaxHeaderSize + 1, 1 << 30, "exceeds"},
		{"past end", 9, 16, "after the prefix"},
		{"huge", 1 << 63, 16, "exceeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := HeaderLen(binary.LittleEndian.AppendUint64(nil, tc.n), tc.size)
			if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("HeaderLen = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWriteOpen(t *testing.T) {
	ts := []Tensor{
		{Name: "q", DType: I8, Shape: []int{3}, Data: []byte{1, 2, 3}},
		{Name: "h", DType: F16, Shape: []int{1}, Data: []byte{0, 60}},
		{Name: "b", DType: F32, Shape: []int{2}, Data: []byte{0, 0, 128, 63, 0, 0, 0, 64}},
		{Name: "a", DType: F32, Shape: []int{}, Data: []byte{1, 2, 3, 4}},
		{Name: "z", DType: F32, Shape: []int{0}, Data: nil},
	}
	meta := map[string]string{"k": "v <&>", "a": "\u2028"}
	var b1, b2 bytes.Buffer
	if err := Write(&b1, meta, ts); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b2, meta, []Tensor{ts[4], ts[2], ts[0], ts[1], ts[3]}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Error("tensor order changed the bytes")
	}
	wantHeader := `{"__metadata__":{"a":"\u2028","k":"v <&>"},` +
		`"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},` +
		`"z":{"dtype":"F32","shape":[0],"data_offsets":[12,12]},"h":{"dtype":"F16","shape":[1],"data_offsets":[12,14]},` +
		`"q":{"dtype":"I8","shape":[3],"data_offsets":[14,17]}}`
	n := binary.LittleEndian.Uint64(b1.Bytes())
	if got := strings.TrimRight(string(b1.Bytes()[8:8+n]), " "); got != wantHeader || (8+n)%8 != 0 {
		t.Errorf("header (len %d)\n%s\nwant\n%s", n, got, wantHeader)
	}
	p := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(p, b1.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Header.Metadata["k"] != "v <&>" || f.Header.Metadata["a"] != "\u2028" {
		t.Errorf("metadata %v", f.Header.Metadata)
	}
	for _, w := range ts {
		got, ok := f.Tensor(w.Name)
		if !ok || got.DType != w.DType || len(got.Shape) != len(w.Shape) || !bytes.Equal(got.Data, w.Data) {
			t.Errorf("tensor %q: got %+v, want %+v", w.Name, got, w)
		}
	}
	if names := strings.Join(f.Names(), ","); names != "a,b,h,q,z" {
		t.Errorf("Names = %s", names)
	}
}

func TestWriteRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Tensor
		want string
	}{
		{"bad dtype", Tensor{Name: "a", DType: "BF16", Shape: []int{1}, Data: []byte{0, 0}}, "not supported"},
		{"short data", Tensor{Name: "a", DType: F32, Shape: []int{2}, Data: []byte{0, 0, 0, 0}}, "needs 8"},
		{"reserved name", Tensor{Name: "__metadata__", DType: I8, Shape: []int{}, Data: []byte{0}}, "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Write(&bytes.Buffer{}, nil, []Tensor{tc.t}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestOpenErrorsNamePath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "short.safetensors")
	os.WriteFile(p, []byte{1, 2}, 0o644)
	if _, err := Open(p); err == nil || !strings.HasPrefix(err.Error(), "safetensors: "+p+": ") {
		t.Errorf("Open = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(file(`{"__metadata__":{"a":"b"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Add(file(`{"x":{"dtype":"I8","shape":[2,3],"data_offsets":[0,6]}}`, make([]byte, 6)))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b, int64(len(b)))
		if err != nil {
			return
		}
		for _, ti := range h.Tensors {
			_ = b[h.DataStart+ti.Begin : h.DataStart+ti.End]
		}
	})
}
