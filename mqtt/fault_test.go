package mqtt_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/mqtt/mqtttest"
)

// TestFaultBrokerRestarts kills and restarts mosquitto many times while
// queries and alert events flow, then counts: every reply the device
// produced and every alert event it published must arrive (duplicates are
// allowed and counted). Mosquitto keeps the receivers' sessions on disk, so
// what the broker acknowledged survives it; what it did not is the client's
// job (outbox, resend).
func TestFaultBrokerRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: not in -short")
	}
	const restarts = 12
	m := mqtttest.Start(t, mqtttest.Config{Persistence: true})
	h := &mqtttest.Handler{}
	c := startClient(t, m.URL(), h, func(o *mqtt.Options) {
		o.OutboxDir = filepath.Join(t.TempDir(), "outbox")
		o.QueueLen, o.DedupSize = 256, 100000
		o.MaxReconnectInterval, o.PublishTimeout = 50*time.Millisecond, 2*time.Second
	})
	requester := newProbe(t, m.URL(), "requester", false, "fault/replies")
	events := newProbe(t, m.URL(), "events", false, "edgeclip/cam1/alerts/+/event")

	var (
		stop               = make(chan struct{})
		wg                 sync.WaitGroup
		queriesSent        atomic.Int64 // PUBACKed by the broker
		queryPublishFailed atomic.Int64 // publishes not acknowledged (broker down)
		eventsSent         atomic.Int64
	)
	wg.Go(func() { // queries: one every 3 ms, published until the broker takes it
		for i := 0; ; i++ {
			payload := fmt.Appendf(nil, `{"id":"q%06d","text":"q%d","reply_to":"fault/replies"}`, i, i)
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok := requester.pc.Publish("edgeclip/cam1/query", 1, false, payload)
				if tok.WaitTimeout(time.Second) && tok.Error() == nil {
					queriesSent.Add(1)
					break
				}
				queryPublishFailed.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(3 * time.Millisecond)
		}
	})
	wg.Go(func() { // alert events: one every 3 ms, whatever the broker does
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			if err := c.PublishAlertEvent(context.Background(), event(i)); err != nil {
				t.Errorf("PublishAlertEvent: %v", err)
				return
			}
			eventsSent.Add(1)
		}
	})

	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range restarts {
		time.Sleep(time.Duration(150+rng.IntN(200)) * time.Millisecond)
		if i%2 == 0 {
			m.Kill()
		} else {
			m.Stop()
		}
		time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
		if err := m.Restart(); err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	flowFor := time.Since(start)

	// Count what arrives until nothing is missing or 30 s pass.
	replies, events2 := map[string]int{}, map[string]int{}
	produced := func() map[string]bool {
		ids := map[string]bool{}
		for _, id := range h.IDs() {
			ids[id] = true
		}
		return ids
	}
	deadline := time.After(30 * time.Second)
	for {
		want := produced()
		missingReplies, missingEvents := 0, 0
		for id := range want {
			if replies[id] == 0 {
				missingReplies++
			}
		}
		for i := range int(eventsSent.Load()) {
			if events2[event(i).EventID] == 0 {
				missingEvents++
			}
		}
		if missingReplies == 0 && missingEvents == 0 {
			break
		}
		select {
		case msg := <-requester.ch:
			replies[decode[mqtt.QueryReply](t, msg.Payload()).ID]++
		case msg := <-events.ch:
			events2[decode[mqtt.AlertEvent](t, msg.Payload()).EventID]++
		case <-deadline:
			t.Errorf("after 30 s: %d replies and %d alert events missing", missingReplies, missingEvents)
			goto report
		}
	}
report:
	dupReplies, dupEvents := 0, 0
	for _, n := range replies {
		dupReplies += n - 1
	}
	for _, n := range events2 {
		dupEvents += n - 1
	}
	cn := c.Counters()
	t.Logf("fault test: %d broker restarts (SIGKILL/SIGTERM alternating) over %s", restarts, flowFor.Round(time.Millisecond))
	t.Logf("queries: %d acknowledged by the broker (%d publish attempts refused while it was down), %d answered by the handler, %d distinct replies received, %d duplicate replies",
		queriesSent.Load(), queryPublishFailed.Load(), len(produced()), len(replies), dupReplies)
	t.Logf("alert events: %d published, %d distinct received, %d duplicates", eventsSent.Load(), len(events2), dupEvents)
	t.Logf("client: %d connects, %d connection losses, %d messages went through the outbox, %d dropped, %d redelivered requests",
		cn.Connects, cn.ConnectionLosts, cn.OutboxAppended, cn.OutboxDropped, cn.Redelivered)
	if cn.OutboxDropped != 0 {
		t.Errorf("%d messages dropped from a full outbox", cn.OutboxDropped)
	}
	if queries := len(produced()); int64(queries) < queriesSent.Load()/2 {
		t.Errorf("only %d of %d acknowledged queries reached the handler", queries, queriesSent.Load())
	}
}
