//go:build ort

package ort

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	ortgo "github.com/yalue/onnxruntime_go"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/export/onnx"
	"github.com/edgeclip/edgeclip/runtime"
	"github.com/edgeclip/edgeclip/runtime/cgobackend"
)

// towers holds one ONNX Runtime session per tower, behind a
// cgobackend.Session that serialises calls: each already uses every
// intra-op thread, and the text buffers are shared.
type towers struct {
	image, text *ortgo.DynamicAdvancedSession
	cgobackend.Dims
	hasMask   bool
	ids, mask []int64
}

func (s *towers) Close() error {
	var errs []error
	for _, p := range []**ortgo.DynamicAdvancedSession{&s.image, &s.text} {
		if *p != nil {
			if err := (*p).Destroy(); err != nil {
				errs = append(errs, err)
			}
			*p = nil
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("ort: close: %v", errs)
	}
	return nil
}

func (s *towers) EncodeImages(ctx context.Context, pixels []float32, n int, out []float32) error {
	size, e := s.ImageSize, s.Embed
	if n == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ort: %w", err)
	}
	// The tensors wrap the caller's slices: no copy in or out.
	in, err := ortgo.NewTensor(ortgo.NewShape(int64(n), 3, int64(size), int64(size)), pixels)
	if err != nil {
		return fmt.Errorf("ort: EncodeImages: %w", err)
	}
	defer in.Destroy()
	o, err := ortgo.NewTensor(ortgo.NewShape(int64(n), int64(e)), out)
	if err != nil {
		return fmt.Errorf("ort: EncodeImages: %w", err)
	}
	defer o.Destroy()
	if err := s.image.Run([]ortgo.Value{in}, []ortgo.Value{o}); err != nil {
		return fmt.Errorf("ort: EncodeImages: %w", err)
	}
	normalize(out, e)
	return nil
}

func (s *towers) EncodeTexts(ctx context.Context, ids [][]int32, out []float32) error {
	e := s.Embed
	if len(ids) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ort: %w", err)
	}
	var L int
	s.ids, s.mask, L = export.PadTexts(ids, s.ids, s.mask)
	shape := ortgo.NewShape(int64(len(ids)), int64(L))
	inputs := make([]ortgo.Value, 0, 2)
	t, err := ortgo.NewTensor(shape, s.ids)
	if err != nil {
		return fmt.Errorf("ort: EncodeTexts: %w", err)
	}
	defer t.Destroy()
	inputs = append(inputs, t)
	if s.hasMask {
		m, err := ortgo.NewTensor(shape, s.mask)
		if err != nil {
			return fmt.Errorf("ort: EncodeTexts: %w", err)
		}
		defer m.Destroy()
		inputs = append(inputs, m)
	}
	o, err := ortgo.NewTensor(ortgo.NewShape(int64(len(ids)), int64(e)), out)
	if err != nil {
		return fmt.Errorf("ort: EncodeTexts: %w", err)
	}
	defer o.Destroy()
	if err := s.text.Run(inputs, []ortgo.Value{o}); err != nil {
		return fmt.Errorf("ort: EncodeTexts: %w", err)
	}
	normalize(out, e)
	return nil
}

// normalize L2-normalises each row: a no-op for edgeclip's exports, and
// what makes Optimum's unnormalised text_embeds/image_embeds comparable.
func normalize(x []float32, e int) {
	for i := 0; i+e <= len(x); i += e {
		row := x[i : i+e]
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		if s == 0 {
			continue
		}
		inv := float32(1 / math.Sqrt(s))
		for j := range row {
			row[j] *= inv
		}
	}
}

// OpenDir runs an existing ONNX pair: dir/image.onnx (pixel_values →
// image_embeds) and dir/text.onnx (input_ids [, attention_mask] →
// text_embeds), as edgeclip export or Hugging Face Optimum write them. The
// image size and embedding width come from the files' declared shapes;
// texts are right-padded with id 0 and pooled however the file pools
// (Optimum's CLIP uses argmax of input_ids, which needs the end token to
// have the highest id, as in every OpenAI vocabulary).
func (b *Backend) OpenDir(ctx context.Context, dir string, opts runtime.Options) (runtime.Session, error) {
	c := b.config()
	if err := initEnv(findLibrary(c)); err != nil {
		return nil, err
	}
	if opts.Precision != "" && opts.Precision != runtime.FP32 {
		return nil, fmt.Errorf("ort: %s: precision %q of a prebuilt ONNX pair is fixed by its files: %w", dir, opts.Precision, runtime.ErrNotSupported)
	}
	s := &towers{}
	imgPath, txtPath := filepath.Join(dir, onnx.ImageFile), filepath.Join(dir, onnx.TextFile)
	ins, outs, err := ortgo.GetInputOutputInfo(imgPath)
	if err != nil {
		return nil, fmt.Errorf("ort: %s: %w", imgPath, err)
	}
	px := find(ins, export.PixelValues)
	emb := find(outs, export.ImageEmbeds)
	if px == nil || emb == nil || len(px.Dimensions) != 4 || len(emb.Dimensions) != 2 ||
		px.Dimensions[2] <= 0 || px.Dimensions[2] != px.Dimensions[3] || emb.Dimensions[1] <= 0 {
		return nil, fmt.Errorf("ort: %s: want input %s [batch, 3, S, S] and output %s [batch, E]", imgPath, export.PixelValues, export.ImageEmbeds)
	}
	s.ImageSize, s.Embed = int(px.Dimensions[2]), int(emb.Dimensions[1])
	tins, touts, err := ortgo.GetInputOutputInfo(txtPath)
	if err != nil {
		return nil, fmt.Errorf("ort: %s: %w", txtPath, err)
	}
	temb, tids := find(touts, export.TextEmbeds), find(tins, export.InputIDs)
	if tids == nil || tids.DataType != ortgo.TensorElementDataTypeInt64 || temb == nil || len(temb.Dimensions) != 2 || temb.Dimensions[1] != int64(s.Embed) {
		return nil, fmt.Errorf("ort: %s: want int64 input %s and output %s [batch, %d]", txtPath, export.InputIDs, export.TextEmbeds, s.Embed)
	}
	s.hasMask = find(tins, export.AttentionMask) != nil
	textIn := []string{export.InputIDs}
	if s.hasMask {
		textIn = append(textIn, export.AttentionMask)
	}
	for _, t := range []struct {
		path string
		dst  **ortgo.DynamicAdvancedSession
		in   []string
		out  string
	}{{imgPath, &s.image, []string{export.PixelValues}, export.ImageEmbeds}, {txtPath, &s.text, textIn, export.TextEmbeds}} {
		so, err := c.sessionOptions(opts, "")
		if err != nil {
			s.Close()
			return nil, err
		}
		*t.dst, err = ortgo.NewDynamicAdvancedSession(t.path, t.in, []string{t.out}, so)
		so.Destroy()
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("ort: %s: %w", t.path, err)
		}
	}
	return cgobackend.NewSession("ort", s.Dims, s), nil
}

func find(infos []ortgo.InputOutputInfo, name string) *ortgo.InputOutputInfo {
	i := slices.IndexFunc(infos, func(x ortgo.InputOutputInfo) bool { return x.Name == name })
	if i < 0 {
		return nil
	}
	return &infos[i]
}
