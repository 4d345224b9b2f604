package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/edgeclip/edgeclip/models/arch"
)

// maxConfigBytes bounds the JSON side files a converter reads.
const maxConfigBytes = 4 << 20

// openCLIPConfig is the part of an OpenCLIP model config that edgeclip
// needs, plus the fields that select towers it cannot run. Zero means
// "not given"; OpenCLIP's defaults apply (head_width 64, 8 text heads).
type openCLIPConfig struct {
	path      string
	EmbedDim  int  `json:"embed_dim"`
	QuickGELU bool `json:"quick_gelu"`
	Vision    struct {
		ImageSize     json.RawMessage `json:"image_size"` // int or [h, w]
		Layers        json.RawMessage `json:"layers"`     // int, or a list for ResNets
		Width         int             `json:"width"`
		PatchSize     int             `json:"patch_size"`
		HeadWidth     int             `json:"head_width"`
		TimmModelName string          `json:"timm_model_name"`
		PoolType      string          `json:"pool_type"`
		AttnPool      bool            `json:"attentional_pool"`
	} `json:"vision_cfg"`
	Text struct {
		ContextLength int    `json:"context_length"`
		VocabSize     int    `json:"vocab_size"`
		Width         int    `json:"width"`
		Heads         int    `json:"heads"`
		Layers        int    `json:"layers"`
		HFModelName   string `json:"hf_model_name"`
		PoolType      string `json:"pool_type"`
		NoCausalMask  bool   `json:"no_causal_mask"`
	} `json:"text_cfg"`
	Mean, Std []float32
}

// loadOpenCLIPConfig reads o.Config, or open_clip_config.json beside the
// checkpoint; with neither it returns nil (shapes and defaults only).
// Both the Hugging Face hub form {"model_cfg": …, "preprocess_cfg": …} and a
// bare model_configs/*.json are accepted.
func loadOpenCLIPConfig(o *Options) (*openCLIPConfig, error) {
	path := o.Config
	if path == "" {
		path = filepath.Join(filepath.Dir(o.Src), "open_clip_config.json")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	data, err := readSmall(path)
	if err != nil {
		return nil, err
	}
	var hub struct {
		ModelCfg      json.RawMessage `json:"model_cfg"`
		PreprocessCfg struct {
			Mean []float32 `json:"mean"`
			Std  []float32 `json:"std"`
		} `json:"preprocess_cfg"`
	}
	if err := json.Unmarshal(data, &hub); err != nil {
		return nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	oc := &openCLIPConfig{path: path, Mean: hub.PreprocessCfg.Mean, Std: hub.PreprocessCfg.Std}
	if hub.ModelCfg != nil {
		data = hub.ModelCfg
	}
	if err := json.Unmarshal(data, oc); err != nil {
		return nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	return oc, nil
}

// apply checks the config against the shapes already in cfg, sets the
// activation and normalisation, and returns the head counts it implies.
func (oc *openCLIPConfig) apply(cfg *arch.Config) (vheads, theads int, err error) {
	bad := func(field string, format string, a ...any) error {
		return fmt.Errorf("%s: %s: %s", oc.path, field, fmt.Sprintf(format, a...))
	}
	v, t := &oc.Vision, &oc.Text
	switch {
	case v.TimmModelName != "":
		return 0, 0, bad("vision_cfg.timm_model_name", "timm image towers (%s) are not supported", v.TimmModelName)
	case t.HFModelName != "":
		return 0, 0, bad("text_cfg.hf_model_name", "Hugging Face text towers (%s) are not supported", t.HFModelName)
	case len(v.Layers) > 0 && v.Layers[0] == '[':
		return 0, 0, bad("vision_cfg.layers", "ResNet image towers are not supported")
	case v.PoolType != "" && v.PoolType != "tok", v.AttnPool:
		return 0, 0, bad("vision_cfg.pool_type", "only class-token pooling is supported")
	case t.PoolType != "" && t.PoolType != "argmax":
		return 0, 0, bad("text_cfg.pool_type", "%q: only argmax (end token) pooling is supported", t.PoolType)
	case t.NoCausalMask:
		return 0, 0, bad("text_cfg.no_causal_mask", "the text tower must be causal")
	}
	var layers, size int
	if len(v.Layers) > 0 {
		if err := json.Unmarshal(v.Layers, &layers); err != nil {
			return 0, 0, bad("vision_cfg.layers", "%v", err)
		}
	}
	if len(v.ImageSize) > 0 {
		if err := json.Unmarshal(v.ImageSize, &size); err != nil {
			return 0, 0, bad("vision_cfg.image_size", "want one integer (square input): %v", err)
		}
	}
	for _, c := range []struct {
		field     string
		cfg, want int
	}{
		{"embed_dim", oc.EmbedDim, cfg.EmbedDim},
		{"vision_cfg.image_size", size, cfg.ImageSize},
		{"vision_cfg.patch_size", v.PatchSize, cfg.PatchSize},
		{"vision_cfg.width", v.Width, cfg.Vision.Width},
		{"vision_cfg.layers", layers, cfg.Vision.Layers},
		{"text_cfg.context_length", t.ContextLength, cfg.ContextLen},
		{"text_cfg.vocab_size", t.VocabSize, cfg.VocabSize},
		{"text_cfg.width", t.Width, cfg.Text.Width},
		{"text_cfg.layers", t.Layers, cfg.Text.Layers},
	} {
		if c.cfg != 0 && c.cfg != c.want {
			return 0, 0, bad(c.field, "%d, but the weights imply %d", c.cfg, c.want)
		}
	}
	if oc.QuickGELU {
		cfg.Activation = arch.QuickGELU
	}
	if len(oc.Mean) == 3 && len(oc.Std) == 3 {
		copy(cfg.Mean[:], oc.Mean)
		copy(cfg.Std[:], oc.Std)
	}
	hw := v.HeadWidth
	if hw == 0 {
		hw = 64
	}
	if cfg.Vision.Width%hw != 0 {
		return 0, 0, bad("vision_cfg.head_width", "%d does not divide width %d", hw, cfg.Vision.Width)
	}
	theads = t.Heads
	if theads == 0 {
		theads = 8
	}
	return cfg.Vision.Width / hw, theads, nil
}

// readSmall reads a JSON side file, refusing anything over maxConfigBytes.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if st.Size() > maxConfigBytes {
		return nil, fmt.Errorf("convert: %s: %d bytes, more than the %d allowed for a config", path, st.Size(), maxConfigBytes)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("convert: %s: %w", path, err)
	}
	return data, nil
}
