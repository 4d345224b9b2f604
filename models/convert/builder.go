package convert

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxReported bounds how many tensor problems one error lists.
const maxReported = 20

// builder maps source tensors onto native ones, collecting every problem
// by source tensor name instead of stopping at the first.
type builder struct {
	ctx  context.Context
	src  *source
	out  map[string]Tensor
	errs []error
}

func newBuilder(ctx context.Context, src *source) *builder {
	return &builder{ctx: ctx, src: src, out: map[string]Tensor{}}
}

func (b *builder) fail(name, format string, a ...any) {
	b.errs = append(b.errs, fmt.Errorf("tensor %q: %s", name, fmt.Sprintf(format, a...)))
}

// take reads a source tensor and checks its shape; nil after a failure.
func (b *builder) take(name string, shape ...int) []float32 {
	if b.ctx.Err() != nil {
		return nil
	}
	if got := b.src.shape(name); b.src.has(name) && !sameShape(got, shape) {
		b.src.used[name] = true
		b.fail(name, "shape %v, want %v", got, shape)
		return nil
	}
	data, _, err := b.src.floats(name)
	if err != nil {
		b.fail(name, "%v", err)
		return nil
	}
	return data
}

// put stores a native tensor unless its data is missing (already reported).
func (b *builder) put(native string, data []float32, shape ...int) {
	if data != nil {
		b.out[native] = Tensor{Shape: shape, Data: data}
	}
}

// copy maps a source tensor of shape srcShape onto a native one of shape
// (same element order, e.g. a conv weight flattened to a matrix).
func (b *builder) copy(native, src string, srcShape []int, shape ...int) {
	b.put(native, b.take(src, srcShape...), shape...)
}

// transposed maps a source matrix [rows, cols] onto native [cols, rows]
// (OpenAI keeps projections as x @ P; edgeclip stores linear weights [out, in]).
func (b *builder) transposed(native, src string, rows, cols int) {
	d := b.take(src, rows, cols)
	if d == nil {
		return
	}
	t := make([]float32, len(d))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = d[r*cols+c]
		}
	}
	b.put(native, t, cols, rows)
}

// stacked concatenates source tensors along the first axis, each of shape
// part (Hugging Face's separate q, k, v projections into one qkv).
func (b *builder) stacked(native string, srcs []string, part ...int) {
	var all []float32
	ok := true
	for _, s := range srcs {
		d := b.take(s, part...)
		ok = ok && d != nil
		all = append(all, d...)
	}
	if ok {
		shape := append([]int{part[0] * len(srcs)}, part[1:]...)
		b.put(native, all, shape...)
	}
}

// finish reports unexpected source tensors and returns every problem as one error.
func (b *builder) finish() error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	for _, n := range b.src.unused() {
		b.fail(n, "unexpected")
	}
	return joinErrs(b.src.path, b.errs)
}

// joinErrs makes one error of many, sorted, naming the file once.
func joinErrs(path string, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	sortErrs(errs)
	n := len(errs)
	if n > maxReported {
		errs = append(errs[:maxReported:maxReported], fmt.Errorf("and %d more problems", n-maxReported))
	}
	return fmt.Errorf("convert: %s: %d problem(s):\n%w", path, n, errors.Join(errs...))
}

// layerCount counts the blocks under prefix ("visual.transformer.resblocks.")
// as one more than the highest index present; gaps surface as missing tensors.
func layerCount(s *source, prefix string) int {
	n := 0
	for name := range s.tensors {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(idx); err == nil && i >= 0 && i < 1<<10 && i+1 > n {
			n = i + 1
		}
	}
	return n
}

// dim returns axis i of a source tensor's shape, or an error naming it.
func dim(s *source, name string, rank, i int) (int, error) {
	if !s.has(name) {
		return 0, fmt.Errorf("tensor %q: %w (needed to infer the architecture)", name, errMissing)
	}
	sh := s.shape(name)
	if len(sh) != rank {
		return 0, fmt.Errorf("tensor %q: shape %v, want %d dimensions", name, sh, rank)
	}
	return sh[i], nil
}
