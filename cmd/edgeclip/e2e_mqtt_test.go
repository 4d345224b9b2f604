package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeclip/edgeclip/mqtt"
	"github.com/edgeclip/edgeclip/mqtt/mqtttest"
)

// TestE2EMQTT runs the daemon against a real Mosquitto and against its
// embedded broker, and drives it with the edgeclip CLI and paho: queries,
// alerts, malformed payloads, retained status and (Mosquitto) the will.
func TestE2EMQTT(t *testing.T) {
	for _, tc := range []struct {
		name   string
		broker func(t *testing.T) string // "" = embedded
	}{
		{"mosquitto", func(t *testing.T) string { return mqtttest.Start(t, mqtttest.Config{}).URL() }},
		{"embedded", func(t *testing.T) string { return "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edgeclipBin(t)
			model, hash := tinyModel(t)
			broker := tc.broker(t)
			state := t.TempDir()
			d := startDaemon(t, daemonOpts{model: model, state: state, broker: broker, http: true})
			d.waitReady(20 * time.Second)
			broker = d.o.broker
			prefix := "edgeclip/" + d.o.device + "/"
			sub := subscribe(t, broker, prefix+"status", prefix+"result/#", prefix+"errors")

			// Retained status: online, with the model's hash.
			m := sub.next(t, prefix+"status", 5*time.Second, statusIs("online"))
			var st mqtt.Status
			if err := json.Unmarshal(m.Payload(), &st); err != nil || !m.Retained() || st.ModelHash != hash || st.Device != d.o.device {
				t.Errorf("status = %s (retained %v, err %v), want retained online with model hash %s", m.Payload(), m.Retained(), err, hash)
			}

			e2eQueries(t, broker, d.o.device)
			e2eAlerts(t, broker, d.o.device)
			e2eMalformed(t, sub, broker, d.o.device)

			// A clean stop publishes "stopped" and exits 0 within seconds.
			took := d.stop(syscall.SIGTERM, 10*time.Second)
			if d.err != nil {
				t.Errorf("exit after SIGTERM: %v", d.err)
			}
			// The embedded broker stops with the daemon, so "stopped" reaching a
			// subscriber is best effort there; an external broker must retain it.
			if tc.name == "mosquitto" {
				sub.next(t, prefix+"status", 5*time.Second, statusIs("stopped"))
			}
			t.Logf("FIGURE %s: SIGTERM to exit: %s", tc.name, took.Round(time.Millisecond))
			if took > 5*time.Second {
				t.Errorf("stopping took %s, want a few seconds at most", took)
			}
			if tc.name != "mosquitto" {
				return // the embedded broker dies with the daemon: no will to see
			}
			// A fresh subscriber sees the retained "stopped".
			late := subscribe(t, broker, prefix+"status")
			if m := late.next(t, prefix+"status", 5*time.Second, func([]byte) bool { return true }); !statusIs("stopped")(m.Payload()) {
				t.Errorf("retained status after a clean stop = %s, want stopped", m.Payload())
			}
			// SIGKILL: the broker publishes the last will, "offline".
			d2 := startDaemon(t, daemonOpts{model: model, state: state, broker: broker, http: true})
			d2.waitReady(20 * time.Second)
			sub.next(t, prefix+"status", 5*time.Second, statusIs("online"))
			d2.stop(syscall.SIGKILL, 5*time.Second)
			start := time.Now()
			sub.next(t, prefix+"status", 10*time.Second, statusIs("offline"))
			t.Logf("FIGURE mosquitto: last will 'offline' %s after SIGKILL", time.Since(start).Round(time.Microsecond))
		})
	}
}

