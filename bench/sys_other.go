//go:build !linux

package bench

import (
	"errors"
	"time"
)

// Memory, CPU time and load come from procfs and getrusage; elsewhere the
// report leaves them out (memory) or zero (CPU, load).

func resetPeak() bool { return false }

func memStatus() (rss, hwm int64, err error) {
	return 0, 0, errors.New("bench: resident memory is read from /proc (Linux only)")
}

func cpuTimes() (user, sys time.Duration) { return 0, 0 }

func loadAvg() [3]float64 { return [3]float64{} }
