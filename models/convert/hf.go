package convert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/tokenizer"
)

func init() { Register(hfLayout{}) }

// hfLayout reads a Hugging Face transformers CLIPModel directory:
// config.json, model.safetensors, vocab.json + merges.txt and, when present,
// preprocessor_config.json for the normalisation.
type hfLayout struct{}

func (hfLayout) Name() string { return "hf" }

// hfTower holds the fields of CLIPTextConfig / CLIPVisionConfig edgeclip
// reads. Missing keys keep transformers' defaults (set in hfDefaults).
type hfTower struct {
	HiddenSize   int     `json:"hidden_size"`
	Intermediate int     `json:"intermediate_size"`
	Heads        int     `json:"num_attention_heads"`
	Layers       int     `json:"num_hidden_layers"`
	Act          string  `json:"hidden_act"`
	LNEps        float32 `json:"layer_norm_eps"`
	MaxPositions int     `json:"max_position_embeddings"`
	VocabSize    int     `json:"vocab_size"`
	ImageSize    int     `json:"image_size"`
	PatchSize    int     `json:"patch_size"`
	Channels     int     `json:"num_channels"`
}

type hfConfig struct {
	ProjectionDim int     `json:"projection_dim"`
	Text          hfTower `json:"text_config"`
	Vision        hfTower `json:"vision_config"`
}

// hfDefaults are transformers' CLIPConfig defaults (openai/clip-vit-base-patch32).
func hfDefaults() hfConfig {
	return hfConfig{
		ProjectionDim: 512,
		Text: hfTower{HiddenSize: 512, Intermediate: 2048, Heads: 8, Layers: 12, Act: "quick_gelu", LNEps: 1e-5,
			MaxPositions: 77, VocabSize: 49408},
		Vision: hfTower{HiddenSize: 768, Intermediate: 3072, Heads: 12, Layers: 12, Act: "quick_gelu", LNEps: 1e-5,
			ImageSize: 224, PatchSize: 32, Channels: 3},
	}
}

func (hfLayout) Read(ctx context.Context, o *Options) (*Checkpoint, error) {
	dir := o.Src
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	} else if !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	cfg, err := readHFConfig(dir)
	if err != nil {
		return nil, err
	}
	weights := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(weights); errors.Is(err, fs.ErrNotExist) {
		for _, alt := range []string{"pytorch_model.bin", "model.safetensors.index.json"} {
			if _, err := os.Stat(filepath.Join(dir, alt)); err == nil {
				return nil, fmt.Errorf("convert: %s: only a single model.safetensors is read, found %s "+
					"(turn it into one with tools/pt2safetensors.py)", dir, alt)
			}
		}
	}
	s, err := openSource(weights)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if cfg.LogitScale, err = logitScale(s, "logit_scale"); err != nil {
		return nil, fmt.Errorf("convert: %s: %w", weights, err)
	}
	spec, err := hfTokenizer(dir, o)
	if err != nil {
		return nil, err
	}

	b := newBuilder(ctx, s)
	v, t, e, p := cfg.Vision, cfg.Text, cfg.EmbedDim, cfg.PatchSize
	const ve, te = "vision_model.embeddings.", "text_model.embeddings."
	b.copy(arch.VisPatch, ve+"patch_embedding.weight", []int{v.Width, 3, p, p}, v.Width, cfg.PatchDim())
	b.copy(arch.VisClass, ve+"class_embedding", []int{v.Width}, v.Width)
	b.copy(arch.VisPos, ve+"position_embedding.weight", []int{cfg.Tokens(), v.Width}, cfg.Tokens(), v.Width)
	b.copy(arch.VisLnPreW, "vision_model.pre_layrnorm.weight", []int{v.Width}, v.Width)
	b.copy(arch.VisLnPreB, "vision_model.pre_layrnorm.bias", []int{v.Width}, v.Width)
	b.copy(arch.VisLnPostW, "vision_model.post_layernorm.weight", []int{v.Width}, v.Width)
	b.copy(arch.VisLnPostB, "vision_model.post_layernorm.bias", []int{v.Width}, v.Width)
	b.copy(arch.VisProj, "visual_projection.weight", []int{e, v.Width}, e, v.Width)
	hfBlocks(b, "vision_model.encoder.layers.", arch.VisionPrefix, v)
	b.copy(arch.TxtToken, te+"token_embedding.weight", []int{cfg.VocabSize, t.Width}, cfg.VocabSize, t.Width)
	b.copy(arch.TxtPos, te+"position_embedding.weight", []int{cfg.ContextLen, t.Width}, cfg.ContextLen, t.Width)
	b.copy(arch.TxtLnFinalW, "text_model.final_layer_norm.weight", []int{t.Width}, t.Width)
	b.copy(arch.TxtLnFinalB, "text_model.final_layer_norm.bias", []int{t.Width}, t.Width)
	b.copy(arch.TxtProj, "text_projection.weight", []int{e, t.Width}, e, t.Width)
	hfBlocks(b, "text_model.encoder.layers.", arch.TextPrefix, t)
	// Buffers persisted by transformers before 4.31.
	s.ignore(ve+"position_ids", te+"position_ids")
	if err := b.finish(); err != nil {
		return nil, err
	}
	return &Checkpoint{Config: cfg, Tokenizer: spec, Tensors: b.out}, nil
}

