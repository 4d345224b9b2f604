package mqtt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/mqtt/mqtttest"
)

func event(i int) mqtt.AlertEvent {
	return mqtt.AlertEvent{EventID: fmt.Sprintf("ev-%05d", i), Alert: "door", Kind: "start", Score: 0.3, ThumbSeq: uint64(i + 1)}
}

// receiveEvents collects n distinct events (in arrival order of first
// sight) and counts duplicates.
func receiveEvents(t *testing.T, p *probe, seen map[string]bool, n int) (ids []string, dups int) {
	t.Helper()
	for len(ids) < n {
		ev := decode[mqtt.AlertEvent](t, p.nextOn("edgeclip/cam1/alerts/door/event", 20*time.Second).Payload())
		if seen[ev.EventID] {
			dups++
			continue
		}
		seen[ev.EventID] = true
		ids = append(ids, ev.EventID)
	}
	return ids, dups
}

func TestOutboxOrderAcrossBrokerOutage(t *testing.T) {
	m := mqtttest.Start(t, mqtttest.Config{Persistence: true})
	dir := filepath.Join(t.TempDir(), "outbox")
	c := startClient(t, m.URL(), &mqtttest.Handler{}, func(o *mqtt.Options) { o.OutboxDir = dir })
	p := newProbe(t, m.URL(), "events", false, "edgeclip/cam1/alerts/+/event")
	ctx := context.Background()
	const before, during, after = 5, 20, 5
	for i := range before {
		c.PublishAlertEvent(ctx, event(i))
	}
	seen := map[string]bool{}
	ids, _ := receiveEvents(t, p, seen, before)

	m.Stop() // saves the probe's session, so it gets what is sent while it is away
	deadline := time.Now().Add(wait)
	for c.Connected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for i := before; i < before+during; i++ {
		if err := c.PublishAlertEvent(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	for c.Counters().OutboxAppended < during && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.msg")); len(files) != during {
		t.Errorf("outbox holds %d files during the outage, want %d", len(files), during)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	for i := before + during; i < before+during+after; i++ {
		c.PublishAlertEvent(ctx, event(i))
	}
	rest, dups := receiveEvents(t, p, seen, during+after)
	ids = append(ids, rest...)
	for i, id := range ids {
		if want := event(i).EventID; id != want {
			t.Fatalf("event %d is %s, want %s (order lost): %v", i, id, want, ids)
		}
	}
	t.Logf("%d events in order, %d duplicates", len(ids), dups)
}

func TestOutboxSurvivesProcessRestart(t *testing.T) {
	m := mqtttest.Start(t, mqtttest.Config{Persistence: true})
	dir := filepath.Join(t.TempDir(), "outbox")
	p := newProbe(t, m.URL(), "events", false, "edgeclip/cam1/alerts/+/event")
	m.Stop()
	c, err := mqtt.New(&mqtttest.Handler{}, &mqtt.Options{Broker: m.URL(), DeviceID: "cam1", OutboxDir: dir, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	for i := range 5 {
		c.PublishAlertEvent(context.Background(), event(i))
	}
	c.Close() // never connected: everything stays on disk
	if files, _ := filepath.Glob(filepath.Join(dir, "*.msg")); len(files) != 5 {
		t.Fatalf("outbox holds %d files after Close, want 5", len(files))
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	for !p.pc.IsConnectionOpen() { // this test is about our outbox, not the broker's session store
		time.Sleep(10 * time.Millisecond)
	}
	c2 := startClient(t, m.URL(), &mqtttest.Handler{}, func(o *mqtt.Options) { o.OutboxDir = dir }) // the next process
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("counters %+v\nmosquitto log:\n%s", c2.Counters(), m.Log())
		}
	})
	ids, _ := receiveEvents(t, p, map[string]bool{}, 5)
	for i, id := range ids {
		if id != event(i).EventID {
			t.Fatalf("after restart got %v, want ev-00000..ev-00004 in order", ids)
		}
	}
}

func TestTakeoverLoopDetected(t *testing.T) {
	url := mqtttest.Start(t, mqtttest.Config{}).URL()
	reports := make(chan mqtt.TakeoverReport, 4)
	mod := func(o *mqtt.Options) {
		o.ClientID = "shared-id"
		o.Takeover = mqtt.TakeoverOptions{Losses: 3, Window: 30 * time.Second, OnTakeover: func(r mqtt.TakeoverReport) { reports <- r }}
	}
	startClient(t, url, &mqtttest.Handler{}, mod)
	// A second process with the same client id: each connect kicks the other.
	c2, err := mqtt.New(&mqtttest.Handler{}, &mqtt.Options{Broker: url, DeviceID: "cam2", MaxReconnectInterval: 100 * time.Millisecond, Logger: testLogger(),
		ClientID: "shared-id", Takeover: mqtt.TakeoverOptions{Losses: 3, Window: 30 * time.Second, OnTakeover: func(r mqtt.TakeoverReport) { reports <- r }}})
	if err != nil {
		t.Fatal(err)
	}
	c2.Start()
	defer c2.Close()
	select {
	case r := <-reports:
		if r.ClientID != "shared-id" || r.Losses < 3 {
			t.Errorf("report %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no takeover loop reported within 20s")
	}
}
