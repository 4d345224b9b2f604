package board

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sample is one reading of the board's dynamic state. Board.Sample fills it
// from sysfs; ParseTegrastats fills it from tegrastats lines, which carry
// per-core load and average power but no trip points.
type Sample struct {
	// Time is when the sample was taken; zero for tegrastats lines without
	// a timestamp (L4T R32).
	Time  time.Time `json:"time,omitzero"`
	Temps []Temp    `json:"temps,omitempty"`
	// Throttle lists why the board is running below its ceiling: a thermal
	// zone past a passive trip point, a CPU capped below its hardware
	// maximum. Empty means none seen (or not knowable).
	Throttle []string `json:"throttle,omitempty"`
	Rails    []Rail   `json:"rails,omitempty"`
	// TotalMilliWatts is the module input rail (VDD_IN, POM_5V_IN) when the
	// board has one, else the sum of its rails; 0 without rails.
	TotalMilliWatts int64    `json:"total_mw,omitempty"`
	GPU             *GPU     `json:"gpu,omitempty"`
	EMC             *EMC     `json:"emc,omitempty"`
	CPUs            []CPU    `json:"cpus,omitempty"`
	Mem             *Memory  `json:"mem,omitempty"`
	Missing         []string `json:"missing,omitempty"`
	Errors          []string `json:"errors,omitempty"`
}

// Temp is one thermal zone's temperature.
type Temp struct {
	Zone    string  `json:"zone"`
	Celsius float64 `json:"celsius"`
	// PassiveC is the lowest passive trip point, where the kernel starts
	// throttling; 0 when the zone has none or it is unknown.
	PassiveC float64 `json:"passive_c,omitempty"`
}

// Rail is one power-monitor channel.
type Rail struct {
	Name       string `json:"name"`
	MilliVolts int64  `json:"mv,omitempty"`
	MilliAmps  int64  `json:"ma,omitempty"`
	MilliWatts int64  `json:"mw"`
	// AvgMilliWatts is tegrastats' running average; 0 from sysfs.
	AvgMilliWatts int64 `json:"avg_mw,omitempty"`
}

// GPU is the integrated GPU's load and clock.
type GPU struct {
	// LoadPct is nil when the load file is unreadable.
	LoadPct   *float64 `json:"load_pct,omitempty"`
	FreqHz    int64    `json:"freq_hz,omitempty"`
	MaxFreqHz int64    `json:"max_freq_hz,omitempty"`
}

// EMC is the external memory controller's clock and (from tegrastats) load.
type EMC struct {
	FreqHz  int64    `json:"freq_hz,omitempty"`
	LoadPct *float64 `json:"load_pct,omitempty"`
}

// CPU is one core's state.
type CPU struct {
	ID     int   `json:"id"`
	Online bool  `json:"online"`
	CurKHz int64 `json:"cur_khz,omitempty"`
	// MaxKHz is the current ceiling (scaling_max_freq, set by nvpmodel or
	// thermal capping); HWMaxKHz the hardware maximum (cpuinfo_max_freq).
	MaxKHz   int64    `json:"max_khz,omitempty"`
	HWMaxKHz int64    `json:"hw_max_khz,omitempty"`
	LoadPct  *float64 `json:"load_pct,omitempty"`
}

// Sample reads temperatures, power, GPU, EMC, CPU clocks and memory. Parts
// that are absent are listed in Sample.Missing; it never fails as a whole.
func (b *Board) Sample() Sample {
	var r report
	s := Sample{Time: b.now()}
	var err error
	var trips []string
	s.Temps, trips, err = b.Thermal()
	r.note("thermal", err)
	s.Rails, err = b.Power()
	r.note("power", err)
	s.TotalMilliWatts = totalPower(s.Rails)
	if g, err := b.GPU(); err == nil {
		s.GPU = &g
	} else {
		r.note("gpu", err)
	}
	if e, err := b.EMC(); err == nil {
		s.EMC = &e
	} else {
		r.note("emc", err)
	}
	var caps []string
	s.CPUs, caps, err = b.CPUs()
	r.note("cpufreq", err)
	if m, err := b.Memory(); err == nil {
		s.Mem = &m
	} else {
		r.note("meminfo", err)
	}
	s.Throttle = append(trips, caps...)
	s.Missing, s.Errors = r.missing, r.errs
	return s
}

// Thermal reads every /sys/class/thermal zone and reports which are past a
// passive (or hotter) trip point. Zones whose sensor is powered down (Orin's
// cv* zones return EAGAIN or -256 °C) are skipped.
func (b *Board) Thermal() ([]Temp, []string, error) {
	var temps []Temp
	var throttle []string
	var firstErr error
	for _, dir := range b.glob("sys/class/thermal/thermal_zone*") {
		name, err := readString(filepath.Join(dir, "type"))
		if err != nil {
			name = filepath.Base(dir)
		}
		milli, err := readInt(filepath.Join(dir, "temp"))
		if err != nil || milli <= -100000 || milli > 500000 {
			if err != nil && !errors.Is(err, ErrNoData) && firstErr == nil && !isTransient(err) {
				firstErr = err
			}
			continue
		}
		t := Temp{Zone: name, Celsius: float64(milli) / 1000}
		passive, hot := int64(math.MaxInt64), int64(math.MaxInt64)
		for _, tp := range b.globIn(dir, "trip_point_*_type") {
			kind, err := readString(tp)
			if err != nil {
				continue
			}
			v, err := readInt(strings.TrimSuffix(tp, "_type") + "_temp")
			if err != nil || v <= 0 {
				continue
			}
			switch kind {
			case "passive":
				passive = min(passive, v)
			case "hot", "critical":
				hot = min(hot, v)
			}
		}
		if passive != math.MaxInt64 {
			t.PassiveC = float64(passive) / 1000
		}
		if limit := min(passive, hot); milli >= limit {
			throttle = append(throttle, fmt.Sprintf("thermal: %s at %.1f°C, trip point %.1f°C", name, t.Celsius, float64(limit)/1000))
		}
		temps = append(temps, t)
	}
	if len(temps) == 0 {
		if firstErr != nil {
			return nil, nil, firstErr
		}
		return nil, nil, fmt.Errorf("board: no readable thermal zones: %w", ErrNoData)
	}
	return temps, throttle, nil
}

