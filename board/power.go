package board

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Power reads every INA3221 channel. Two driver layouts exist:
//
//   - the mainline hwmon driver (L4T R34 and later, JetPack 5 and 6):
//     .../ina3221/<bus>-<addr>/hwmon/hwmonN/inK_label, inK_input (mV),
//     currK_input (mA), channels 1–3; some kernels name the channel in
//     currK_label only, and channel 7 is the "sum of shunt voltages".
//   - NVIDIA's iio driver (R32 and older, Nano, TX2, Xavier):
//     .../ina3221x/<bus>-<addr>/iio:deviceN/rail_name_K,
//     in_voltageK_input (mV), in_currentK_input (mA), in_powerK_input
//     (mW), channels 0–2.
//
// Unconnected channels (label "NC") are skipped.
func (b *Board) Power() ([]Rail, error) {
	var rails []Rail
	var firstErr error
	keep := func(r Rail, err error) {
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		rails = append(rails, r)
	}
	for _, hw := range b.glob("sys/bus/i2c/drivers/ina3221*/*/hwmon/hwmon*") {
		for _, ch := range hwmonChannels(hw) {
			keep(readHwmonRail(hw, ch))
		}
	}
	for _, dev := range b.glob("sys/bus/i2c/drivers/ina3221*/*/iio:device*") {
		for _, f := range b.globIn(dev, "rail_name_*") {
			ch, ok := trailingInt(f)
			if !ok {
				continue
			}
			name, err := readString(f)
			if err != nil || skipRail(name) {
				continue
			}
			keep(readIIORail(dev, ch, name))
		}
	}
	if len(rails) == 0 {
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, fmt.Errorf("board: no INA3221 power rails: %w", ErrNoData)
	}
	return rails, nil
}

// hwmonChannel is one labelled channel of an hwmon INA3221.
type hwmonChannel struct {
	n    int
	name string
}

func hwmonChannels(dir string) []hwmonChannel {
	var out []hwmonChannel
	seen := map[int]bool{}
	for _, prefix := range []string{"in", "curr"} {
		for k := 1; k <= 3; k++ {
			if seen[k] {
				continue
			}
			name, err := readString(filepath.Join(dir, prefix+strconv.Itoa(k)+"_label"))
			if err != nil {
				continue
			}
			seen[k] = true
			if !skipRail(name) {
				out = append(out, hwmonChannel{k, name})
			}
		}
	}
	// Channel order, not label-file order.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].n < out[j-1].n; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func skipRail(name string) bool {
	return name == "" || name == "NC" || strings.HasPrefix(strings.ToLower(name), "sum of shunt")
}

func readHwmonRail(dir string, ch hwmonChannel) (Rail, error) {
	k := strconv.Itoa(ch.n)
	mv, err := readInt(filepath.Join(dir, "in"+k+"_input"))
	if err != nil {
		return Rail{}, err
	}
	ma, err := readInt(filepath.Join(dir, "curr"+k+"_input"))
	if err != nil {
		return Rail{}, err
	}
	return railFrom(ch.name, mv, ma, -1)
}

func readIIORail(dir string, ch int, name string) (Rail, error) {
	k := strconv.Itoa(ch)
	mv, err := readInt(filepath.Join(dir, "in_voltage"+k+"_input"))
	if err != nil {
		return Rail{}, err
	}
	ma, err := readInt(filepath.Join(dir, "in_current"+k+"_input"))
	if err != nil {
		return Rail{}, err
	}
	mw, err := readInt(filepath.Join(dir, "in_power"+k+"_input"))
	if err != nil {
		mw = -1
	}
	return railFrom(name, mv, ma, mw)
}

// maxRailMilli bounds rail readings: an INA3221 channel measures at most
// 26 V and a Jetson rail never carries 100 A.
const maxRailMilli = 100_000

// railFrom builds a rail, computing power from volts and amps when the driver
// gives none (mw < 0).
func railFrom(name string, mv, ma, mw int64) (Rail, error) {
	if mv < 0 || mv > maxRailMilli || ma < -maxRailMilli || ma > maxRailMilli {
		return Rail{}, fmt.Errorf("board: rail %s: implausible reading %d mV %d mA", name, mv, ma)
	}
	if mw < 0 {
		mw = mv * ma / 1000
	}
	return Rail{Name: name, MilliVolts: mv, MilliAmps: ma, MilliWatts: mw}, nil
}

// totalPower is the module input rail when there is one, else the sum.
func totalPower(rails []Rail) int64 {
	for _, in := range []string{"VDD_IN", "POM_5V_IN"} {
		for _, r := range rails {
			if r.Name == in {
				return r.MilliWatts
			}
		}
	}
	var sum int64
	for _, r := range rails {
		sum += r.MilliWatts
	}
	return sum
}
