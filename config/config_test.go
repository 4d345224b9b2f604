package config

import (
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if errs := c.Check(); len(errs) != 0 {
		t.Errorf("Default().Check() = %v, want no problems", errs)
	}
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("Default().Warnings() = %v, want none", w)
	}
}

func TestExampleGolden(t *testing.T) {
	golden := filepath.Join("testdata", "example.yaml")
	got := Example()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./config -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("Example() differs from %s (-want +got; rerun with -update if intended):\n%s", golden, diff)
	}
}

func TestExampleLoadsBackToDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(Example()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.decodeFile(path); err != nil {
		t.Fatalf("decoding Example(): %v", err)
	}
	if diff := cmp.Diff(Default(), c); diff != "" {
		t.Errorf("Example() does not load back to Default() (-want +got):\n%s", diff)
	}
}

func TestEveryKeyDocumented(t *testing.T) {
	keys := Keys()
	if len(keys) < 40 {
		t.Fatalf("Keys() has %d keys; the walk over Config is broken", len(keys))
	}
	for _, k := range keys {
		if strings.TrimSpace(help[k]) == "" {
			t.Errorf("key %s has no help text", k)
		}
	}
	// Sections too, and no stale help entries.
	all := map[string]bool{}
	for _, k := range keys {
		for p := k; ; {
			all[p] = true
			i := strings.LastIndex(p, ".")
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	for k := range help {
		if !all[k] {
			t.Errorf("help has an entry for %q, which is no key", k)
		}
	}
	for k := range all {
		if help[k] == "" {
			t.Errorf("section %s has no help text", k)
		}
	}
}

func TestEnvNamesUnique(t *testing.T) {
	seen := map[string]string{}
	for _, k := range Keys() {
		e := EnvName(k)
		if prev, dup := seen[e]; dup {
			t.Errorf("%s and %s share the variable %s", prev, k, e)
		}
		seen[e] = k
	}
}

// otherValue returns a valid-looking value for the field that differs from
// its default.
func otherValue(t *testing.T, v reflect.Value) string {
	t.Helper()
	switch v.Type() {
	case durationType:
		return (time.Duration(v.Int()) + 1500*time.Millisecond).String()
	case sizeType:
		return (ByteSize(v.Int()) + 3*KiB).String()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String() + "-changed"
	case reflect.Bool:
		if v.Bool() {
			return "false"
		}
		return "true"
	case reflect.Int:
		return "7"
	case reflect.Float64:
		return "0.25"
	case reflect.Slice:
		return `["a person, walking", "a car"]`
	}
	t.Fatalf("no test value for kind %s", v.Kind())
	return ""
}

// TestEnvOverridesEveryKey sets each key's variable alone and checks that
// exactly that field, and no other, changed.
func TestEnvOverridesEveryKey(t *testing.T) {
	for _, f := range fields() {
		t.Run(f.key, func(t *testing.T) {
			c := Default()
			val := otherValue(t, reflect.ValueOf(c).Elem().FieldByIndex(f.idx))
			if err := c.ApplyEnv([]string{f.env + "=" + val, "PATH=/bin"}); err != nil {
				t.Fatalf("ApplyEnv(%s=%s): %v", f.env, val, err)
			}
			def := reflect.ValueOf(Default()).Elem()
			got := reflect.ValueOf(c).Elem()
			for _, g := range fields() {
				same := reflect.DeepEqual(def.FieldByIndex(g.idx).Interface(), got.FieldByIndex(g.idx).Interface())
				if g.key == f.key && same {
					t.Errorf("%s=%s left %s at its default", f.env, val, g.key)
				}
				if g.key != f.key && !same {
					t.Errorf("%s=%s changed %s too", f.env, val, g.key)
				}
			}
		})
	}
}

func TestEnvValues(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want func(*Config)
	}{
		{"broker", []string{"EDGECLIP_MQTT_BROKER=tcp://10.0.0.2:1883"}, func(c *Config) { c.MQTT.Broker = "tcp://10.0.0.2:1883" }},
		{"byte size", []string{"EDGECLIP_HISTORY_MAX_BYTES=512MiB"}, func(c *Config) { c.History.MaxBytes = 512 * MiB }},
		{"duration", []string{"EDGECLIP_SOURCE_STALL_TIMEOUT=750ms"}, func(c *Config) { c.Source.StallTimeout = 750 * time.Millisecond }},
		{"bool", []string{"EDGECLIP_SOURCE_THUMBNAILS=false"}, func(c *Config) { c.Source.Thumbnails = false }},
		{"nested", []string{"EDGECLIP_MQTT_TLS_CA_FILE=/etc/ca.pem"}, func(c *Config) { c.MQTT.TLS.CAFile = "/etc/ca.pem" }},
		{"flow list", []string{`EDGECLIP_QUERY_NEGATIVES=["a street, empty", "sky"]`}, func(c *Config) { c.Query.Negatives = []string{"a street, empty", "sky"} }},
		{"comma list", []string{"EDGECLIP_QUERY_NEGATIVES=wall, floor"}, func(c *Config) { c.Query.Negatives = []string{"wall", "floor"} }},
		{"empty list", []string{"EDGECLIP_QUERY_NEGATIVES="}, func(c *Config) {}},
		{"top level", []string{"EDGECLIP_DEVICE_ID=cam-7"}, func(c *Config) { c.DeviceID = "cam-7" }},
		{"empty disables http", []string{"EDGECLIP_HTTP_LISTEN="}, func(c *Config) { c.HTTP.Listen = "" }},
		{"other variables ignored", []string{"EDGECLIP_MODEL=/m.ecm", "EDGECLIP_TEST_FAST=1", "HOME=/root"}, func(c *Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := Default(), Default()
			tt.want(want)
			if err := got.ApplyEnv(tt.env); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name, env, wantKey, wantMsg string
	}{
		{"typo under a section", "EDGECLIP_MQTT_BROKR=x", "$EDGECLIP_MQTT_BROKR", `did you mean "EDGECLIP_MQTT_BROKER"`},
		{"bad duration", "EDGECLIP_HISTORY_MAX_AGE=7d", "history.max_age", `from $EDGECLIP_HISTORY_MAX_AGE: bad duration "7d"`},
		{"bad number", "EDGECLIP_SOURCE_SAMPLE_FPS=fast", "source.sample_fps", `bad number "fast"`},
		{"bad bool", "EDGECLIP_MQTT_HOMEASSISTANT_ENABLED=yes", "mqtt.homeassistant.enabled", `bad boolean "yes"`},
		{"bad size", "EDGECLIP_MQTT_MAX_PAYLOAD=lots", "mqtt.max_payload", `bad size "lots"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Default().ApplyEnv([]string{tt.env})
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("ApplyEnv(%s) = %v, want a *KeyError", tt.env, err)
			}
			if ke.Key != tt.wantKey || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ApplyEnv(%s) = %q (key %s), want key %s and %q", tt.env, err, ke.Key, tt.wantKey, tt.wantMsg)
			}
		})
	}
}

func TestLoadFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	yml := "device_id: cam-1\nmqtt:\n  broker: tcp://a:1883\n  workers: 8\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDGECLIP_MQTT_BROKER", "ssl://b:8883")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DeviceID != "cam-1" || c.MQTT.Workers != 8 || c.MQTT.Broker != "ssl://b:8883" || c.Source.SampleFPS != 5 {
		t.Errorf("Load = device %q workers %d broker %q fps %v; want cam-1, 8, ssl://b:8883 (env wins), 5 (default)",
			c.DeviceID, c.MQTT.Workers, c.MQTT.Broker, c.Source.SampleFPS)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want a not-exist error", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every one must appear
	}{
		{"unknown nested key", "mqtt:\n  tls:\n    cafile: /x\n", []string{`line 3: mqtt.tls.cafile: unknown key (did you mean "ca_file"?)`}},
		{"unknown top key", "sorce:\n  uri: x\n", []string{`line 1: sorce: unknown key (did you mean "source"?)`}},
		{"every unknown key", "model:\n  pth: a\n  backnd: b\nlog:\n  colour: red\n",
			[]string{"model.pth: unknown key", "model.backnd: unknown key", "log.colour: unknown key"}},
		{"bad duration", "source:\n  stall_timeout: 5 seconds\n", []string{`line 2: source.stall_timeout: bad duration "5 seconds"`}},
		{"section not a mapping", "source: 5\n", []string{`source: want a mapping of keys, got "5"`}},
		{"list for a scalar", "log:\n  level: [a]\n", []string{"log.level: want a single value, got a list"}},
		{"scalar for a list", "query:\n  negatives: sky\n", []string{`query.negatives: want a list, got "sky"`}},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", []string{"line 3: log.level: key given twice"}},
		{"top level list", "- a\n", []string{"(top level): want a mapping"}},
		{"bad int", "model:\n  threads: two\n", []string{`model.threads: bad integer "two"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Default().Decode([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Decode(%q) = nil, want errors", tt.yaml)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Decode(%q) = %q, want it to contain %q", tt.yaml, err, w)
				}
			}
		})
	}
}

func TestDecodeKeepsUnsetAndNull(t *testing.T) {
	c := Default()
	yml := "mqtt:\nhttp:\n  listen: ~\nquery:\n  negatives: [a, b]\n"
	if err := c.Decode([]byte(yml)); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.HTTP.Listen = ""
	want.Query.Negatives = []string{"a", "b"}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := Default().Decode(nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestLoadErrorNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("mqtt:\n  tls:\n    cafile: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	want := "config: " + path + ": line 3: mqtt.tls.cafile: unknown key"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load = %v, want it to start with %q", err, want)
	}
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "mqtt.tls.cafile" || ke.Line != 3 {
		t.Errorf("errors.As(*KeyError) = %+v, want key mqtt.tls.cafile line 3", ke)
	}
	if c == nil {
		t.Error("Load returned a nil config with its error; --check needs the partial one")
	}
}

func TestSetAndGet(t *testing.T) {
	c := Default()
	if err := c.Set("history.max_bytes", "1GiB"); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Get("history.max_bytes"); !ok || v != "1GiB" {
		t.Errorf("Get = %q, %v; want 1GiB", v, ok)
	}
	if err := c.Set("history.maxbytes", "1"); err == nil || !strings.Contains(err.Error(), `did you mean "history.max_bytes"`) {
		t.Errorf("Set(unknown) = %v, want a suggestion", err)
	}
	if err := c.Set("source.sample_fps", "x"); err == nil {
		t.Error("Set(bad number) = nil")
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		str  string
	}{
		{"0", 0, "0"},
		{"1500", 1500, "1500"},
		{"64KiB", 64 * KiB, "64KiB"},
		{"64 kib", 64 * KiB, "64KiB"},
		{"2GiB", 2 * GiB, "2GiB"},
		{"1GB", 1e9, "1000000000"},
		{"1.5MiB", 1536 * KiB, "1536KiB"},
		{"3M", 3 * MiB, "3MiB"},
		{"1TiB", TiB, "1TiB"},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
		if got.String() != tt.str {
			t.Errorf("%d.String() = %q, want %q", got, got.String(), tt.str)
		}
	}
	for _, bad := range []string{"", "-1", "lots", "1XB", "99999999999TiB", "-2MiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) = nil error", bad)
		}
	}
}

