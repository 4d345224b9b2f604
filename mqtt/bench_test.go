package mqtt_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/mqtt/mqtttest"
)

// BenchmarkQueryRoundTrip measures publish → reply latency on loopback for
// one query at a time (the fake handler answers instantly), so the figure is
// the MQTT path: two broker hops, decoding, the pool and the QoS 1 sender.
func BenchmarkQueryRoundTrip(b *testing.B) {
	for _, bk := range []struct {
		name string
		url  func(*testing.B) string
	}{
		{"mosquitto", func(b *testing.B) string { return mqtttest.Start(b, mqtttest.Config{}).URL() }},
		{"embedded", func(b *testing.B) string {
			br, err := mqtt.StartBroker(b.Context(), mqtt.BrokerOptions{Addr: "127.0.0.1:0", Logger: testLogger()})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { br.Close() })
			return br.URL()
		}},
	} {
		b.Run(bk.name, func(b *testing.B) {
			url := bk.url(b)
			startClient(b, url, &mqtttest.Handler{}, nil)
			p := newProbe(b, url, "bench", true, "bench/replies")
			var total time.Duration
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				p.publish("edgeclip/cam1/query", fmt.Appendf(nil, `{"id":"b%d","text":"x","reply_to":"bench/replies"}`, i))
				p.next(10 * time.Second)
				total += time.Since(t0)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/roundtrip")
		})
	}
}
