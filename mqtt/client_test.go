package mqtt_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/mqtt/mqtttest"
)

const wait = 10 * time.Second

func wantReply(id, label string) mqtt.QueryReply {
	ft := mqtttest.FrameTime
	return mqtt.QueryReply{
		ID: id, Device: "cam1",
		Frames:    []mqtt.Frame{{Seq: 42, Time: ft, Score: 0.31, Label: label}},
		Intervals: []mqtt.Interval{{Start: ft, End: ft.Add(2 * time.Second), PeakScore: 0.31, BestSeq: 42}},
	}
}

func TestQueryRoundTrip(t *testing.T) {
	for _, bk := range brokerKinds {
		t.Run(bk.name, func(t *testing.T) {
			url := bk.start(t)
			startClient(t, url, &mqtttest.Handler{}, nil)
			p := newProbe(t, url, "probe", true, "edgeclip/cam1/result/#", "app/replies")
			cases := []struct {
				name, topic, payload, replyTopic string
				want                             mqtt.QueryReply
			}{
				{"device topic", "edgeclip/cam1/query", `{"id":"q1","text":"a red car"}`, "edgeclip/cam1/result/q1", wantReply("q1", "a red car")},
				{"reply_to", "edgeclip/cam1/query", `{"id":"q2","text":"x","reply_to":"app/replies"}`, "app/replies", wantReply("q2", "x")},
				{"broadcast", "edgeclip/all/query", `{"id":"q3","labels":["cat"],"top_k":1}`, "edgeclip/cam1/result/q3", wantReply("q3", "")},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					p.publish(tc.topic, []byte(tc.payload))
					m := p.nextOn(tc.replyTopic, wait)
					got := decode[mqtt.QueryReply](t, m.Payload())
					if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(mqtt.QueryReply{}, "TookMS")); diff != "" {
						t.Errorf("reply (-want +got):\n%s", diff)
					}
					if got.TookMS <= 0 {
						t.Errorf("took_ms = %v, want > 0", got.TookMS)
					}
				})
			}
		})
	}
}

