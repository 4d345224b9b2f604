package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/edgeclip/edgeclip/tools/world"
)

func init() {
	register(command{name: "synth", short: "generate synthetic world images, labels and captions", run: runSynth})
}

// runSynth writes PNGs plus labels.jsonl, or with --stream the binary record
// stream that tools/train reads (format: tools/world/stream.go).
func runSynth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("synth", "[--seed N] [--n N] [--size PX] [--split train|seen|heldout] (--out DIR | --stream)", stderr)
	seed := fs.Uint64("seed", 0, "generator seed")
	n := fs.Int("n", 100, "number of samples (with --stream, 0 means endless)")
	start := fs.Uint64("start", 0, "index of the first sample")
	size := fs.Int("size", 64, "image width and height in pixels")
	split := fs.String("split", "train", "compositions: train, seen or heldout")
	maxObj := fs.Int("max-objects", 3, "objects per scene, 1..3")
	out := fs.String("out", "", "directory for PNGs and labels.jsonl")
	stream := fs.Bool("stream", false, "write the binary record stream to stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sp, err := world.ParseSplit(*split)
	if err != nil {
		return err
	}
	if (*out == "") == !*stream {
		fs.Usage()
		return fmt.Errorf("%w: give exactly one of --out or --stream", errUsage)
	}
	if *n < 0 || (!*stream && *n == 0) {
		return fmt.Errorf("--n %d: want a positive count", *n)
	}
	g, err := world.New(&world.Options{Seed: *seed, Size: *size, Split: sp, MaxObjects: *maxObj})
	if err != nil {
		return err
	}
	if *stream {
		return synthStream(ctx, g, *start, *n, stdout)
	}
	return synthDir(ctx, g, *start, *n, *out, stdout)
}

func synthStream(ctx context.Context, g *world.Generator, start uint64, n int, stdout io.Writer) error {
	w := bufio.NewWriterSize(stdout, 1<<16)
	for i := uint64(0); n == 0 || i < uint64(n); i++ {
		if ctx.Err() != nil {
			break
		}
		s := g.Sample(start + i)
		if err := world.WriteRecord(w, &s); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return nil // the reader (a training run) went away: a normal end
			}
			return err
		}
	}
	if err := w.Flush(); err != nil && !errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("synth: flush: %w", err)
	}
	return nil
}

func synthDir(ctx context.Context, g *world.Generator, start uint64, n int, dir string, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	lf, err := os.Create(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	defer lf.Close()
	lw := bufio.NewWriter(lf)
	enc := json.NewEncoder(lw)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		s := g.Sample(start + uint64(i))
		name := fmt.Sprintf("%06d.png", start+uint64(i))
		img := &image.RGBA{Pix: make([]byte, s.Width*s.Height*4), Stride: s.Width * 4, Rect: image.Rect(0, 0, s.Width, s.Height)}
		for p := 0; p < s.Width*s.Height; p++ {
			copy(img.Pix[p*4:p*4+3], s.Pixels[p*3:p*3+3])
			img.Pix[p*4+3] = 255
		}
		if err := writePNG(filepath.Join(dir, name), img); err != nil {
			return err
		}
		rec := struct {
			File     string       `json:"file"`
			Labels   world.Labels `json:"labels"`
			Captions []string     `json:"captions"`
		}{name, s.Labels, s.Captions}
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("synth: labels: %w", err)
		}
	}
	if err := lw.Flush(); err != nil {
		return fmt.Errorf("synth: labels: %w", err)
	}
	if err := lf.Close(); err != nil {
		return fmt.Errorf("synth: labels: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d images and labels.jsonl to %s\n", n, dir)
	return nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("synth: %s: %w", path, err)
	}
	return nil
}
