package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeclip/edgeclip/query"
)

// SourceSchemes are the camera URI schemes edgeclip knows. Whether one is
// built into this binary (GoCV is optional) is decided when the source
// opens; Check only rejects schemes no build has.
var SourceSchemes = []string{"v4l2", "csi", "rtsp", "rtsps", "http", "https", "file", "gst", "synth"}

// brokerSchemes are the URL schemes the MQTT client dials.
var brokerSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}

// Check validates every value and returns every problem, each a *KeyError
// naming its key. Files that must exist (model, password file, TLS files,
// board root) are looked up now. Risky but valid settings are Warnings.
func (c *Config) Check() []error {
	var errs []error
	bad := func(key, format string, a ...any) { errs = append(errs, keyErr(key, format, a...)) }

	if c.DeviceID != "" && (!isName(c.DeviceID, 64) || c.DeviceID == "all") {
		bad("device_id", "%q: want 1 to 64 of A-Z a-z 0-9 _ -, and not \"all\"", c.DeviceID)
	}

	// model
	if c.Model.Path != "" {
		mustBeFile(&errs, "model.path", c.Model.Path)
	}
	if !isName(c.Model.Backend, 32) {
		bad("model.backend", "%q: want a backend name such as native", c.Model.Backend)
	}
	// Empty is auto; case is ignored, as runtime.ParsePrecision does.
	if p := c.Model.Precision; p != "" && !slices.Contains([]string{"auto", "f32", "w8", "w8a8"}, strings.ToLower(p)) {
		bad("model.precision", "%q: want one of auto, f32, w8, w8a8", p)
	}
	if c.Model.Threads < 0 || c.Model.Threads > 1024 {
		bad("model.threads", "%d: want 0 (all cores) to 1024", c.Model.Threads)
	}

	// source
	c.checkSourceURI(&errs)
	positive(&errs, "source.stall_timeout", c.Source.StallTimeout)
	if !(c.Source.SampleFPS > 0 && c.Source.SampleFPS <= 120) {
		bad("source.sample_fps", "%v: want more than 0 and at most 120", c.Source.SampleFPS)
	}
	if !(c.Source.GateThreshold >= 0 && c.Source.GateThreshold <= 1) {
		bad("source.gate_threshold", "%v: want 0 to 1", c.Source.GateThreshold)
	}
	positive(&errs, "source.keep_alive", c.Source.KeepAlive)
	if c.Source.ThumbnailSize < 16 || c.Source.ThumbnailSize > 1024 {
		bad("source.thumbnail_size", "%d: want 16 to 1024 pixels", c.Source.ThumbnailSize)
	}
	if c.Source.ThumbnailQuality < 1 || c.Source.ThumbnailQuality > 100 {
		bad("source.thumbnail_quality", "%d: want 1 to 100", c.Source.ThumbnailQuality)
	}

	// history
	positive(&errs, "history.fsync_interval", c.History.FsyncInterval)
	if c.History.MaxAge < 0 {
		bad("history.max_age", "%s: must not be negative (0 keeps all)", c.History.MaxAge)
	}
	if c.History.MaxBytes < 0 {
		bad("history.max_bytes", "%s: must not be negative (0: no budget)", c.History.MaxBytes)
	}
	switch {
	case c.History.SegmentBytes < MiB:
		bad("history.segment_bytes", "%s: want at least 1MiB", c.History.SegmentBytes)
	case c.History.MaxBytes > 0 && c.History.SegmentBytes > c.History.MaxBytes/2:
		bad("history.segment_bytes", "%s: want at most half of history.max_bytes (%s) so retention can drop whole segments",
			c.History.SegmentBytes, c.History.MaxBytes)
	}
	oneOf(&errs, "history.compact", c.History.Compact, "int8", "f16")
	notDir(&errs, "history.dir", c.History.Dir)

	// query
	for i, n := range c.Query.Negatives {
		if strings.TrimSpace(n) == "" {
			bad("query.negatives", "item %d is empty", i+1)
		}
	}
	if _, err := query.ParseVocabulary(c.Query.Vocabulary); err != nil {
		bad("query.vocabulary", "%v", strings.TrimPrefix(err.Error(), "query: vocabulary "))
	}
	if c.Query.MinDuration < 0 {
		bad("query.min_duration", "%s: must not be negative", c.Query.MinDuration)
	}
	if c.Query.CacheSize < 1 || c.Query.CacheSize > 1<<20 {
		bad("query.cache_size", "%d: want 1 to 1048576", c.Query.CacheSize)
	}
	if c.Query.MaxGap < 0 {
		bad("query.max_gap", "%s: must not be negative", c.Query.MaxGap)
	}
	if !(c.Query.Threshold > 0 && c.Query.Threshold <= 1) {
		bad("query.threshold", "%v: want more than 0 and at most 1", c.Query.Threshold)
	}

	// alerts
	if st, err := os.Stat(c.Alerts.File); c.Alerts.File != "" && err == nil && st.IsDir() {
		bad("alerts.file", "%s is a directory; want a file path", c.Alerts.File)
	}

	c.checkMQTT(&errs)

	if c.HTTP.Listen != "" {
		checkHostPort(&errs, "http.listen", c.HTTP.Listen)
	}
	oneOf(&errs, "log.level", strings.ToLower(c.Log.Level), "debug", "info", "warn", "error")
	oneOf(&errs, "log.format", c.Log.Format, "text", "json")
	if st, err := os.Stat(c.Board.Root); err != nil {
		bad("board.root", "%v", err)
	} else if !st.IsDir() {
		bad("board.root", "%s is not a directory", c.Board.Root)
	}
	return errs
}

