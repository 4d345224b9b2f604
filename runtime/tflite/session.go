//go:build tflite

package tflite

import (
	"context"
	"fmt"
	"slices"
	"unsafe"

	"github.com/edgeclip/edgeclip/runtime/cgobackend"
)

// towers holds one interpreter per tower, behind a cgobackend.Session:
// TFLite interpreters are not safe for concurrent use, so calls are
// serialised; each already uses the configured threads.
type towers struct {
	image, text *interpreter
	cgobackend.Dims
	ids, mask []int32
}

// check holds the interpreters to the shapes the exporter writes.
func (s *towers) check() error {
	S, C, E := s.ImageSize, s.ContextLen, s.Embed
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

func (s *towers) Close() error {
	for _, p := range []**interpreter{&s.image, &s.text} {
		if *p != nil {
			(*p).close()
			*p = nil
		}
	}
	return nil
}

func (s *towers) EncodeImages(ctx context.Context, pixels []float32, n int, out []float32) error {
	size, e := s.ImageSize, s.Embed
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

func (s *towers) EncodeTexts(ctx context.Context, ids [][]int32, out []float32) error {
	e, C := s.Embed, s.ContextLen
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
