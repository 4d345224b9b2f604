package eval

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// WriteText prints r as tables: a classification report per zero-shot task
// and split, the retrieval recalls and, with videos, the video summary.
func (r *Result) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.f("model %s (%s)  precision %s  %d images per set, seed %d, %d px\n",
		r.Model.Name, r.Model.Hash, r.Model.Precision, r.Options.N, r.Options.Seed, r.Options.ImageSize)
	for _, t := range []struct {
		name string
		t    *Task
	}{{"shape", &r.ZeroShot.Shape}, {"colour", &r.ZeroShot.Color}, {"count", &r.ZeroShot.Count}} {
		for _, s := range []struct {
			name string
			c    *Classification
		}{{"seen", &t.t.Seen}, {"held-out", &t.t.HeldOut}} {
			p.f("\nzero-shot %s, %s compositions: accuracy %.3f, macro F1 %.3f, n %d\n", t.name, s.name, s.c.Accuracy, s.c.MacroF1, s.c.N)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "class\tprecision\trecall\tf1\tsupport\t")
			for _, c := range s.c.Classes {
				fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.3f\t%d\t\n", c.Label, c.Precision, c.Recall, c.F1, c.Support)
			}
			p.err(tw.Flush())
		}
	}
	p.f("\nretrieval (canonical captions)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "set\tpairs\tcaptions\tt2i R@1\tR@5\tR@10\ti2t R@1\tR@5\tR@10\t")
	for _, s := range []struct {
		name string
		p    *Pairs
	}{{"seen", &r.Retrieval.Seen}, {"held-out", &r.Retrieval.HeldOut}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", s.name, s.p.N, s.p.Captions,
			s.p.T2I.R1, s.p.T2I.R5, s.p.T2I.R10, s.p.I2T.R1, s.p.I2T.R5, s.p.I2T.R10)
	}
	p.err(tw.Flush())
	if v := r.Video; v != nil {
		p.f("\nvideo: %d × %.0f s at %.4g fps, %d frames, %d events\n", v.Videos, v.Seconds, v.FPS, v.Frames, v.Events)
		p.f("  intervals: mean IoU %.3f, IoU ≥ 0.7 for %.3f of events; %d intervals, precision %.3f recall %.3f F1 %.3f (IoU ≥ 0.5)\n",
			v.MeanIoU, v.IoU07, v.Intervals, v.Precision, v.Recall, v.F1)
		p.f("  alerts: %.3f of events detected, %.2f starts per event, %d false starts (%.1f per hour)\n",
			v.Alerts.Detected, v.Alerts.StartsPerEvent, v.Alerts.FalseStarts, v.Alerts.FalseStartsPerHour)
	}
	return p.e
}

// WriteDeltas prints, for every metric of base, base's value, other's and
// the change, sorted by name.
func WriteDeltas(w io.Writer, base, other map[string]float64) error {
	names := make([]string, 0, len(base))
	for n := range base {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tbase\tother\tchange")
	for _, n := range names {
		o, ok := other[n]
		if !ok {
			fmt.Fprintf(tw, "%s\t%.4f\t-\t-\n", n, base[n])
			continue
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%+.4f\n", n, base[n], o, o-base[n])
	}
	return tw.Flush()
}

type printer struct {
	w io.Writer
	e error
}

func (p *printer) f(format string, a ...any) {
	if p.e == nil {
		_, p.e = fmt.Fprintf(p.w, format, a...)
	}
}

func (p *printer) err(e error) {
	if p.e == nil {
		p.e = e
	}
}