// e2eQueries runs `edgeclip query` (a child process) against the daemon.
func e2eQueries(t *testing.T, broker, device string) {
	t.Helper()
	query := func(args ...string) []cliReply {
		t.Helper()
		stdout, stderr, code := cli(t, append([]string{"query", "--broker", broker, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("edgeclip query %v: exit %d\n%s", args, code, stderr)
		}
		var out []cliReply
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("edgeclip query %v: %v\n%s", args, err, stdout)
		}
		return out
	}
	// Wait for a few frames in the history.
	var reps []cliReply
	for deadline := time.Now().Add(15 * time.Second); ; {
		reps = query("--device", device, "--top-k", "3", "a red circle")
		if len(reps) == 1 && reps[0].Reply != nil && len(reps[0].Reply.Frames) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(reps) != 1 || reps[0].Device != device || reps[0].Reply == nil {
		t.Fatalf("text query: %+v, want one reply from %s", reps, device)
	}
	r := reps[0].Reply
	if len(r.Frames) != 3 || r.Intervals == nil || r.ID == "" || r.TookMS <= 0 {
		t.Fatalf("text query reply %+v: want 3 frames, an intervals array, an id and took_ms", r)
	}
	if !slices.IsSortedFunc(r.Frames, func(a, b mqtt.Frame) int { return -cmpFloat(a.Score, b.Score) }) {
		t.Errorf("frames not sorted by score: %+v", r.Frames)
	}
	for _, f := range r.Frames {
		if f.Seq == 0 || time.Since(f.Time) > time.Minute || f.Time.After(time.Now()) {
			t.Errorf("frame %+v: want a sequence number and a time within the last minute", f)
		}
	}

	// An image query: the frame's own embedding finds an interval around it.
	seq := r.Frames[0].Seq
	reps = query("--device", device, "--image-seq", fmt.Sprint(seq))
	if len(reps) != 1 || reps[0].Reply == nil || len(reps[0].Reply.Intervals) == 0 {
		t.Fatalf("image query of frame %d: %+v, want at least one interval", seq, reps)
	}
	for _, iv := range reps[0].Reply.Intervals {
		if iv.End.Before(iv.Start) || iv.BestSeq == 0 || iv.PeakScore <= 0 {
			t.Errorf("interval %+v: want start ≤ end, a best frame and a positive peak", iv)
		}
	}

	// Labels: a probability per label, summing to 1.
	reps = query("--device", device, "--labels", "cat,dog,a red circle")
	var sum float64
	var labels []string
	for _, f := range reps[0].Reply.Frames {
		sum += f.Score
		labels = append(labels, f.Label)
	}
	sort.Strings(labels)
	if !slices.Equal(labels, []string{"a red circle", "cat", "dog"}) || sum < 0.999 || sum > 1.001 {
		t.Errorf("labels query: labels %q with probabilities summing to %v", labels, sum)
	}

	// The fleet: --device all collects every device until the deadline.
	reps = query("--device", "all", "--deadline", "1500ms", "--top-k", "1", "a blue square")
	if len(reps) != 1 || reps[0].Device != device || reps[0].Reply == nil {
		t.Errorf("fleet query: %+v, want the one device %s", reps, device)
	}

	// An unknown frame is a per-device error, and a non-zero exit.
	stdout, _, code := cli(t, "query", "--broker", broker, "--device", device, "--image-seq", "999999999")
	if code != 1 || !strings.Contains(stdout, "not_found: field image_seq") {
		t.Errorf("query of a missing frame: exit %d, stdout %q; want exit 1 naming image_seq", code, stdout)
	}

	// Round-trip latency on loopback, from publish to reply (in process).
	opts := mqtt.ConnOptions{Broker: broker}
	var lat []time.Duration
	for i := range 20 {
		start := time.Now()
		rs, err := mqtt.QueryFleet(contextFor(t, 10*time.Second), opts, device,
			mqtt.QueryRequest{Text: fmt.Sprintf("a red circle %d", i%4), TopK: 5}, 5*time.Second)
		if err != nil || len(rs) != 1 || rs[0].Reply == nil {
			t.Fatalf("QueryFleet: %v %+v", err, rs)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	t.Logf("FIGURE query round trip incl. connect (20 queries): p50 %s, max %s",
		lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// e2eAlerts sets, lists and deletes an alert with `edgeclip alerts`.
func e2eAlerts(t *testing.T, broker, device string) {
	t.Helper()
	base := []string{"alerts", "--broker", broker, "--device", device}
	for _, step := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "set", args: []string{"set", "door", "a person at the door", "--threshold", "0.8", "--cooldown", "30s",
			"--negative", "a person walking past", "--no-contrast"},
			stdout: "alert door set on " + device},
		{name: "list", args: []string{"list", "--json"}, stdout: `"text": "a person at the door"`},
		{name: "list table", args: []string{"list"}, stdout: "door  0.80       0s            30s       a person at the door"},
		{name: "bad threshold", args: []string{"set", "door", "x", "--threshold", "2"}, code: 1, stderr: "alert.threshold"},
		{name: "delete", args: []string{"delete", "door"}, stdout: "alert door deleted"},
		{name: "list empty", args: []string{"list"}, stdout: "no standing alerts"},
		{name: "delete missing", args: []string{"delete", "door"}, code: 1, stderr: "not_found: field name"},
	} {
		stdout, stderr, code := cli(t, append(base, step.args...)...)
		if code != step.code || !strings.Contains(stdout, step.stdout) || !strings.Contains(stderr, step.stderr) {
			t.Errorf("alerts %s: exit %d, stdout %q, stderr %q; want exit %d, %q, %q",
				step.name, code, stdout, stderr, step.code, step.stdout, step.stderr)
		}
		if step.name == "list" {
			var got []mqtt.AlertSpec
			if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got) != 1 ||
				got[0].Threshold < 0.79 || got[0].Threshold > 0.81 || got[0].CooldownMS != 30000 ||
				len(got[0].Negatives) != 1 || got[0].Negatives[0] != "a person walking past" || !got[0].NoContrast {
				t.Errorf("alerts list --json = %s (%v), want door with threshold 0.8, cooldown 30000 ms, one negative, no contrast", stdout, err)
			}
		}
	}
}

// e2eMalformed publishes bad requests with paho: each gets an error reply
// naming the problem, and the daemon keeps answering.
func e2eMalformed(t *testing.T, sub *subscriber, broker, device string) {
	t.Helper()
	prefix := "edgeclip/" + device + "/"
	for _, tc := range []struct {
		name, topic, payload string
		replyTopic           string
		code, field          string
	}{
		{"wrong type", "query", `{"id":"bad-1","text":"x","top_k":"ten"}`, "result/bad-1", mqtt.CodeBadRequest, "top_k"},
		{"unknown field", "query", `{"id":"bad-2","text":"x","colour":"red"}`, "result/bad-2", mqtt.CodeBadRequest, "colour"},
		{"no search", "query", `{"id":"bad-3"}`, "result/bad-3", mqtt.CodeBadRequest, "text"},
		{"top_k too large", "query", `{"id":"bad-4","text":"x","top_k":100000}`, "result/bad-4", mqtt.CodeBadRequest, "top_k"},
		{"not JSON", "query", `this is not json`, "errors", mqtt.CodeBadRequest, ""},
		{"alert without text", "alerts/set", `{"id":"bad-5","alert":{"name":"a"}}`, "result/bad-5", mqtt.CodeBadRequest, "alert.text"},
		{"oversized", "query", `{"id":"bad-6","text":"` + strings.Repeat("a", 70<<10) + `"}`, "errors", mqtt.CodeTooLarge, ""},
	} {
		sub.publish(t, prefix+tc.topic, []byte(tc.payload))
		m := sub.next(t, prefix+tc.replyTopic, 5*time.Second, func([]byte) bool { return true })
		var rep mqtt.ErrorReply
		if err := json.Unmarshal(m.Payload(), &rep); err != nil || rep.Error.Code != tc.code ||
			rep.Error.Field != tc.field || rep.Error.Message == "" {
			t.Errorf("%s: reply %s, want code %s naming field %q", tc.name, m.Payload(), tc.code, tc.field)
		}
	}
	rs, err := mqtt.QueryFleet(contextFor(t, 10*time.Second), mqtt.ConnOptions{Broker: broker}, device,
		mqtt.QueryRequest{Text: "still there?"}, 5*time.Second)
	if err != nil || len(rs) != 1 || rs[0].Reply == nil {
		t.Errorf("query after malformed payloads: %v %+v", err, rs)
	}
}