// TestRequestsAndErrors sends good, malformed, oversized and hostile
// requests in one session: each gets the right answer on the right topic,
// and the client keeps serving.
func TestRequestsAndErrors(t *testing.T) {
	url := mqtttest.Start(t, mqtttest.Config{}).URL()
	h := &mqtttest.Handler{Thumbs: map[uint64][]byte{7: {0xff, 0xd8, 0xff, 0xd9}}}
	startClient(t, url, h, nil)
	p := newProbe(t, url, "probe", true, "edgeclip/cam1/#", "app/#")
	big := `{"id":"big","text":"` + strings.Repeat("a", 70<<10) + `"}`
	cases := []struct {
		name, topic, payload string
		replyTopic           string
		code, field          string // empty code: a success reply
		check                string // substring of a success reply
	}{
		{"garbage", "edgeclip/cam1/query", `}{`, "edgeclip/cam1/errors", mqtt.CodeBadRequest, "", ""},
		{"oversized", "edgeclip/cam1/query", big, "edgeclip/cam1/errors", mqtt.CodeTooLarge, "", ""},
		{"unknown field keeps id", "edgeclip/cam1/query", `{"id":"e1","text":"x","file":"/etc/passwd"}`, "edgeclip/cam1/result/e1", mqtt.CodeBadRequest, "file", ""},
		{"bad top_k to reply_to", "edgeclip/cam1/query", `{"id":"e2","text":"x","top_k":-3,"reply_to":"app/err"}`, "app/err", mqtt.CodeBadRequest, "top_k", ""},
		{"reply_to onto a status", "edgeclip/cam1/query", `{"id":"e3","text":"x","reply_to":"edgeclip/cam2/status"}`, "edgeclip/cam1/result/e3", mqtt.CodeBadRequest, "reply_to", ""},
		{"reply_to wildcard", "edgeclip/cam1/query", `{"id":"e4","text":"x","reply_to":"app/#"}`, "edgeclip/cam1/result/e4", mqtt.CodeBadRequest, "reply_to", ""},
		{"id path traversal", "edgeclip/cam1/query", `{"id":"../../x","text":"x"}`, "edgeclip/cam1/errors", mqtt.CodeBadRequest, "id", ""},
		{"handler failure", "edgeclip/cam1/query", `{"id":"e5","text":"fail"}`, "edgeclip/cam1/result/e5", mqtt.CodeInternal, "", ""},
		{"unencodable reply", "edgeclip/cam1/query", `{"id":"e6","text":"nan"}`, "edgeclip/cam1/result/e6", mqtt.CodeInternal, "", ""},
		{"alert set", "edgeclip/cam1/alerts/set", `{"id":"a1","alert":{"name":"door","text":"a person at the door","threshold":0.27}}`, "edgeclip/cam1/result/a1", "", "", `"ok":true`},
		{"alert set bad", "edgeclip/cam1/alerts/set", `{"id":"a2","alert":{"name":"door","text":"x","threshold":9}}`, "edgeclip/cam1/result/a2", mqtt.CodeBadRequest, "alert.threshold", ""},
		{"alert list", "edgeclip/cam1/alerts/list", `{"id":"a3"}`, "edgeclip/cam1/result/a3", "", "", `"alerts":[{"name":"door","text":"a person at the door","threshold":0.27}]`},
		{"alert delete", "edgeclip/cam1/alerts/delete", `{"id":"a4","name":"door"}`, "edgeclip/cam1/result/a4", "", "", `"ok":true`},
		{"alert delete again", "edgeclip/cam1/alerts/delete", `{"id":"a5","name":"door"}`, "edgeclip/cam1/result/a5", mqtt.CodeNotFound, "", ""},
		{"thumb", "edgeclip/cam1/thumb/get", `{"id":"t1","seq":7}`, "edgeclip/cam1/thumb/7", "", "", "\xff\xd8"},
		{"thumb missing", "edgeclip/cam1/thumb/get", `{"id":"t2","seq":8,"reply_to":"app/thumb"}`, "app/thumb", mqtt.CodeNotFound, "", ""},
		{"still serving", "edgeclip/cam1/query", `{"id":"ok1","text":"after all that"}`, "edgeclip/cam1/result/ok1", "", "", `"label":"after all that"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.publish(tc.topic, []byte(tc.payload))
			m := p.nextOn(tc.replyTopic, wait)
			if tc.code == "" {
				if !strings.Contains(string(m.Payload()), tc.check) {
					t.Errorf("reply %s does not contain %q", m.Payload(), tc.check)
				}
				return
			}
			got := decode[mqtt.ErrorReply](t, m.Payload())
			if got.Error.Code != tc.code || got.Error.Field != tc.field || got.Error.Message == "" {
				t.Errorf("error reply %s, want code %q field %q", m.Payload(), tc.code, tc.field)
			}
		})
	}
}

func TestBusyWhenPoolFull(t *testing.T) {
	url := mqtttest.Start(t, mqtttest.Config{}).URL()
	h := &mqtttest.Handler{Gate: make(chan struct{})}
	c := startClient(t, url, h, func(o *mqtt.Options) { o.Workers, o.QueueLen = 1, 1 })
	p := newProbe(t, url, "probe", true, "edgeclip/cam1/result/#")
	const n = 6
	for i := range n {
		p.publish("edgeclip/cam1/query", fmt.Appendf(nil, `{"id":"b%d","text":"x"}`, i))
	}
	busy := 0
	for busy < n-2 { // one running, one queued, the rest refused
		m := p.next(wait)
		if e := decode[mqtt.ErrorReply](t, m.Payload()); e.Error.Code == mqtt.CodeBusy {
			busy++
		} else {
			t.Fatalf("unexpected reply while the pool is full: %s", m.Payload())
		}
	}
	close(h.Gate)
	for range 2 {
		if m := p.next(wait); strings.Contains(string(m.Payload()), `"error"`) {
			t.Errorf("accepted request got an error: %s", m.Payload())
		}
	}
	p.publish("edgeclip/cam1/query", []byte(`{"id":"after","text":"x"}`))
	p.nextOn("edgeclip/cam1/result/after", wait)
	if got := c.Counters().Busy; got != n-2 {
		t.Errorf("Counters().Busy = %d, want %d", got, n-2)
	}
}

func TestRedeliveredQueryAnsweredOnce(t *testing.T) {
	url := mqtttest.Start(t, mqtttest.Config{}).URL()
	h := &mqtttest.Handler{}
	c := startClient(t, url, h, nil)
	p := newProbe(t, url, "probe", true, "edgeclip/cam1/result/#")
	var first []byte
	for i := range 3 {
		p.publish("edgeclip/cam1/query", []byte(`{"id":"same","text":"x"}`))
		m := p.nextOn("edgeclip/cam1/result/same", wait)
		if i == 0 {
			first = m.Payload()
		} else if string(m.Payload()) != string(first) {
			t.Errorf("redelivery %d answered %s, want the cached %s", i, m.Payload(), first)
		}
	}
	if n := h.Calls("same"); n != 1 {
		t.Errorf("handler ran %d times for one id, want 1", n)
	}
	if n := c.Counters().Redelivered; n != 2 {
		t.Errorf("Counters().Redelivered = %d, want 2", n)
	}
}

// TestStatusAndLastWill: the retained status is online, the broker publishes
// the will when the connection dies, the client comes back online, and a
// clean stop leaves "stopped". The proxy keeps the client out until the
// will is seen: a client that comes back before the broker noticed the loss
// takes its session over, and then mochi may publish the will late or not
// at all (TestStaleOfflineRepaired covers the late will).
func TestStatusAndLastWill(t *testing.T) {
	for _, bk := range brokerKinds {
		t.Run(bk.name, func(t *testing.T) {
			url := bk.start(t)
			px := newProxy(t, strings.TrimPrefix(url, "tcp://"))
			// Subscribed before the client starts, the watcher gets the first
			// "online" once, forwarded, rather than possibly twice (retained
			// and forwarded) with the second copy arriving late.
			p := newProbe(t, url, "watcher", true, "edgeclip/cam1/status")
			// The default keep-alive: px.down closes both ends, so neither side
			// needs a ping to notice. With 2 s (ping timeout 2 s too) one loaded
			// make test ended with the will over "stopped"; a ping timeout
			// between "stopped" and the DISCONNECT is the likely cause.
			c := startClient(t, px.URL(), &mqtttest.Handler{}, nil)
			st := decode[mqtt.Status](t, p.nextOn("edgeclip/cam1/status", wait).Payload())
			want := mqtt.Status{State: "online", Device: "cam1", Version: "v0.1.0", Model: "clip-vit-b32", ModelHash: "sha256:abc", Backend: "native"}
			if diff := cmp.Diff(want, st); diff != "" {
				t.Fatalf("retained status (-want +got):\n%s", diff)
			}
			px.down()
			waitState(t, p, "offline") // the will
			px.up()
			waitState(t, p, "online") // back
			// The broker retains a message before it forwards it, and no will
			// is pending any more: the retained status is the "online" just seen.
			mid := newProbe(t, url, "mid", true, "edgeclip/cam1/status")
			if st := decode[mqtt.Status](t, mid.nextOn("edgeclip/cam1/status", wait).Payload()); st.State != "online" {
				t.Fatalf("retained state after reconnecting is %q, want online", st.State)
			}
			closeLeavesStopped(t, c, url)
		})
	}
}

// closeLeavesStopped closes c and checks that a new subscriber to the
// status topic gets a retained "stopped".
func closeLeavesStopped(t *testing.T, c *mqtt.Client, url string) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	late := newProbe(t, url, "late", true, "edgeclip/cam1/status")
	m := late.nextOn("edgeclip/cam1/status", wait)
	if st := decode[mqtt.Status](t, m.Payload()); st.State != "stopped" || !m.Retained() {
		t.Fatalf("after Close: state %q retained %v, want retained stopped", st.State, m.Retained())
	}
}

// TestStaleOfflineRepaired: an "offline" that lands after the client is up
// (a broker publishing the will of the previous connection late) is
// replaced by "online", and a repair never lands after Close's "stopped".
func TestStaleOfflineRepaired(t *testing.T) {
	stale, err := json.Marshal(mqtt.Status{State: "offline", Device: "cam1"}) // the will's payload
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range brokerKinds {
		t.Run(bk.name, func(t *testing.T) {
			url := bk.start(t)
			p := newProbe(t, url, "watcher", true, "edgeclip/cam1/status") // sees the first "online" once
			c := startClient(t, url, &mqtttest.Handler{}, nil)
			waitState(t, p, "online")
			broker := newProbe(t, url, "late-will", true)
			broker.publishRetained("edgeclip/cam1/status", stale)
			// The only "online" still to come is the repair. Messages from two
			// publishers carry no order, so the stale "offline" may reach the
			// watcher before or after it; the retained one is the repair.
			waitState(t, p, "online")
			mid := newProbe(t, url, "mid", true, "edgeclip/cam1/status")
			if st := decode[mqtt.Status](t, mid.nextOn("edgeclip/cam1/status", wait).Payload()); st.State != "online" {
				t.Fatalf("retained state after the repair is %q, want online", st.State)
			}
			// A second stale offline races Close: whether or not the client
			// repairs it, "stopped" must be what stays.
			broker.publishRetained("edgeclip/cam1/status", stale)
			closeLeavesStopped(t, c, url)
		})
	}
}

func TestAlertStateRetained(t *testing.T) {
	url := mqtttest.Start(t, mqtttest.Config{}).URL()
	c := startClient(t, url, &mqtttest.Handler{}, nil)
	if err := c.SetAlertState("door", true); err != nil {
		t.Fatal(err)
	}
	p := newProbe(t, url, "late", true, "edgeclip/cam1/alerts/+/state")
	m := p.nextOn("edgeclip/cam1/alerts/door/state", wait)
	if string(m.Payload()) != "on" || !m.Retained() {
		t.Errorf("got %q retained=%v, want retained on", m.Payload(), m.Retained())
	}
	if err := c.SetAlertState("../x", true); err == nil {
		t.Error("SetAlertState accepted an invalid name")
	}
}

// waitState reads status messages until one has state.
func waitState(t *testing.T, p *probe, state string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if st := decode[mqtt.Status](t, p.nextOn("edgeclip/cam1/status", wait).Payload()); st.State == state {
			return
		}
	}
	t.Fatalf("status never became %q", state)
}
