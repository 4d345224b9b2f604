package health

import (
	"math"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics owns the collectors the daemon updates, on a private registry so
// tests and several daemons in one process never collide. Fields are set up
// by NewMetrics; update them directly (Inc, Observe, Set, WithLabelValues).
//
// Counts that a subsystem already keeps as running totals (camera.Stats,
// history.Stats) go through Counter.SetTotal from a periodic status loop;
// per-event counts use Inc/Add.
type Metrics struct {
	Registry *prometheus.Registry

	// Capture and sampling (edgeclip_frames_*_total).
	FramesCaptured *Counter // delivered by the source
	FramesEncoded  *Counter // encoded and appended to the history
	FramesGated    *Counter // skipped by the change gate
	FramesDropped  *Counter // dropped by the newest-frame queue
	BadFrames      *Counter // empty or corrupt frames skipped

	// Source (camera) health.
	SourceReconnects *Counter
	sourceState      *prometheus.GaugeVec

	// EncodeSeconds is per tower: "image" or "text".
	EncodeSeconds *prometheus.HistogramVec
	QuerySeconds  prometheus.Histogram

	// Alerts by alert name: start events, and the current on/off state.
	AlertsFired *prometheus.CounterVec
	AlertActive *prometheus.GaugeVec

	MQTTConnected   prometheus.Gauge // 1 while connected to the broker
	MQTTOutboxDepth prometheus.Gauge // messages waiting in the outbox

	StoreBytes        prometheus.Gauge // segment files on disk, thumbnails included
	StoreRecords      prometheus.Gauge
	RetentionSegments *Counter // segments deleted by retention
	RetentionRecords  *Counter // records in them

	// BoardTemperature is per thermal zone (Celsius); BoardThrottled is 1
	// while the board reports thermal or power throttling.
	BoardTemperature *prometheus.GaugeVec
	BoardThrottled   prometheus.Gauge

	info *prometheus.GaugeVec

	stateMu sync.Mutex
	states  map[string]bool
}

const ns = "edgeclip"

// Tower label values of EncodeSeconds.
const (
	TowerImage = "image"
	TowerText  = "text"
)

// NewMetrics registers every collector, plus the Go runtime and process
// collectors (resident memory, CPU, open files), on a new registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r, states: map[string]bool{}}
	counter := func(name, help string) *Counter {
		c := newCounter(prometheus.NewDesc(ns+"_"+name, help, nil, nil))
		r.MustRegister(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help})
		r.MustRegister(g)
		return g
	}
	gaugeVec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, labels)
		r.MustRegister(g)
		return g
	}

	m.FramesCaptured = counter("frames_captured_total", "Frames delivered by the source.")
	m.FramesEncoded = counter("frames_encoded_total", "Frames encoded and appended to the history.")
	m.FramesGated = counter("frames_gated_total", "Frames skipped by the change gate.")
	m.FramesDropped = counter("frames_dropped_total", "Frames dropped because the encoder was busy.")
	m.BadFrames = counter("frames_bad_total", "Empty or corrupt frames skipped.")
	m.SourceReconnects = counter("source_reconnects_total", "Times the source was reopened after a stall or error.")
	m.sourceState = gaugeVec("source_state", "1 for the source's current state (up, stalled, reconnecting, failed, ...).", "state")

	m.EncodeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "encode_duration_seconds",
		Help: "Time to encode one input, by tower (image, text).",
		// 2.5 ms .. 5.1 s: a tiny student on a fast core to ViT-B on a slow one.
		Buckets: prometheus.ExponentialBuckets(0.0025, 2, 12),
	}, []string{"tower"})
	r.MustRegister(m.EncodeSeconds)
	m.QuerySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "query_duration_seconds",
		Help:    "Time to answer one query, text encoding and scoring included.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms .. 8 s
	})
	r.MustRegister(m.QuerySeconds)

	m.AlertsFired = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "alerts_fired_total", Help: "Start events of standing alerts.",
	}, []string{"alert"})
	r.MustRegister(m.AlertsFired)
	m.AlertActive = gaugeVec("alert_active", "1 while a standing alert is on.", "alert")

	m.MQTTConnected = gauge("mqtt_connected", "1 while connected to the MQTT broker.")
	m.MQTTOutboxDepth = gauge("mqtt_outbox_messages", "Replies and alert events waiting in the outbox.")

	m.StoreBytes = gauge("store_bytes", "Size of the history on disk, thumbnails included.")
	m.StoreRecords = gauge("store_records", "Records in the history.")
	m.RetentionSegments = counter("store_retention_segments_deleted_total", "History segments deleted by retention (age or byte budget).")
	m.RetentionRecords = counter("store_retention_records_deleted_total", "History records deleted by retention.")

	m.BoardTemperature = gaugeVec("board_temperature_celsius", "Board temperature by thermal zone.", "zone")
	m.BoardThrottled = gauge("board_throttled", "1 while the board reports thermal or power throttling.")

	m.info = gaugeVec("build_info", "Always 1; labels say what runs.", "version", "model", "backend", "precision")

	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetInfo sets edgeclip_build_info's labels (one series at a time).
func (m *Metrics) SetInfo(version, model, backend, precision string) {
	m.info.Reset()
	m.info.WithLabelValues(version, model, backend, precision).Set(1)
}

// SetSourceState makes state the only source_state series at 1; states
// seen before stay as 0 so dashboards see the transition.
func (m *Metrics) SetSourceState(state string) {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	m.states[state] = true
	for s := range m.states {
		v := 0.0
		if s == state {
			v = 1
		}
		m.sourceState.WithLabelValues(s).Set(v)
	}
}

// SetBool sets a 0/1 gauge.
func SetBool(g prometheus.Gauge, on bool) {
	if on {
		g.Set(1)
	} else {
		g.Set(0)
	}
}

// Counter is a Prometheus counter that also takes running totals kept
// elsewhere. SetTotal with a smaller total than the last one is read as
// the source of the total having restarted (a reopened camera), so the
// exported value never goes down.
type Counter struct {
	desc *prometheus.Desc

	mu        sync.Mutex
	base      float64 // carried over from totals before a restart
	lastTotal float64
}

func newCounter(d *prometheus.Desc) *Counter { return &Counter{desc: d} }

// Inc adds one.
func (c *Counter) Inc() { c.Add(1) }

// Add adds v; negative and NaN values are ignored, as counters only grow.
func (c *Counter) Add(v float64) {
	if !(v > 0) {
		return
	}
	c.mu.Lock()
	c.base += v
	c.mu.Unlock()
}

// SetTotal records the current running total of a subsystem's count.
func (c *Counter) SetTotal(total float64) {
	if math.IsNaN(total) || total < 0 {
		return
	}
	c.mu.Lock()
	if total < c.lastTotal {
		c.base += c.lastTotal
	}
	c.lastTotal = total
	c.mu.Unlock()
}

// Value is the exported value.
func (c *Counter) Value() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base + c.lastTotal
}

// Describe implements prometheus.Collector.
func (c *Counter) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *Counter) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, c.Value())
}
