// Package tflite serializes export graphs as TensorFlow Lite flatbuffers
// (schema version 3, builtin operators that TFLite 2.9 runs), written with
// the flatbuffers Go runtime from the schema's table and field ids.
//
// The graphs have fixed shapes: one image [1, 3, S, S], or one text padded
// to the model's context length with an attention mask. Lowering keeps the
// native engine's arithmetic where TFLite allows it (see docs/tflite.md):
// f32 is float FULLY_CONNECTED; w8 stores int8 weights with per-channel
// scales and runs TFLite's hybrid kernel, which quantizes activations per
// row at run time (native w8a8's arithmetic); w8a8 is full-integer linear
// layers with static per-tensor activation scales from calibration.
package tflite

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/runtime"
)

// File names of an exported pair.
const (
	ImageFile = "image.tflite"
	TextFile  = "text.tflite"
)

// Options tune Build. The zero value is fine.
type Options struct {
	// Metadata is stored in the model's metadata table, one buffer per key.
	Metadata map[string]string
	// Ranges are w8a8's calibrated activation ranges (Calibrate); nil
	// calibrates on Samples(g, CalibrationSamples).
	Ranges map[string]Range
	// Progress, when set, is called as bytes go out with the running
	// count and the total size of the file.
	Progress func(done, total int64)
}

// CalibrationSamples is how many synthetic inputs w8a8 is calibrated on
// when no ranges are given.
const CalibrationSamples = 4

// Build lowers g and returns the flatbuffer.
func Build(g *export.Graph, opts *Options) ([]byte, error) {
	if opts == nil {
		opts = &Options{}
	}
	ranges := opts.Ranges
	if g.Precision == runtime.W8A8 && ranges == nil {
		var err error
		if ranges, err = Calibrate(g, Samples(g, CalibrationSamples)); err != nil {
			return nil, err
		}
	}
	l := newLowering(g, ranges)
	if err := l.run(); err != nil {
		return nil, err
	}
	l.m.meta = opts.Metadata
	return l.m.serialize("edgeclip_"+g.Name, "edgeclip export/tflite "+g.Name+" "+string(g.Precision))
}

// Write serializes g as a TFLite model to w.
func Write(w io.Writer, g *export.Graph, opts *Options) error {
	data, err := Build(g, opts)
	if err != nil {
		return err
	}
	var progress func(done, total int64)
	if opts != nil {
		progress = opts.Progress
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	const chunk = 1 << 20
	for done := 0; done < len(data); {
		n := min(chunk, len(data)-done)
		if _, err := bw.Write(data[done : done+n]); err != nil {
			return fmt.Errorf("tflite: write %s graph: %w", g.Name, err)
		}
		done += n
		if progress != nil {
			progress(int64(done), int64(len(data)))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("tflite: write %s graph: %w", g.Name, err)
	}
	return nil
}

// WriteFile writes g to path atomically (temporary file, fsync, rename).
func WriteFile(path string, g *export.Graph, opts *Options) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("tflite: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = Write(f, g, opts); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("tflite: %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("tflite: %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("tflite: %w", err)
	}
	return nil
}

// WriteDir exports both towers of w in precision prec into dir as
// image.tflite and text.tflite, with the model hash, tower and precision in
// their metadata. progress, when set, gets (file, done, total) callbacks.
func WriteDir(dir string, w runtime.Weights, prec runtime.Precision, progress func(file string, done, total int64)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tflite: %w", err)
	}
	for _, tw := range []struct {
		file  string
		build func(runtime.Weights, runtime.Precision) (*export.Graph, error)
	}{{ImageFile, export.Image}, {TextFile, export.Text}} {
		g, err := tw.build(w, prec)
		if err != nil {
			return err
		}
		opts := &Options{Metadata: Metadata(w, g)}
		if progress != nil {
			file := tw.file
			opts.Progress = func(done, total int64) { progress(file, done, total) }
		}
		if err := WriteFile(filepath.Join(dir, tw.file), g, opts); err != nil {
			return err
		}
	}
	return nil
}

// Metadata is what WriteDir stores in a model: enough to tell which model
// file and precision a TFLite file came from.
func Metadata(w runtime.Weights, g *export.Graph) map[string]string {
	return map[string]string{
		"edgeclip.hash":      w.Hash(),
		"edgeclip.tower":     g.Name,
		"edgeclip.precision": string(g.Precision),
	}
}

// Samples returns n deterministic synthetic inputs for g, for calibration:
// normalised images of smooth gradients plus noise, or texts of several
// lengths that start with token vocab−2 and end with vocab−1 (CLIP's start
// and end tokens) over random ids. Real pictures and captions calibrate
// better; pass their ranges in Options.Ranges.
func Samples(g *export.Graph, n int) []map[string]export.Array {
	c := g.Config
	rng := rand.New(rand.NewPCG(uint64(n), 0xca1b))
	var out []map[string]export.Array
	for i := range n {
		if g.Name == "image" {
			S := c.ImageSize
			px := make([]float32, 3*S*S)
			fx, fy := rng.Float64()*6, rng.Float64()*6
			for ch := range 3 {
				for y := range S {
					for x := range S {
						v := math.Sin(fx*float64(x)/float64(S)+float64(ch)) + math.Cos(fy*float64(y)/float64(S))
						px[(ch*S+y)*S+x] = float32(v + 0.3*rng.NormFloat64())
					}
				}
			}
			out = append(out, map[string]export.Array{export.PixelValues: {Shape: []int{1, 3, S, S}, F: px}})
			continue
		}
		L := max(2, c.ContextLen*(i+1)/n)
		ids, mask := make([]int64, L), make([]int64, L)
		for j := range ids {
			ids[j], mask[j] = int64(rng.IntN(c.VocabSize-2)), 1
		}
		ids[0], ids[L-1] = int64(c.VocabSize-2), int64(c.VocabSize-1)
		out = append(out, map[string]export.Array{
			export.InputIDs:      {Shape: []int{1, L}, I: ids},
			export.AttentionMask: {Shape: []int{1, L}, I: mask},
		})
	}
	return out
}
