package health

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// serve starts h on a kernel-chosen loopback port and returns its base URL.
func serve(t *testing.T, h *Health) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ServeListener(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeListener = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("ServeListener did not return after cancel")
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape fetches /metrics and parses it with Prometheus's text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s missing from /metrics", name)
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("metric %s has no series with labels %v", name, want)
	return 0
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestMetricsScrape(t *testing.T) {
	m := NewMetrics()
	base := serve(t, New(m, quiet()))

	fams := scrape(t, base)
	for _, name := range []string{
		"edgeclip_frames_captured_total", "edgeclip_frames_encoded_total", "edgeclip_frames_gated_total",
		"edgeclip_frames_dropped_total", "edgeclip_frames_bad_total", "edgeclip_source_reconnects_total",
		"edgeclip_mqtt_connected", "edgeclip_mqtt_outbox_messages", "edgeclip_store_bytes", "edgeclip_store_records",
		"edgeclip_store_retention_segments_deleted_total", "edgeclip_store_retention_records_deleted_total",
		"edgeclip_board_throttled", "edgeclip_query_duration_seconds",
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing from the first scrape", name)
		}
	}
	if got := value(t, fams, "edgeclip_frames_captured_total", nil); got != 0 {
		t.Errorf("frames captured before any frame = %v", got)
	}

	// Frames flow: per-event counts, running totals, latencies.
	for range 5 {
		m.FramesCaptured.Inc()
	}
	m.FramesEncoded.SetTotal(3)
	m.FramesGated.Add(2)
	m.FramesDropped.Inc()
	m.BadFrames.SetTotal(1)
	m.SourceReconnects.Inc()
	m.EncodeSeconds.WithLabelValues(TowerImage).Observe(0.030)
	m.EncodeSeconds.WithLabelValues(TowerImage).Observe(0.040)
	m.EncodeSeconds.WithLabelValues(TowerText).Observe(0.010)
	m.QuerySeconds.Observe(0.002)
	m.AlertsFired.WithLabelValues("person at door").Inc()
	m.AlertActive.WithLabelValues("person at door").Set(1)
	SetBool(m.MQTTConnected, true)
	m.MQTTOutboxDepth.Set(7)
	m.StoreBytes.Set(1 << 20)
	m.StoreRecords.Set(3)
	m.RetentionSegments.SetTotal(2)
	m.RetentionRecords.SetTotal(900)
	m.BoardTemperature.WithLabelValues("cpu").Set(61.5)
	SetBool(m.BoardThrottled, true)
	m.SetSourceState("up")
	m.SetInfo("v0.1.0", "student-int8", "native", "w8a8")

	fams = scrape(t, base)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"edgeclip_frames_captured_total", nil, 5},
		{"edgeclip_frames_encoded_total", nil, 3},
		{"edgeclip_frames_gated_total", nil, 2},
		{"edgeclip_frames_dropped_total", nil, 1},
		{"edgeclip_frames_bad_total", nil, 1},
		{"edgeclip_source_reconnects_total", nil, 1},
		{"edgeclip_encode_duration_seconds", map[string]string{"tower": "image"}, 2},
		{"edgeclip_encode_duration_seconds", map[string]string{"tower": "text"}, 1},
		{"edgeclip_query_duration_seconds", nil, 1},
		{"edgeclip_alerts_fired_total", map[string]string{"alert": "person at door"}, 1},
		{"edgeclip_alert_active", map[string]string{"alert": "person at door"}, 1},
		{"edgeclip_mqtt_connected", nil, 1},
		{"edgeclip_mqtt_outbox_messages", nil, 7},
		{"edgeclip_store_bytes", nil, 1 << 20},
		{"edgeclip_store_records", nil, 3},
		{"edgeclip_store_retention_segments_deleted_total", nil, 2},
		{"edgeclip_store_retention_records_deleted_total", nil, 900},
		{"edgeclip_board_temperature_celsius", map[string]string{"zone": "cpu"}, 61.5},
		{"edgeclip_board_throttled", nil, 1},
		{"edgeclip_source_state", map[string]string{"state": "up"}, 1},
		{"edgeclip_build_info", map[string]string{"version": "v0.1.0", "model": "student-int8", "backend": "native", "precision": "w8a8"}, 1},
	}
	for _, tt := range tests {
		if got := value(t, fams, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if f := fams["edgeclip_frames_captured_total"]; f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("frames_captured_total has type %v, want COUNTER", f.GetType())
	}

	// The source stalls: the old state drops to 0, the new one is 1.
	m.SetSourceState("stalled")
	fams = scrape(t, base)
	if up, st := value(t, fams, "edgeclip_source_state", map[string]string{"state": "up"}),
		value(t, fams, "edgeclip_source_state", map[string]string{"state": "stalled"}); up != 0 || st != 1 {
		t.Errorf("after SetSourceState(stalled): up=%v stalled=%v, want 0 and 1", up, st)
	}
}