func TestStateDirAndPaths(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/var/lib/edgeclip:/var/lib/other")
	c := Default()
	if got := c.HistoryDir(); got != "/var/lib/edgeclip/history" {
		t.Errorf("HistoryDir = %q", got)
	}
	c.MQTT.OutboxDir = "/data/outbox"
	if got := c.OutboxDir(); got != "/data/outbox" {
		t.Errorf("OutboxDir = %q", got)
	}
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("XDG_STATE_HOME", "/home/u/.state")
	if got := c.AlertsFile(); got != "/home/u/.state/edgeclip/alerts.json" {
		t.Errorf("AlertsFile = %q", got)
	}
}

func TestMQTTPassword(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte("s3cret\r\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.MQTT.PasswordFile = path
	if pw, err := c.MQTTPassword(); err != nil || pw != "s3cret" {
		t.Errorf("MQTTPassword = %q, %v; want s3cret", pw, err)
	}
	c.MQTT.PasswordFile = path + ".missing"
	if _, err := c.MQTTPassword(); err == nil {
		t.Error("missing password file: nil error")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(Example()))
	f.Add([]byte("mqtt:\n  tls:\n    cafile: x\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Default().Decode(data) // must not panic
	})
}

func TestLogHandler(t *testing.T) {
	tests := []struct {
		name       string
		log        Log
		wantPrefix string // of the info line; "" when info is filtered out
		wantErr    string
	}{
		{"text info", Log{Level: "info", Format: "text"}, "time=", ""},
		{"json debug", Log{Level: "DEBUG", Format: "json"}, `{"time":`, ""},
		{"warn drops info", Log{Level: "warn", Format: "text"}, "", ""},
		{"bad level", Log{Level: "loud", Format: "text"}, "", "log.level"},
		{"bad format", Log{Level: "info", Format: "xml"}, "", "log.format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			h, err := tt.log.Handler(&b)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr+": ") {
					t.Fatalf("Handler() error = %v, want one on %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			slog.New(h).Info("source up", "uri", "synth://")
			if got := b.String(); (tt.wantPrefix == "" && got != "") || !strings.HasPrefix(got, tt.wantPrefix) || (tt.wantPrefix != "" && !strings.Contains(got, "source up")) {
				t.Errorf("logged %q, want prefix %q", got, tt.wantPrefix)
			}
		})
	}
}
