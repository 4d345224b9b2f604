package main

import (
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// notifyMsg is one datagram the daemon sent to $NOTIFY_SOCKET.
type notifyMsg struct {
	at   time.Time
	text string
}

// notifySocket is a systemd notify socket of the test's own.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []notifyMsg
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	n := &notifySocket{path: filepath.Join(t.TempDir(), "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, notifyMsg{time.Now(), string(buf[:k])})
			n.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return n
}

// since returns the messages equal to text received at or after from.
func (n *notifySocket) since(from time.Time, text string) []notifyMsg {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []notifyMsg
	for _, m := range n.msgs {
		if !m.at.Before(from) && m.text == text {
			out = append(out, m)
		}
	}
	return out
}

// wait polls until a message equal to text arrives at or after from.
func (n *notifySocket) wait(t *testing.T, from time.Time, text string, within time.Duration) notifyMsg {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ms := n.since(from, text); len(ms) > 0 {
			return ms[0]
		}
	}
	t.Fatalf("no %s on the notify socket within %s", text, within)
	return notifyMsg{}
}

// TestE2EWatchdog runs the daemon under a notify socket with a 600 ms
// watchdog: READY=1 comes once source and broker are up, WATCHDOG=1 every
// 300 ms while the loops make progress, and none once the inference loop
// hangs (EDGECLIP_FAULT, see serve.go), so systemd would restart it.
func TestE2EWatchdog(t *testing.T) {
	edgeclipBin(t)
	modelPath, _ := tinyModel(t)
	ns := listenNotify(t)
	const hangAfter = 4 * time.Second
	start := time.Now()
	hung := make(chan time.Time, 1)
	d := startDaemon(t, daemonOpts{model: modelPath, http: true,
		env: []string{"NOTIFY_SOCKET=" + ns.path, "WATCHDOG_USEC=600000", "EDGECLIP_FAULT=hang:inference:" + hangAfter.String()},
		onLine: func(l string) {
			if strings.Contains(l, "fault injection: loop hangs now") {
				hung <- time.Now()
			}
		}})

	ready := ns.wait(t, start, "READY=1", 20*time.Second)
	if code, body, err := httpGet("http://" + d.http + "/readyz"); code != 200 {
		t.Errorf("READY=1 was sent while /readyz says %d %s %v", code, body, err)
	}
	t.Logf("FIGURE READY=1 %s after start", ready.at.Sub(start).Round(time.Millisecond))

	var hangAt time.Time
	select {
	case hangAt = <-hung:
	case <-time.After(hangAfter + 10*time.Second):
		t.Fatal("the inference loop never hung")
	}
	healthy := ns.since(ready.at, "WATCHDOG=1")
	var before int
	for _, m := range healthy {
		if m.at.Before(hangAt) {
			before++
		}
	}
	// Pings every 300 ms from READY to the hang (about 3.5 s): expect ≥ 8.
	if before < 8 {
		t.Errorf("%d watchdog pings while healthy (%s), want ≥ 8", before, hangAt.Sub(ready.at).Round(time.Millisecond))
	}

	// A hung loop misses the next check (≤ 300 ms later); from then on, no
	// pings. Watch for 2 s, over three times systemd's timeout.
	quiet := hangAt.Add(700 * time.Millisecond)
	time.Sleep(time.Until(quiet.Add(2 * time.Second)))
	if late := ns.since(quiet, "WATCHDOG=1"); len(late) > 0 {
		t.Errorf("%d watchdog pings after the inference loop hung (first %s after the hang)", len(late), late[0].at.Sub(hangAt))
	}
	last := hangAt
	if all := ns.since(ready.at, "WATCHDOG=1"); len(all) > 0 {
		last = all[len(all)-1].at
	}
	t.Logf("FIGURE watchdog: %d pings while healthy; last ping %s after the hang, none in the next %s",
		before, last.Sub(hangAt).Round(time.Millisecond), time.Since(last).Round(100*time.Millisecond))
	if code, body, _ := httpGet("http://" + d.http + "/healthz"); code != 503 || !strings.Contains(body, "inference") {
		t.Errorf("/healthz with a hung loop = %d %q, want 503 naming inference", code, body)
	}

	// The hung daemon still stops cleanly on SIGTERM and says so.
	sigterm := time.Now()
	took := d.stop(syscall.SIGTERM, 10*time.Second)
	if d.err != nil {
		t.Errorf("exit after SIGTERM: %v", d.err)
	}
	ns.wait(t, sigterm, "STOPPING=1", time.Second)
	t.Logf("FIGURE SIGTERM to exit with a hung loop: %s", took.Round(time.Millisecond))
}

// TestE2EFaultFlagRejected: a malformed EDGECLIP_FAULT stops the start
// with an error naming it, rather than running without the fault.
func TestE2EFaultFlagRejected(t *testing.T) {
	modelPath, _ := tinyModel(t)
	d := startDaemon(t, daemonOpts{model: modelPath, env: []string{"EDGECLIP_FAULT=hang:everything"}})
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("daemon kept running with a malformed EDGECLIP_FAULT")
	}
	if d.err == nil || !strings.Contains(d.log.String(), `EDGECLIP_FAULT="hang:everything"`) {
		t.Errorf("exit %v, log %q; want an error naming EDGECLIP_FAULT", d.err, tail(d.log.String(), 500))
	}
}

