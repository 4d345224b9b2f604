package board

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// module describes one Jetson module: its name, how many CSI sensors its
// developer kit carrier can address and which common sensors L4T ships
// drivers or overlays for.
type module struct {
	part     string // device-tree compatible fragment, "p3767-0005"
	name     string
	csiPorts int
	sensors  []string
}

var both = []string{"imx219", "imx477"}

// modules is matched in order against the compatible list; more specific
// part numbers come before the family fallback.
var modules = []module{
	{"p3767-0000", "Jetson Orin NX 16GB", 2, both},
	{"p3767-0001", "Jetson Orin NX 8GB", 2, both},
	{"p3767-0003", "Jetson Orin Nano 8GB", 2, both},
	{"p3767-0004", "Jetson Orin Nano 4GB", 2, both},
	{"p3767-0005", "Jetson Orin Nano 8GB", 2, both},
	{"p3767", "Jetson Orin NX/Nano", 2, both},
	{"p3701-0005", "Jetson AGX Orin 64GB", 6, both},
	{"p3701", "Jetson AGX Orin", 6, both},
	{"p3668-0003", "Jetson Xavier NX 16GB", 2, both},
	{"p3668", "Jetson Xavier NX", 2, both},
	{"p2888", "Jetson AGX Xavier", 6, both},
	{"p3448-0003", "Jetson Nano 2GB", 1, both},
	{"p3448", "Jetson Nano", 2, both},
	{"p3636", "Jetson TX2 NX", 2, both},
	{"p3310", "Jetson TX2", 6, nil},
	{"p3489", "Jetson TX2i", 6, nil},
	{"p2180", "Jetson TX1", 6, nil},
}

func lookupModule(compatible []string) module {
	for _, m := range modules {
		for _, c := range compatible {
			if strings.Contains(c, m.part) {
				return m
			}
		}
	}
	return module{}
}

// SensorMode is one resolution a sensor driver offers and its top frame rate.
type SensorMode struct {
	Width, Height, MaxFPS int
}

func (m SensorMode) String() string { return fmt.Sprintf("%dx%d@%d", m.Width, m.Height, m.MaxFPS) }

// sensorModes are the modes nvarguscamerasrc lists for the two common
// Raspberry Pi camera sensors under L4T (IMX219: Camera v2, IMX477: HQ).
var sensorModes = map[string][]SensorMode{
	"imx219": {{3264, 2464, 21}, {3264, 1848, 28}, {1920, 1080, 30}, {1640, 1232, 30}, {1280, 720, 60}},
	"imx477": {{3840, 2160, 30}, {1920, 1080, 60}},
}

func knownSensors() []string {
	var s []string
	for k := range sensorModes {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// CSIPipeline builds the GStreamer pipeline that reads CSI sensor sensorID
// through nvarguscamerasrc and hands BGR frames to an appsink, after checking
// the request against the module's ports and its sensors' modes: Argus picks
// the nearest mode silently, so an impossible size would otherwise surface as
// a scaled or stalled stream. flip is nvvidconv's flip-method (0–7). On a
// board without CSI the error wraps ErrNoData.
func (b *Board) CSIPipeline(sensorID, width, height, fps, flip int) (string, error) {
	dt, err := b.DeviceTree()
	if err != nil || dt.SoC == "" {
		return "", fmt.Errorf("board: csi: not a Jetson, no CSI camera: %w", ErrNoData)
	}
	mod := lookupModule(dt.Compatible)
	if mod.csiPorts == 0 || len(mod.sensors) == 0 {
		return "", fmt.Errorf("board: csi: %s: no known CSI sensor modes: %w", orModel(mod.name, dt.Model), ErrNoData)
	}
	if sensorID < 0 || sensorID >= mod.csiPorts {
		return "", fmt.Errorf("board: csi: %s: sensor-id %d out of range 0..%d", mod.name, sensorID, mod.csiPorts-1)
	}
	if flip < 0 || flip > 7 {
		return "", fmt.Errorf("board: csi: flip-method %d out of range 0..7", flip)
	}
	sensors := mod.sensors
	if b.sensor != "" {
		if !slices.Contains(sensors, b.sensor) {
			return "", fmt.Errorf("board: csi: %s: sensor %s not supported (supported: %s)", mod.name, b.sensor, strings.Join(sensors, ", "))
		}
		sensors = []string{b.sensor}
	}
	maxFPS := 0
	var valid []string
	for _, s := range sensors {
		for _, m := range sensorModes[s] {
			valid = append(valid, s+" "+m.String())
			if m.Width == width && m.Height == height {
				maxFPS = max(maxFPS, m.MaxFPS)
			}
		}
	}
	if maxFPS == 0 {
		return "", fmt.Errorf("board: csi: %s: %dx%d is not a sensor mode (modes: %s)", mod.name, width, height, strings.Join(valid, ", "))
	}
	if fps < 1 || fps > maxFPS {
		return "", fmt.Errorf("board: csi: %s: %dx%d runs at 1..%d fps, not %d", mod.name, width, height, maxFPS, fps)
	}
	return fmt.Sprintf("nvarguscamerasrc sensor-id=%d ! video/x-raw(memory:NVMM),width=%d,height=%d,framerate=%d/1 ! "+
		"nvvidconv flip-method=%d ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1",
		sensorID, width, height, fps, flip), nil
}

func orModel(name, model string) string {
	if name != "" {
		return name
	}
	return model
}
