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

// Format is TFLite as the shared export drivers see it: Format.WriteDir
// exports a model as image.tflite and text.tflite, with the model hash,
// tower and precision in their metadata (export.Metadata). w8a8 files are
// calibrated on Samples(g, CalibrationSamples).
var Format = export.Format{Name: "tflite", ImageFile: ImageFile, TextFile: TextFile, Write: write}

func write(w io.Writer, g *export.Graph, meta map[string]string, progress func(done, total int64)) error {
	return Write(w, g, &Options{Metadata: meta, Progress: progress})
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