// scrape fetches /metrics and parses it with Prometheus' text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body, err := httpGet("http://" + addr + "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value is the sum over a family's series (counter or gauge).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("metric %s missing from /metrics", name)
	}
	var v float64
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		}
	}
	return v
}

// TestE2EMetrics scrapes /metrics twice while frames flow: the counters
// move, and /readyz names every part as up.
func TestE2EMetrics(t *testing.T) {
	edgeclipBin(t)
	modelPath, _ := tinyModel(t)
	start := time.Now()
	d := startDaemon(t, daemonOpts{model: modelPath, http: true})
	body := d.waitReady(20 * time.Second)
	t.Logf("FIGURE /readyz 200 %s after start", time.Since(start).Round(time.Millisecond))
	for _, part := range []string{"[+]model ok", "[+]source ok", "[+]broker ok"} {
		if !strings.Contains(body, part) {
			t.Errorf("/readyz body %q lacks %q", body, part)
		}
	}
	if code, _, err := httpGet("http://" + d.http + "/healthz"); code != 200 {
		t.Errorf("/healthz = %d %v, want 200", code, err)
	}
	time.Sleep(1200 * time.Millisecond) // metrics are fed every second
	first := scrape(t, d.http)
	time.Sleep(2100 * time.Millisecond)
	second := scrape(t, d.http)
	for _, name := range []string{"edgeclip_frames_encoded_total", "edgeclip_frames_captured_total"} {
		a, b := value(t, first, name), value(t, second, name)
		if !(b > a) {
			t.Errorf("%s went from %v to %v in 2 s; want it to increase", name, a, b)
		}
		t.Logf("FIGURE %s: %v → %v over 2.1 s", name, a, b)
	}
	if v := value(t, second, "edgeclip_mqtt_connected"); v != 1 {
		t.Errorf("edgeclip_mqtt_connected = %v, want 1", v)
	}
	if v := value(t, second, "edgeclip_store_records"); v < 1 {
		t.Errorf("edgeclip_store_records = %v, want > 0", v)
	}
	if _, ok := second["process_resident_memory_bytes"]; ok {
		t.Logf("FIGURE resident memory of the daemon (tiny model): %.1f MiB", value(t, second, "process_resident_memory_bytes")/(1<<20))
	}
	took := d.stop(syscall.SIGTERM, 10*time.Second)
	if d.err != nil {
		t.Errorf("exit after SIGTERM: %v", d.err)
	}
	t.Logf("FIGURE SIGTERM to exit: %s", took.Round(time.Millisecond))
}
