package board

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// tegrastats prints one line per interval. The field set changed over L4T
// releases and varies by module; every form below is accepted:
//
//	R32 (Nano):  RAM 1766/3964MB (lfb 197x4MB) SWAP 0/2048MB (cached 0MB)
//	             IRAM 0/252kB(lfb 252kB) CPU [24%@1224,off,off,10%@1224]
//	             EMC_FREQ 0%@1600 GR3D_FREQ 0%@76 APE 25 PLL@21C CPU@25C
//	             POM_5V_IN 2545/2547 POM_5V_GPU 0/0
//	R35 (Orin):  08-23-2024 13:57:46 RAM ... CPU [3%@729,...] EMC_FREQ 0%@2133
//	             GR3D_FREQ 0%@[305] VIC_FREQ 729 APE 174 CV0@-256C cpu@51C
//	             VDD_IN 5832mW/5852mW NC 0mW/0mW
//	R36 (Orin):  as R35, with GR3D_FREQ 0%@[0,0] on two-GPC parts and
//	             engine fields such as NVENC 79%@166 NVDEC off.
//	pre-R28:     cpu [17%,13%]@408 EMC 1%@408 GR3D 3%@76
//
// Temperatures are name@valueC (-256C marks a powered-down sensor), power
// rails NAME current/average in mW. Unknown fields are ignored, so new
// engines do not break the parser.

// maxTegrastatsLine bounds one line; real lines are under 1 KiB.
const maxTegrastatsLine = 64 << 10

// TegrastatsScanner reads samples from tegrastats output one line at a time,
// for users who pipe a running tegrastats into edgeclip.
type TegrastatsScanner struct {
	sc   *bufio.Scanner
	line int
	cur  Sample
	err  error
}

// NewTegrastatsScanner reads tegrastats lines from r.
func NewTegrastatsScanner(r io.Reader) *TegrastatsScanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxTegrastatsLine)
	return &TegrastatsScanner{sc: sc}
}

// Scan advances to the next non-blank line. It returns false at the end of
// input or at the first line that is not tegrastats output; Err tells which.
func (t *TegrastatsScanner) Scan() bool {
	if t.err != nil {
		return false
	}
	for t.sc.Scan() {
		t.line++
		text := strings.TrimSpace(t.sc.Text())
		if text == "" {
			continue
		}
		s, err := parseLine(text)
		if err != nil {
			t.err = fmt.Errorf("board: tegrastats: line %d: %w", t.line, err)
			return false
		}
		t.cur = s
		return true
	}
	if err := t.sc.Err(); err != nil {
		t.err = fmt.Errorf("board: tegrastats: line %d: %w", t.line+1, err)
	}
	return false
}

// Sample is the sample parsed by the last successful Scan.
func (t *TegrastatsScanner) Sample() Sample { return t.cur }

// Err is the error that stopped Scan, or nil at a clean end of input.
func (t *TegrastatsScanner) Err() error { return t.err }

// ParseTegrastats reads all lines of r.
func ParseTegrastats(r io.Reader) ([]Sample, error) {
	ts := NewTegrastatsScanner(r)
	var out []Sample
	for ts.Scan() {
		out = append(out, ts.Sample())
	}
	return out, ts.Err()
}

// ParseTegrastatsLine parses one line. It fails when the line holds no
// tegrastats field at all or a known field has a malformed value.
func ParseTegrastatsLine(line string) (Sample, error) {
	s, err := parseLine(line)
	if err != nil {
		return Sample{}, fmt.Errorf("board: tegrastats: %w", err)
	}
	return s, nil
}

func parseLine(line string) (Sample, error) {
	var s Sample
	tok := strings.Fields(line)
	known := 0
	// R34+ lines start with "MM-DD-YYYY HH:MM:SS".
	if len(tok) >= 2 {
		if ts, err := time.Parse("01-02-2006 15:04:05", tok[0]+" "+tok[1]); err == nil {
			s.Time, tok = ts, tok[2:]
			known++
		}
	}
	depth := 0 // inside "(lfb 197x4MB)" or "(cached 0MB)"
	for i := 0; i < len(tok); i++ {
		t := tok[i]
		if depth > 0 || strings.HasPrefix(t, "(") {
			depth += strings.Count(t, "(") - strings.Count(t, ")")
			depth = max(depth, 0)
			continue
		}
		next := ""
		if i+1 < len(tok) {
			next = tok[i+1]
		}
		var err error
		used := true
		switch t {
		case "RAM", "SWAP":
			var u, tot int64
			if u, tot, err = usedTotalMB(next); err == nil {
				if s.Mem == nil {
					s.Mem = &Memory{}
				}
				if t == "RAM" {
					s.Mem.UsedBytes, s.Mem.TotalBytes = uint64(u)<<20, uint64(tot)<<20
				} else {
					s.Mem.SwapUsedBytes, s.Mem.SwapTotalBytes = uint64(u)<<20, uint64(tot)<<20
				}
			}
		case "CPU", "cpu":
			s.CPUs, err = parseCPUField(next)
		case "EMC_FREQ", "EMC":
			var e EMC
			var pct float64
			var mhz int64
			if pct, mhz, err = loadAtFreq(next); err == nil {
				e.LoadPct, e.FreqHz = &pct, mhz*1_000_000
				s.EMC = &e
			}
		case "GR3D_FREQ", "GR3D":
			var g GPU
			var pct float64
			var mhz int64
			if pct, mhz, err = loadAtFreq(next); err == nil {
				g.LoadPct, g.FreqHz = &pct, mhz*1_000_000
				s.GPU = &g
			}
		case "IRAM", "MTS":
			used = false // recognized, carries nothing edgeclip reports
			known++
		default:
			used = false
			if name, c, ok := parseTemp(t); ok {
				known++
				if c > -200 { // -256C: sensor powered down
					s.Temps = append(s.Temps, Temp{Zone: name, Celsius: c})
				}
				continue
			}
			if cur, avg, ok := parseRail(next); ok && isRailName(t) {
				known++
				i++
				if t != "NC" {
					s.Rails = append(s.Rails, Rail{Name: t, MilliWatts: cur, AvgMilliWatts: avg})
				}
			}
		}
		if used {
			if err != nil {
				return Sample{}, fmt.Errorf("%s %q: %w", t, trimQuote(next), err)
			}
			known++
			i++
		}
	}
	if known == 0 {
		return Sample{}, errNotTegrastats
	}
	s.TotalMilliWatts = totalPower(s.Rails)
	return s, nil
}

