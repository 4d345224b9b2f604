package convert

import (
	"context"
	"fmt"
	"math"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/tokenizer"
)

func init() {
	Register(openaiLayout{})
	Register(openCLIPLayout{})
}

// openaiLayout reads an OpenAI CLIP ViT state dict (clip/model.py names):
// the TorchScript archive's state_dict() saved as safetensors. The
// architecture is inferred from tensor shapes as clip.build_model does;
// heads are width/64 unless given; the activation is QuickGELU.
type openaiLayout struct{}

func (openaiLayout) Name() string { return "openai" }

func (openaiLayout) Read(ctx context.Context, o *Options) (*Checkpoint, error) {
	return readOpenAIStyle(ctx, o, false, nil)
}

// openCLIPLayout reads an OpenCLIP CLIP state dict. Its names are OpenAI's
// (plus an optional attn_mask buffer); the activation is GELU unless the
// model config says quick_gelu, and head counts come from that config.
type openCLIPLayout struct{}

func (openCLIPLayout) Name() string { return "openclip" }

func (openCLIPLayout) Read(ctx context.Context, o *Options) (*Checkpoint, error) {
	oc, err := loadOpenCLIPConfig(o)
	if err != nil {
		return nil, err
	}
	return readOpenAIStyle(ctx, o, true, oc)
}

// readOpenAIStyle reads the OpenAI naming. OpenCLIP checkpoints differ in
// their default activation (GELU) and may come with a model config (oc).
func readOpenAIStyle(ctx context.Context, o *Options, openclip bool, oc *openCLIPConfig) (*Checkpoint, error) {
	s, err := openSource(o.Src)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	cfg, err := inferOpenAI(s, o, openclip, oc)
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", o.Src, err)
	}
	if o.BPE == "" {
		return nil, fmt.Errorf("convert: %s: the %s layout needs CLIP's BPE merges file (--bpe)", o.Src, o.From)
	}
	merges, err := tokenizer.LoadCLIPBPE(o.BPE)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}

	b := newBuilder(ctx, s)
	v, t, e, p := cfg.Vision, cfg.Text, cfg.EmbedDim, cfg.PatchSize
	b.copy(arch.VisPatch, "visual.conv1.weight", []int{v.Width, 3, p, p}, v.Width, cfg.PatchDim())
	b.copy(arch.VisClass, "visual.class_embedding", []int{v.Width}, v.Width)
	b.copy(arch.VisPos, "visual.positional_embedding", []int{cfg.Tokens(), v.Width}, cfg.Tokens(), v.Width)
	b.copy(arch.VisLnPreW, "visual.ln_pre.weight", []int{v.Width}, v.Width)
	b.copy(arch.VisLnPreB, "visual.ln_pre.bias", []int{v.Width}, v.Width)
	b.copy(arch.VisLnPostW, "visual.ln_post.weight", []int{v.Width}, v.Width)
	b.copy(arch.VisLnPostB, "visual.ln_post.bias", []int{v.Width}, v.Width)
	b.transposed(arch.VisProj, "visual.proj", v.Width, e)
	openAIBlocks(b, "visual.transformer.resblocks.", arch.VisionPrefix, v)
	b.copy(arch.TxtToken, "token_embedding.weight", []int{cfg.VocabSize, t.Width}, cfg.VocabSize, t.Width)
	b.copy(arch.TxtPos, "positional_embedding", []int{cfg.ContextLen, t.Width}, cfg.ContextLen, t.Width)
	b.copy(arch.TxtLnFinalW, "ln_final.weight", []int{t.Width}, t.Width)
	b.copy(arch.TxtLnFinalB, "ln_final.bias", []int{t.Width}, t.Width)
	b.transposed(arch.TxtProj, "text_projection", t.Width, e)
	openAIBlocks(b, "transformer.resblocks.", arch.TextPrefix, t)
	// Buffers that carry no weights: OpenAI's TorchScript scalars (checked
	// in inferOpenAI) and OpenCLIP's causal mask.
	s.ignore("input_resolution", "context_length", "vocab_size", "attn_mask")
	if err := b.finish(); err != nil {
		return nil, err
	}
	return &Checkpoint{Config: cfg, Tokenizer: models.TokenizerSpec{Type: models.TokenizerCLIPBPE, Merges: merges}, Tensors: b.out}, nil
}

