// Package native is edgeclip's pure-Go CLIP engine and the reference every
// other backend is checked against (runtime/backendtest). It runs fp32,
// weight-only int8 (w8) and dynamic int8 (w8a8) on all cores.
package native

import (
	"context"
	"fmt"
	goruntime "runtime"
	"sync"

	"github.com/edgeclip/edgeclip/runtime"
)

func init() { runtime.Register(Backend{}) }

// Backend is the native engine. The zero value is ready to use.
type Backend struct{}

func (Backend) Name() string { return "native" }

func (Backend) Capabilities() runtime.Capabilities {
	return runtime.Capabilities{
		Precisions:    []runtime.Precision{runtime.FP32, runtime.W8, runtime.W8A8},
		Devices:       []string{"cpu"},
		TextEarlyExit: true,
	}
}

// Open resolves every weight once (a view into the model file where the
// bytes allow it) and plans nothing else: buffers grow on first use and are
// then reused, so steady-state encoding does not allocate.
func (b Backend) Open(ctx context.Context, w runtime.Weights, opts runtime.Options) (runtime.Session, error) {
	prec := opts.Precision
	if prec == "" {
		prec = runtime.FP32
	}
	if !b.Capabilities().Supports(prec) {
		return nil, fmt.Errorf("native: precision %q: %w", prec, runtime.ErrNotSupported)
	}
	if opts.Device != "" && opts.Device != "cpu" {
		return nil, fmt.Errorf("native: device %q: %w", opts.Device, runtime.ErrNotSupported)
	}
	m, err := load(w, prec)
	if err != nil {
		return nil, err
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = goruntime.GOMAXPROCS(0)
	}
	return &session{m: m, prec: prec, threads: threads, workers: newPool(threads)}, nil
}

// session serialises calls: one set of buffers, all cores per call.
type session struct {
	mu      sync.Mutex
	m       *model
	prec    runtime.Precision
	threads int
	workers *pool
	jobs    struct {
		lin  linearJob
		norm normJob
		gelu geluJob
		att  attentionJob
	}
	buf    buffers
	spans  []span
	closed bool
}

type span struct{ off, n int }

func (s *session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.workers.stop()
	}
	s.closed = true
	s.buf = buffers{}
	return nil
}

var errClosed = fmt.Errorf("native: session closed")

func (s *session) EncodeImages(ctx context.Context, pixels []float32, n int, out []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	c := &s.m.cfg
	size, e := c.ImageSize, c.EmbedDim
	if n < 0 || len(pixels) != n*3*size*size {
		return fmt.Errorf("native: EncodeImages: %d pixels for %d images of 3×%d×%d", len(pixels), n, size, size)
	}
	if len(out) != n*e {
		return fmt.Errorf("native: EncodeImages: output length %d, want %d", len(out), n*e)
	}
	if n == 0 {
		return nil
	}
	w, T, g, p, pd := c.Vision.Width, c.Tokens(), c.Grid(), c.PatchSize, c.PatchDim()
	total := n * T
	x := s.buf.f32(&s.buf.x, total*w)
	// Patch embedding as one matmul over all patches of all images.
	patches := s.buf.f32(&s.buf.patches, n*g*g*pd)
	for img := range n {
		px := pixels[img*3*size*size:]
		for gy := range g {
			for gx := range g {
				dst := patches[((img*g+gy)*g+gx)*pd:]
				for ch := range 3 {
					for ky := range p {
						row := px[ch*size*size+(gy*p+ky)*size+gx*p:]
						copy(dst[(ch*p+ky)*p:(ch*p+ky)*p+p], row[:p])
					}
				}
			}
		}
	}
	pe := s.buf.f32(&s.buf.h, n*g*g*w)
	s.linear(&s.m.patch, patches, n*g*g, pe)
	s.spans = s.spans[:0]
	for img := range n {
		base := img * T * w
		copy(x[base:base+w], s.m.class)
		copy(x[base+w:base+T*w], pe[img*g*g*w:(img+1)*g*g*w])
		for i, v := range s.m.vpos {
			x[base+i] += v
		}
		s.spans = append(s.spans, span{img * T, T})
	}
	h := s.buf.f32(&s.buf.h, total*w)
	layerNorm(x, total, w, s.m.lnPreW, s.m.lnPreB, c.LNEps, h)
	copy(x, h)
	if err := s.tower(ctx, &s.m.vis, x, total, false); err != nil {
		return err
	}
	return s.pool(x, w, s.m.lnPostW, s.m.lnPostB, &s.m.vproj, out)
}

