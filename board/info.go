package board

import (
	"fmt"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
)

// Info is what does not change while the board runs.
type Info struct {
	Kind Kind   `json:"kind"`
	Arch string `json:"arch"`
	// Model is the device-tree model string ("NVIDIA Jetson Orin Nano
	// Developer Kit"); empty on hosts without a device tree.
	Model string `json:"model,omitempty"`
	// Module is the Jetson module name derived from the device-tree
	// compatible list ("Jetson Orin Nano 8GB").
	Module     string    `json:"module,omitempty"`
	Compatible []string  `json:"compatible,omitempty"`
	SoC        string    `json:"soc,omitempty"` // "tegra234"
	L4T        string    `json:"l4t,omitempty"` // "36.4.3"
	NVPModel   *NVPModel `json:"nvpmodel,omitempty"`
	CSIPorts   int       `json:"csi_ports,omitempty"`
	CPUModel   string    `json:"cpu_model"`
	// Cores counts the CPUs present; Online those running now (nvpmodel
	// modes switch cores off, and /proc/cpuinfo lists only online ones).
	Cores  int `json:"cores"`
	Online int `json:"online"`
	// Features are the SIMD and dot-product extensions edgeclip's kernels
	// can use, in /proc/cpuinfo names upper-cased ("NEON", "AVX512_VNNI").
	Features []string `json:"features,omitempty"`
	MemTotal uint64   `json:"mem_total_bytes,omitempty"`
	// Missing names the parts this board does not have; Errors holds
	// failures to read parts it does have.
	Missing []string `json:"missing,omitempty"`
	Errors  []string `json:"errors,omitempty"`
}

// NVPModel is the active Jetson power mode.
type NVPModel struct {
	ID   int    `json:"id"`
	Name string `json:"name,omitempty"`
	// Source is "status" when read from the file nvpmodel writes on every
	// change, "default" when only the configured boot default is known.
	Source string   `json:"source"`
	Modes  []PMMode `json:"modes,omitempty"`
}

// PMMode is one power mode the nvpmodel configuration defines.
type PMMode struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

// Info reads the static description. Parts that are absent are listed in
// Info.Missing; it never fails as a whole.
func (b *Board) Info() Info {
	var r report
	info := Info{Kind: Generic}
	ci, err := b.cpuInfo()
	r.note("cpuinfo", err)
	info.Arch, info.CPUModel, info.Features = ci.arch, ci.model, ci.features
	info.Cores, info.Online = ci.count, ci.count
	if ids, err := b.cpuList("online"); err == nil && len(ids) > 0 {
		info.Online = len(ids)
		info.Cores = max(info.Cores, len(ids))
	}
	if ids, err := b.cpuList("present"); err == nil && len(ids) >= info.Online {
		info.Cores = len(ids)
	}
	if info.Arch == "" && b.root == "/" {
		info.Arch = goArch()
	}
	if m, err := b.Memory(); err == nil {
		info.MemTotal = m.TotalBytes
	} else {
		r.note("meminfo", err)
	}

	dt, dtErr := b.DeviceTree()
	info.Model, info.Compatible = dt.Model, dt.Compatible
	l4t, l4tErr := b.L4T()
	info.L4T = l4t
	if dt.SoC != "" || l4tErr == nil {
		info.Kind = Jetson
		info.SoC = dt.SoC
		mod := lookupModule(dt.Compatible)
		info.Module = mod.name
		if info.Module == "" {
			info.Module = strings.TrimSuffix(dt.Model, " Developer Kit")
		}
		info.CSIPorts = mod.csiPorts
		r.note("device-tree", dtErr)
		r.note("l4t", l4tErr)
		pm, err := b.NVPModel()
		if err == nil {
			info.NVPModel = &pm
		}
		r.note("nvpmodel", err)
	}
	info.Missing, info.Errors = r.missing, r.errs
	return info
}

func goArch() string {
	switch goruntime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return goruntime.GOARCH
}

func (b *Board) cpuInfo() (cpuInfo, error) {
	data, err := b.read("proc/cpuinfo")
	if err != nil {
		return cpuInfo{}, err
	}
	return parseCPUInfo(data)
}

// cpuList reads one of the CPU lists in /sys/devices/system/cpu.
func (b *Board) cpuList(name string) ([]int, error) {
	s, err := readString(b.path("sys/devices/system/cpu/" + name))
	if err != nil {
		return nil, err
	}
	return parseCPUList(s)
}