// isTransient reports sysfs read errors of a powered-down sensor.
func isTransient(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EINVAL)
}

func (b *Board) globIn(dir, pattern string) []string {
	m, _ := filepath.Glob(filepath.Join(escapeGlob(dir), pattern))
	slices.SortFunc(m, func(a, c string) int {
		if naturalLess(a, c) {
			return -1
		}
		return 1
	})
	return m
}

// CPUs reads the online list and each core's cpufreq files. Cores whose
// ceiling sits below the hardware maximum are reported as capped.
func (b *Board) CPUs() ([]CPU, []string, error) {
	onlineSet := map[int]bool{}
	ids, err := b.cpuList("online")
	if err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		onlineSet[id] = true
	}
	present := ids
	if p, err := b.cpuList("present"); err == nil && len(p) >= len(ids) {
		present = p
	}
	var cpus []CPU
	var caps []string
	freqs := 0
	for _, id := range present {
		c := CPU{ID: id, Online: onlineSet[id]}
		dir := b.path("sys/devices/system/cpu/cpu" + strconv.Itoa(id) + "/cpufreq")
		if v, err := readInt(filepath.Join(dir, "scaling_cur_freq")); err == nil {
			c.CurKHz = v
			freqs++
		}
		c.MaxKHz, _ = readInt(filepath.Join(dir, "scaling_max_freq"))
		c.HWMaxKHz, _ = readInt(filepath.Join(dir, "cpuinfo_max_freq"))
		if c.Online && c.MaxKHz > 0 && c.HWMaxKHz > 0 && c.MaxKHz < c.HWMaxKHz {
			caps = append(caps, fmt.Sprintf("cpufreq: cpu%d capped at %d MHz of %d MHz", id, c.MaxKHz/1000, c.HWMaxKHz/1000))
		}
		cpus = append(cpus, c)
	}
	if freqs == 0 {
		return cpus, caps, fmt.Errorf("board: no cpufreq: %w", ErrNoData)
	}
	return cpus, caps, nil
}

// gpuLoadFiles are the Tegra GPU load files (0–1000) across L4T releases:
// the gpu.0 alias on R32–R35, the platform device names on R35–R36.
var gpuLoadFiles = []string{
	"sys/devices/gpu.0/load",
	"sys/devices/platform/gpu.0/load",
	"sys/devices/platform/bus@0/17000000.gpu/load",
	"sys/devices/platform/17000000.ga10b/load",
	"sys/devices/17000000.ga10b/load",
	"sys/devices/17000000.gv11b/load",
	"sys/devices/57000000.gpu/load",
}

// gpuNodes are the device-tree node names of Tegra integrated GPUs.
var gpuNodes = []string{"gpu", "gv11b", "ga10b", "gp10b", "gm20b"}

// GPU reads the integrated GPU's load and its devfreq clock.
func (b *Board) GPU() (GPU, error) {
	var g GPU
	found := false
	for _, f := range gpuLoadFiles {
		if v, err := readInt(b.path(f)); err == nil {
			pct := float64(v) / 10
			g.LoadPct, found = &pct, true
			break
		}
	}
	for _, dir := range b.glob("sys/class/devfreq/*") {
		if !b.isGPUDevfreq(dir) {
			continue
		}
		cur, err := readInt(filepath.Join(dir, "cur_freq"))
		if err != nil {
			continue
		}
		g.FreqHz, found = cur, true
		g.MaxFreqHz, _ = readInt(filepath.Join(dir, "max_freq"))
		if g.LoadPct == nil {
			if v, err := readInt(filepath.Join(dir, "device", "load")); err == nil {
				pct := float64(v) / 10
				g.LoadPct = &pct
			}
		}
		break
	}
	if !found {
		return g, fmt.Errorf("board: no integrated GPU: %w", ErrNoData)
	}
	return g, nil
}

func (b *Board) isGPUDevfreq(dir string) bool {
	if n, err := readString(filepath.Join(dir, "device", "of_node", "name")); err == nil {
		return slices.Contains(gpuNodes, n)
	}
	base := filepath.Base(dir)
	_, node, ok := strings.Cut(base, ".")
	return ok && slices.Contains(gpuNodes, node)
}

// emcRateFiles hold the EMC clock in Hz: BPMP debugfs on Xavier and Orin,
// the clock framework's debugfs on Nano and TX1, devfreq on Thor. Debugfs
// needs root, so on most systems this reports a permission error.
var emcRateFiles = []string{
	"sys/kernel/debug/bpmp/debug/clk/emc/rate",
	"sys/kernel/debug/clk/emc/clk_rate",
	"sys/class/devfreq/bwmgr/cur_freq",
}

// EMC reads the memory controller's clock.
func (b *Board) EMC() (EMC, error) {
	var firstErr error
	for _, f := range emcRateFiles {
		v, err := readInt(b.path(f))
		if err == nil {
			return EMC{FreqHz: v}, nil
		}
		if !errors.Is(err, ErrNoData) && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return EMC{}, firstErr
	}
	return EMC{}, fmt.Errorf("board: no EMC clock: %w", ErrNoData)
}
