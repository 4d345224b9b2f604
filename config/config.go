// Package config is edgeclip's daemon configuration: one struct with
// documented defaults, read from a YAML file, then overridden by
// EDGECLIP_<SECTION>_<KEY> environment variables, then by flags (which
// cmd/edgeclip maps onto fields or onto Set).
//
// Every key has a dotted path ("mqtt.tls.ca_file") that names it in errors,
// in the environment (EDGECLIP_MQTT_TLS_CA_FILE) and in Set. Decoding is
// strict: an unknown key is an error naming its path. Check validates the
// values and returns every problem at once, so `edgeclip run --check` can
// print them all.
package config

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeclip/edgeclip/query"
)

// Config is the whole daemon configuration. Empty strings mean "the
// documented default, decided at run time" where a fixed default cannot be
// written down (host name, state directory).
type Config struct {
	// DeviceID names this camera in MQTT topics; empty means the host name.
	DeviceID string  `yaml:"device_id"`
	Model    Model   `yaml:"model"`
	Source   Source  `yaml:"source"`
	History  History `yaml:"history"`
	Query    Query   `yaml:"query"`
	Alerts   Alerts  `yaml:"alerts"`
	MQTT     MQTT    `yaml:"mqtt"`
	HTTP     HTTP    `yaml:"http"`
	Log      Log     `yaml:"log"`
	Board    Board   `yaml:"board"`
}

// Model selects the encoder and how it runs.
type Model struct {
	Path      string `yaml:"path"`      // empty: the shipped default model
	Backend   string `yaml:"backend"`   // runtime backend name
	Precision string `yaml:"precision"` // auto (empty too), f32, w8 or w8a8
	Threads   int    `yaml:"threads"`   // 0: all cores
}

// Source is the camera and the sampling in front of the encoder.
type Source struct {
	URI              string        `yaml:"uri"`
	StallTimeout     time.Duration `yaml:"stall_timeout"`
	SampleFPS        float64       `yaml:"sample_fps"`
	GateThreshold    float64       `yaml:"gate_threshold"`
	KeepAlive        time.Duration `yaml:"keep_alive"`
	Thumbnails       bool          `yaml:"thumbnails"`
	ThumbnailSize    int           `yaml:"thumbnail_size"`
	ThumbnailQuality int           `yaml:"thumbnail_quality"`
}

// History is the on-disk embedding store.
type History struct {
	Dir           string        `yaml:"dir"` // empty: <state dir>/history
	FsyncInterval time.Duration `yaml:"fsync_interval"`
	MaxAge        time.Duration `yaml:"max_age"`
	MaxBytes      ByteSize      `yaml:"max_bytes"`
	SegmentBytes  ByteSize      `yaml:"segment_bytes"`
	Compact       string        `yaml:"compact"` // int8 or f16
}

// Query tunes text queries.
type Query struct {
	Negatives []string `yaml:"negatives"` // empty: the built-in background prompts
	// Contrast turns on contrast prompts (the query with one word swapped
	// for another of its class); Vocabulary replaces the built-in classes.
	Contrast    bool          `yaml:"contrast"`
	Vocabulary  []string      `yaml:"vocabulary"`
	CacheSize   int           `yaml:"cache_size"`
	MaxGap      time.Duration `yaml:"max_gap"`
	MinDuration time.Duration `yaml:"min_duration"`
	Threshold   float64       `yaml:"threshold"`
}

// Alerts is where standing alerts persist.
type Alerts struct {
	File string `yaml:"file"` // empty: <state dir>/alerts.json
}

// MQTT is the client, the embedded broker and Home Assistant discovery.
type MQTT struct {
	Broker         string        `yaml:"broker"` // empty: start the embedded broker
	EmbeddedListen string        `yaml:"embedded_listen"`
	ClientID       string        `yaml:"client_id"`
	Username       string        `yaml:"username"`
	Password       string        `yaml:"password"`
	PasswordFile   string        `yaml:"password_file"`
	TLS            TLS           `yaml:"tls"`
	Root           string        `yaml:"root"`
	Prefix         string        `yaml:"prefix"`
	MaxPayload     ByteSize      `yaml:"max_payload"`
	Workers        int           `yaml:"workers"`
	OutboxDir      string        `yaml:"outbox_dir"` // empty: <state dir>/outbox
	OutboxMaxBytes ByteSize      `yaml:"outbox_max_bytes"`
	StatsInterval  time.Duration `yaml:"stats_interval"`
	HomeAssistant  HomeAssistant `yaml:"homeassistant"`
}

