package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/edgeclip/edgeclip/board"
)

// WriteTable prints the report for people: host and board, then per model
// a run summary (load, memory, CPU, accuracy) and a timing table.
func WriteTable(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	h := r.Host
	ew.printf("edgeclip bench %s  %s/%s  %d CPUs, GOMAXPROCS %d  load %s → %s\n",
		r.Started.Format("2006-01-02 15:04:05"), h.GOOS, h.GOARCH, h.NumCPU, h.GOMAXPROCS, loadStr(h.LoadAvgBefore), loadStr(h.LoadAvgAfter))
	ew.printf("board %s\n", boardLine(r.Board))
	if p := r.Peak; p != nil {
		ew.printf("peak per core (measured): fp32 %.1f GFLOP/s (%s), int8 %.1f GOP/s (%s)\n", p.F32GFLOPS, p.F32Op, p.I8GOPS, p.I8Op)
	}
	if n := r.Settings.Rounds; n > 1 {
		ew.printf("timings pooled over %d rounds, each through every run\n", n)
	}
	for i := range r.Models {
		m := &r.Models[i]
		ew.printf("\nmodel %s (%s)  %.1f M params  %.1f MB  open %s  image %s/img\n",
			m.Name, m.Source, float64(m.Params)/1e6, float64(m.FileBytes)/1e6, fmtMS(m.OpenMS), fmtFLOP(m.ImageFLOPs))
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  BACKEND\tPREC\tTHREADS\tLOAD\tPEAK RSS\tGROWTH\tCPU\tIMAGE COS mean/min\tTEXT COS mean/min")
		for _, run := range m.Runs {
			if run.Skipped != "" {
				fmt.Fprintf(tw, "  %s\t%s\t%s\tskipped: %s\n", run.Backend, run.Precision, threadStr(run.Threads), run.Skipped)
				continue
			}
			peak, growth, cores, icos, tcos := "-", "-", "-", "-", "-"
			if mem := run.Memory; mem != nil {
				peak = fmt.Sprintf("%.0f MB", float64(mem.PeakBytes)/1e6)
				growth = fmt.Sprintf("%+.0f MB", float64(mem.GrowthBytes)/1e6)
				if mem.Scope != "run" {
					peak += " (process)"
				}
			}
			if run.CPU != nil {
				cores = fmt.Sprintf("%.2f", run.CPU.Cores)
			}
			if a := run.Accuracy; a != nil {
				icos = fmt.Sprintf("%.4f/%.4f", a.ImageCosMean, a.ImageCosMin)
				tcos = fmt.Sprintf("%.4f/%.4f", a.TextCosMean, a.TextCosMin)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				run.Backend, run.Precision, threadStr(run.Threads), fmtMS(run.LoadMS), peak, growth, cores, icos, tcos)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		ew.printf("\n")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  BACKEND\tPREC\tTHREADS\tTEST\tN\tP50\tP90\tP99\tRATE\tGFLOP/s\t%PEAK\tCPU")
		for _, run := range m.Runs {
			rows := func(ts []Timing, what func(Timing) (string, string)) {
				for _, t := range ts {
					test, unit := what(t)
					pct := "-"
					if t.PeakPct > 0 {
						pct = fmt.Sprintf("%.0f%%", t.PeakPct)
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%.1f %s\t%.1f\t%s\t%.2f\n",
						run.Backend, run.Precision, threadStr(run.Threads), test, t.Iters,
						fmtMS(t.Latency.P50MS), fmtMS(t.Latency.P90MS), fmtMS(t.Latency.P99MS), t.PerSecond, unit, t.GFLOPS, pct, t.CPUCores)
				}
			}
			rows(run.Image, func(t Timing) (string, string) { return fmt.Sprintf("image batch=%d", t.Batch), "img/s" })
			rows(run.Text, func(t Timing) (string, string) {
				if t.Full {
					return fmt.Sprintf("text %d tok (full)", t.Tokens), "q/s"
				}
				return fmt.Sprintf("text %d tok", t.Tokens), "q/s"
			})
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if err := writeEval(ew, m); err != nil {
			return err
		}
		for _, run := range m.Runs {
			if p := run.Pipeline; p != nil {
				ew.printf("  pipeline %s/%s on %s: %.1f fps (%d frames in %.1f s, %d dropped)\n",
					run.Backend, run.Precision, p.Source, p.FPS, p.Frames, p.WallS, p.Dropped)
			}
		}
		if q := m.History; q != nil {
			ew.printf("  history query: %d frames × %d (%s), fill %.1f s; Score p50 %s, p99 %s (%.1f ns/frame, %d iters)\n",
				q.Frames, q.Dim, q.Compact, q.FillS, fmtMS(q.Latency.P50MS), fmtMS(q.Latency.P99MS), q.NSPerFrame, q.Iters)
		}
	}
	if r.PipelineNote != "" {
		ew.printf("\npipeline: %s\n", r.PipelineNote)
	}
	ew.printf("board after: %s\n", sampleLine(r.Board.After))
	return ew.err
}

// writeEval prints a model's world evaluation: one row per evaluated run,
// each figure followed by its change from the f32 run.
func writeEval(ew *errWriter, m *Model) error {
	if m.EvalNote != "" {
		ew.printf("\n  eval: %s\n", m.EvalNote)
		return ew.err
	}
	var first *Eval
	for _, run := range m.Runs {
		if run.Eval != nil {
			first = run.Eval
			break
		}
	}
	if first == nil {
		return ew.err
	}
	ew.printf("\n  eval on the world: %d images per set, seed %d; zero-shot accuracy, R@1 on seen/held-out pairs; (change from the f32 run)\n",
		first.N, first.Seed)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  BACKEND\tPREC\tTHREADS\tSHAPE\tCOLOUR\tCOUNT\tT2I R@1\tI2T R@1\tCHANGE FROM\tTIME")
	for _, run := range m.Runs {
		e := run.Eval
		if e == nil {
			continue
		}
		var d *EvalMetrics
		from := "-"
		if e.Delta != nil {
			d, from = &e.Delta.EvalMetrics, e.Delta.Reference
		}
		one := func(v float64, dv func(*EvalMetrics) float64) string {
			if d == nil {
				return fmt.Sprintf("%.3f", v)
			}
			return fmt.Sprintf("%.3f (%+.3f)", v, dv(d))
		}
		pair := func(seen, held float64, dv func(*EvalMetrics) (float64, float64)) string {
			if d == nil {
				return fmt.Sprintf("%.3f/%.3f", seen, held)
			}
			ds, dh := dv(d)
			return fmt.Sprintf("%.3f/%.3f (%+.3f/%+.3f)", seen, held, ds, dh)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", run.Backend, run.Precision, threadStr(run.Threads),
			one(e.ZeroShotShape, func(d *EvalMetrics) float64 { return d.ZeroShotShape }),
			one(e.ZeroShotColor, func(d *EvalMetrics) float64 { return d.ZeroShotColor }),
			one(e.ZeroShotCount, func(d *EvalMetrics) float64 { return d.ZeroShotCount }),
			pair(e.T2IR1Seen, e.T2IR1HeldOut, func(d *EvalMetrics) (float64, float64) { return d.T2IR1Seen, d.T2IR1HeldOut }),
			pair(e.I2TR1Seen, e.I2TR1HeldOut, func(d *EvalMetrics) (float64, float64) { return d.I2TR1Seen, d.I2TR1HeldOut }),
			from, fmtMS(e.WallS*1e3))
	}
	return tw.Flush()
}

func fmtFLOP(f int64) string {
	if f >= 1e9 {
		return fmt.Sprintf("%.2f GFLOP", float64(f)/1e9)
	}
	return fmt.Sprintf("%.2f MFLOP", float64(f)/1e6)
}

func threadStr(n int) string {
	if n == 0 {
		return "all"
	}
	return fmt.Sprint(n)
}

func loadStr(l [3]float64) string { return fmt.Sprintf("%.2f %.2f %.2f", l[0], l[1], l[2]) }

func fmtMS(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.3f ms", v)
	case v < 100:
		return fmt.Sprintf("%.2f ms", v)
	case v < 1000:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f s", v/1e3)
}

func boardLine(b Board) string {
	in := b.Info
	s := fmt.Sprintf("%s (%s)", in.Kind, in.Arch)
	if in.Module != "" {
		s += " " + in.Module
	}
	if in.NVPModel != nil {
		s += fmt.Sprintf(" nvpmodel %d %s", in.NVPModel.ID, in.NVPModel.Name)
	}
	if in.CPUModel != "" {
		s += ", " + in.CPUModel
	}
	s += fmt.Sprintf(", %d cores (%d online)", in.Cores, in.Online)
	return s + "; before: " + sampleLine(b.Before)
}

// sampleLine is the hottest zone, total power and throttling of a sample.
func sampleLine(s board.Sample) string {
	var parts []string
	hot := -1
	for i, t := range s.Temps {
		if hot < 0 || t.Celsius > s.Temps[hot].Celsius {
			hot = i
		}
	}
	if hot >= 0 {
		parts = append(parts, fmt.Sprintf("hottest %s %.1f°C", s.Temps[hot].Zone, s.Temps[hot].Celsius))
	} else {
		parts = append(parts, "no temperatures")
	}
	if s.TotalMilliWatts > 0 {
		parts = append(parts, fmt.Sprintf("%d mW", s.TotalMilliWatts))
	}
	if len(s.Throttle) > 0 {
		parts = append(parts, "THROTTLED: "+strings.Join(s.Throttle, "; "))
	} else {
		parts = append(parts, "no throttling seen")
	}
	return strings.Join(parts, ", ")
}

// WriteBenchstat prints Go benchmark lines (golang.org/x/perf/benchfmt) so
// that runs compare with benchstat. ns/op is the mean latency; the -N suffix
// is the session's thread count.
func WriteBenchstat(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	ew.printf("goos: %s\ngoarch: %s\npkg: github.com/edgeclip/edgeclip/bench\n", r.Host.GOOS, r.Host.GOARCH)
	if r.Board.Info.CPUModel != "" {
		ew.printf("cpu: %s\n", r.Board.Info.CPUModel)
	}
	for _, m := range r.Models {
		model := "model=" + nameValue(m.Name)
		for _, run := range m.Runs {
			if run.Skipped != "" {
				continue
			}
			th := run.Threads
			if th == 0 {
				th = r.Host.GOMAXPROCS
			}
			key := fmt.Sprintf("%s/backend=%s/prec=%s", model, nameValue(run.Backend), run.Precision)
			ew.printf("BenchmarkLoad/%s-%d\t1\t%.0f ns/op\n", key, th, run.LoadMS*1e6)
			for _, t := range run.Image {
				ew.printf("BenchmarkImage/%s/batch=%d-%d\t%d\t%.0f ns/op\t%.0f p50-ns/op\t%.0f p99-ns/op\t%.2f images/s\t%.2f GFLOP/s\n",
					key, t.Batch, th, t.Iters, t.Latency.MeanMS*1e6, t.Latency.P50MS*1e6, t.Latency.P99MS*1e6, t.PerSecond, t.GFLOPS)
			}
			for _, t := range run.Text {
				ew.printf("BenchmarkText/%s/tokens=%d-%d\t%d\t%.0f ns/op\t%.0f p50-ns/op\t%.0f p99-ns/op\t%.2f GFLOP/s\n",
					key, t.Tokens, th, t.Iters, t.Latency.MeanMS*1e6, t.Latency.P50MS*1e6, t.Latency.P99MS*1e6, t.GFLOPS)
			}
			if a := run.Accuracy; a != nil {
				ew.printf("BenchmarkAccuracy/%s-%d\t1\t%.6f image-cos-mean\t%.6f image-cos-min\t%.6f text-cos-mean\t%.6f text-cos-min\n",
					key, th, a.ImageCosMean, a.ImageCosMin, a.TextCosMean, a.TextCosMin)
			}
			if mem := run.Memory; mem != nil {
				ew.printf("BenchmarkMemory/%s-%d\t1\t%d peak-B\t%d growth-B\n", key, th, mem.PeakBytes, mem.GrowthBytes)
			}
			if e := run.Eval; e != nil {
				ew.printf("BenchmarkEval/%s-%d\t1\t%.4f shape-acc\t%.4f color-acc\t%.4f count-acc\t%.4f t2i-r1-seen\t%.4f t2i-r1-heldout\t%.4f i2t-r1-seen\t%.4f i2t-r1-heldout\n",
					key, th, e.ZeroShotShape, e.ZeroShotColor, e.ZeroShotCount, e.T2IR1Seen, e.T2IR1HeldOut, e.I2TR1Seen, e.I2TR1HeldOut)
			}
			if p := run.Pipeline; p != nil {
				ew.printf("BenchmarkPipeline/%s-%d\t%d\t%.2f fps\n", key, th, p.Frames, p.FPS)
			}
		}
		if q := m.History; q != nil {
			ew.printf("BenchmarkQuery/%s/frames=%d\t%d\t%.0f ns/op\t%.0f p50-ns/op\t%.0f p99-ns/op\t%.2f ns/frame\n",
				model, q.Frames, q.Iters, q.Latency.MeanMS*1e6, q.Latency.P50MS*1e6, q.Latency.P99MS*1e6, q.NSPerFrame)
		}
	}
	return ew.err
}

// nameValue makes a value safe inside a benchmark name: no spaces, no
// slashes or equals signs, which benchfmt reads as name structure.
func nameValue(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '/' || r == '=' {
			return '_'
		}
		return r
	}, s)
}

// errWriter keeps the first write error so that printing code stays flat.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, a ...any) { fmt.Fprintf(e, format, a...) }
