package board

import (
	"errors"
	"strings"
	"testing"
)

func TestCSIPipeline(t *testing.T) {
	orin := fixture(t, "orin-nano-r36")
	cases := []struct {
		name                         string
		root, sensor                 string
		id, width, height, fps, flip int
		want, wantErr                string
		noData                       bool
	}{
		{name: "imx219 1080p", root: orin, width: 1920, height: 1080, fps: 30,
			want: "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1920,height=1080,framerate=30/1 ! " +
				"nvvidconv flip-method=0 ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1"},
		{name: "second port rotated at lower fps", root: orin, id: 1, width: 1280, height: 720, fps: 15, flip: 2,
			want: "nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=15/1 ! " +
				"nvvidconv flip-method=2 ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1"},
		{name: "1080p60 needs imx477", root: orin, width: 1920, height: 1080, fps: 60,
			want: "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1920,height=1080,framerate=60/1 ! " +
				"nvvidconv flip-method=0 ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1"},
		{name: "imx219 only caps 1080p at 30", root: orin, sensor: "imx219", width: 1920, height: 1080, fps: 60,
			wantErr: "1920x1080 runs at 1..30 fps, not 60"},
		{name: "imx477 has no 1640x1232", root: orin, sensor: "imx477", width: 1640, height: 1232, fps: 30,
			wantErr: "1640x1232 is not a sensor mode (modes: imx477 3840x2160@30, imx477 1920x1080@60)"},
		{name: "unknown size", root: orin, width: 1000, height: 1000, fps: 30, wantErr: "1000x1000 is not a sensor mode"},
		{name: "port out of range", root: orin, id: 2, width: 1920, height: 1080, fps: 30, wantErr: "sensor-id 2 out of range 0..1"},
		{name: "flip out of range", root: orin, width: 1920, height: 1080, fps: 30, flip: 8, wantErr: "flip-method 8 out of range 0..7"},
		{name: "zero fps", root: orin, width: 1920, height: 1080, wantErr: "not 0"},
		{name: "AGX Orin has six ports", root: fixture(t, "agx-orin-r35"), id: 5, width: 3840, height: 2160, fps: 30,
			want: "nvarguscamerasrc sensor-id=5 ! video/x-raw(memory:NVMM),width=3840,height=2160,framerate=30/1 ! " +
				"nvvidconv flip-method=0 ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1"},
		{name: "generic host", root: fixture(t, "x86-generic"), width: 1920, height: 1080, fps: 30,
			wantErr: "not a Jetson", noData: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(Options{Root: tc.root, Sensor: tc.sensor})
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.CSIPipeline(tc.id, tc.width, tc.height, tc.fps, tc.flip)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.Is(err, ErrNoData) != tc.noData {
					t.Fatalf("err = %v, want %q (ErrNoData %v)", err, tc.wantErr, tc.noData)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}
