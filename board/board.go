// Package board tells edgeclip what hardware it runs on: a Jetson module
// (device tree, L4T release, nvpmodel mode, INA3221 power rails, GPU and EMC
// clocks) or a generic Linux host, and samples its temperatures, power and
// clocks so that benchmarks and the daemon can report heat and throttling.
//
// Everything is read from files under a root directory given to New, never
// from a shell command, so tests run against fixture trees that mirror the
// real sysfs and procfs layouts. Hardware that is absent yields an error
// wrapping ErrNoData; Info and Sample never fail as a whole, they list what
// they could not read.
//
// The package also parses tegrastats output (ParseTegrastats) for users who
// pipe it in, and builds nvarguscamerasrc pipelines for CSI cameras.
package board

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNoData means the hardware or file a value comes from does not exist on
// this board. Callers treat it as "not available", not as a failure.
var ErrNoData = errors.New("no data")

// Kind says which family of board was detected.
type Kind string

const (
	// Generic is any Linux host that is not a Jetson (x86 or Arm).
	Generic Kind = "generic"
	// Jetson is an NVIDIA Jetson module running L4T.
	Jetson Kind = "jetson"
)

// Options configures New. The zero value reads the real machine.
type Options struct {
	// Root is the directory that stands for "/"; default "/". Tests point it
	// at a fixture tree.
	Root string
	// Sensor restricts CSIPipeline to one sensor's modes ("imx219",
	// "imx477"); "" accepts a mode of any sensor the module supports.
	Sensor string
	// Now stamps samples; default time.Now.
	Now func() time.Time
}

// Board reads one machine's hardware description and telemetry. It holds no
// open files; methods are safe for concurrent use.
type Board struct {
	root   string
	sensor string
	now    func() time.Time
}

// New returns a Board reading files under o.Root. It fails only when the
// root is not a directory or the sensor name is unknown.
func New(o Options) (*Board, error) {
	root := o.Root
	if root == "" {
		root = "/"
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("board: root %s: %w", root, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("board: root %s: not a directory", root)
	}
	sensor := strings.ToLower(o.Sensor)
	if sensor != "" {
		if _, ok := sensorModes[sensor]; !ok {
			return nil, fmt.Errorf("board: unknown sensor %q (known: %s)", o.Sensor, strings.Join(knownSensors(), ", "))
		}
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Board{root: root, sensor: sensor, now: now}, nil
}

// Root is the directory the board reads from.
func (b *Board) Root() string { return b.root }

// maxFile bounds every file read: sysfs values are tiny and /proc/cpuinfo of
// a large server stays well under this.
const maxFile = 4 << 20

// path maps an absolute machine path ("sys/class/thermal") under the root.
func (b *Board) path(rel string) string {
	return filepath.Join(b.root, filepath.FromSlash(strings.TrimPrefix(rel, "/")))
}

// read returns a file's contents; a missing file is ErrNoData.
func (b *Board) read(rel string) ([]byte, error) {
	return readFile(b.path(rel))
}

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("board: %s: %w", p, ErrNoData)
		}
		return nil, fmt.Errorf("board: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("board: %s: %w", p, err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("board: %s: larger than %d bytes", p, maxFile)
	}
	return data, nil
}

// readString returns a file's text with surrounding space and the NUL
// terminator that device-tree strings carry removed.
func readString(p string) (string, error) {
	data, err := readFile(p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.TrimRight(string(data), "\x00\n")), nil
}

// readInt reads a file holding one decimal integer, possibly followed by a
// unit word ("32760 ma").
func readInt(p string) (int64, error) {
	s, err := readString(p)
	if err != nil {
		return 0, err
	}
	if i := strings.IndexAny(s, " \t\n"); i >= 0 {
		s = s[:i]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("board: %s: not an integer: %q", p, s)
	}
	return v, nil
}

// glob lists paths under the root that match a slash pattern, sorted with
// numbers in natural order (thermal_zone2 before thermal_zone10).
func (b *Board) glob(pattern string) []string {
	m, err := filepath.Glob(filepath.Join(escapeGlob(b.root), filepath.FromSlash(strings.TrimPrefix(pattern, "/"))))
	if err != nil {
		return nil
	}
	sort.Slice(m, func(i, j int) bool { return naturalLess(m[i], m[j]) })
	return m
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

// naturalLess compares strings treating digit runs as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da > 0 && db > 0 {
			na, _ := strconv.ParseUint(a[:min(da, 18)], 10, 64)
			nb, _ := strconv.ParseUint(b[:min(db, 18)], 10, 64)
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// trailingInt parses the number at the end of a name ("thermal_zone12").
func trailingInt(name string) (int, bool) {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i == len(name) || len(name)-i > 9 {
		return 0, false
	}
	v, err := strconv.Atoi(name[i:])
	return v, err == nil
}

// report collects what Info and Sample could not read: absent parts by name,
// other failures as messages.
type report struct {
	missing []string
	errs    []string
}

func (r *report) note(part string, err error) {
	if err == nil {
		return
	}
	if errors.Is(err, ErrNoData) {
		r.missing = append(r.missing, part)
		return
	}
	r.errs = append(r.errs, part+": "+err.Error())
}
