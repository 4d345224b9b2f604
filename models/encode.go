// Package models reads and writes edgeclip model files (docs/model-format.md):
// a safetensors container whose metadata carries the architecture, the
// tokenizer and a content hash, and whose tensors use the native names of
// models/arch.
//
// Open memory-maps a file and validates all of it (container, config bounds,
// tensor set, hash) before handing out tensors that point into the map, so a
// backend can run straight from the page cache. Encode and Write produce the
// same bytes as tools/modelfile.py, the Python exporter.
package models

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/safetensors"
	"github.com/edgeclip/edgeclip/models/tokenizer"
	"github.com/edgeclip/edgeclip/runtime"
)

// Metadata keys of the format.
const (
	KeyFormat    = "edgeclip.format"
	KeyName      = "edgeclip.name"
	KeyVersion   = "edgeclip.version"
	KeyConfig    = "edgeclip.config"
	KeyTokenizer = "edgeclip.tokenizer"
	KeyHash      = "edgeclip.hash"
	KeyQuant     = "edgeclip.quant" // optional quantization report
	KeyCard      = "edgeclip.card"  // optional model card

	// FormatVersion is the only edgeclip.format this package reads.
	FormatVersion = "1"
	// TokenizerCLIPBPE is the tokenizer type of every CLIP model.
	TokenizerCLIPBPE = "clip-bpe"
	// DerivedVocabExtra is how many tokens a derived vocabulary has besides
	// one per merge: 256 byte symbols, the same with </w>, and the start and
	// end tokens.
	DerivedVocabExtra = 514
)

// reserved keys are written from Contents' fields, never from Extra.
var reserved = map[string]bool{KeyFormat: true, KeyName: true, KeyVersion: true, KeyConfig: true, KeyTokenizer: true, KeyHash: true}

var (
	// ErrInvalid marks a model file or Contents that breaks the format.
	ErrInvalid = errors.New("invalid model")
	// ErrHashMismatch means the tensors or metadata changed after the file
	// was written (corruption or a hand edit): re-export the model.
	ErrHashMismatch = errors.New("content hash mismatch")
)

// TokenizerSpec is the JSON under edgeclip.tokenizer.
type TokenizerSpec struct {
	Type   string   `json:"type"`
	Merges []string `json:"merges"`
	// Vocab lists tokens in id order; when empty the vocabulary is derived
	// from the merges as OpenAI's tokenizer does.
	Vocab []string `json:"vocab,omitempty"`
}

// VocabSize is the number of token ids the tokenizer can produce.
func (t *TokenizerSpec) VocabSize() int {
	if len(t.Vocab) > 0 {
		return len(t.Vocab)
	}
	return len(t.Merges) + DerivedVocabExtra
}

// Contents is everything a model file holds.
type Contents struct {
	Name, Version string
	Config        arch.Config
	Tokenizer     TokenizerSpec
	// Tensors in any order. An I8 tensor X needs its scales either as a
	// separate F32 tensor X_scale or in X.Scales (Encode then adds X_scale).
	Tensors []runtime.Tensor
	// Extra holds optional metadata such as edgeclip.quant and edgeclip.card.
	Extra map[string]string
}

// Encode validates c and writes it as a model file.
func Encode(w io.Writer, c *Contents) error {
	if err := encode(w, c); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	return nil
}

func encode(w io.Writer, c *Contents) error {
	meta, ts, err := prepare(c)
	if err != nil {
		return err
	}
	if err := checkContents(&c.Config, &c.Tokenizer, byName(ts)); err != nil {
		return err
	}
	for k := range c.Extra {
		if reserved[k] {
			return fmt.Errorf("%w: metadata: %s is reserved; set it through Contents' fields", ErrInvalid, k)
		}
	}
	meta[KeyHash] = contentHash(meta, ts)
	out := make([]safetensors.Tensor, len(ts))
	for i, t := range ts {
		out[i] = safetensors.Tensor{Name: t.Name, DType: stDType(t.DType), Shape: t.Shape, Data: t.Data}
	}
	return safetensors.Write(w, meta, out)
}

