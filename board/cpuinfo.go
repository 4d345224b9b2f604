package board

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// cpuInfo is what /proc/cpuinfo says about the processors.
type cpuInfo struct {
	arch     string // "x86_64", "aarch64", "armv7l"
	model    string
	count    int
	features []string
}

// interesting maps a /proc/cpuinfo flag to the feature name edgeclip reports:
// the ones its kernels dispatch on (SIMD width, dot products, int8 and bf16).
var interesting = map[string]string{
	// Arm "Features".
	"asimd":   "NEON",
	"asimddp": "ASIMDDP",
	"asimdhp": "ASIMDHP",
	"i8mm":    "I8MM",
	"bf16":    "BF16",
	"sve":     "SVE",
	"sve2":    "SVE2",
	"neon":    "NEON", // 32-bit kernels
	// x86 "flags".
	"sse4_2":      "SSE4_2",
	"avx":         "AVX",
	"avx2":        "AVX2",
	"fma":         "FMA",
	"f16c":        "F16C",
	"avx512f":     "AVX512F",
	"avx512bw":    "AVX512BW",
	"avx512_vnni": "AVX512_VNNI",
	"avx_vnni":    "AVX_VNNI",
	"avx512_bf16": "AVX512_BF16",
	"amx_int8":    "AMX_INT8",
}

// armParts names Arm cores by (implementer, part) from /proc/cpuinfo, which
// on arm64 has no "model name" line.
var armParts = map[[2]string]string{
	{"0x41", "0xd03"}: "Cortex-A53",
	{"0x41", "0xd05"}: "Cortex-A55",
	{"0x41", "0xd07"}: "Cortex-A57",
	{"0x41", "0xd08"}: "Cortex-A72",
	{"0x41", "0xd0b"}: "Cortex-A76",
	{"0x41", "0xd0c"}: "Neoverse-N1",
	{"0x41", "0xd40"}: "Neoverse-V1",
	{"0x41", "0xd42"}: "Cortex-A78AE",
	{"0x41", "0xd4f"}: "Neoverse-V2",
	{"0x41", "0xd83"}: "Neoverse-V3AE",
	{"0x4e", "0x004"}: "NVIDIA Carmel",
}

// parseCPUInfo reads the x86 ("model name", "flags") and Arm ("Features",
// "CPU implementer", "CPU part", "CPU architecture") forms.
func parseCPUInfo(data []byte) (cpuInfo, error) {
	var ci cpuInfo
	var flags, impl, part, armArch, hwModel string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			if _, err := strconv.Atoi(v); err == nil {
				ci.count++
			}
		case "model name":
			if ci.model == "" {
				ci.model = v
			}
		case "flags", "Features":
			if flags == "" {
				flags = v
			}
			if k == "flags" && ci.arch == "" {
				ci.arch = "x86"
			}
		case "CPU implementer":
			if impl == "" {
				impl = strings.ToLower(v)
			}
		case "CPU part":
			if part == "" {
				part = strings.ToLower(v)
			}
		case "CPU architecture":
			if armArch == "" {
				armArch = v
			}
		case "Hardware", "Model":
			if hwModel == "" {
				hwModel = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return ci, fmt.Errorf("board: cpuinfo: %w", err)
	}
	if ci.count == 0 {
		return ci, fmt.Errorf("board: cpuinfo: no processor entries")
	}
	fields := strings.Fields(flags)
	have := make(map[string]bool, len(fields))
	for _, f := range fields {
		have[f] = true
	}
	switch {
	case ci.arch == "x86" && have["lm"]:
		ci.arch = "x86_64"
	case ci.arch == "x86":
		ci.arch = "i686"
	case armArch == "8" || strings.HasPrefix(armArch, "AArch64"):
		ci.arch = "aarch64"
	case armArch != "":
		ci.arch = "armv" + strings.TrimSuffix(armArch, " (supported)") + "l"
	}
	if n, ok := armParts[[2]string{impl, part}]; ok && (ci.model == "" || strings.HasPrefix(ci.model, "ARMv")) {
		ci.model = n
	} else if ci.model == "" && impl != "" {
		ci.model = "Arm implementer " + impl + " part " + part
	}
	if ci.model == "" {
		ci.model = hwModel
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if n, ok := interesting[f]; ok && !seen[n] {
			seen[n] = true
			ci.features = append(ci.features, n)
		}
	}
	sort.Strings(ci.features)
	return ci, nil
}

// Memory is RAM and swap in bytes.
type Memory struct {
	TotalBytes     uint64 `json:"total_bytes"`
	AvailableBytes uint64 `json:"available_bytes,omitempty"`
	UsedBytes      uint64 `json:"used_bytes,omitempty"`
	SwapTotalBytes uint64 `json:"swap_total_bytes,omitempty"`
	SwapUsedBytes  uint64 `json:"swap_used_bytes,omitempty"`
}

// parseMeminfo reads the kB lines of /proc/meminfo.
func parseMeminfo(data []byte) (Memory, error) {
	kv := map[string]uint64{}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || n > 1<<50 {
			continue
		}
		if len(f) > 1 && strings.EqualFold(f[1], "kB") {
			n *= 1024
		}
		kv[strings.TrimSpace(k)] = n
	}
	total, ok := kv["MemTotal"]
	if !ok {
		return Memory{}, fmt.Errorf("board: meminfo: no MemTotal line")
	}
	m := Memory{TotalBytes: total, SwapTotalBytes: kv["SwapTotal"]}
	avail, ok := kv["MemAvailable"]
	if !ok { // kernels before 3.14
		avail = kv["MemFree"] + kv["Buffers"] + kv["Cached"]
	}
	m.AvailableBytes = min(avail, total)
	m.UsedBytes = total - m.AvailableBytes
	if free := kv["SwapFree"]; free <= m.SwapTotalBytes {
		m.SwapUsedBytes = m.SwapTotalBytes - free
	}
	return m, nil
}

// maxCPUs bounds CPU lists parsed from files: no machine has more.
const maxCPUs = 8192

// parseCPUList reads the kernel's CPU list format ("0-3,6,8-11").
func parseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || a < 0 {
			return nil, fmt.Errorf("board: cpu list %q: bad entry %q", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("board: cpu list %q: bad range %q", s, part)
			}
		}
		if b >= maxCPUs || len(out)+b-a+1 > maxCPUs {
			return nil, fmt.Errorf("board: cpu list %q: more than %d CPUs", s, maxCPUs)
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}
