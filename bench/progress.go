package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// NewBar returns a Progress function that draws a one-line bar with an ETA
// on w (a terminal's stderr), rewriting it in place with a carriage return
// and ending it with a newline when the run completes. The ETA assumes the
// remaining steps take as long as the finished ones did on average; with
// --duration every timed step takes about the same time.
func NewBar(w io.Writer) func(Progress) {
	last := 0
	return func(p Progress) {
		if p.Total <= 0 {
			return
		}
		const width = 24
		fill := width * p.Done / p.Total
		bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
		eta := "?"
		if p.Done > 0 {
			rem := time.Duration(float64(p.Elapsed) / float64(p.Done) * float64(p.Total-p.Done))
			eta = rem.Round(time.Second).String()
		}
		line := fmt.Sprintf("[%s] %3d%% %d/%d ETA %s  %s", bar, 100*p.Done/p.Total, p.Done, p.Total, eta, p.Step)
		pad := ""
		if n := len(line); n < last {
			pad = strings.Repeat(" ", last-n)
		}
		last = len(line)
		fmt.Fprintf(w, "\r%s%s", line, pad)
		if p.Done >= p.Total {
			fmt.Fprintln(w)
		}
	}
}
