package mqtt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/google/go-cmp/cmp"
)

func msg(i int) message {
	return message{Topic: fmt.Sprintf("t/%d", i), Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), QoS: 1}
}

func drain(t *testing.T, o *outbox) []message {
	t.Helper()
	var out []message
	for {
		m, ok := o.Peek()
		if !ok {
			return out
		}
		out = append(out, m)
		if err := o.Pop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutboxOrderSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	o, err := openOutbox(dir, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var want []message
	for i := range 5 {
		m := msg(i)
		if i == 3 {
			m.Retained, m.QoS = true, 0
		}
		want = append(want, m)
		if err := o.Append(m); err != nil {
			t.Fatal(err)
		}
	}
	o.Pop() // delivered before the "crash"
	want = want[1:]

	o2, err := openOutbox(dir, 100, 1<<20) // a new process
	if err != nil {
		t.Fatal(err)
	}
	if err := o2.Append(msg(5)); err != nil {
		t.Fatal(err)
	}
	want = append(want, msg(5))
	if diff := cmp.Diff(want, drain(t, o2)); diff != "" {
		t.Errorf("messages after reopen (-want +got):\n%s", diff)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.msg")); len(left) != 0 {
		t.Errorf("files left after draining: %v", left)
	}
}

func TestOutboxBounds(t *testing.T) {
	cases := []struct {
		name     string
		maxMsgs  int
		maxBytes int64
		fit      int
	}{
		{"by count", 3, 1 << 20, 3},
		{"by bytes", 100, 30, 2}, // each message is 3+7 or 3+8 bytes
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := openOutbox(t.TempDir(), tc.maxMsgs, tc.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.fit {
				if err := o.Append(msg(i)); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if err := o.Append(msg(99)); !errors.Is(err, ErrOutboxFull) {
				t.Fatalf("append past the bound: %v, want ErrOutboxFull", err)
			}
			o.Pop()
			if err := o.Append(msg(99)); err != nil {
				t.Fatalf("append after pop: %v", err)
			}
		})
	}
}

func TestOutboxSkipsDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	o, _ := openOutbox(dir, 10, 1<<20)
	for i := range 3 {
		o.Append(msg(i))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.msg"))
	b, _ := os.ReadFile(files[1])
	b[len(b)-1] ^= 0xff // flip a payload bit
	os.WriteFile(files[1], b, 0o600)
	os.WriteFile(filepath.Join(dir, "00000000000000000009.tmp"), []byte("half"), 0o600)

	o2, err := openOutbox(dir, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]message{msg(0), msg(2)}, drain(t, o2)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := os.Stat(files[1] + ".bad"); err != nil {
		t.Errorf("damaged file not set aside: %v", err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
		t.Errorf("temporary files not removed: %v", tmps)
	}
}

func TestOutboxInMemory(t *testing.T) {
	o, err := openOutbox("", 2, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	o.Append(msg(1))
	o.Append(msg(2))
	if err := o.Append(msg(3)); !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("got %v, want ErrOutboxFull", err)
	}
	if diff := cmp.Diff([]message{msg(1), msg(2)}, drain(t, o)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDedup(t *testing.T) {
	d := newDedup(2, 1<<20)
	if s, _ := d.begin("a"); s != dedupNew {
		t.Fatalf("first begin: %v", s)
	}
	if s, _ := d.begin("a"); s != dedupInProgress {
		t.Fatalf("begin while running: %v", s)
	}
	d.finish("a", []byte("A"))
	if s, r := d.begin("a"); s != dedupDone || string(r) != "A" {
		t.Fatalf("begin after finish: %v %q", s, r)
	}
	d.begin("b")
	d.begin("c") // evicts a, the least recently used
	if s, _ := d.begin("a"); s != dedupNew {
		t.Errorf("a should have been forgotten, got %v", s)
	}
}

func TestDedupByteBound(t *testing.T) {
	d := newDedup(100, 10)
	d.begin("a")
	d.finish("a", make([]byte, 8))
	d.begin("b")
	d.finish("b", make([]byte, 8)) // 16 bytes > 10: a goes
	if s, _ := d.begin("a"); s != dedupNew {
		t.Errorf("a kept past the byte bound: %v", s)
	}
}

func TestCopyStoreHandsOutCopies(t *testing.T) {
	s := newCopyStore()
	for i := range 3 {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.Qos, p.MessageID, p.TopicName, p.Payload = 1, uint16(10-i), "t", []byte{byte(i)}
		s.Put(fmt.Sprintf("o.%d", 10-i), p)
	}
	if diff := cmp.Diff([]string{"o.10", "o.9", "o.8"}, s.All()); diff != "" {
		t.Errorf("All not in insertion order (-want +got):\n%s", diff)
	}
	a, b := s.Get("o.9").(*packets.PublishPacket), s.Get("o.9").(*packets.PublishPacket)
	a.Dup = true
	if a == b || b.Dup || b.Payload[0] != 1 || b.TopicName != "t" {
		t.Errorf("Get shares or garbles packets: %+v %+v", a, b)
	}
	s.Del("o.9")
	if s.Get("o.9") != nil || len(s.All()) != 2 {
		t.Error("Del did not remove the packet")
	}
}
