package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
)

func init() {
	register(command{name: "embed", short: "print L2-normalised embeddings of texts and images as JSON", run: runEmbed})
}

type embedding struct {
	Text      string    `json:"text,omitempty"`
	Path      string    `json:"path,omitempty"`
	Embedding []float32 `json:"embedding"`
}

type embedOutput struct {
	Model  string      `json:"model"`
	Dim    int         `json:"dim"`
	Texts  []embedding `json:"texts"`
	Images []embedding `json:"images"`
}

func runEmbed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("embed", "--model M [--text T]... [--image FILE]...", stderr)
	var mf modelFlags
	mf.register(fs)
	texts := fs.StringArray("text", nil, "text to embed (repeatable)")
	images := fs.StringArray("image", nil, "PNG or JPEG file to embed (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q: %w", fs.Args(), errUsage)
	}
	m, err := mf.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	cfg := m.file.Config()
	e := cfg.EmbedDim
	out := embedOutput{Model: m.file.Name(), Dim: e, Texts: []embedding{}, Images: []embedding{}}

	if len(*texts) > 0 {
		ids := make([][]int32, len(*texts))
		for i, t := range *texts {
			ids[i] = m.tok.Encode(t, cfg.ContextLen)
		}
		vec := make([]float32, len(ids)*e)
		if err := m.sess.EncodeTexts(ctx, ids, vec); err != nil {
			return err
		}
		for i, t := range *texts {
			out.Texts = append(out.Texts, embedding{Text: t, Embedding: vec[i*e : (i+1)*e]})
		}
	}
	if len(*images) > 0 {
		per := 3 * cfg.ImageSize * cfg.ImageSize
		px := make([]float32, len(*images)*per)
		for i, path := range *images {
			img, err := decodeImage(path)
			if err != nil {
				return err
			}
			if err := m.pre.FromImage(img, px[i*per:(i+1)*per]); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		vec := make([]float32, len(*images)*e)
		if err := m.sess.EncodeImages(ctx, px, len(*images), vec); err != nil {
			return err
		}
		for i, path := range *images {
			out.Images = append(out.Images, embedding{Path: path, Embedding: vec[i*e : (i+1)*e]})
		}
	}
	enc := json.NewEncoder(stdout)
	return enc.Encode(out)
}

func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: decode image: %w", path, err)
	}
	return img, nil
}
