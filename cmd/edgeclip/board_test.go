package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/edgeclip/edgeclip/board"
)

func runBoardCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"board"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestBoardJSONThisMachine(t *testing.T) {
	code, out, errs := runBoardCmd(t, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Info   board.Info   `json:"info"`
		Sample board.Sample `json:"sample"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	if _, err := os.Stat("/etc/nv_tegra_release"); errors.Is(err, fs.ErrNotExist) && rep.Info.Kind != board.Generic {
		t.Errorf("kind = %q on a host without L4T", rep.Info.Kind)
	}
	if rep.Info.Cores != runtime.NumCPU() || rep.Info.CPUModel == "" {
		t.Errorf("cpu = %q %d cores, want %d", rep.Info.CPUModel, rep.Info.Cores, runtime.NumCPU())
	}
	if rep.Sample.Mem == nil || rep.Sample.Mem.TotalBytes != rep.Info.MemTotal || rep.Sample.Time.IsZero() {
		t.Errorf("sample = %+v", rep.Sample)
	}
}

func TestBoardFixtureRoot(t *testing.T) {
	root := filepath.Join("..", "..", "board", "testdata", "roots", "orin-nano-r36")
	code, out, errs := runBoardCmd(t, "--root", root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"kind      jetson (aarch64)\n",
		"module    Jetson Orin Nano 8GB — NVIDIA Jetson Orin Nano Developer Kit, tegra234\n",
		"nvpmodel  0 15W (from status)\n",
		"power     5145 mW total; VDD_IN 5145, VDD_CPU_GPU_CV 566, VDD_SOC 1539 mW\n",
		"gpu       12.5% at 306 MHz (max 612 MHz)\n",
		"throttle  cpufreq: cpu0 capped at 1510 MHz of 1728 MHz;",
		"no data   emc\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBoardErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad root", []string{"--root", filepath.Join(t.TempDir(), "missing")}, 1, "edgeclip board: board: root"},
		{"extra argument", []string{"now"}, 2, "usage: edgeclip board"},
		{"unknown flag", []string{"--yaml"}, 1, "unknown flag: --yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runBoardCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tc.code, tc.want)
			}
		})
	}
}
