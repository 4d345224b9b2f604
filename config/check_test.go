package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckProblems breaks one thing at a time and expects exactly one
// problem, on the right key, saying the right thing.
func TestCheckProblems(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name    string
		mutate  func(*Config)
		key     string
		wantMsg string
	}{
		{"device id chars", func(c *Config) { c.DeviceID = "cam 1" }, "device_id", "A-Z a-z"},
		{"device id all", func(c *Config) { c.DeviceID = "all" }, "device_id", `not "all"`},
		{"model file missing", func(c *Config) { c.Model.Path = missing }, "model.path", "no such file"},
		{"model path is a dir", func(c *Config) { c.Model.Path = dir }, "model.path", "is a directory"},
		{"backend empty", func(c *Config) { c.Model.Backend = "" }, "model.backend", "backend name"},
		{"precision", func(c *Config) { c.Model.Precision = "fp16" }, "model.precision", "auto, f32, w8, w8a8"},
		{"vocabulary", func(c *Config) { c.Query.Vocabulary = []string{"red Blue"} }, "query.vocabulary", `word "Blue"`},
		{"min duration", func(c *Config) { c.Query.MinDuration = -time.Second }, "query.min_duration", "negative"},
		{"threads negative", func(c *Config) { c.Model.Threads = -1 }, "model.threads", "0 (all cores)"},
		{"uri empty", func(c *Config) { c.Source.URI = "" }, "source.uri", "empty"},
		{"uri scheme", func(c *Config) { c.Source.URI = "ftp://cam/x" }, "source.uri", `unknown scheme "ftp"`},
		{"uri no scheme", func(c *Config) { c.Source.URI = "/dev/video0" }, "source.uri", `unknown scheme ""`},
		{"uri empty pipeline", func(c *Config) { c.Source.URI = "gst:// " }, "source.uri", "empty GStreamer pipeline"},
		{"uri file no path", func(c *Config) { c.Source.URI = "file://" }, "source.uri", "no file path"},
		{"uri rtsp no host", func(c *Config) { c.Source.URI = "rtsp:///stream" }, "source.uri", "no host"},
		{"uri password redacted", func(c *Config) { c.Source.URI = "ftp://u:hunter2@cam/x" }, "source.uri", "u:xxxxx@cam"},
		{"stall timeout", func(c *Config) { c.Source.StallTimeout = 0 }, "source.stall_timeout", "must be positive"},
		{"sample fps zero", func(c *Config) { c.Source.SampleFPS = 0 }, "source.sample_fps", "more than 0"},
		{"sample fps high", func(c *Config) { c.Source.SampleFPS = 500 }, "source.sample_fps", "at most 120"},
		{"gate threshold", func(c *Config) { c.Source.GateThreshold = 1.5 }, "source.gate_threshold", "0 to 1"},
		{"keep alive", func(c *Config) { c.Source.KeepAlive = -time.Second }, "source.keep_alive", "must be positive"},
		{"thumbnail size", func(c *Config) { c.Source.ThumbnailSize = 8 }, "source.thumbnail_size", "16 to 1024"},
		{"thumbnail quality", func(c *Config) { c.Source.ThumbnailQuality = 0 }, "source.thumbnail_quality", "1 to 100"},
		{"fsync interval", func(c *Config) { c.History.FsyncInterval = 0 }, "history.fsync_interval", "must be positive"},
		{"max age", func(c *Config) { c.History.MaxAge = -time.Hour }, "history.max_age", "negative"},
		{"max bytes", func(c *Config) { c.History.MaxBytes = -1 }, "history.max_bytes", "negative"},
		{"segment too small", func(c *Config) { c.History.SegmentBytes = KiB }, "history.segment_bytes", "at least 1MiB"},
		{"segment over half budget", func(c *Config) { c.History.MaxBytes = 100 * MiB; c.History.SegmentBytes = 64 * MiB }, "history.segment_bytes", "half of history.max_bytes"},
		{"compact", func(c *Config) { c.History.Compact = "f32" }, "history.compact", "int8, f16"},
		{"history dir is a file", func(c *Config) { c.History.Dir = file }, "history.dir", "not a directory"},
		{"empty negative", func(c *Config) { c.Query.Negatives = []string{"sky", " "} }, "query.negatives", "item 2 is empty"},
		{"cache size", func(c *Config) { c.Query.CacheSize = 0 }, "query.cache_size", "1 to"},
		{"max gap", func(c *Config) { c.Query.MaxGap = -time.Second }, "query.max_gap", "negative"},
		{"threshold zero", func(c *Config) { c.Query.Threshold = 0 }, "query.threshold", "more than 0"},
		{"threshold high", func(c *Config) { c.Query.Threshold = 1.5 }, "query.threshold", "at most 1"},
		{"alerts file is a dir", func(c *Config) { c.Alerts.File = dir }, "alerts.file", "is a directory"},
		{"broker scheme", func(c *Config) { c.MQTT.Broker = "http://b:1883" }, "mqtt.broker", "scheme one of"},
		{"broker no host", func(c *Config) { c.MQTT.Broker = "tcp://" }, "mqtt.broker", "scheme://host:port"},
		{"broker unparsable", func(c *Config) { c.MQTT.Broker = "tcp://b:port%" }, "mqtt.broker", "invalid"},
		{"embedded listen", func(c *Config) { c.MQTT.EmbeddedListen = "1883" }, "mqtt.embedded_listen", "host:port"},
		{"embedded port", func(c *Config) { c.MQTT.EmbeddedListen = "127.0.0.1:99999" }, "mqtt.embedded_listen", "bad port"},
		{"client id", func(c *Config) { c.MQTT.ClientID = "a/b" }, "mqtt.client_id", "without + # /"},
		{"password twice", func(c *Config) { c.MQTT.Password = "p"; c.MQTT.PasswordFile = file }, "mqtt.password_file", "not both"},
		{"password file missing", func(c *Config) { c.MQTT.PasswordFile = missing }, "mqtt.password_file", "no such file"},
		{"ca file missing", func(c *Config) { c.MQTT.TLS.CAFile = missing }, "mqtt.tls.ca_file", "no such file"},
		{"cert without key", func(c *Config) { c.MQTT.TLS.CertFile = file }, "mqtt.tls.key_file", "needs its key"},
		{"key without cert", func(c *Config) { c.MQTT.TLS.KeyFile = file }, "mqtt.tls.cert_file", "certificate is not"},
		{"root empty", func(c *Config) { c.MQTT.Root = "" }, "mqtt.root", "non-empty"},
		{"root wildcard", func(c *Config) { c.MQTT.Root = "edge/#" }, "mqtt.root", "wildcards"},
		{"prefix no slash", func(c *Config) { c.MQTT.Prefix = "site/cam1" }, "mqtt.prefix", "end in /"},
		{"max payload", func(c *Config) { c.MQTT.MaxPayload = 10 }, "mqtt.max_payload", "1KiB to 256MiB"},
		{"workers", func(c *Config) { c.MQTT.Workers = 0 }, "mqtt.workers", "1 to 256"},
		{"outbox dir is a file", func(c *Config) { c.MQTT.OutboxDir = file }, "mqtt.outbox_dir", "not a directory"},
		{"outbox bytes", func(c *Config) { c.MQTT.OutboxMaxBytes = -1 }, "mqtt.outbox_max_bytes", "negative"},
		{"stats interval", func(c *Config) { c.MQTT.StatsInterval = 100 * time.Millisecond }, "mqtt.stats_interval", "at least 1s"},
		{"ha prefix", func(c *Config) { c.MQTT.HomeAssistant = HomeAssistant{Enabled: true} }, "mqtt.homeassistant.prefix", "topic prefix"},
		{"http listen", func(c *Config) { c.HTTP.Listen = "9464" }, "http.listen", "host:port"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level", "debug, info, warn, error"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", "text, json"},
		{"board root missing", func(c *Config) { c.Board.Root = missing }, "board.root", "no such file"},
		{"board root is a file", func(c *Config) { c.Board.Root = file }, "board.root", "not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			errs := c.Check()
			if len(errs) != 1 {
				t.Fatalf("Check() = %d problems %v, want exactly one on %s", len(errs), errs, tt.key)
			}
			var ke *KeyError
			if !errors.As(errs[0], &ke) || ke.Key != tt.key {
				t.Fatalf("Check() = %v, want a *KeyError on %s", errs[0], tt.key)
			}
			if msg := errs[0].Error(); !strings.HasPrefix(msg, tt.key+": ") || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("Check() = %q, want %q and %q", msg, tt.key+": ", tt.wantMsg)
			}
		})
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Model.Precision = "x"
	c.Source.SampleFPS = -1
	c.MQTT.Workers = 0
	c.Log.Format = "xml"
	errs := c.Check()
	var keys []string
	for _, e := range errs {
		var ke *KeyError
		if errors.As(e, &ke) {
			keys = append(keys, ke.Key)
		}
	}
	want := "model.precision source.sample_fps mqtt.workers log.format"
	if strings.Join(keys, " ") != want {
		t.Errorf("Check() keys = %v, want %s", keys, want)
	}
}

