package board

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseTegrastatsFixtures(t *testing.T) {
	type want struct {
		samples    int
		time       time.Time // of the first sample
		ramUsedMB  uint64
		ramTotalMB uint64
		cpus       int
		online     int
		cpu0KHz    int64
		gpuLoad    float64
		gpuMHz     int64
		emcLoad    float64
		emcMHz     int64
		temps      []string // zones of the first sample, in order
		rails      map[string]int64
		totalMW    int64
	}
	date := func(y int, m time.Month, d, hh, mm, ss int) time.Time {
		return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
	}
	cases := []struct {
		file string
		want want
	}{
		{"r28_tx1.txt", want{
			samples: 1, ramUsedMB: 3468, ramTotalMB: 3983, cpus: 4, online: 4, cpu0KHz: 408000,
			gpuLoad: 3, gpuMHz: 76, emcLoad: 1, emcMHz: 408,
		}},
		{"r32_nano.txt", want{
			samples: 3, ramUsedMB: 1662, ramTotalMB: 3956, cpus: 4, online: 4, cpu0KHz: 1479000,
			gpuLoad: 0, gpuMHz: 76, emcLoad: 4, emcMHz: 1600,
			temps:   []string{"PLL", "CPU", "iwlwifi", "PMIC", "GPU", "AO", "thermal"},
			rails:   map[string]int64{"POM_5V_IN": 2171, "POM_5V_GPU": 78, "POM_5V_CPU": 314},
			totalMW: 2171,
		}},
		{"r35_xavier_nx.txt", want{
			samples: 1, time: date(2024, 7, 9, 13, 31, 31), ramUsedMB: 3170, ramTotalMB: 6851, cpus: 6, online: 2, cpu0KHz: 1190000,
			gpuLoad: 0, gpuMHz: 114, emcLoad: 2, emcMHz: 204,
			temps:   []string{"AUX", "CPU", "thermal", "AO", "GPU", "PMIC"},
			rails:   map[string]int64{"VDD_IN": 2771, "VDD_CPU_GPU_CV": 652, "VDD_SOC": 648},
			totalMW: 2771,
		}},
		{"r35_agx_orin.txt", want{
			samples: 2, time: date(2024, 4, 11, 10, 36, 27), ramUsedMB: 4321, ramTotalMB: 62801, cpus: 12, online: 12, cpu0KHz: 729000,
			gpuLoad: 0, gpuMHz: 0, emcLoad: 0, emcMHz: 2133,
			temps:   []string{"CPU", "Tboard", "SOC2", "Tdiode", "SOC0", "tj", "SOC1"}, // -256C sensors dropped
			rails:   map[string]int64{"VDD_GPU_SOC": 2340, "VDD_CPU_CV": 390, "VIN_SYS_5V0": 4025, "VDDQ_VDD2_1V8AO": 301},
			totalMW: 2340 + 390 + 4025 + 301,
		}},
		{"r36_orin_nano.txt", want{
			samples: 2, time: date(2025, 1, 30, 18, 0, 27), ramUsedMB: 2290, ramTotalMB: 7620, cpus: 6, online: 6, cpu0KHz: 729000,
			gpuLoad: 0, gpuMHz: 305, emcLoad: 0, emcMHz: 2133,
			temps:   []string{"cpu", "soc2", "soc0", "gpu", "tj", "soc1"},
			rails:   map[string]int64{"VDD_IN": 4681, "VDD_CPU_GPU_CV": 529, "VDD_SOC": 1341},
			totalMW: 4681,
		}},
		{"r36_agx_orin.txt", want{
			samples: 1, time: date(2025, 5, 9, 18, 42, 6), ramUsedMB: 18207, ramTotalMB: 62841, cpus: 12, online: 12, cpu0KHz: 2188000,
			gpuLoad: 0, gpuMHz: 0, emcLoad: 3, emcMHz: 2133,
			temps:   []string{"cpu", "soc2", "soc0", "tj", "soc1"},
			rails:   map[string]int64{"VDD_GPU_SOC": 2412, "VDD_CPU_CV": 1607, "VIN_SYS_5V0": 4707},
			totalMW: 2412 + 1607 + 4707,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "tegrastats", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			samples, err := ParseTegrastats(f)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if len(samples) != w.samples {
				t.Fatalf("%d samples, want %d", len(samples), w.samples)
			}
			s := samples[0]
			if !s.Time.Equal(w.time) {
				t.Errorf("time = %v, want %v", s.Time, w.time)
			}
			if s.Mem == nil || s.Mem.UsedBytes != w.ramUsedMB<<20 || s.Mem.TotalBytes != w.ramTotalMB<<20 {
				t.Errorf("mem = %+v, want %d/%d MB", s.Mem, w.ramUsedMB, w.ramTotalMB)
			}
			online := 0
			for _, c := range s.CPUs {
				if c.Online {
					online++
				}
			}
			if len(s.CPUs) != w.cpus || online != w.online || s.CPUs[0].CurKHz != w.cpu0KHz {
				t.Errorf("cpus = %d (%d online, cpu0 %d kHz), want %d (%d, %d kHz)", len(s.CPUs), online, s.CPUs[0].CurKHz, w.cpus, w.online, w.cpu0KHz)
			}
			if s.GPU == nil || *s.GPU.LoadPct != w.gpuLoad || s.GPU.FreqHz != w.gpuMHz*1_000_000 {
				t.Errorf("gpu = %+v, want %.0f%% at %d MHz", s.GPU, w.gpuLoad, w.gpuMHz)
			}
			if s.EMC == nil || *s.EMC.LoadPct != w.emcLoad || s.EMC.FreqHz != w.emcMHz*1_000_000 {
				t.Errorf("emc = %+v, want %.0f%% at %d MHz", s.EMC, w.emcLoad, w.emcMHz)
			}
			var zones []string
			for _, z := range s.Temps {
				zones = append(zones, z.Zone)
			}
			if !reflect.DeepEqual(zones, w.temps) {
				t.Errorf("temps = %v, want %v", zones, w.temps)
			}
			if got := railMap(s.Rails); len(got)+len(w.rails) > 0 && !reflect.DeepEqual(got, w.rails) {
				t.Errorf("rails = %v, want %v", got, w.rails)
			}
			if s.TotalMilliWatts != w.totalMW {
				t.Errorf("total = %d mW, want %d", s.TotalMilliWatts, w.totalMW)
			}
		})
	}
}

