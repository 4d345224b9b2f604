package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/edgeclip/edgeclip/export"
	"github.com/edgeclip/edgeclip/export/onnx"
	"github.com/edgeclip/edgeclip/models"
	"github.com/edgeclip/edgeclip/runtime"
)

func init() {
	register(command{name: "export", short: "export a model's image and text towers to ONNX or TFLite", run: runExport})
}

// exportFormats are the formats `edgeclip export` writes, by name. A
// format joins by adding itself from the init of its own file.
var exportFormats = map[string]export.Format{"onnx": onnx.Format}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var names []string
	for n := range exportFormats {
		names = append(names, n)
	}
	sort.Strings(names)
	fs := newFlags("export", "--model FILE --format "+strings.Join(names, "|")+" --out DIR [--precision f32|w8|w8a8]", stderr)
	model := fs.String("model", defaultModelPath(), "model file ($EDGECLIP_MODEL)")
	format := fs.String("format", "onnx", "output format: "+strings.Join(names, ", "))
	out := fs.String("out", "", "folder to write the files into (created if missing)")
	precFlag := fs.String("precision", "f32", "f32, w8 (int8 weights) or w8a8 (int8 weights and activations)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("%w: need --model and --out, and no arguments", errUsage)
	}
	f, ok := exportFormats[strings.ToLower(*format)]
	if !ok {
		return fmt.Errorf("--format %q: known formats: %s", *format, strings.Join(names, ", "))
	}
	prec, err := runtime.ParsePrecision(*precFlag)
	if err != nil {
		return err
	}
	m, err := models.Open(*model)
	if err != nil {
		return err
	}
	defer m.Close()
	start := time.Now()
	var progress func(string, int64, int64)
	if !*quiet {
		step := map[string]int64{}
		progress = func(file string, done, total int64) {
			// About ten lines per file whatever its size.
			if pct := done * 10 / max(total, 1); pct > step[file] || done == total {
				step[file] = pct
				fmt.Fprintf(stderr, "  %s: %3d%% of %.1f MB\n", file, done*100/max(total, 1), float64(total)/1e6)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exporting %s (%s) as %s %s\n", *model, m.Hash(), *format, prec)
	if err := f.WriteDir(*out, m, prec, progress); err != nil {
		return err
	}
	for _, name := range []string{f.ImageFile, f.TextFile} {
		p := filepath.Join(*out, name)
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: %.1f MB\n", p, float64(st.Size())/1e6)
	}
	fmt.Fprintf(stderr, "done in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}
