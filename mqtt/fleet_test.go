package mqtt_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/mqtt/mqtttest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestQueryFleet(t *testing.T) {
	b, err := mqtt.StartBroker(t.Context(), mqtt.BrokerOptions{Addr: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, dev := range []string{"cam1", "cam2"} {
		startClient(t, b.URL(), &mqtttest.Handler{}, func(o *mqtt.Options) { o.DeviceID = dev })
	}
	conn := mqtt.ConnOptions{Broker: b.URL(), Logger: testLogger()}
	ctx := context.Background()
	cases := []struct {
		name, target string
		deadline     time.Duration
		devices      []string
		wantErr      bool
	}{
		{"all", "all", 700 * time.Millisecond, []string{"cam1", "cam2"}, false},
		{"one", "cam2", 5 * time.Second, []string{"cam2"}, false},
		{"absent", "cam9", 300 * time.Millisecond, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reps, err := mqtt.QueryFleet(ctx, conn, tc.target, mqtt.QueryRequest{Text: "a truck"}, tc.deadline)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			var got []string
			for _, r := range reps {
				got = append(got, r.Device)
				if r.Reply == nil || len(r.Reply.Intervals) != 1 || r.Reply.Frames[0].Label != "a truck" {
					t.Errorf("%s: reply %+v err %+v", r.Device, r.Reply, r.Err)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.devices, ",") {
				t.Errorf("devices %v, want %v", got, tc.devices)
			}
		})
	}

	a := mqtt.AlertSpec{Name: "truck", Text: "a truck at the gate", Threshold: 0.25, MinDurationMS: 1000,
		Negatives: []string{"a truck on the road"}, NoContrast: true}
	if err := mqtt.SetAlert(ctx, conn, "cam1", a, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	list, err := mqtt.ListAlerts(ctx, conn, "cam1", 5*time.Second)
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], a) {
		t.Fatalf("ListAlerts = %+v, %v", list, err)
	}
	if err := mqtt.DeleteAlert(ctx, conn, "cam1", "truck", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	err = mqtt.DeleteAlert(ctx, conn, "cam1", "truck", 5*time.Second)
	var re *mqtt.RequestError
	if !errors.As(err, &re) || re.Code != mqtt.CodeNotFound {
		t.Fatalf("deleting twice: %v, want a not_found RequestError", err)
	}
}

func TestEmbeddedBrokerLoopbackOnly(t *testing.T) {
	cases := []struct {
		addr    string
		wantErr bool
	}{
		{"0.0.0.0:0", true},
		{"192.0.2.1:1883", true},
		{"localhost:0", false},
		{"127.0.0.1:0", false},
		{"nonsense", true},
	}
	for _, tc := range cases {
		b, err := mqtt.StartBroker(t.Context(), mqtt.BrokerOptions{Addr: tc.addr, Logger: testLogger()})
		if (err != nil) != tc.wantErr {
			t.Errorf("StartBroker(%q) error = %v, want error %v", tc.addr, err, tc.wantErr)
		}
		if b != nil {
			if err := b.Close(); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestHomeAssistantDiscoveryGolden(t *testing.T) {
	alerts := []mqtt.AlertSpec{{Name: "door", Text: "a person at the door", Threshold: 0.27}, {Name: "truck", Text: "a truck", Threshold: 0.3}}
	msgs := mqtt.DiscoveryConfigs(mqtt.HAOptions{Temperatures: []string{"cpu", "gpu", "bad key"}}, "cam1", "edgeclip/cam1/", alerts, "v0.1.0")
	msgs = append(msgs, mqtt.DiscoveryRemoval(mqtt.HAOptions{}, "cam1", "old"))
	var buf bytes.Buffer
	for _, m := range msgs {
		buf.WriteString(m.Topic + "\n")
		buf.Write(m.Payload)
		buf.WriteString("\n\n")
	}
	golden := filepath.Join("testdata", "ha_discovery.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("discovery payloads differ from %s (run with -update if intended):\n%s", golden, buf.Bytes())
	}
}

func TestHomeAssistantPublishedOnConnect(t *testing.T) {
	url := mqtttest.Start(t, mqtttest.Config{}).URL()
	h := &mqtttest.Handler{}
	h.SetAlert(context.Background(), mqtt.AlertSpec{Name: "door", Text: "x", Threshold: 0.2})
	startClient(t, url, h, func(o *mqtt.Options) { o.HomeAssistant = &mqtt.HAOptions{} })
	topics := []string{"homeassistant/binary_sensor/edgeclip_cam1/alert_door/config", "homeassistant/sensor/edgeclip_cam1/fps/config"}
	p := newProbe(t, url, "ha", true, "homeassistant/#")
	for _, topic := range topics { // live or retained: the configs are out
		p.nextOn(topic, wait)
	}
	late := newProbe(t, url, "ha-late", true, "homeassistant/#")
	for _, topic := range topics {
		if m := late.nextOn(topic, wait); !m.Retained() {
			t.Errorf("%s not retained", topic)
		}
	}
}

func TestPlainCredentialsWarning(t *testing.T) {
	cases := []struct {
		name   string
		opts   mqtt.Options
		warned bool
	}{
		{"remote plain tcp", mqtt.Options{Broker: "tcp://10.1.2.3:1883", Username: "u", Password: "p"}, true},
		{"remote tls", mqtt.Options{Broker: "ssl://10.1.2.3:8883", Username: "u", Password: "p"}, false},
		{"loopback", mqtt.Options{Broker: "tcp://127.0.0.1:1883", Username: "u", Password: "p"}, false},
		{"no credentials", mqtt.Options{Broker: "tcp://10.1.2.3:1883"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			o := tc.opts
			o.DeviceID, o.Logger = "cam1", slog.New(slog.NewTextHandler(&logs, nil))
			if _, err := mqtt.New(&mqtttest.Handler{}, &o); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logs.String(), "clear text"); got != tc.warned {
				t.Errorf("warned = %v, want %v; log: %s", got, tc.warned, logs.String())
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	cases := []struct {
		name string
		opts mqtt.Options
		want string
	}{
		{"reserved device", mqtt.Options{DeviceID: "all"}, "device id"},
		{"bad device", mqtt.Options{DeviceID: "a/b"}, "device id"},
		{"wildcard prefix", mqtt.Options{DeviceID: "x", Prefix: "a/#/"}, "prefix"},
		{"missing CA", mqtt.Options{DeviceID: "x", TLS: mqtt.TLSOptions{CAFile: "/nonexistent/ca.pem"}}, "/nonexistent/ca.pem"},
		{"cert without key", mqtt.Options{DeviceID: "x", TLS: mqtt.TLSOptions{CertFile: "c.pem"}}, "KeyFile"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mqtt.New(&mqtttest.Handler{}, &tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