// Memory reads /proc/meminfo.
func (b *Board) Memory() (Memory, error) {
	data, err := b.read("proc/meminfo")
	if err != nil {
		return Memory{}, err
	}
	return parseMeminfo(data)
}

// DeviceTreeInfo is the board identity from the device tree.
type DeviceTreeInfo struct {
	Model      string
	Compatible []string
	// SoC is the "nvidia,tegraNNN" entry of Compatible without its vendor
	// prefix; empty on non-Tegra boards.
	SoC string
}

// DeviceTree reads model and compatible from /proc/device-tree, falling back
// to /sys/firmware/devicetree/base (the directory it links to).
func (b *Board) DeviceTree() (DeviceTreeInfo, error) {
	var dt DeviceTreeInfo
	var err error
	for _, dir := range []string{"proc/device-tree", "sys/firmware/devicetree/base"} {
		var model string
		model, err = readString(b.path(dir + "/model"))
		if err != nil {
			continue
		}
		dt.Model = model
		if data, cerr := readFile(b.path(dir + "/compatible")); cerr == nil {
			for c := range strings.SplitSeq(string(data), "\x00") {
				if c = strings.TrimSpace(c); c != "" {
					dt.Compatible = append(dt.Compatible, c)
				}
			}
		}
		for _, c := range dt.Compatible {
			if soc, ok := strings.CutPrefix(c, "nvidia,tegra"); ok {
				dt.SoC = "tegra" + soc
			}
		}
		return dt, nil
	}
	return dt, err
}

var l4tRE = regexp.MustCompile(`^#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([0-9.]+)`)

// L4T reads the Jetson Linux release ("36.4.3") from /etc/nv_tegra_release,
// whose first line reads "# R36 (release), REVISION: 4.3, GCID: ...".
func (b *Board) L4T() (string, error) {
	s, err := readString(b.path("etc/nv_tegra_release"))
	if err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(s, "\n")
	m := l4tRE.FindStringSubmatch(first)
	if m == nil {
		return "", fmt.Errorf("board: nv_tegra_release: unrecognized first line %q", trimQuote(first))
	}
	return m[1] + "." + m[2], nil
}

func trimQuote(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

var (
	pmModelRE   = regexp.MustCompile(`<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=([^\s>]+)\s*>`)
	pmDefaultRE = regexp.MustCompile(`<\s*PM_CONFIG\s+DEFAULT=(\d+)\s*>`)
	pmStatusRE  = regexp.MustCompile(`pmode:(\d+)`)
)

// NVPModel reads the power mode without running nvpmodel: the mode table and
// boot default from /etc/nvpmodel.conf, the active mode from the status file
// nvpmodel writes on every change ("pmode:0002 fmode:quiet").
func (b *Board) NVPModel() (NVPModel, error) {
	conf, err := readString(b.path("etc/nvpmodel.conf"))
	if err != nil {
		return NVPModel{}, err
	}
	var pm NVPModel
	for _, m := range pmModelRE.FindAllStringSubmatch(conf, 64) {
		id, err := strconv.Atoi(m[1])
		if err != nil || id > 1<<16 {
			continue
		}
		pm.Modes = append(pm.Modes, PMMode{ID: id, Name: m[2]})
	}
	if len(pm.Modes) == 0 {
		return NVPModel{}, fmt.Errorf("board: nvpmodel.conf: no POWER_MODEL entries")
	}
	pm.ID = -1
	if st, err := readString(b.path("var/lib/nvpmodel/status")); err == nil {
		if m := pmStatusRE.FindStringSubmatch(st); m != nil {
			if id, err := strconv.Atoi(m[1]); err == nil {
				pm.ID, pm.Source = id, "status"
			}
		}
	}
	if pm.ID < 0 {
		m := pmDefaultRE.FindStringSubmatch(conf)
		if m == nil {
			return NVPModel{}, fmt.Errorf("board: nvpmodel: no status file and no PM_CONFIG DEFAULT")
		}
		pm.ID, _ = strconv.Atoi(m[1])
		pm.Source = "default"
	}
	for _, m := range pm.Modes {
		if m.ID == pm.ID {
			pm.Name = m.Name
		}
	}
	return pm, nil
}