func TestCounterTotals(t *testing.T) {
	tests := []struct {
		name string
		ops  func(c *Counter)
		want float64
	}{
		{"increments", func(c *Counter) { c.Inc(); c.Inc(); c.Add(2.5) }, 4.5},
		{"negative add ignored", func(c *Counter) { c.Add(3); c.Add(-1) }, 3},
		{"totals", func(c *Counter) { c.SetTotal(5); c.SetTotal(8) }, 8},
		{"total restarts from zero", func(c *Counter) { c.SetTotal(5); c.SetTotal(8); c.SetTotal(3); c.SetTotal(4) }, 12},
		{"totals and increments", func(c *Counter) { c.SetTotal(10); c.Inc() }, 11},
		{"negative total ignored", func(c *Counter) { c.SetTotal(5); c.SetTotal(-2) }, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCounter(nil)
			tt.ops(c)
			if got := c.Value(); got != tt.want {
				t.Errorf("Value() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReadyzNamesFailingParts(t *testing.T) {
	h := New(NewMetrics(), quiet())
	h.AddReadyCheck("model", func(context.Context) error { return nil })
	broker := h.Flag("broker")
	source := h.Flag("source")
	base := serve(t, h)

	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before start = %d, want 503", code)
	}
	for _, want := range []string{"[+]model ok", "[-]broker failed: not yet started", "[-]source failed: not yet started", "failed: broker, source"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz body lacks %q:\n%s", want, body)
		}
	}

	source.Set(nil)
	broker.Set(errors.New("connection refused\nby 127.0.0.1:1883"))
	code, body = get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]broker failed: connection refused by 127.0.0.1:1883\n") ||
		!strings.Contains(body, "[+]source ok") || !strings.HasSuffix(body, "failed: broker\n") {
		t.Errorf("/readyz with the broker down = %d:\n%s", code, body)
	}

	broker.Set(nil)
	code, body = get(t, base+"/readyz")
	if code != http.StatusOK || !strings.HasSuffix(body, "\nok\n") {
		t.Errorf("/readyz all up = %d:\n%s", code, body)
	}
}

func TestReadyzCheckTimeout(t *testing.T) {
	h := New(nil, quiet())
	h.AddReadyCheck("store", func(ctx context.Context) error { <-ctx.Done(); time.Sleep(time.Second); return nil })
	base := serve(t, h)
	start := time.Now()
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]store failed: check did not answer within 2s") {
		t.Errorf("/readyz with a hung check = %d:\n%s", code, body)
	}
	if d := time.Since(start); d > CheckTimeout+time.Second {
		t.Errorf("/readyz took %v with a hung check; want about %v", d, CheckTimeout)
	}
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("/metrics without Metrics = %d, want 404", code)
	}
}

func TestHealthz(t *testing.T) {
	h := New(nil, quiet())
	base := serve(t, h)
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	h.AddLiveCheck("watchdog", func(context.Context) error { return errors.New("loops stalled: capture") })
	if code, body := get(t, base+"/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]watchdog failed: loops stalled: capture") {
		t.Errorf("/healthz with a stalled loop = %d %q", code, body)
	}
	resp, err := http.Post(base+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	h := New(NewMetrics(), quiet())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, addr) }()
	var code int
	for range 50 { // wait for the listener
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			code = resp.StatusCode
			resp.Body.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != http.StatusOK {
		t.Fatalf("/healthz on %s never answered 200", addr)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("port still open after shutdown")
	}
	if err := h.Serve(context.Background(), "127.0.0.1:notaport"); err == nil || !strings.Contains(err.Error(), "health: listen") {
		t.Errorf("Serve(bad addr) = %v, want a listen error", err)
	}
}

func BenchmarkCounterInc(b *testing.B) {
	m := NewMetrics()
	b.ReportAllocs()
	for b.Loop() {
		m.FramesCaptured.Inc()
		m.EncodeSeconds.WithLabelValues(TowerImage).Observe(0.02)
	}
}
