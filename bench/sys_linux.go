//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// resetPeak makes VmHWM start again from the current resident set
// (clear_refs "5", Linux 4.0+), so a run's peak is its own.
func resetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// memStatus returns VmRSS and VmHWM in bytes.
func memStatus() (rss, hwm int64, err error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, fmt.Errorf("bench: %w", err)
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		line := s.Bytes()
		for _, f := range []struct {
			key string
			dst *int64
		}{{"VmRSS:", &rss}, {"VmHWM:", &hwm}} {
			if v, ok := bytes.CutPrefix(line, []byte(f.key)); ok {
				kb, perr := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
				if perr != nil {
					return 0, 0, fmt.Errorf("bench: /proc/self/status: %s %q", f.key, v)
				}
				*f.dst = kb << 10
			}
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, errors.New("bench: /proc/self/status: no VmRSS or VmHWM")
	}
	return rss, hwm, nil
}

// cpuTimes is the process's user and system CPU time so far.
func cpuTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// loadAvg reads the 1, 5 and 15 minute load averages; zeros if unreadable.
func loadAvg() [3]float64 {
	var l [3]float64
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return l
	}
	f := bytes.Fields(data)
	for i := 0; i < 3 && i < len(f); i++ {
		l[i], _ = strconv.ParseFloat(string(f[i]), 64)
	}
	return l
}
