package main

// End-to-end tests: they build the real edgeclip binary once and run
// `edgeclip run` as a child process with a random tiny model, the synth://
// camera, its own state directory and free loopback ports, then talk to it
// the way operators and other programs do: the CLI, MQTT (paho), HTTP and
// systemd's notify socket. Skipped with -short.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeclip/edgeclip/models"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// edgeclipBin builds the binary on first use (pure Go: synth:// needs no
// cgo) and returns its path.
func edgeclipBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds and runs the daemon (skipped with -short)")
	}
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "edgeclip-e2e-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "edgeclip")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// tinyModel writes a random tiny model and returns its path and hash.
func tinyModel(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiny.safetensors")
	if err := models.Write(path, models.RandomContents(models.TinyConfig(), 1)); err != nil {
		t.Fatal(err)
	}
	f, err := models.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return path, f.Hash()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer collects a child's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemonOpts say how to start `edgeclip run`; zero values pick a fresh
// state dir, the embedded broker on a free port, and the synth camera.
type daemonOpts struct {
	model  string
	state  string
	device string
	broker string // MQTT URL; empty: the embedded broker
	source string
	http   bool
	env    []string
	args   []string
	onLine func(string) // each stderr line, from the reader goroutine
}

const testSource = "synth://?seed=1&fps=10&size=64x64"

// daemonProc is a running `edgeclip run`.
type daemonProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	o      daemonOpts
	http   string // host:port of /healthz, /readyz, /metrics
	log    *syncBuffer
	exited chan struct{}
	err    error // cmd.Wait's, after exited
}

// cleanEnv is the test's environment without what would change the
// daemon's behaviour (systemd's variables, EDGECLIP_*, state dirs).
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "EDGECLIP_"), k == "NOTIFY_SOCKET", strings.HasPrefix(k, "WATCHDOG_"),
			k == "STATE_DIRECTORY", k == "XDG_STATE_HOME":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func startDaemon(t *testing.T, o daemonOpts) *daemonProc {
	t.Helper()
	bin := edgeclipBin(t)
	if o.state == "" {
		o.state = t.TempDir()
	}
	if o.device == "" {
		o.device = "cam-e2e"
	}
	if o.source == "" {
		o.source = testSource
	}
	if o.broker == "" {
		o.broker = "tcp://" + freeAddr(t)
		o.args = append(o.args, "--set", "mqtt.embedded_listen="+strings.TrimPrefix(o.broker, "tcp://"))
	} else {
		o.args = append(o.args, "--broker", o.broker)
	}
	d := &daemonProc{t: t, o: o, log: &syncBuffer{}, exited: make(chan struct{})}
	args := []string{"run", "--model", o.model, "--source", o.source, "--device-id", o.device, "--status-every", "0"}
	if o.http {
		d.http = freeAddr(t)
		args = append(args, "--http", d.http)
	} else {
		args = append(args, "--set", "http.listen=")
	}
	args = append(args, o.args...) // later flags win (--status-every)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = cleanEnv(append([]string{"STATE_DIRECTORY=" + o.state}, o.env...)...)
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.log.Write([]byte(line + "\n"))
			if o.onLine != nil {
				o.onLine(line)
			}
		}
		io.Copy(io.Discard, stderr)
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.exited
		if t.Failed() {
			t.Logf("daemon %s log:\n%s", o.device, tail(d.log.String(), 6000))
		}
	})
	return d
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitReady polls /readyz until it answers 200 and returns its body.
func (d *daemonProc) waitReady(within time.Duration) string {
	d.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			d.t.Fatalf("daemon exited before it was ready: %v", d.err)
		default:
		}
		code, body, err := httpGet("http://" + d.http + "/readyz")
		if err == nil && code == http.StatusOK {
			return body
		}
		last = fmt.Sprintf("%d %s %v", code, body, err)
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("/readyz not 200 within %s; last: %s", within, last)
	return ""
}

func httpGet(url string) (int, string, error) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// stop sends sig and waits for the exit; it returns how long that took.
func (d *daemonProc) stop(sig syscall.Signal, within time.Duration) time.Duration {
	d.t.Helper()
	start := time.Now()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-d.exited:
		return time.Since(start)
	case <-time.After(within):
		d.t.Fatalf("daemon did not exit within %s of %v", within, sig)
		return 0
	}
}

// cli runs the edgeclip binary with args and returns stdout, stderr and
// the exit code.
func cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(edgeclipBin(t), args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("edgeclip %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// subscriber is a paho client of the test's own that records what arrives.
type subscriber struct {
	c    paho.Client
	msgs chan paho.Message
}

func subscribe(t *testing.T, broker string, topics ...string) *subscriber {
	t.Helper()
	s := &subscriber{msgs: make(chan paho.Message, 1024)}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("e2e-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	s.c = paho.NewClient(o)
	if tok := s.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { s.c.Disconnect(0) })
	for _, topic := range topics {
		tok := s.c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { s.msgs <- m })
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
	}
	return s
}

// next returns the next message on topic for which ok is true.
func (s *subscriber) next(t *testing.T, topic string, within time.Duration, ok func([]byte) bool) paho.Message {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case m := <-s.msgs:
			if m.Topic() == topic && ok(m.Payload()) {
				return m
			}
		case <-timeout:
			t.Fatalf("no matching message on %s within %s", topic, within)
			return nil
		}
	}
}

func (s *subscriber) publish(t *testing.T, topic string, payload []byte) {
	t.Helper()
	if tok := s.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// statusIs matches a status payload by its state.
func statusIs(state string) func([]byte) bool {
	return func(b []byte) bool {
		var s struct {
			State string `json:"state"`
		}
		return json.Unmarshal(b, &s) == nil && s.State == state
	}
}

func contextFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