// Write encodes c to path atomically: a temporary file in the same folder,
// fsync, rename, fsync of the folder. A crash leaves the old file or the new
// one, never a torn one that a reader could map.
func Write(path string, c *Contents) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("models: %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("models: %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = encode(bw, c); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// HashContents is the edgeclip.hash that Encode would write for c, or ""
// when c cannot be encoded (an I8 tensor whose Scales contradict its
// X_scale tensor).
func HashContents(c *Contents) string {
	meta, ts, err := prepare(c)
	if err != nil {
		return ""
	}
	return contentHash(meta, ts)
}

// prepare builds the metadata (without the hash) and the full tensor list,
// adding X_scale tensors for I8 tensors that carry their scales inline.
func prepare(c *Contents) (map[string]string, []runtime.Tensor, error) {
	meta := make(map[string]string, len(c.Extra)+6)
	for k, v := range c.Extra {
		meta[k] = v
	}
	cfg, err := json.Marshal(c.Config)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: config: %v", ErrInvalid, err)
	}
	tok := c.Tokenizer
	if tok.Merges == nil {
		tok.Merges = []string{}
	}
	var tb bytes.Buffer
	enc := json.NewEncoder(&tb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tok); err != nil {
		return nil, nil, fmt.Errorf("%w: tokenizer: %v", ErrInvalid, err)
	}
	meta[KeyFormat], meta[KeyName], meta[KeyVersion] = FormatVersion, c.Name, c.Version
	meta[KeyConfig], meta[KeyTokenizer] = string(cfg), string(bytes.TrimSuffix(tb.Bytes(), []byte("\n")))

	ts := append([]runtime.Tensor(nil), c.Tensors...)
	have := byName(ts)
	for _, t := range c.Tensors {
		if t.DType != runtime.I8 || t.Scales == nil {
			continue
		}
		sn := t.Name + arch.ScaleSuffix
		if s, ok := have[sn]; ok {
			if !bytes.Equal(s.Data, float32Bytes(t.Scales)) {
				return nil, nil, fmt.Errorf("%w: tensor %q: Scales differ from tensor %q", ErrInvalid, t.Name, sn)
			}
			continue
		}
		ts = append(ts, runtime.Tensor{Name: sn, DType: runtime.F32, Shape: []int{len(t.Scales)}, Data: float32Bytes(t.Scales)})
	}
	return meta, ts, nil
}

// contentHash is the format's edgeclip.hash: metadata (bar the hash) by
// sorted key, then tensors by sorted name, each field NUL-terminated.
func contentHash(meta map[string]string, ts []runtime.Tensor) string {
	h := sha256.New()
	keys := make([]string, 0, len(meta))
	for k := range meta {
		if k != KeyHash {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		io.WriteString(h, k+"\x00"+meta[k]+"\x00")
	}
	sorted := append([]runtime.Tensor(nil), ts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b []byte
	for _, t := range sorted {
		b = append(b[:0], t.Name...)
		b = append(b, 0)
		b = append(b, t.DType.String()...)
		b = append(b, 0)
		for i, d := range t.Shape {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, 0)
		h.Write(b)
		h.Write(t.Data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func byName(ts []runtime.Tensor) map[string]runtime.Tensor {
	m := make(map[string]runtime.Tensor, len(ts))
	for _, t := range ts {
		m[t.Name] = t
	}
	return m
}

func stDType(d runtime.DType) safetensors.DType {
	switch d {
	case runtime.F32:
		return safetensors.F32
	case runtime.F16:
		return safetensors.F16
	case runtime.I8:
		return safetensors.I8
	}
	return safetensors.DType(d.String())
}

func rtDType(d safetensors.DType) runtime.DType {
	switch d {
	case safetensors.F32:
		return runtime.F32
	case safetensors.F16:
		return runtime.F16
	case safetensors.I8:
		return runtime.I8
	}
	return 0
}

// New builds the tokenizer the spec describes.
func (s TokenizerSpec) New() (*tokenizer.Tokenizer, error) { return tokenizer.New(s.Merges, s.Vocab) }
