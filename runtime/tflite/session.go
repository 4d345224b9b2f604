//go:build tflite

package tflite

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"unsafe"
)

// session holds one interpreter per tower. TFLite interpreters are not
// safe for concurrent use, so calls are serialised; each already uses the
// configured threads.
type session struct {
	mu          sync.Mutex
	image, text *interpreter
	embed       int
	imageSize   int
	contextLen  int
	vocab       int
	ids, mask   []int32
	closed      bool
}

var errClosed = fmt.Errorf("tflite: session closed")

// check holds the interpreters to the shapes the exporter writes.
func (s *session) check() error {
	S, C, E := s.imageSize, s.contextLen, s.embed
	want := []struct {
		it   *interpreter
		file string
		in   [][]int
		typ  []int
	}{
		{s.image, "image.tflite", [][]int{{1, 3, S, S}}, []int{typeFloat32}},
		{s.text, "text.tflite", [][]int{{1, C}, {1, C}}, []int{typeInt32, typeInt32}},
	}
	for _, w := range want {
		if len(w.it.inputs) != len(w.in) {
			return fmt.Errorf("tflite: %s: %d inputs, want %d", w.file, len(w.it.inputs), len(w.in))
		}
		for i, shape := range w.in {
			if got := w.it.inputs[i]; !slices.Equal(got.shape, shape) || got.typ != w.typ[i] {
				return fmt.Errorf("tflite: %s: input %q is type %d %v, want type %d %v", w.file, got.name, got.typ, got.shape, w.typ[i], shape)
			}
		}
		if o := w.it.output; !slices.Equal(o.shape, []int{1, E}) || o.typ != typeFloat32 {
			return fmt.Errorf("tflite: %s: output %q is type %d %v, want float32 [1 %d]", w.file, o.name, o.typ, o.shape, E)
		}
	}
	s.ids, s.mask = make([]int32, C), make([]int32, C)
	return nil
}

func (s *session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, p := range []**interpreter{&s.image, &s.text} {
		if *p != nil {
			(*p).close()
			*p = nil
		}
	}
	return nil
}

func (s *session) EncodeImages(ctx context.Context, pixels []float32, n int, out []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	size, e := s.imageSize, s.embed
	if n < 0 || len(pixels) != n*3*size*size {
		return fmt.Errorf("tflite: EncodeImages: %d pixels for %d images of 3×%d×%d", len(pixels), n, size, size)
	}
	if len(out) != n*e {
		return fmt.Errorf("tflite: EncodeImages: output length %d, want %d", len(out), n*e)
	}
	px := 3 * size * size
	for i := range n {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("tflite: %w", err)
		}
		in, o := pixels[i*px:(i+1)*px], out[i*e:(i+1)*e]
		if err := s.image.run(unsafe.Pointer(&in[0]), 4*px, nil, 0, unsafe.Pointer(&o[0]), 4*e); err != nil {
			return fmt.Errorf("tflite: EncodeImages: image %d: %w", i, err)
		}
	}
	return nil
}

func (s *session) EncodeTexts(ctx context.Context, ids [][]int32, out []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	e, C := s.embed, s.contextLen
	if len(out) != len(ids)*e {
		return fmt.Errorf("tflite: EncodeTexts: output length %d, want %d", len(out), len(ids)*e)
	}
	for i, seq := range ids {
		if len(seq) == 0 || len(seq) > C {
			return fmt.Errorf("tflite: EncodeTexts: text %d has %d tokens, want 1..%d", i, len(seq), C)
		}
		for j, id := range seq {
			if id < 0 || int(id) >= s.vocab {
				return fmt.Errorf("tflite: EncodeTexts: text %d token %d: id %d outside vocabulary of %d", i, j, id, s.vocab)
			}
		}
	}
	for i, seq := range ids {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("tflite: %w", err)
		}
		// Right-padded with id 0 and mask 0: the graph pools at the last
		// masked-in position, and causal attention keeps padding unseen.
		clear(s.ids)
		clear(s.mask)
		copy(s.ids, seq)
		for j := range seq {
			s.mask[j] = 1
		}
		o := out[i*e : (i+1)*e]
		if err := s.text.run(unsafe.Pointer(&s.ids[0]), 4*C, unsafe.Pointer(&s.mask[0]), 4*C, unsafe.Pointer(&o[0]), 4*e); err != nil {
			return fmt.Errorf("tflite: EncodeTexts: text %d: %w", i, err)
		}
	}
	return nil
}
