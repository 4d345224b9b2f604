package mqtt_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/mqtt/mqtttest"
)

// testLogger discards logs unless MQTT_TEST_LOG is set (logging to t.Log
// would race with goroutines that outlive a test).
func testLogger() *slog.Logger {
	if os.Getenv("MQTT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// brokerKinds runs a test against real Mosquitto and the embedded broker.
var brokerKinds = []struct {
	name  string
	start func(t *testing.T) string // returns the broker URL
}{
	{"mosquitto", func(t *testing.T) string { return mqtttest.Start(t, mqtttest.Config{}).URL() }},
	{"embedded", func(t *testing.T) string {
		b, err := mqtt.StartBroker(t.Context(), mqtt.BrokerOptions{Addr: "127.0.0.1:0", Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b.URL()
	}},
}

// startClient starts a device client "cam1" and waits for its connection.
func startClient(t testing.TB, url string, h mqtt.Handler, mod func(*mqtt.Options)) *mqtt.Client {
	t.Helper()
	o := &mqtt.Options{
		Broker: url, DeviceID: "cam1", MaxReconnectInterval: 100 * time.Millisecond,
		PublishTimeout: 3 * time.Second, Logger: testLogger(),
		Status: mqtt.Status{Version: "v0.1.0", Model: "clip-vit-b32", ModelHash: "sha256:abc", Backend: "native"},
	}
	if mod != nil {
		mod(o)
	}
	c, err := mqtt.New(h, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// probe is the test's side of the broker: it publishes requests and
// collects what arrives on its subscriptions.
type probe struct {
	t  testing.TB
	pc paho.Client
	ch chan paho.Message
}

func newProbe(t testing.TB, url, clientID string, clean bool, filters ...string) *probe {
	t.Helper()
	p := &probe{t: t, ch: make(chan paho.Message, 100000)}
	subscribed := make(chan struct{}, 1)
	po := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(100 * time.Millisecond).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { p.ch <- m }).
		SetOnConnectHandler(func(c paho.Client) {
			if len(filters) > 0 {
				subs := map[string]byte{}
				for _, f := range filters {
					subs[f] = 1
				}
				c.SubscribeMultiple(subs, nil).Wait()
			}
			select {
			case subscribed <- struct{}{}:
			default:
			}
		})
	p.pc = paho.NewClient(po)
	tok := p.pc.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("probe connect: %v", tok.Error())
	}
	select { // the subscriptions are made in the on-connect handler
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("probe: not subscribed within 10s")
	}
	t.Cleanup(func() { p.pc.Disconnect(0) })
	return p
}

func (p *probe) publish(topic string, payload []byte) {
	p.t.Helper()
	tok := p.pc.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		p.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func (p *probe) next(timeout time.Duration) paho.Message {
	p.t.Helper()
	select {
	case m := <-p.ch:
		return m
	case <-time.After(timeout):
		p.t.Fatalf("nothing received within %s", timeout)
		return nil
	}
}

// nextOn waits for a message on topic, skipping others.
func (p *probe) nextOn(topic string, timeout time.Duration) paho.Message {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-p.ch:
			if m.Topic() == topic {
				return m
			}
		case <-deadline:
			p.t.Fatalf("nothing on %s within %s", topic, timeout)
			return nil
		}
	}
}

func decode[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// proxy forwards TCP to a broker and can cut every connection, so a test
// can make a client lose its connection the way a network failure would.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	isDown bool // connections are refused (closed at once)
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.isDown {
				p.mu.Unlock()
				c.Close()
				u.Close()
				continue
			}
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) URL() string { return "tcp://" + p.ln.Addr().String() }

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

func (p *proxy) cutLocked() {
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// down cuts every connection and refuses new ones until up, the way a
// network outage would: the broker sees the connection die before the
// client can come back.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isDown = true
	p.cutLocked()
}

func (p *proxy) up() {
	p.mu.Lock()
	p.isDown = false
	p.mu.Unlock()
}

// publishRetained publishes a retained message with QoS 1; when it returns
// the broker has acknowledged it.
func (p *probe) publishRetained(topic string, payload []byte) {
	p.t.Helper()
	tok := p.pc.Publish(topic, 1, true, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		p.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}