func TestCheckAcceptsValidVariants(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	for _, p := range []string{cert, key} {
		if err := os.WriteFile(p, []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"v4l2 path", func(c *Config) { c.Source.URI = "v4l2:///dev/video0" }},
		{"v4l2 index", func(c *Config) { c.Source.URI = "v4l2://0" }},
		{"csi", func(c *Config) { c.Source.URI = "csi://0?width=1280&height=720" }},
		{"rtsp", func(c *Config) { c.Source.URI = "rtsp://user:pw@10.0.0.5:554/stream1" }},
		{"file", func(c *Config) { c.Source.URI = "file:///videos/a.mp4?loop=1" }},
		{"gst", func(c *Config) { c.Source.URI = "gst://videotestsrc ! videoconvert ! appsink" }},
		{"tls broker with client cert", func(c *Config) {
			c.MQTT.Broker = "ssl://broker.example:8883"
			c.MQTT.TLS = TLS{CAFile: cert, CertFile: cert, KeyFile: key, ServerName: "broker.example"}
		}},
		{"no http", func(c *Config) { c.HTTP.Listen = "" }},
		{"ipv6 listen", func(c *Config) { c.HTTP.Listen = "[::1]:9464" }},
		{"no budget", func(c *Config) { c.History.MaxBytes = 0; c.History.MaxAge = 0 }},
		{"upper-case level", func(c *Config) { c.Log.Level = "DEBUG" }},
		{"ha", func(c *Config) { c.MQTT.HomeAssistant.Enabled = true }},
		{"precision empty is auto", func(c *Config) { c.Model.Precision = "" }},
		{"explicit precision", func(c *Config) { c.Model.Precision = "W8A8" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			if errs := c.Check(); len(errs) != 0 {
				t.Errorf("Check() = %v, want none", errs)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" for no warning
	}{
		{"password over tcp to a remote host", func(c *Config) { c.MQTT.Broker = "tcp://10.1.2.3:1883"; c.MQTT.Username = "u"; c.MQTT.Password = "p" },
			"mqtt.broker: credentials will cross the network in clear text to 10.1.2.3:1883"},
		{"password file over ws", func(c *Config) { c.MQTT.Broker = "ws://broker.lan:80"; c.MQTT.PasswordFile = "/run/pw" }, "clear text to broker.lan:80"},
		{"password over tcp to loopback", func(c *Config) { c.MQTT.Broker = "tcp://127.0.0.1:1883"; c.MQTT.Password = "p" }, ""},
		{"password over localhost", func(c *Config) { c.MQTT.Broker = "tcp://localhost:1883"; c.MQTT.Password = "p" }, ""},
		{"password over ssl", func(c *Config) { c.MQTT.Broker = "ssl://10.1.2.3:8883"; c.MQTT.Password = "p" }, ""},
		{"no credentials over tcp", func(c *Config) { c.MQTT.Broker = "tcp://10.1.2.3:1883" }, ""},
		{"insecure tls", func(c *Config) { c.MQTT.TLS.InsecureSkipVerify = true }, "mqtt.tls.insecure_skip_verify"},
		{"open metrics port", func(c *Config) { c.HTTP.Listen = "0.0.0.0:9464" }, "http.listen: 0.0.0.0:9464 is reachable"},
		{"open embedded broker", func(c *Config) { c.MQTT.EmbeddedListen = ":1883" }, "mqtt.embedded_listen"},
		{"embedded listen unused", func(c *Config) { c.MQTT.EmbeddedListen = ":1883"; c.MQTT.Broker = "tcp://127.0.0.1:1883" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(c)
			w := c.Warnings()
			switch {
			case tt.want == "" && len(w) != 0:
				t.Errorf("Warnings() = %q, want none", w)
			case tt.want != "" && (len(w) != 1 || !strings.Contains(w[0], tt.want)):
				t.Errorf("Warnings() = %q, want one containing %q", w, tt.want)
			}
			if errs := c.Check(); len(errs) != 0 && tt.name != "password file over ws" {
				t.Errorf("a warning case is also an error: %v", errs)
			}
		})
	}
}