func (c *Config) checkSourceURI(errs *[]error) {
	const key = "source.uri"
	uri := c.Source.URI
	if rest, ok := strings.CutPrefix(uri, "gst://"); ok {
		if strings.TrimSpace(rest) == "" {
			*errs = append(*errs, keyErr(key, "%q: empty GStreamer pipeline", uri))
		}
		return
	}
	u, err := url.Parse(uri)
	switch {
	case uri == "":
		*errs = append(*errs, keyErr(key, "empty; want e.g. v4l2:///dev/video0 or synth://?seed=1"))
	case err != nil:
		*errs = append(*errs, keyErr(key, "%v", err))
	case !slices.Contains(SourceSchemes, u.Scheme):
		*errs = append(*errs, keyErr(key, "%q: unknown scheme %q (known: %s)", redact(u), u.Scheme, strings.Join(SourceSchemes, ", ")))
	case u.Scheme == "file" && u.Path == "" && u.Host == "" && u.Opaque == "":
		*errs = append(*errs, keyErr(key, "%q: no file path", uri))
	case (u.Scheme == "rtsp" || u.Scheme == "rtsps" || u.Scheme == "http" || u.Scheme == "https") && u.Host == "":
		*errs = append(*errs, keyErr(key, "%q: no host", redact(u)))
	}
}

