package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/edgeclip/edgeclip/board"
)

func init() {
	register(command{name: "board", short: "show the board: Jetson module or generic host, temperatures, power, clocks", run: runBoard})
}

// boardReport is what `edgeclip board --json` prints.
type boardReport struct {
	Info   board.Info   `json:"info"`
	Sample board.Sample `json:"sample"`
}

func runBoard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("board", "[--json] [--root DIR]", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	root := fs.String("root", "/", "read sysfs and procfs under this directory (a fixture tree)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	b, err := board.New(board.Options{Root: *root})
	if err != nil {
		return err
	}
	rep := boardReport{Info: b.Info(), Sample: b.Sample()}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printBoard(stdout, rep)
}

func printBoard(w io.Writer, r boardReport) error {
	in, s := r.Info, r.Sample
	var lines [][2]string
	add := func(k, v string) { lines = append(lines, [2]string{k, v}) }

	add("kind", fmt.Sprintf("%s (%s)", in.Kind, orDash(in.Arch)))
	if mod := moduleLine(in); mod != "" {
		add("module", mod)
	}
	if in.L4T != "" {
		add("l4t", in.L4T)
	}
	if pm := in.NVPModel; pm != nil {
		add("nvpmodel", fmt.Sprintf("%d %s (from %s)", pm.ID, pm.Name, pm.Source))
	}
	if in.CSIPorts > 0 {
		add("csi", fmt.Sprintf("%d sensor ports", in.CSIPorts))
	}
	add("cpu", fmt.Sprintf("%s, %d cores, %d online", orDash(in.CPUModel), in.Cores, in.Online))
	add("features", orDash(strings.Join(in.Features, " ")))
	if m := s.Mem; m != nil {
		add("memory", fmt.Sprintf("%s total, %s available", gib(m.TotalBytes), gib(m.AvailableBytes)))
	}

	var temps []string
	for _, t := range s.Temps {
		temps = append(temps, fmt.Sprintf("%s %.1f°C", t.Zone, t.Celsius))
	}
	add("temps", orDash(strings.Join(temps, ", ")))
	if len(s.Rails) > 0 {
		var rails []string
		for _, rl := range s.Rails {
			rails = append(rails, fmt.Sprintf("%s %d", rl.Name, rl.MilliWatts))
		}
		add("power", fmt.Sprintf("%d mW total; %s mW", s.TotalMilliWatts, strings.Join(rails, ", ")))
	} else {
		add("power", "-")
	}
	if g := s.GPU; g != nil {
		load := "?"
		if g.LoadPct != nil {
			load = fmt.Sprintf("%.1f%%", *g.LoadPct)
		}
		add("gpu", fmt.Sprintf("%s at %d MHz (max %d MHz)", load, g.FreqHz/1_000_000, g.MaxFreqHz/1_000_000))
	} else {
		add("gpu", "-")
	}
	if e := s.EMC; e != nil {
		add("emc", fmt.Sprintf("%d MHz", e.FreqHz/1_000_000))
	}
	var freqs []string
	for _, c := range s.CPUs {
		switch {
		case !c.Online:
			freqs = append(freqs, fmt.Sprintf("cpu%d off", c.ID))
		case c.CurKHz > 0:
			freqs = append(freqs, fmt.Sprintf("cpu%d %d MHz", c.ID, c.CurKHz/1000))
		}
	}
	add("cpufreq", orDash(strings.Join(freqs, ", ")))
	add("throttle", orWord(strings.Join(s.Throttle, "; "), "none seen"))
	if miss := append(in.Missing, s.Missing...); len(miss) > 0 {
		add("no data", strings.Join(miss, ", "))
	}
	for _, e := range append(in.Errors, s.Errors...) {
		add("error", e)
	}
	for _, l := range lines {
		if _, err := fmt.Fprintf(w, "%-9s %s\n", l[0], l[1]); err != nil {
			return err
		}
	}
	return nil
}

// moduleLine names the module, the device-tree model when it says more, and
// the SoC: "Jetson Orin Nano 8GB — NVIDIA Jetson Orin Nano Developer Kit, tegra234".
func moduleLine(in board.Info) string {
	s := in.Module
	if in.Model != "" && in.Model != in.Module {
		if s != "" {
			s += " — "
		}
		s += in.Model
	}
	if in.SoC != "" {
		s += ", " + in.SoC
	}
	return s
}

func orDash(s string) string { return orWord(s, "-") }

func orWord(s, w string) string {
	if s == "" {
		return w
	}
	return s
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