func openAIBlocks(b *builder, src, native string, tw arch.Tower) {
	w, h := tw.Width, tw.MLPWidth
	for i := range tw.Layers {
		p := fmt.Sprintf("%s%d.", src, i)
		n := arch.BlockNames(native, i)
		b.copy(n.Ln1W, p+"ln_1.weight", []int{w}, w)
		b.copy(n.Ln1B, p+"ln_1.bias", []int{w}, w)
		b.copy(n.QKVW, p+"attn.in_proj_weight", []int{3 * w, w}, 3*w, w)
		b.copy(n.QKVB, p+"attn.in_proj_bias", []int{3 * w}, 3*w)
		b.copy(n.OutW, p+"attn.out_proj.weight", []int{w, w}, w, w)
		b.copy(n.OutB, p+"attn.out_proj.bias", []int{w}, w)
		b.copy(n.Ln2W, p+"ln_2.weight", []int{w}, w)
		b.copy(n.Ln2B, p+"ln_2.bias", []int{w}, w)
		b.copy(n.FC1W, p+"mlp.c_fc.weight", []int{h, w}, h, w)
		b.copy(n.FC1B, p+"mlp.c_fc.bias", []int{h}, h)
		b.copy(n.FC2W, p+"mlp.c_proj.weight", []int{w, h}, w, h)
		b.copy(n.FC2B, p+"mlp.c_proj.bias", []int{w}, w)
	}
}

// inferOpenAI derives the architecture from tensor shapes (clip.build_model),
// then applies the OpenCLIP config and the options.
func inferOpenAI(s *source, o *Options, openclip bool, oc *openCLIPConfig) (arch.Config, error) {
	cfg := arch.Config{LNEps: 1e-5, Mean: arch.OpenAIMean, Std: arch.OpenAIStd, Activation: arch.QuickGELU}
	if s.has("visual.layer1.0.conv1.weight") || s.has("visual.attnpool.positional_embedding") {
		return cfg, fmt.Errorf("ResNet image towers are not supported (ViT only)")
	}
	var err error
	get := func(name string, rank, i int) int {
		if err != nil {
			return 0
		}
		var d int
		d, err = dim(s, name, rank, i)
		return d
	}
	cfg.Vision.Width = get("visual.conv1.weight", 4, 0)
	cfg.PatchSize = get("visual.conv1.weight", 4, 3)
	tokens := get("visual.positional_embedding", 2, 0)
	cfg.Vision.MLPWidth = get("visual.transformer.resblocks.0.mlp.c_fc.weight", 2, 0)
	cfg.Text.Width = get("ln_final.weight", 1, 0)
	cfg.Text.MLPWidth = get("transformer.resblocks.0.mlp.c_fc.weight", 2, 0)
	cfg.ContextLen = get("positional_embedding", 2, 0)
	cfg.VocabSize = get("token_embedding.weight", 2, 0)
	cfg.EmbedDim = get("text_projection", 2, 1)
	if err != nil {
		return cfg, err
	}
	grid := int(math.Round(math.Sqrt(float64(tokens - 1))))
	if grid*grid+1 != tokens {
		return cfg, fmt.Errorf("tensor %q: %d positions is not a square grid plus the class token", "visual.positional_embedding", tokens)
	}
	cfg.ImageSize = grid * cfg.PatchSize
	cfg.Vision.Layers = layerCount(s, "visual.transformer.resblocks.")
	cfg.Text.Layers = layerCount(s, "transformer.resblocks.")
	if cfg.LogitScale, err = logitScale(s, "logit_scale"); err != nil {
		return cfg, err
	}

	// OpenAI's TorchScript archives record three scalars; they must agree.
	for _, c := range []struct {
		name string
		want int
	}{{"input_resolution", cfg.ImageSize}, {"context_length", cfg.ContextLen}, {"vocab_size", cfg.VocabSize}} {
		if v, ok := s.int(c.name); ok && int(v) != c.want {
			return cfg, fmt.Errorf("tensor %q: %d, but the weights imply %d", c.name, v, c.want)
		}
	}

	vh, th := 0, 0
	if openclip {
		cfg.Activation = arch.GELU
	}
	if oc != nil {
		if vh, th, err = oc.apply(&cfg); err != nil {
			return cfg, err
		}
	}
	if cfg.Vision.Heads, err = heads("vision", o.VisionHeads, vh, cfg.Vision.Width); err != nil {
		return cfg, err
	}
	if cfg.Text.Heads, err = heads("text", o.TextHeads, th, cfg.Text.Width); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// heads picks the head count: the option, else the model config, else
// OpenAI's rule width/64.
func heads(tower string, opt, fromCfg, width int) (int, error) {
	switch {
	case opt > 0:
		if width%opt != 0 {
			return 0, fmt.Errorf("%s heads %d do not divide width %d", tower, opt, width)
		}
		return opt, nil
	case fromCfg > 0:
		return fromCfg, nil
	case width >= 64 && width%64 == 0:
		return width / 64, nil
	}
	return 0, fmt.Errorf("cannot infer the %s tower's heads: width %d is not a multiple of 64 (give --%s-heads)", tower, width, tower)
}

// logitScale reads the checkpoint's log scale (shape [] or [1]) and returns
// the multiplier exp(value) that edgeclip stores.
func logitScale(s *source, name string) (float32, error) {
	v, _, err := s.floats(name)
	if err != nil {
		return 0, fmt.Errorf("tensor %q: %w", name, err)
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("tensor %q: shape %v, want a scalar", name, s.shape(name))
	}
	return float32(math.Exp(float64(v[0]))), nil
}