func hfBlocks(b *builder, src, native string, tw arch.Tower) {
	w, h := tw.Width, tw.MLPWidth
	for i := range tw.Layers {
		p := fmt.Sprintf("%s%d.", src, i)
		n := arch.BlockNames(native, i)
		a := p + "self_attn."
		b.copy(n.Ln1W, p+"layer_norm1.weight", []int{w}, w)
		b.copy(n.Ln1B, p+"layer_norm1.bias", []int{w}, w)
		b.stacked(n.QKVW, []string{a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"}, w, w)
		b.stacked(n.QKVB, []string{a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"}, w)
		b.copy(n.OutW, a+"out_proj.weight", []int{w, w}, w, w)
		b.copy(n.OutB, a+"out_proj.bias", []int{w}, w)
		b.copy(n.Ln2W, p+"layer_norm2.weight", []int{w}, w)
		b.copy(n.Ln2B, p+"layer_norm2.bias", []int{w}, w)
		b.copy(n.FC1W, p+"mlp.fc1.weight", []int{h, w}, h, w)
		b.copy(n.FC1B, p+"mlp.fc1.bias", []int{h}, h)
		b.copy(n.FC2W, p+"mlp.fc2.weight", []int{w, h}, w, h)
		b.copy(n.FC2B, p+"mlp.fc2.bias", []int{w}, w)
	}
}

// readHFConfig reads config.json (and preprocessor_config.json's mean and
// std when present) into an architecture; LogitScale is left to the weights.
func readHFConfig(dir string) (arch.Config, error) {
	var cfg arch.Config
	path := filepath.Join(dir, "config.json")
	data, err := readSmall(path)
	if err != nil {
		return cfg, err
	}
	hc := hfDefaults()
	if err := json.Unmarshal(data, &hc); err != nil {
		return cfg, fmt.Errorf("convert: %s: %w", path, err)
	}
	v, t := hc.Vision, hc.Text
	bad := func(field string, format string, a ...any) error {
		return fmt.Errorf("convert: %s: %s: %s", path, field, fmt.Sprintf(format, a...))
	}
	if v.Act != t.Act {
		return cfg, bad("hidden_act", "text %q and vision %q differ; edgeclip runs one activation", t.Act, v.Act)
	}
	act := arch.Activation(v.Act)
	if act != arch.QuickGELU && act != arch.GELU {
		return cfg, bad("hidden_act", "%q not supported (want quick_gelu or gelu)", v.Act)
	}
	if v.LNEps != t.LNEps {
		return cfg, bad("layer_norm_eps", "text %g and vision %g differ", t.LNEps, v.LNEps)
	}
	if v.Channels != 3 {
		return cfg, bad("vision_config.num_channels", "%d, want 3", v.Channels)
	}
	cfg = arch.Config{
		ImageSize: v.ImageSize, PatchSize: v.PatchSize,
		Vision:     arch.Tower{Width: v.HiddenSize, Layers: v.Layers, Heads: v.Heads, MLPWidth: v.Intermediate},
		Text:       arch.Tower{Width: t.HiddenSize, Layers: t.Layers, Heads: t.Heads, MLPWidth: t.Intermediate},
		ContextLen: t.MaxPositions, VocabSize: t.VocabSize, EmbedDim: hc.ProjectionDim,
		Activation: act, LNEps: v.LNEps, Mean: arch.OpenAIMean, Std: arch.OpenAIStd,
	}
	path = filepath.Join(dir, "preprocessor_config.json")
	data, err = readSmall(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	} else if err != nil {
		return cfg, err
	}
	var pp struct {
		Mean []float32 `json:"image_mean"`
		Std  []float32 `json:"image_std"`
	}
	if err := json.Unmarshal(data, &pp); err != nil {
		return cfg, fmt.Errorf("convert: %s: %w", path, err)
	}
	if pp.Mean != nil || pp.Std != nil {
		if len(pp.Mean) != 3 || len(pp.Std) != 3 {
			return cfg, fmt.Errorf("convert: %s: image_mean and image_std need 3 values each, got %v and %v", path, pp.Mean, pp.Std)
		}
		copy(cfg.Mean[:], pp.Mean)
		copy(cfg.Std[:], pp.Std)
	}
	return cfg, nil
}

// hfTokenizer reads vocab.json + merges.txt, or the --bpe file when given.
func hfTokenizer(dir string, o *Options) (models.TokenizerSpec, error) {
	if o.BPE != "" {
		merges, err := tokenizer.LoadCLIPBPE(o.BPE)
		if err != nil {
			return models.TokenizerSpec{}, fmt.Errorf("convert: %w", err)
		}
		return models.TokenizerSpec{Type: models.TokenizerCLIPBPE, Merges: merges}, nil
	}
	merges, vocab, err := tokenizer.LoadHF(filepath.Join(dir, "vocab.json"), filepath.Join(dir, "merges.txt"))
	if err != nil {
		return models.TokenizerSpec{}, fmt.Errorf("convert: %w", err)
	}
	return models.TokenizerSpec{Type: models.TokenizerCLIPBPE, Merges: merges, Vocab: vocab}, nil
}
