package main

// The query, alerts and config commands run in process here, against an
// embedded broker with two fake devices (mqtttest.Handler), so their
// output is deterministic and checked against golden files (-update
// rewrites them). The real daemon is exercised in e2e_mqtt_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/config"
	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/mqtt/mqtttest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// fakeFleet starts an embedded broker and devices answering with fakes.
func fakeFleet(t *testing.T, devices ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := mqtt.StartBroker(ctx, mqtt.BrokerOptions{Addr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); b.Close() })
	for _, dev := range devices {
		c, err := mqtt.New(&mqtttest.Handler{}, &mqtt.Options{Broker: b.URL(), DeviceID: dev, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		err = c.WaitConnected(wctx)
		wcancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.URL()
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update rewrites it):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// unsetEdgeclipEnv keeps the tester's EDGECLIP_* variables out of config.Load.
func unsetEdgeclipEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "EDGECLIP_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
}

func TestCLICommands(t *testing.T) {
	unsetEdgeclipEnv(t)
	broker := fakeFleet(t, "cam-a", "cam-b")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		golden string // stdout golden file
		stdout string // or a substring of stdout
		stderr string // substring
	}{
		{name: "query one device", args: []string{"query", "--broker", broker, "--device", "cam-a", "a red car"},
			golden: "query_one.golden", stderr: "1 device(s) answered"},
		{name: "query the fleet", args: []string{"query", "--broker", broker, "--deadline", "700ms", "a red car"},
			golden: "query_fleet.golden", stderr: "2 device(s) answered"},
		{name: "query error reply", args: []string{"query", "--broker", broker, "--device", "cam-b", "fail"}, code: 1,
			golden: "query_error.golden", stderr: "some devices answered with an error"},
		{name: "query absent device", args: []string{"query", "--broker", broker, "--device", "cam-z", "--deadline", "300ms", "x"},
			code: 1, stderr: "no reply from cam-z within 300ms"},
		{name: "query no text", args: []string{"query", "--broker", broker}, code: 2, stderr: "give exactly one of TEXT"},
		{name: "query text and image", args: []string{"query", "--image-seq", "3", "x"}, code: 2, stderr: "give exactly one of TEXT"},
		{name: "query bad since", args: []string{"query", "--broker", broker, "--since", "yesterday", "x"}, code: 1,
			stderr: `--since: "yesterday"`},
		{name: "query bad device", args: []string{"query", "--broker", broker, "--device", "a/b", "x"}, code: 1,
			stderr: `invalid device "a/b"`},
		{name: "query no broker", args: []string{"query", "--broker", "tcp://127.0.0.1:1", "--device", "cam-a", "x"}, code: 1,
			stderr: "connecting to tcp://127.0.0.1:1"},
		{name: "query broker from config", args: []string{"query", "--config", "testdata/config_good.yaml", "--device", "cam-a", "x"},
			code: 1, stderr: "connecting to tcp://127.0.0.1:11883"},
		{name: "alerts set", args: []string{"alerts", "--broker", broker, "--device", "cam-a", "set", "door", "a person", "at the door",
			"--threshold", "0.7", "--min-duration", "2s"}, stdout: "alert door set on cam-a\n"},
		{name: "alerts set second", args: []string{"alerts", "--broker", broker, "--device", "cam-a", "set", "car", "a red car"},
			stdout: "alert car set on cam-a\n"},
		{name: "alerts list", args: []string{"alerts", "--broker", broker, "--device", "cam-a", "list"}, golden: "alerts_list.golden"},
		{name: "alerts delete", args: []string{"alerts", "--broker", broker, "--device", "cam-a", "delete", "car"},
			stdout: "alert car deleted on cam-a\n"},
		{name: "alerts delete missing", args: []string{"alerts", "--broker", broker, "--device", "cam-a", "delete", "car"}, code: 1,
			stderr: "not_found"},
		{name: "alerts bad name", args: []string{"alerts", "--broker", broker, "--device", "cam-a", "set", "no spaces", "x"}, code: 1,
			stderr: "alert.name"},
		{name: "alerts no verb", args: []string{"alerts"}, code: 2, stderr: "usage: edgeclip alerts"},
		{name: "alerts unknown verb", args: []string{"alerts", "frob"}, code: 2, stderr: `got "frob"`},
		{name: "alerts set without text", args: []string{"alerts", "set", "door"}, code: 2, stderr: "want list, set NAME TEXT"},
		{name: "alerts fleet refused", args: []string{"alerts", "--broker", broker, "--device", "all", "list"}, code: 1,
			stderr: `invalid device "all"`},
		{name: "config example", args: []string{"config", "example"}, stdout: config.Example()},
		{name: "config check good", args: []string{"config", "check", "--config", "testdata/config_good.yaml"},
			stdout: "configuration OK\n"},
		{name: "config check bad", args: []string{"config", "check", "--config", "testdata/config_bad.yaml", "--set", "source.sample_fps=0"},
			code: 1, golden: "config_check_bad.golden", stderr: "problem(s) in the configuration"},
		{name: "config no verb", args: []string{"config"}, code: 2, stderr: "usage: edgeclip config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, &stdout, &stderr)
			}
			if tc.golden != "" {
				golden(t, tc.golden, stdout.String())
			} else if tc.stdout != "" && !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q, want %q", &stdout, tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want %q", &stderr, tc.stderr)
			}
		})
	}
}

// TestCLIQueryJSON checks the request the CLI builds (time window, top_k,
// labels) through what the fake device echoes, and the JSON shape.
func TestCLIQueryJSON(t *testing.T) {
	broker := fakeFleet(t, "cam-a", "cam-b")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"query", "--broker", broker, "--deadline", "700ms", "--json",
		"--since", "2h", "--until", "now", "--top-k", "5", "--min-score", "0.2", "a", "red", "car"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	var got []cliReply
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, &stdout)
	}
	if len(got) != 2 || got[0].Device != "cam-a" || got[1].Device != "cam-b" {
		t.Fatalf("replies %+v, want cam-a and cam-b in order", got)
	}
	for _, r := range got {
		if r.Reply == nil || r.Error != nil || r.Reply.ID == "" || len(r.Reply.Frames) != 1 ||
			r.Reply.Frames[0].Label != "a red car" || len(r.Reply.Intervals) != 1 || r.Reply.Intervals[0].BestSeq != 42 {
			t.Errorf("reply %+v, want the fake's frame 42 echoing the text", r)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, in string
		want     time.Time
		err      bool
	}{
		{"now", "now", now, false},
		{"rfc3339", "2026-11-28T10:30:00Z", time.Date(2026, 11, 28, 10, 30, 0, 0, time.UTC), false},
		{"offset", "2026-11-28T10:30:00+01:00", time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC), false},
		{"ago", "90m", now.Add(-90 * time.Minute), false},
		{"negative", "-5m", time.Time{}, true},
		{"words", "yesterday", time.Time{}, true},
		{"date only", "2026-11-28", time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWhen(tc.in, now)
			if (err != nil) != tc.err || !got.Equal(tc.want) {
				t.Errorf("parseWhen(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}