func (s *session) EncodeTexts(ctx context.Context, ids [][]int32, out []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	c := &s.m.cfg
	if len(out) != len(ids)*c.EmbedDim {
		return fmt.Errorf("native: EncodeTexts: output length %d, want %d", len(out), len(ids)*c.EmbedDim)
	}
	total := 0
	for i, seq := range ids {
		if len(seq) == 0 || len(seq) > c.ContextLen {
			return fmt.Errorf("native: EncodeTexts: text %d has %d tokens, want 1..%d", i, len(seq), c.ContextLen)
		}
		for j, id := range seq {
			if id < 0 || int(id) >= c.VocabSize {
				return fmt.Errorf("native: EncodeTexts: text %d token %d: id %d outside vocabulary of %d", i, j, id, c.VocabSize)
			}
		}
		total += len(seq)
	}
	if len(ids) == 0 {
		return nil
	}
	w := c.Text.Width
	x := s.buf.f32(&s.buf.x, total*w)
	s.spans = s.spans[:0]
	off := 0
	// Under the causal mask, positions after the end token cannot change
	// it, so each text runs only up to its end token.
	for _, seq := range ids {
		for j, id := range seq {
			row := x[(off+j)*w : (off+j+1)*w]
			copy(row, s.m.tok[int(id)*w:(int(id)+1)*w])
			for k, v := range s.m.tpos[j*w : (j+1)*w] {
				row[k] += v
			}
		}
		s.spans = append(s.spans, span{off, len(seq)})
		off += len(seq)
	}
	if err := s.tower(ctx, &s.m.txt, x, total, true); err != nil {
		return err
	}
	// Pool at each text's end token: its last position.
	for i := range s.spans {
		s.spans[i].off += s.spans[i].n - 1
	}
	return s.pool(x, w, s.m.lnFinW, s.m.lnFinB, &s.m.tproj, out)
}

// pool takes the row at each span's offset, normalises and projects it.
func (s *session) pool(x []float32, w int, g, b []float32, proj *linear, out []float32) error {
	n := len(s.spans)
	rows := s.buf.f32(&s.buf.pooled, n*w)
	for i, sp := range s.spans {
		layerNorm(x[sp.off*w:(sp.off+1)*w], 1, w, g, b, s.m.cfg.LNEps, rows[i*w:(i+1)*w])
	}
	s.linear(proj, rows, n, out)
	e := s.m.cfg.EmbedDim
	for i := range n {
		l2normalize(out[i*e : (i+1)*e])
	}
	return nil
}

func (s *session) tower(ctx context.Context, t *tower, x []float32, total int, causal bool) error {
	w, eps := t.width, s.m.cfg.LNEps
	h := s.buf.f32(&s.buf.h, total*w)
	qkv := s.buf.f32(&s.buf.qkv, total*3*w)
	attOut := s.buf.f32(&s.buf.att, total*w)
	mlp := s.buf.f32(&s.buf.mlp, total*t.mlp)
	maxLen := 0
	for _, sp := range s.spans {
		maxLen = max(maxLen, sp.n)
	}
	scratch := s.buf.scores(s.threads, attentionScratch(maxLen, w/t.heads))
	norm := &s.jobs.norm
	*norm = normJob{x: x, h: h, w: w, eps: eps}
	att := &s.jobs.att
	*att = attentionJob{spans: s.spans, qkv: qkv, att: attOut, scratch: scratch, w: w, heads: t.heads, causal: causal}
	act := &s.jobs.gelu
	*act = geluJob{x: mlp, w: t.mlp, quick: s.m.quick}
	for bi := range t.blocks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("native: %w", err)
		}
		b := &t.blocks[bi]
		norm.g, norm.b = b.ln1w, b.ln1b
		s.workers.run(norm, total, 16)
		s.linear(&b.qkv, h, total, qkv)
		s.workers.run(att, len(s.spans)*t.heads, 1)
		s.linearAdd(&b.out, attOut, total, h, x)
		norm.g, norm.b = b.ln2w, b.ln2b
		s.workers.run(norm, total, 16)
		s.linear(&b.fc1, h, total, mlp)
		s.workers.run(act, total, 8)
		s.linearAdd(&b.fc2, mlp, total, h, x)
	}
	return nil
}

// buffers are grown on demand and reused across calls.
type buffers struct {
	x, h, qkv, att, mlp, patches, pooled []float32
	sc                                   [][]float32
	xq                                   []byte
	xs                                   []float32
	xz                                   []int32
}

func (b *buffers) f32(p *[]float32, n int) []float32 {
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return *p
}

func grow2(p *[][]float32, workers, n int) [][]float32 {
	if len(*p) < workers || (len(*p) > 0 && cap((*p)[0]) < n) {
		*p = make([][]float32, workers)
		for i := range *p {
			(*p)[i] = make([]float32, n)
		}
	}
	for i := range *p {
		(*p)[i] = (*p)[i][:n]
	}
	return *p
}

func (b *buffers) scores(workers, n int) [][]float32 { return grow2(&b.sc, workers, n) }

// act returns the w8a8 activation buffers: n bytes of quantized rows in
// the kernels' layout, and the per-row scales and zero points.
func (b *buffers) act(n, rows int) ([]byte, []float32, []int32) {
	if cap(b.xq) < n {
		b.xq = make([]byte, n)
	}
	if cap(b.xs) < rows {
		b.xs = make([]float32, rows)
		b.xz = make([]int32, rows)
	}
	return b.xq[:n], b.xs[:rows], b.xz[:rows]
}