func TestParseTegrastatsLineDetails(t *testing.T) {
	s, err := ParseTegrastatsLine("RAM 1409/3964MB (lfb 28x4MB) CPU [21%@918,64%@918,off,off] GR3D_FREQ 87%@[611,0] POM_5V_IN 2012/2003 NC 0mW/0mW")
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CPUs[2]; c.Online || c.LoadPct != nil || c.CurKHz != 0 {
		t.Errorf("off core = %+v", c)
	}
	if c := s.CPUs[1]; !c.Online || *c.LoadPct != 64 {
		t.Errorf("core 1 = %+v", c)
	}
	if *s.GPU.LoadPct != 87 || s.GPU.FreqHz != 611_000_000 {
		t.Errorf("gpu = %+v", s.GPU)
	}
	if len(s.Rails) != 1 || s.Rails[0] != (Rail{Name: "POM_5V_IN", MilliWatts: 2012, AvgMilliWatts: 2003}) {
		t.Errorf("rails = %+v (NC must be dropped)", s.Rails)
	}
}

func TestParseTegrastatsErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"not tegrastats", "hello world\n", "line 1: no tegrastats fields"},
		{"bad RAM", "RAM lots CPU [1%@2]\n", `line 1: RAM "lots": want used/totalMB`},
		{"bad CPU", "CPU 12%\n", `CPU "12%": want [load%@MHz,...]`},
		{"load over 100", "GR3D_FREQ 250%@76\n", `GR3D_FREQ "250%@76"`},
		{"bad second line", "RAM 1/2MB\n\nnonsense\n", "line 3: no tegrastats fields"},
		{"line too long", "RAM 1/2MB " + strings.Repeat("x", maxTegrastatsLine) + "\n", "line 1: bufio.Scanner: token too long"},
		{"huge number", "RAM 1/99999999999999999999MB\n", "bad number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTegrastats(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "board: tegrastats: ") {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := ParseTegrastatsLine("garbage"); !errors.Is(err, errNotTegrastats) {
		t.Errorf("ParseTegrastatsLine(garbage) = %v", err)
	}
}

func TestTegrastatsScannerStreams(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "tegrastats", "r36_orin_nano.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ts := NewTegrastatsScanner(strings.NewReader(string(data) + "bad line\n"))
	var n int
	for ts.Scan() {
		n++
		if s := ts.Sample(); s.GPU == nil {
			t.Errorf("sample %d without GPU", n)
		}
	}
	if n != 2 || ts.Err() == nil || !strings.Contains(ts.Err().Error(), "line 3") {
		t.Errorf("scanned %d, err %v; want 2 then a line 3 error", n, ts.Err())
	}
	if ts.Scan() {
		t.Error("Scan after an error returned true")
	}
}

func FuzzParseTegrastats(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "tegrastats", "*.txt"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("CPU [off,]@ GR3D_FREQ 0%@[] x@-C (lfb (( ))) VDD_IN 1/")
	f.Fuzz(func(t *testing.T, in string) {
		samples, err := ParseTegrastats(strings.NewReader(in))
		if err != nil && !strings.HasPrefix(err.Error(), "board: tegrastats: ") {
			t.Fatalf("error without package prefix: %v", err)
		}
		for _, s := range samples {
			if len(s.CPUs) > maxCPUs {
				t.Fatalf("%d CPUs", len(s.CPUs))
			}
			if s.GPU != nil && s.GPU.LoadPct != nil && (*s.GPU.LoadPct < 0 || *s.GPU.LoadPct > 100) {
				t.Fatalf("gpu load %v", *s.GPU.LoadPct)
			}
			for _, r := range s.Rails {
				if r.MilliWatts < 0 || !isRailName(r.Name) || r.Name == "NC" {
					t.Fatalf("rail %+v", r)
				}
			}
			if s.TotalMilliWatts < 0 {
				t.Fatalf("total %d", s.TotalMilliWatts)
			}
			if _, err := json.Marshal(s); err != nil {
				t.Fatalf("marshal: %v", err)
			}
		}
	})
}