var errNotTegrastats = errors.New("no tegrastats fields in line")

// maxMilli bounds values in tegrastats fields (MB, MHz, mW): larger numbers
// are corrupt input, and bounding them keeps the unit conversions exact.
const maxMilli = 1 << 40

func parseUint(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 || v > maxMilli {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return v, nil
}

// usedTotalMB parses "3595/7607MB".
func usedTotalMB(s string) (int64, int64, error) {
	a, b, ok := strings.Cut(strings.TrimSuffix(s, "MB"), "/")
	if !ok {
		return 0, 0, fmt.Errorf("want used/totalMB")
	}
	u, err := parseUint(a)
	if err != nil {
		return 0, 0, err
	}
	t, err := parseUint(b)
	return u, t, err
}

// loadAtFreq parses "12%", "12%@1600", "0%@[305]" and "0%@[611,0]"; the
// frequency (MHz) is the highest listed, 0 when absent.
func loadAtFreq(s string) (float64, int64, error) {
	if s == "off" {
		return 0, 0, nil
	}
	pct, freq, hasFreq := strings.Cut(s, "@")
	p, err := parseUint(strings.TrimSuffix(pct, "%"))
	if err != nil || !strings.HasSuffix(pct, "%") || p > 100 {
		return 0, 0, fmt.Errorf("want load%%[@MHz]")
	}
	var mhz int64
	if hasFreq {
		freq = strings.TrimSuffix(strings.TrimPrefix(freq, "["), "]")
		for f := range strings.SplitSeq(freq, ",") {
			v, err := parseUint(f)
			if err != nil {
				return 0, 0, err
			}
			mhz = max(mhz, v)
		}
	}
	return float64(p), mhz, nil
}

// parseCPUField parses "[24%@1224,off,10%@1224]" and the old shared-clock
// form "[17%,13%]@408".
func parseCPUField(s string) ([]CPU, error) {
	body, shared, _ := strings.Cut(strings.TrimPrefix(s, "["), "]")
	if !strings.HasPrefix(s, "[") || !strings.Contains(s, "]") {
		return nil, fmt.Errorf("want [load%%@MHz,...]")
	}
	var sharedMHz int64
	if f, ok := strings.CutPrefix(shared, "@"); ok {
		v, err := parseUint(f)
		if err != nil {
			return nil, err
		}
		sharedMHz = v
	}
	var cpus []CPU
	for i, e := range strings.Split(body, ",") {
		if i >= maxCPUs {
			return nil, fmt.Errorf("more than %d CPUs", maxCPUs)
		}
		c := CPU{ID: i}
		if e != "off" && e != "" {
			p, mhz, err := loadAtFreq(e)
			if err != nil {
				return nil, err
			}
			if mhz == 0 {
				mhz = sharedMHz
			}
			c.Online, c.LoadPct, c.CurKHz = true, &p, mhz*1000
		}
		cpus = append(cpus, c)
	}
	return cpus, nil
}

// parseTemp parses "tj@51.781C" and "CV0@-256C".
func parseTemp(t string) (string, float64, bool) {
	name, v, ok := strings.Cut(t, "@")
	if !ok || name == "" || !strings.HasSuffix(v, "C") {
		return "", 0, false
	}
	v = strings.TrimSuffix(v, "C")
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c == '.' || c == '-' && i == 0) {
			return "", 0, false
		}
	}
	c, err := strconv.ParseFloat(v, 64)
	if err != nil || c < -300 || c > 1000 {
		return "", 0, false
	}
	return name, c, true
}

// parseRail parses "5832mW/5852mW" (R34+) and "2545/2547" (R32).
func parseRail(v string) (int64, int64, bool) {
	a, b, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, false
	}
	cur, err1 := parseUint(strings.TrimSuffix(a, "mW"))
	avg, err2 := parseUint(strings.TrimSuffix(b, "mW"))
	return cur, avg, err1 == nil && err2 == nil
}

func isRailName(t string) bool {
	if t == "" {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
