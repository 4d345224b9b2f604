package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgeclip/edgeclip/bench"
	"github.com/edgeclip/edgeclip/eval"
	"github.com/edgeclip/edgeclip/runtime"
)

func init() {
	register(command{name: "bench", short: "measure latency, throughput, memory, CPU and accuracy of models on this board", run: runBench})
}

// benchPipeline builds the end-to-end measurement behind --source. It stays
// nil until a pipeline implementation is linked into the command: a file of
// this package that sets it from init makes --source work, and bench then
// reports fps per run. Without it, --source is refused.
var benchPipeline func(source string) (bench.Pipeline, error)

const benchUsage = "[--model FILE]... [--arch NAME]... [--backend B,...] [--precision f32,w8,w8a8] [--batch 1,8] " +
	"[--threads N,...] [--duration D | --iters N] [--history-frames N] [--peak-time D] [--source URI] [--eval [--eval-n 1000] [--eval-seed S]] " +
	"[--json FILE] [--benchstat FILE] [--quiet]"

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", benchUsage, stderr)
	modelPaths := fs.StringArray("model", nil, "model file to measure (repeatable; default $EDGECLIP_MODEL)")
	arches := fs.StringSlice("arch", nil, "random-weight architecture preset(s): "+strings.Join(bench.Arches(), ", "))
	backends := fs.StringSlice("backend", nil, "backends to compare (default all registered: "+strings.Join(runtime.Names(), ", ")+")")
	precs := fs.StringSlice("precision", []string{"f32"}, "precisions: f32, w8, w8a8")
	batches := fs.IntSlice("batch", []int{1}, "image batch sizes")
	threads := fs.IntSlice("threads", []int{0}, "session thread counts to compare (0 = all cores)")
	tokens := fs.IntSlice("tokens", []int{5, 12, 20}, "text query lengths incl. start and end tokens (the full context is always added)")
	duration := fs.Duration("duration", bench.DefaultDuration, "time per measurement")
	iters := fs.Int("iters", 0, "timed calls per measurement instead of --duration")
	warmup := fs.Int("warmup", 1, "untimed calls before each measurement")
	rounds := fs.Int("rounds", 1, "repeat every run's timings N times, cycling through the runs, and pool the calls")
	frames := fs.Int("history-frames", 86400, "synthetic history size for the query latency (0 skips it)")
	source := fs.String("source", "", "video source URI for end-to-end pipeline fps")
	doEval := fs.Bool("eval", false, "evaluate every backend × precision of each model file on the synthetic world (docs/eval.md)")
	var eo eval.Options
	fs.IntVar(&eo.N, "eval-n", 1000, "images in each of the four world sets for --eval")
	fs.Uint64Var(&eo.Seed, "eval-seed", eval.DefaultSeed, "first seed of the world sets for --eval")
	jsonPath := fs.String("json", "", "write the report as JSON (schema "+bench.Schema+") to FILE")
	bsPath := fs.String("benchstat", "", "write Go benchmark lines for benchstat to FILE")
	tmp := fs.String("tmp", "", "folder for random-weight models and the history store (default the system's)")
	peakTime := fs.Duration("peak-time", bench.DefaultPeakTime, "time per loop measuring each core's peak fp32 and int8 rate (0 skips it)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// errUsage is not printed by run, so the reason goes out here.
	usageErr := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "edgeclip bench: "+format+"\n", a...)
		fs.Usage()
		return errUsage
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *rounds < 1 {
		return usageErr("--rounds %d: want 1 or more", *rounds)
	}
	if fs.Changed("duration") && fs.Changed("iters") {
		return usageErr("give --duration or --iters, not both")
	}
	if !*doEval && (fs.Changed("eval-n") || fs.Changed("eval-seed")) {
		return usageErr("--eval-n and --eval-seed need --eval")
	}
	if *doEval && (eo.N < 10 || eo.N > eval.MaxN) {
		return usageErr("--eval-n %d: want 10..%d", eo.N, eval.MaxN)
	}
	o := bench.Options{
		Backends: *backends, Batches: *batches, Threads: *threads, TextTokens: *tokens,
		Iters: *iters, Duration: *duration, Rounds: *rounds, HistoryFrames: *frames, TempDir: *tmp,
		PeakTime: *peakTime,
	}
	if *peakTime <= 0 {
		o.PeakTime = -1 // bench's zero means its default
	}
	if *warmup == 0 {
		o.Warmup = -1 // bench's zero means its default
	} else {
		o.Warmup = *warmup
	}
	for _, p := range *modelPaths {
		o.Models = append(o.Models, bench.ModelSpec{Path: p})
	}
	for _, a := range *arches {
		o.Models = append(o.Models, bench.ModelSpec{Arch: a})
	}
	if len(o.Models) == 0 {
		p := defaultModelPath()
		if p == "" {
			return usageErr("give --model FILE or --arch NAME (%s)", strings.Join(bench.Arches(), ", "))
		}
		o.Models = []bench.ModelSpec{{Path: p}}
	}
	for _, s := range *precs {
		p, err := runtime.ParsePrecision(s)
		if err != nil {
			return err
		}
		o.Precisions = append(o.Precisions, p)
	}
	if *source != "" {
		if benchPipeline == nil {
			return fmt.Errorf("--source %s: this build has no pipeline measurement", *source)
		}
		p, err := benchPipeline(*source)
		if err != nil {
			return fmt.Errorf("--source %s: %w", *source, err)
		}
		o.Pipeline = p
	}
	if *doEval {
		o.Evaluator = worldEval{o: eo}
	}
	if !*quiet {
		o.Progress = bench.NewBar(stderr)
	}

	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if err := bench.WriteTable(stdout, rep); err != nil {
		return err
	}
	if *jsonPath != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("bench: json: %w", err)
		}
		if err := writeReportFile(*jsonPath, append(data, '\n')); err != nil {
			return err
		}
	}
	if *bsPath != "" {
		var sb strings.Builder
		if err := bench.WriteBenchstat(&sb, rep); err != nil {
			return err
		}
		if err := writeReportFile(*bsPath, []byte(sb.String())); err != nil {
			return err
		}
	}
	return nil
}

// worldEval is bench's Evaluator: package eval's image sets (no videos),
// reduced to the headline figures the bench report carries.
type worldEval struct{ o eval.Options }

func (w worldEval) Evaluate(ctx context.Context, t bench.EvalTarget) (bench.EvalResult, error) {
	o := w.o
	r, err := eval.Run(ctx, eval.Model{Session: t.Session, Tokenizer: t.Tokenizer, Config: t.Config,
		Name: t.Model, Hash: t.ModelHash, Precision: t.Precision}, &o)
	if err != nil {
		return bench.EvalResult{}, err
	}
	return bench.EvalResult{N: r.Options.N, Seed: r.Options.Seed, Metrics: bench.EvalMetrics{
		ZeroShotShape: r.ZeroShot.Shape.Accuracy,
		ZeroShotColor: r.ZeroShot.Color.Accuracy,
		ZeroShotCount: r.ZeroShot.Count.Accuracy,
		T2IR1Seen:     r.Retrieval.Seen.T2I.R1,
		T2IR1HeldOut:  r.Retrieval.HeldOut.T2I.R1,
		I2TR1Seen:     r.Retrieval.Seen.I2T.R1,
		I2TR1HeldOut:  r.Retrieval.HeldOut.I2T.R1,
	}}, nil
}

func writeReportFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}
