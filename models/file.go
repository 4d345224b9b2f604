package models

import (
	"errors"
	"fmt"
	"regexp"
	"sort"

	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/safetensors"
	"github.com/edgeclip/edgeclip/runtime"
)

// OpenOptions tune Open. The zero value verifies everything.
type OpenOptions struct {
	// SkipHashCheck skips recomputing edgeclip.hash, which reads every byte
	// of the file (about 1 s for ViT-B/32 on a small x86 VM: SHA-256 bound,
	// see BenchmarkOpen). Everything
	// else is still validated. Use it for fast start-up of a model that was
	// verified when it was installed.
	SkipHashCheck bool
}

// File is an open model file. Its tensors point into a read-only memory map:
// they are valid until Close. It implements runtime.Weights.
type File struct {
	st      *safetensors.File
	path    string
	name    string
	version string
	cfg     arch.Config
	tok     TokenizerSpec
	meta    map[string]string
	hash    string
	tensors map[string]runtime.Tensor
	sorted  []runtime.Tensor
}

var _ runtime.Weights = (*File)(nil)

var hashRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Open maps and fully validates the model file at path, hash included.
func Open(path string) (*File, error) { return OpenWith(path, OpenOptions{}) }

// OpenWith is Open with options.
func OpenWith(path string, o OpenOptions) (*File, error) {
	st, err := safetensors.Open(path)
	if err != nil {
		var se *safetensors.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("models: %w", se)
		}
		return nil, fmt.Errorf("models: %s: %w", path, err)
	}
	f := &File{st: st, path: path, meta: st.Header.Metadata}
	if err := f.load(o); err != nil {
		st.Close()
		return nil, fmt.Errorf("models: %s: %w", path, err)
	}
	return f, nil
}

func (f *File) load(o OpenOptions) error {
	meta := f.meta
	if _, ok := meta[KeyFormat]; !ok {
		return invalid(nil, "metadata: %s: missing (is this an edgeclip model file?)", KeyFormat)
	}
	if v := meta[KeyFormat]; v != FormatVersion {
		return invalid(nil, "metadata: %s = %q: want %q (written by a newer edgeclip?)", KeyFormat, v, FormatVersion)
	}
	for _, k := range []string{KeyName, KeyVersion, KeyConfig, KeyTokenizer} {
		if _, ok := meta[k]; !ok {
			return invalid(nil, "metadata: %s: missing", k)
		}
	}
	f.name, f.version, f.hash = meta[KeyName], meta[KeyVersion], meta[KeyHash]
	if !hashRE.MatchString(f.hash) {
		return invalid(nil, "metadata: %s = %q: want sha256:<64 hex digits>", KeyHash, f.hash)
	}
	var err error
	if f.cfg, err = parseConfig(meta[KeyConfig]); err != nil {
		return err
	}
	if f.tok, err = parseTokenizer(meta[KeyTokenizer]); err != nil {
		return err
	}
	f.tensors = make(map[string]runtime.Tensor, len(f.st.Header.Tensors))
	for _, t := range f.st.Tensors() {
		dt := rtDType(t.DType)
		f.tensors[t.Name] = runtime.Tensor{Name: t.Name, DType: dt, Shape: t.Shape, Data: aligned(t.Data, dt.Size())}
	}
	if err := checkContents(&f.cfg, &f.tok, f.tensors); err != nil {
		return err
	}
	// Scales are attached after the check, which guarantees their shape.
	for n, t := range f.tensors {
		if t.DType == runtime.I8 {
			t.Scales = float32s(f.tensors[n+arch.ScaleSuffix].Data)
			f.tensors[n] = t
		}
	}
	f.sorted = make([]runtime.Tensor, 0, len(f.tensors))
	for _, t := range f.tensors {
		f.sorted = append(f.sorted, t)
	}
	sort.Slice(f.sorted, func(i, j int) bool { return f.sorted[i].Name < f.sorted[j].Name })
	if !o.SkipHashCheck {
		return f.verify()
	}
	return nil
}

// Verify recomputes the content hash and compares it with edgeclip.hash.
// The error wraps ErrHashMismatch.
func (f *File) Verify() error {
	if err := f.verify(); err != nil {
		return fmt.Errorf("models: %s: %w", f.path, err)
	}
	return nil
}

func (f *File) verify() error {
	if got := contentHash(f.meta, f.sorted); got != f.hash {
		return invalid(ErrHashMismatch, "metadata: %s = %s, but the content hashes to %s", KeyHash, f.hash, got)
	}
	return nil
}

// Close unmaps the file; tensors obtained from it must not be used after.
func (f *File) Close() error {
	if err := f.st.Close(); err != nil {
		return fmt.Errorf("models: %w", err)
	}
	return nil
}

// Config is the architecture.
func (f *File) Config() arch.Config { return f.cfg }

// Tensor returns a tensor by native name. An I8 tensor carries its Scales.
func (f *File) Tensor(name string) (runtime.Tensor, bool) {
	t, ok := f.tensors[name]
	return t, ok
}

// Hash is edgeclip.hash ("sha256:<hex>").
func (f *File) Hash() string { return f.hash }

// Name is edgeclip.name.
func (f *File) Name() string { return f.name }

// Version is edgeclip.version.
func (f *File) Version() string { return f.version }

// Tokenizer is the decoded edgeclip.tokenizer.
func (f *File) Tokenizer() TokenizerSpec { return f.tok }

// Metadata is a copy of every metadata key.
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

// Tensors lists every tensor (X_scale ones included), sorted by name.
func (f *File) Tensors() []runtime.Tensor { return append([]runtime.Tensor(nil), f.sorted...) }

// Path is the path given to Open.
func (f *File) Path() string { return f.path }

// Size is the file size in bytes.
func (f *File) Size() int64 { return f.st.Size() }

// Contents returns the model for tools that rewrite it (quantizer,
// converter). Its tensors still point into the map.
func (f *File) Contents() *Contents {
	c := &Contents{Name: f.name, Version: f.version, Config: f.cfg, Tokenizer: f.tok, Tensors: f.Tensors(), Extra: map[string]string{}}
	for k, v := range f.meta {
		if !reserved[k] {
			c.Extra[k] = v
		}
	}
	return c
}
