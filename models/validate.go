package models

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"unsafe"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/runtime"
)

// problem is a validation failure whose message is already in the format's
// words; it still matches ErrInvalid (and any cause) with errors.Is.
type problem struct {
	msg   string
	cause error
}

func (p *problem) Error() string   { return p.msg }
func (p *problem) Unwrap() []error { return []error{ErrInvalid, p.cause} }

func invalid(cause error, format string, a ...any) error {
	return &problem{msg: fmt.Sprintf(format, a...), cause: cause}
}

func tensorErr(name, format string, a ...any) error {
	return invalid(nil, "tensor %q: %s", name, fmt.Sprintf(format, a...))
}

// configKeys are the JSON fields a config must spell out: a missing one
// would silently become zero (zero layers is valid, so it would not fail
// Validate).
var configKeys = []string{"image_size", "patch_size", "vision", "text", "context_length", "vocab_size",
	"embed_dim", "activation", "ln_eps", "mean", "std", "logit_scale"}

var towerKeys = []string{"width", "layers", "heads", "mlp_width"}

// parseConfig decodes edgeclip.config strictly and validates its bounds.
func parseConfig(s string) (arch.Config, error) {
	var cfg arch.Config
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &keys); err != nil {
		return cfg, invalid(err, "config: not a JSON object: %v", err)
	}
	if err := requireKeys("", keys, configKeys); err != nil {
		return cfg, err
	}
	for _, tw := range []string{"vision", "text"} {
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(keys[tw], &sub); err != nil {
			return cfg, invalid(err, "config: %s: not a JSON object", tw)
		}
		if err := requireKeys(tw+".", sub, towerKeys); err != nil {
			return cfg, err
		}
	}
	for _, k := range []string{"mean", "std"} {
		var v []float64
		if err := json.Unmarshal(keys[k], &v); err != nil || len(v) != 3 {
			return cfg, invalid(err, "config: %s = %s: want 3 numbers", k, keys[k])
		}
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, invalid(err, "config: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, invalid(err, "config: %s", strings.TrimPrefix(err.Error(), arch.ErrInvalid.Error()+": "))
	}
	return cfg, nil
}

func requireKeys(prefix string, m map[string]json.RawMessage, want []string) error {
	for _, k := range want {
		if _, ok := m[k]; !ok {
			return invalid(nil, "config: %s%s: missing", prefix, k)
		}
	}
	return nil
}

// parseTokenizer decodes edgeclip.tokenizer strictly.
func parseTokenizer(s string) (TokenizerSpec, error) {
	var t TokenizerSpec
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, invalid(err, "tokenizer: %v", err)
	}
	return t, nil
}

// checkTokenizer makes sure every id the tokenizer can produce indexes the
// token embedding, and that merges have the "a b" form.
func checkTokenizer(t *TokenizerSpec, vocab int) error {
	if t.Type != TokenizerCLIPBPE {
		return invalid(nil, "tokenizer: type = %q: want %q", t.Type, TokenizerCLIPBPE)
	}
	for i, m := range t.Merges {
		sp := strings.IndexByte(m, ' ')
		if sp <= 0 || sp == len(m)-1 || strings.IndexByte(m[sp+1:], ' ') >= 0 {
			return invalid(nil, "tokenizer: merges[%d] = %q: want two symbols separated by one space", i, m)
		}
	}
	if n := t.VocabSize(); n > vocab {
		return invalid(nil, "tokenizer: %d tokens but config vocab_size = %d", n, vocab)
	}
	return nil
}

// checkContents checks the config, the tokenizer and the tensor set: every
// required tensor with its shape, I8 only for linear weights and always with
// F32 scales, nothing unexpected. Names are visited in sorted order so that
// the first error is deterministic.
func checkContents(cfg *arch.Config, tok *TokenizerSpec, ts map[string]runtime.Tensor) error {
	if err := cfg.Validate(); err != nil {
		return invalid(err, "config: %s", strings.TrimPrefix(err.Error(), arch.ErrInvalid.Error()+": "))
	}
	if err := checkTokenizer(tok, cfg.VocabSize); err != nil {
		return err
	}
	want := cfg.Shapes()
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t, ok := ts[n]
		if !ok {
			return tensorErr(n, "missing")
		}
		if !equalShape(t.Shape, want[n]) {
			return tensorErr(n, "shape %v, want %v", t.Shape, want[n])
		}
		if err := checkData(t); err != nil {
			return err
		}
		switch t.DType {
		case runtime.F32, runtime.F16:
		case runtime.I8:
			if !arch.Quantizable(n) {
				return tensorErr(n, "dtype I8 is only allowed for linear weights")
			}
			sn := n + arch.ScaleSuffix
			s, ok := ts[sn]
			if !ok {
				return tensorErr(n, "I8 tensor without its scales %q", sn)
			}
			if s.DType != runtime.F32 || !equalShape(s.Shape, want[n][:1]) {
				return tensorErr(sn, "%s %v, want F32 [%d]", s.DType, s.Shape, want[n][0])
			}
			if err := checkData(s); err != nil {
				return err
			}
		default:
			return tensorErr(n, "dtype %s not supported", t.DType)
		}
	}
	extra := make([]string, 0)
	for n := range ts {
		if _, ok := want[n]; ok {
			continue
		}
		base, isScale := strings.CutSuffix(n, arch.ScaleSuffix)
		if b, ok := ts[base]; isScale && ok && b.DType == runtime.I8 {
			continue
		}
		extra = append(extra, n)
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return tensorErr(extra[0], "unexpected (not part of the architecture, nor the scales of an I8 tensor)")
	}
	return nil
}

func checkData(t runtime.Tensor) error {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	if len(t.Data) != n*t.DType.Size() {
		return tensorErr(t.Name, "%d bytes, want %d for %s %v", len(t.Data), n*t.DType.Size(), t.DType, t.Shape)
	}
	return nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// littleEndian is true on every platform edgeclip targets (amd64, arm64);
// only then can little-endian file bytes be viewed as []float32 in place.
var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// aligned returns data itself when it is aligned for elements of size
// bytes, else a copy in a buffer that is (a foreign file with odd offsets).
func aligned(data []byte, size int) []byte {
	if len(data) == 0 || uintptr(unsafe.Pointer(&data[0]))%uintptr(size) == 0 {
		return data
	}
	buf := make([]uint64, (len(data)+7)/8)
	out := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(data))
	copy(out, data)
	return out
}

// float32s views aligned little-endian bytes as float32 (a copy on
// big-endian hosts).
func float32s(b []byte) []float32 {
	n := len(b) / 4
	if n == 0 {
		return []float32{}
	}
	if littleEndian {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func float32Bytes(f []float32) []byte {
	b := make([]byte, 4*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