func (c *Config) checkMQTT(errs *[]error) {
	m := &c.MQTT
	bad := func(key, format string, a ...any) { *errs = append(*errs, keyErr(key, format, a...)) }
	if m.Broker == "" {
		checkHostPort(errs, "mqtt.embedded_listen", m.EmbeddedListen)
	} else if u, err := url.Parse(m.Broker); err != nil {
		bad("mqtt.broker", "%v", err)
	} else if !slices.Contains(brokerSchemes, u.Scheme) || u.Host == "" {
		bad("mqtt.broker", "%q: want scheme://host:port with scheme one of %s", redact(u), strings.Join(brokerSchemes, ", "))
	}
	if m.ClientID != "" && (len(m.ClientID) > 128 || strings.ContainsAny(m.ClientID, "+#/ ")) {
		bad("mqtt.client_id", "%q: want at most 128 characters without + # / or spaces", m.ClientID)
	}
	if m.Password != "" && m.PasswordFile != "" {
		bad("mqtt.password_file", "set either mqtt.password or mqtt.password_file, not both")
	}
	if m.PasswordFile != "" {
		mustBeFile(errs, "mqtt.password_file", m.PasswordFile)
	}
	for key, p := range map[string]string{"mqtt.tls.ca_file": m.TLS.CAFile, "mqtt.tls.cert_file": m.TLS.CertFile, "mqtt.tls.key_file": m.TLS.KeyFile} {
		if p != "" {
			mustBeFile(errs, key, p)
		}
	}
	if m.TLS.CertFile != "" && m.TLS.KeyFile == "" {
		bad("mqtt.tls.key_file", "empty: a client certificate (mqtt.tls.cert_file) needs its key")
	}
	if m.TLS.KeyFile != "" && m.TLS.CertFile == "" {
		bad("mqtt.tls.cert_file", "empty: mqtt.tls.key_file is set but its certificate is not")
	}
	if m.Root == "" || strings.ContainsAny(m.Root, "+#") || strings.HasSuffix(m.Root, "/") || strings.HasPrefix(m.Root, "/") {
		bad("mqtt.root", "%q: want a non-empty topic level without wildcards or leading/trailing /", m.Root)
	}
	if m.Prefix != "" && (!strings.HasSuffix(m.Prefix, "/") || strings.ContainsAny(m.Prefix, "+#")) {
		bad("mqtt.prefix", "%q: must end in / and have no wildcards", m.Prefix)
	}
	if m.MaxPayload < KiB || m.MaxPayload > 256*MiB {
		bad("mqtt.max_payload", "%s: want 1KiB to 256MiB", m.MaxPayload)
	}
	if m.Workers < 1 || m.Workers > 256 {
		bad("mqtt.workers", "%d: want 1 to 256", m.Workers)
	}
	notDir(errs, "mqtt.outbox_dir", m.OutboxDir)
	if m.OutboxMaxBytes < 0 {
		bad("mqtt.outbox_max_bytes", "%s: must not be negative", m.OutboxMaxBytes)
	}
	if m.StatsInterval < time.Second {
		bad("mqtt.stats_interval", "%s: want at least 1s", m.StatsInterval)
	}
	if m.HomeAssistant.Enabled && (m.HomeAssistant.Prefix == "" || strings.ContainsAny(m.HomeAssistant.Prefix, "+#")) {
		bad("mqtt.homeassistant.prefix", "%q: want a topic prefix without wildcards", m.HomeAssistant.Prefix)
	}
}

// Warnings lists valid but risky settings: credentials over plain TCP to
// another host, disabled certificate checks, an open metrics port.
func (c *Config) Warnings() []string {
	var w []string
	m := &c.MQTT
	if u, err := url.Parse(m.Broker); m.Broker != "" && err == nil &&
		(m.Username != "" || m.Password != "" || m.PasswordFile != "") &&
		(u.Scheme == "tcp" || u.Scheme == "mqtt" || u.Scheme == "ws") && !isLoopback(u.Hostname()) {
		w = append(w, fmt.Sprintf("mqtt.broker: credentials will cross the network in clear text to %s; use ssl:// or wss://", u.Host))
	}
	if m.TLS.InsecureSkipVerify {
		w = append(w, "mqtt.tls.insecure_skip_verify: broker certificates are not checked; anyone on the path can impersonate the broker")
	}
	if host, _, err := net.SplitHostPort(c.HTTP.Listen); c.HTTP.Listen != "" && err == nil && !isLoopback(host) {
		w = append(w, fmt.Sprintf("http.listen: %s is reachable from the network and has no authentication", c.HTTP.Listen))
	}
	if host, _, err := net.SplitHostPort(m.EmbeddedListen); m.Broker == "" && err == nil && !isLoopback(host) {
		w = append(w, fmt.Sprintf("mqtt.embedded_listen: the embedded broker on %s accepts anyone on the network", m.EmbeddedListen))
	}
	return w
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkHostPort(errs *[]error, key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		*errs = append(*errs, keyErr(key, "%q: want host:port (%v)", addr, err))
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		*errs = append(*errs, keyErr(key, "%q: bad port %q", addr, port))
	}
}

func positive(errs *[]error, key string, d time.Duration) {
	if d <= 0 {
		*errs = append(*errs, keyErr(key, "%s: must be positive", formatDuration(d)))
	}
}

func oneOf(errs *[]error, key, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		*errs = append(*errs, keyErr(key, "%q: want one of %s", v, strings.Join(allowed, ", ")))
	}
}

func mustBeFile(errs *[]error, key, path string) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		*errs = append(*errs, &KeyError{Key: key, Err: err})
	case st.IsDir():
		*errs = append(*errs, keyErr(key, "%s is a directory; want a file", path))
	}
}

// notDir reports a configured directory path that exists as something else.
func notDir(errs *[]error, key, path string) {
	if st, err := os.Stat(path); path != "" && err == nil && !st.IsDir() {
		*errs = append(*errs, keyErr(key, "%s exists and is not a directory", path))
	}
}

func isName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func redact(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	return u.Redacted()
}
