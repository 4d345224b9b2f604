package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/models/arch"
	"github.com/edgeclip/edgeclip/models/convert"
	"github.com/edgeclip/edgeclip/runtime"
)

func init() {
	register(command{name: "convert", short: "convert an OpenAI, Hugging Face or OpenCLIP checkpoint to a model file", run: runConvert})
}

func runConvert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	layouts := strings.Join(convert.Layouts(), "|")
	fs := newFlags("convert", "--from "+layouts+" SRC --out DST [--bpe FILE] [--dtype f32|f16] [--name N]", stderr)
	from := fs.String("from", "", "checkpoint layout: "+layouts)
	out := fs.String("out", "", "model file to write")
	bpe := fs.String("bpe", "", "CLIP BPE merges file, gzipped or not (openai, openclip)")
	dtype := fs.String("dtype", "f32", "weight type of the output: f32 or f16")
	name := fs.String("name", "", "model name (default: SRC's base name)")
	ver := fs.String("model-version", "", "model version string")
	cfgPath := fs.String("config", "", "OpenCLIP model config JSON (default: open_clip_config.json beside SRC)")
	act := fs.String("act", "", "override the activation: quick_gelu or gelu")
	vheads := fs.Int("vision-heads", 0, "image tower attention heads (default: from the config, else width/64)")
	theads := fs.Int("text-heads", 0, "text tower attention heads (default: from the config, else width/64)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *from == "" || *out == "" {
		fs.Usage()
		return fmt.Errorf("%w: need --from, --out and one SRC", errUsage)
	}
	o := convert.Options{
		From: *from, Src: fs.Arg(0), BPE: *bpe, Config: *cfgPath, Name: *name, Version: *ver,
		Activation: arch.Activation(*act), VisionHeads: *vheads, TextHeads: *theads,
	}
	switch strings.ToLower(*dtype) {
	case "f32":
		o.DType = runtime.F32
	case "f16":
		o.DType = runtime.F16
	default:
		return fmt.Errorf("--dtype %q: want f32 or f16", *dtype)
	}
	if o.Activation != "" && o.Activation != arch.QuickGELU && o.Activation != arch.GELU {
		return fmt.Errorf("--act %q: want quick_gelu or gelu", *act)
	}
	start := time.Now()
	fmt.Fprintf(stderr, "reading %s checkpoint %s\n", o.From, o.Src)
	step := 0
	o.Progress = func(done, total int, _ string) {
		// About ten lines for any model size.
		if pct := done * 10 / total; pct > step || done == total {
			step = pct
			fmt.Fprintf(stderr, "  encoded %d/%d tensors\n", done, total)
		}
	}
	c, err := convert.Convert(ctx, o)
	if err != nil {
		return err
	}
	cfg := c.Config
	fmt.Fprintf(stderr, "  ViT %d px / %d, vision %dx%d (%d heads), text %dx%d (%d heads), embed %d, %s\n",
		cfg.ImageSize, cfg.PatchSize, cfg.Vision.Layers, cfg.Vision.Width, cfg.Vision.Heads,
		cfg.Text.Layers, cfg.Text.Width, cfg.Text.Heads, cfg.EmbedDim, cfg.Activation)
	if err := models.Write(*out, c); err != nil {
		return err
	}
	st, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d tensors, %.1f MB, %s, in %s\n", *out, len(c.Tensors),
		float64(st.Size())/1e6, models.HashContents(c), time.Since(start).Round(time.Millisecond))
	return nil
}