// TLS configures the MQTT client's TLS.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// HomeAssistant configures MQTT discovery.
type HomeAssistant struct {
	Enabled bool   `yaml:"enabled"`
	Prefix  string `yaml:"prefix"`
}

// HTTP is the health and metrics endpoint.
type HTTP struct {
	Listen string `yaml:"listen"` // empty disables the endpoint
}

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Board is where hardware state (temperatures, throttling) is read.
type Board struct {
	Root string `yaml:"root"` // "/" on a device; a fixture tree in tests
}

// Default returns the configuration used when nothing is set: the shipped
// model on the native backend, the synthetic demo camera and an embedded
// broker, so that `edgeclip run` works on a fresh machine.
func Default() *Config {
	return &Config{
		Model: Model{Backend: "native", Precision: "auto"},
		Source: Source{
			URI:              "synth://?seed=1",
			StallTimeout:     5 * time.Second,
			SampleFPS:        5,
			GateThreshold:    0.01,
			KeepAlive:        10 * time.Second,
			Thumbnails:       true,
			ThumbnailSize:    160,
			ThumbnailQuality: 75,
		},
		History: History{
			FsyncInterval: time.Second,
			MaxAge:        168 * time.Hour,
			MaxBytes:      2 * GiB,
			SegmentBytes:  64 * MiB,
			Compact:       "int8",
		},
		Query: Query{Contrast: true, CacheSize: 256, MaxGap: 2 * time.Second, MinDuration: 500 * time.Millisecond,
			Threshold: query.DefaultThreshold},
		MQTT: MQTT{
			EmbeddedListen: "127.0.0.1:1883",
			Root:           "edgeclip",
			MaxPayload:     64 * KiB,
			Workers:        4,
			OutboxMaxBytes: 16 * MiB,
			StatsInterval:  10 * time.Second,
			HomeAssistant:  HomeAssistant{Prefix: "homeassistant"},
		},
		HTTP:  HTTP{Listen: "127.0.0.1:9464"},
		Log:   Log{Level: "info", Format: "text"},
		Board: Board{Root: "/"},
	}
}

// StateDir is where the daemon keeps its data when no path is configured:
// $STATE_DIRECTORY (set by systemd's StateDirectory=), else
// $XDG_STATE_HOME/edgeclip, else ~/.local/state/edgeclip, else
// ./edgeclip-state.
func StateDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		d, _, _ = strings.Cut(d, ":") // systemd lists several when several are configured
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "edgeclip")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", "edgeclip")
	}
	return "edgeclip-state"
}

// HistoryDir is history.dir, or <state dir>/history.
func (c *Config) HistoryDir() string { return orState(c.History.Dir, "history") }

// OutboxDir is mqtt.outbox_dir, or <state dir>/outbox.
func (c *Config) OutboxDir() string { return orState(c.MQTT.OutboxDir, "outbox") }

// AlertsFile is alerts.file, or <state dir>/alerts.json.
func (c *Config) AlertsFile() string { return orState(c.Alerts.File, "alerts.json") }

func orState(v, name string) string {
	if v != "" {
		return v
	}
	return filepath.Join(StateDir(), name)
}

// MQTTPassword is mqtt.password, or the first line of mqtt.password_file
// (so the secret can live in a root-only file or a systemd credential).
func (c *Config) MQTTPassword() (string, error) {
	if c.MQTT.PasswordFile == "" {
		return c.MQTT.Password, nil
	}
	b, err := os.ReadFile(c.MQTT.PasswordFile)
	if err != nil {
		return "", &KeyError{Key: "mqtt.password_file", Err: err}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r"), nil
}
