package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edgeclip/edgeclip/eval"
	"github.com/edgeclip/edgeclip/runtime"
)

func init() {
	register(command{name: "eval", short: "measure a model on the synthetic world: zero-shot, retrieval, video intervals", run: runEval})
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "--model M [--json] [--precision f32|w8|w8a8] [--n 1000] [--seed S] [--videos N --video-seconds S]", stderr)
	var mf modelFlags
	mf.register(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON (schema: docs/eval.md)")
	var o eval.Options
	fs.IntVar(&o.N, "n", 1000, "images in each of the four image sets")
	fs.Uint64Var(&o.Seed, "seed", eval.DefaultSeed, "first seed of the evaluation sets")
	fs.IntVar(&o.Videos, "videos", 0, "world videos to evaluate query intervals and alerts on")
	fs.Float64Var(&o.VideoSeconds, "video-seconds", 120, "length of each video")
	fs.Float64Var(&o.FPS, "fps", 5, "video frames encoded per second of video")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
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
	if !*quiet {
		o.Progress = newETABar(stderr, "eval").evalProgress
	}
	start := time.Now()
	r, err := eval.Run(ctx, evalModel(m, runtime.Precision(mf.precision)), &o)
	if err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(stderr, "evaluated in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(stdout)
}

// evalModel describes an opened model to package eval.
func evalModel(m *loaded, prec runtime.Precision) eval.Model {
	if prec == "" {
		prec = runtime.FP32
	}
	return eval.Model{Session: m.sess, Tokenizer: m.tok, Config: m.file.Config(),
		Name: m.file.Name(), Hash: m.file.Hash(), Precision: prec}
}

// etaBar draws a one-line progress bar with an ETA on a terminal's stderr,
// at most five times a second, and ends the line when a stage completes.
type etaBar struct {
	w     io.Writer
	label string
	last  time.Time
	width int
}

func newETABar(w io.Writer, label string) *etaBar { return &etaBar{w: w, label: label} }

func (b *etaBar) update(done, total int, step string, elapsed time.Duration) {
	if total <= 0 {
		return
	}
	end := done >= total
	if !end && time.Since(b.last) < 200*time.Millisecond {
		return
	}
	b.last = time.Now()
	const width = 24
	fill := width * min(done, total) / total
	eta := "?"
	if done > 0 {
		eta = time.Duration(float64(elapsed) / float64(done) * float64(total-done)).Round(time.Second).String()
	}
	line := fmt.Sprintf("%s [%s%s] %3d%% %d/%d ETA %s  %s", b.label, strings.Repeat("=", fill),
		strings.Repeat(" ", width-fill), 100*done/total, done, total, eta, step)
	pad := ""
	if len(line) < b.width {
		pad = strings.Repeat(" ", b.width-len(line))
	}
	b.width = len(line)
	fmt.Fprintf(b.w, "\r%s%s", line, pad)
	if end {
		fmt.Fprintln(b.w)
		b.width = 0
	}
}

func (b *etaBar) evalProgress(p eval.Progress) { b.update(p.Done, p.Total, p.Step, p.Elapsed) }
