package board

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the fixture trees")

var fixedNow = func() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC) }

// fixture copies testdata/roots/name into a temporary root. Module zips and
// Windows forbid ':' in paths, so the iio driver's "iio:deviceN" directories
// are stored as "iio_deviceN" and renamed here.
func fixture(t testing.TB, name string) string {
	t.Helper()
	src := filepath.Join("testdata", "roots", name)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		rel = strings.ReplaceAll(rel, "iio_device", "iio:device")
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy fixture %s: %v", name, err)
	}
	return dst
}

func newBoard(t testing.TB, root string) *Board {
	t.Helper()
	b, err := New(Options{Root: root, Now: fixedNow})
	if err != nil {
		t.Fatalf("New(%s): %v", root, err)
	}
	return b
}

func railMap(rails []Rail) map[string]int64 {
	m := map[string]int64{}
	for _, r := range rails {
		m[r.Name] = r.MilliWatts
	}
	return m
}

func TestFixtureBoards(t *testing.T) {
	type want struct {
		kind              Kind
		arch, module, soc string
		l4t               string
		pm                string // "id name source"
		cpuModel          string
		cores, online     int
		features          []string
		temps             int
		throttle          []string
		rails             map[string]int64
		totalMW           int64
		gpuLoad           float64 // -1: no GPU
		gpuHz, emcHz      int64
		missing           []string
	}
	cases := []struct {
		name string
		want want
	}{
		{"orin-nano-r36", want{
			kind: Jetson, arch: "aarch64", module: "Jetson Orin Nano 8GB", soc: "tegra234", l4t: "36.4.3",
			pm: "0 15W status", cpuModel: "Cortex-A78AE", cores: 6, online: 6,
			features: []string{"ASIMDDP", "ASIMDHP", "NEON"},
			temps:    6, // cv0 reads -256 °C: powered down
			throttle: []string{
				"cpufreq: cpu0 capped at 1510 MHz of 1728 MHz", "cpufreq: cpu1 capped at 1510 MHz of 1728 MHz",
				"cpufreq: cpu2 capped at 1510 MHz of 1728 MHz", "cpufreq: cpu3 capped at 1510 MHz of 1728 MHz",
				"cpufreq: cpu4 capped at 1510 MHz of 1728 MHz", "cpufreq: cpu5 capped at 1510 MHz of 1728 MHz",
			},
			rails:   map[string]int64{"VDD_IN": 5145, "VDD_CPU_GPU_CV": 566, "VDD_SOC": 1539},
			totalMW: 5145, gpuLoad: 12.5, gpuHz: 306000000, missing: []string{"emc"},
		}},
		{"agx-orin-r35", want{
			kind: Jetson, arch: "aarch64", module: "Jetson AGX Orin 64GB", soc: "tegra234", l4t: "35.4.1",
			pm: "3 MODE_50W default", cpuModel: "Cortex-A78AE", cores: 12, online: 12,
			features: []string{"ASIMDDP", "ASIMDHP", "NEON"},
			temps:    4, // GPU -256 °C and CV0 without a temp file are skipped
			throttle: []string{
				"thermal: CPU-therm at 99.5°C, trip point 99.0°C",
				"thermal: tj-therm at 99.5°C, trip point 99.0°C",
			},
			rails:   map[string]int64{"VDD_GPU_SOC": 5201, "VDD_CPU_CV": 2680, "VIN_SYS_5V0": 4734, "VDDQ_VDD2_1V8AO": 613},
			totalMW: 5201 + 2680 + 4734 + 613, gpuLoad: 50.3, gpuHz: 1300500000, emcHz: 3199000000,
		}},
		{"xavier-nx-r35", want{
			kind: Jetson, arch: "aarch64", module: "Jetson Xavier NX", soc: "tegra194", l4t: "35.4.1",
			pm: "3 MODE_10W_2CORE status", cpuModel: "NVIDIA Carmel", cores: 6, online: 2,
			features: []string{"ASIMDHP", "NEON"},
			temps:    5,
			throttle: []string{
				"cpufreq: cpu0 capped at 1190 MHz of 1907 MHz", "cpufreq: cpu1 capped at 1190 MHz of 1907 MHz",
			},
			rails:   map[string]int64{"VDD_IN": 2761, "VDD_CPU_GPU_CV": 649, "VDD_SOC": 710},
			totalMW: 2761, gpuLoad: 0, gpuHz: 114750000, emcHz: 1600000000,
		}},
		{"nano-r32", want{
			kind: Jetson, arch: "aarch64", module: "Jetson Nano", soc: "tegra210", l4t: "32.7.4",
			pm: "1 5W status", cpuModel: "Cortex-A57", cores: 4, online: 2,
			features: []string{"NEON"},
			temps:    6,
			throttle: []string{
				"cpufreq: cpu0 capped at 918 MHz of 1479 MHz", "cpufreq: cpu1 capped at 918 MHz of 1479 MHz",
			},
			rails:   map[string]int64{"POM_5V_IN": 2028, "POM_5V_GPU": 81, "POM_5V_CPU": 400},
			totalMW: 2028, gpuLoad: 0, gpuHz: 76800000, emcHz: 1600000000,
		}},
		{"x86-generic", want{
			kind: Generic, arch: "x86_64", cpuModel: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", cores: 4, online: 4,
			features: []string{"AVX", "AVX2", "AVX512BW", "AVX512F", "AVX512_VNNI", "F16C", "FMA", "SSE4_2"},
			temps:    2, gpuLoad: -1, missing: []string{"power", "gpu", "emc"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBoard(t, fixture(t, tc.name))
			info, s := b.Info(), b.Sample()
			w := tc.want
			if info.Kind != w.kind || info.Arch != w.arch || info.Module != w.module || info.SoC != w.soc || info.L4T != w.l4t {
				t.Errorf("info = kind %s arch %s module %q soc %q l4t %q; want %s %s %q %q %q",
					info.Kind, info.Arch, info.Module, info.SoC, info.L4T, w.kind, w.arch, w.module, w.soc, w.l4t)
			}
			pm := ""
			if info.NVPModel != nil {
				pm = strings.Join([]string{strconv.Itoa(info.NVPModel.ID), info.NVPModel.Name, info.NVPModel.Source}, " ")
			}
			if pm != w.pm {
				t.Errorf("nvpmodel = %q, want %q", pm, w.pm)
			}
			if info.CPUModel != w.cpuModel || info.Cores != w.cores || info.Online != w.online {
				t.Errorf("cpu = %q %d cores %d online; want %q %d %d", info.CPUModel, info.Cores, info.Online, w.cpuModel, w.cores, w.online)
			}
			if !reflect.DeepEqual(info.Features, w.features) {
				t.Errorf("features = %v, want %v", info.Features, w.features)
			}
			if len(info.Errors) > 0 || len(s.Errors) > 0 {
				t.Errorf("errors: info %v sample %v", info.Errors, s.Errors)
			}
			if len(s.Temps) != w.temps {
				t.Errorf("temps = %d %v, want %d", len(s.Temps), s.Temps, w.temps)
			}
			if !reflect.DeepEqual(s.Throttle, w.throttle) {
				t.Errorf("throttle = %q, want %q", s.Throttle, w.throttle)
			}
			if got := railMap(s.Rails); len(got)+len(w.rails) > 0 && !reflect.DeepEqual(got, w.rails) {
				t.Errorf("rails = %v, want %v", got, w.rails)
			}
			if s.TotalMilliWatts != w.totalMW {
				t.Errorf("total = %d mW, want %d", s.TotalMilliWatts, w.totalMW)
			}
			switch {
			case w.gpuLoad < 0 && s.GPU != nil:
				t.Errorf("gpu = %+v, want none", *s.GPU)
			case w.gpuLoad >= 0 && (s.GPU == nil || s.GPU.LoadPct == nil || *s.GPU.LoadPct != w.gpuLoad || s.GPU.FreqHz != w.gpuHz):
				t.Errorf("gpu = %+v, want load %.1f at %d Hz", s.GPU, w.gpuLoad, w.gpuHz)
			}
			if got := int64(0); s.EMC != nil {
				got = s.EMC.FreqHz
				if got != w.emcHz {
					t.Errorf("emc = %d Hz, want %d", got, w.emcHz)
				}
			} else if w.emcHz != 0 {
				t.Errorf("emc missing, want %d Hz", w.emcHz)
			}
			if !reflect.DeepEqual(s.Missing, w.missing) {
				t.Errorf("sample missing = %v, want %v", s.Missing, w.missing)
			}
			if s.Mem == nil || s.Mem.TotalBytes == 0 || s.Mem.TotalBytes != info.MemTotal {
				t.Errorf("mem = %+v, info total %d", s.Mem, info.MemTotal)
			}
			if !s.Time.Equal(fixedNow()) {
				t.Errorf("time = %v", s.Time)
			}
		})
	}
}

// TestFixtureGolden pins the whole report of each fixture tree, as
// `edgeclip board --json` would print it; -update rewrites the files.
func TestFixtureGolden(t *testing.T) {
	names, err := os.ReadDir(filepath.Join("testdata", "roots"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range names {
		t.Run(d.Name(), func(t *testing.T) {
			b := newBoard(t, fixture(t, d.Name()))
			got, err := json.MarshalIndent(struct {
				Info   Info   `json:"info"`
				Sample Sample `json:"sample"`
			}{b.Info(), b.Sample()}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "golden", d.Name()+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./board -run Golden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("report differs from %s (rerun with -update after checking):\n%s", golden, got)
			}
		})
	}
}

// TestRealMachine reads this machine. Off a Jetson it must say generic and
// count the CPUs the Go runtime sees.
func TestRealMachine(t *testing.T) {
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	info := b.Info()
	t.Logf("info: %+v", info)
	if _, err := os.Stat("/etc/nv_tegra_release"); errors.Is(err, fs.ErrNotExist) && info.Kind != Generic {
		t.Errorf("kind = %s on a host without L4T, want generic", info.Kind)
	}
	if info.Cores != runtime.NumCPU() {
		t.Errorf("cores = %d, runtime.NumCPU() = %d", info.Cores, runtime.NumCPU())
	}
	if info.Online < 1 || info.Online > info.Cores {
		t.Errorf("online = %d of %d cores", info.Online, info.Cores)
	}
	if info.CPUModel == "" || info.Arch == "" || info.MemTotal == 0 {
		t.Errorf("incomplete info: model %q arch %q mem %d", info.CPUModel, info.Arch, info.MemTotal)
	}
	s := b.Sample()
	if s.Mem == nil || s.Mem.AvailableBytes == 0 || s.Mem.AvailableBytes > s.Mem.TotalBytes {
		t.Errorf("mem = %+v", s.Mem)
	}
	if len(s.Errors) > 0 {
		t.Logf("sample errors (permissions?): %v", s.Errors)
	}
}

func TestNew(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opt  Options
		want string
	}{
		{"missing root", Options{Root: filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"root is a file", Options{Root: file}, "not a directory"},
		{"unknown sensor", Options{Root: t.TempDir(), Sensor: "ov5647"}, `unknown sensor "ov5647" (known: imx219, imx477)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// TestEmptyRoot: a root with nothing in it is a generic board with every
// part missing, not an error.
func TestEmptyRoot(t *testing.T) {
	b := newBoard(t, t.TempDir())
	info, s := b.Info(), b.Sample()
	if info.Kind != Generic || len(info.Errors) > 0 || !reflect.DeepEqual(info.Missing, []string{"cpuinfo", "meminfo"}) {
		t.Errorf("info = %+v", info)
	}
	want := []string{"thermal", "power", "gpu", "emc", "cpufreq", "meminfo"}
	if !reflect.DeepEqual(s.Missing, want) || len(s.Errors) > 0 {
		t.Errorf("sample missing %v errors %v, want missing %v", s.Missing, s.Errors, want)
	}
	for _, f := range []func() error{
		func() error { _, err := b.Power(); return err },
		func() error { _, err := b.GPU(); return err },
		func() error { _, err := b.EMC(); return err },
		func() error { _, _, err := b.Thermal(); return err },
		func() error { _, err := b.NVPModel(); return err },
		func() error { _, err := b.L4T(); return err },
	} {
		if err := f(); !errors.Is(err, ErrNoData) {
			t.Errorf("err = %v, want ErrNoData", err)
		}
	}
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestPowerVariants(t *testing.T) {
	const hw = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon2/"
	cases := []struct {
		name    string
		files   map[string]string
		want    []Rail
		wantErr string
	}{
		{"labels in curr files only", map[string]string{
			hw + "curr1_label": "VDD_IN\n", hw + "in1_input": "5000\n", hw + "curr1_input": "1200\n",
			hw + "curr2_label": "NC\n",
			hw + "curr3_label": "VDD_SOC\n", hw + "in3_input": "5000\n", hw + "curr3_input": "200\n",
		}, []Rail{{Name: "VDD_IN", MilliVolts: 5000, MilliAmps: 1200, MilliWatts: 6000}, {Name: "VDD_SOC", MilliVolts: 5000, MilliAmps: 200, MilliWatts: 1000}}, ""},
		{"implausible current", map[string]string{
			hw + "in1_label": "VDD_IN\n", hw + "in1_input": "5000\n", hw + "curr1_input": "999999999\n",
		}, nil, "implausible reading"},
		{"garbled value", map[string]string{
			hw + "in1_label": "VDD_IN\n", hw + "in1_input": "five\n", hw + "curr1_input": "1\n",
		}, nil, "not an integer"},
		{"iio without power file", map[string]string{
			"sys/bus/i2c/drivers/ina3221x/1-0040/iio:device0/rail_name_0":       "VDD_IN\n",
			"sys/bus/i2c/drivers/ina3221x/1-0040/iio:device0/in_voltage0_input": "19000\n",
			"sys/bus/i2c/drivers/ina3221x/1-0040/iio:device0/in_current0_input": "500\n",
		}, []Rail{{Name: "VDD_IN", MilliVolts: 19000, MilliAmps: 500, MilliWatts: 9500}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rails, err := newBoard(t, writeTree(t, tc.files)).Power()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, ErrNoData) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(rails, tc.want) {
				t.Errorf("Power = %+v, %v; want %+v", rails, err, tc.want)
			}
		})
	}
}

func TestParseCPUList(t *testing.T) {
	cases := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"0-3", []int{0, 1, 2, 3}, false},
		{"0,2-3,7\n", []int{0, 2, 3, 7}, false},
		{"5", []int{5}, false},
		{"", nil, false},
		{"3-1", nil, true},
		{"a", nil, true},
		{"0-99999999", nil, true},
		{"-1", nil, true},
	}
	for _, tc := range cases {
		got, err := parseCPUList(tc.in)
		if (err != nil) != tc.wantErr || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestNVPModelErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no modes", map[string]string{"etc/nvpmodel.conf": "# empty\n"}, "no POWER_MODEL entries"},
		{"no status no default", map[string]string{"etc/nvpmodel.conf": "< POWER_MODEL ID=0 NAME=MAXN >\n"}, "no PM_CONFIG DEFAULT"},
		{"bad release", map[string]string{"etc/nv_tegra_release": "garbage\n"}, "unrecognized first line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBoard(t, writeTree(t, tc.files))
			_, err := b.NVPModel()
			if _, ok := tc.files["etc/nv_tegra_release"]; ok {
				_, err = b.L4T()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// BenchmarkSample is the cost of one telemetry reading, which the daemon
// takes periodically; most of it is opening sysfs files.
func BenchmarkSample(b *testing.B) {
	bd := newBoard(b, fixture(b, "orin-nano-r36"))
	for b.Loop() {
		bd.Sample()
	}
}
