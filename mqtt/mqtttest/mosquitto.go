// Package mqtttest runs a real Mosquitto broker for tests: on a free
// loopback port, with its own config and persistence in t.TempDir, and
// lets a test kill and restart it on the same port.
package mqtttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is where Debian's mosquitto package installs the broker.
const Binary = "/usr/sbin/mosquitto"

// Config tunes the broker.
type Config struct {
	// Persistence keeps sessions, subscriptions and queued QoS 1 messages
	// across restarts (saved on every change, so a kill loses little).
	Persistence bool
	// TLS, when set, makes the listener TLS-only (URL then says ssl://).
	TLS *TLSFiles
	// Extra is appended to the generated mosquitto.conf.
	Extra string
}

// TLSFiles are PEM files for a TLS listener.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
	RequireClientCert         bool // clients must present a cert signed by CAFile
}

// Mosquitto is a running (or stopped) broker owned by one test.
type Mosquitto struct {
	t    testing.TB
	dir  string
	conf string
	log  string
	port int
	tls  bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error // receives cmd's exit
}

// Start runs mosquitto on a free 127.0.0.1 port. Without the binary the test
// is skipped, or fails when the CI environment variable is set (CI must not
// silently skip the broker tests). The broker is killed when the test ends.
func Start(t testing.TB, cfg Config) *Mosquitto {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mqtttest: %s not found (apt-get install mosquitto): %v", Binary, err)
		}
		t.Skipf("mqtttest: %s not found (apt-get install mosquitto)", Binary)
	}
	m := &Mosquitto{t: t, dir: t.TempDir()}
	m.conf = filepath.Join(m.dir, "mosquitto.conf")
	m.log = filepath.Join(m.dir, "mosquitto.log")
	var err error
	for range 5 { // a free port can be taken between probing and binding
		if m.port, err = freePort(); err != nil {
			t.Fatalf("mqtttest: %v", err)
		}
		m.writeConf(cfg)
		if err = m.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("mqtttest: %v", err)
	}
	t.Cleanup(func() { m.Kill() })
	return m
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (m *Mosquitto) writeConf(cfg Config) {
	var b strings.Builder
	fmt.Fprintf(&b, "listener %d 127.0.0.1\nallow_anonymous true\n", m.port)
	if t := cfg.TLS; t != nil {
		m.tls = true
		fmt.Fprintf(&b, "cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate %v\n", t.CAFile, t.CertFile, t.KeyFile, t.RequireClientCert)
	}
	if os.Geteuid() == 0 {
		b.WriteString("user root\n") // else it drops to "mosquitto", who cannot write to t.TempDir
	}
	if cfg.Persistence {
		fmt.Fprintf(&b, "persistence true\npersistence_location %s/\nautosave_on_changes true\nautosave_interval 1\n", m.dir)
	} else {
		b.WriteString("persistence false\n")
	}
	// Without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms to small replies.
	b.WriteString("set_tcp_nodelay true\nmax_queued_messages 100000\nmax_inflight_messages 0\n")
	b.WriteString(cfg.Extra)
	if err := os.WriteFile(m.conf, []byte(b.String()), 0o600); err != nil {
		m.t.Fatalf("mqtttest: %v", err)
	}
}

// start launches the broker and waits until it accepts connections.
func (m *Mosquitto) start() error {
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(Binary, "-c", m.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test binary
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", Binary, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("mosquitto exited at start (%v): %s", err, m.logTail())
		default:
		}
		if c, err := net.DialTimeout("tcp", m.Addr(), 100*time.Millisecond); err == nil {
			c.Close()
			m.mu.Lock()
			m.cmd, m.done = cmd, exited
			m.mu.Unlock()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	return fmt.Errorf("mosquitto did not accept on %s within 5s: %s", m.Addr(), m.logTail())
}

func (m *Mosquitto) logTail() string {
	b, _ := os.ReadFile(m.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Addr is host:port of the listener.
func (m *Mosquitto) Addr() string { return fmt.Sprintf("127.0.0.1:%d", m.port) }

// URL is the broker URL for clients: tcp://127.0.0.1:port, or ssl:// with TLS.
func (m *Mosquitto) URL() string {
	if m.tls {
		return "ssl://" + m.Addr()
	}
	return "tcp://" + m.Addr()
}

// Kill stops the broker abruptly (SIGKILL), as a crash would.
func (m *Mosquitto) Kill() { m.signal(syscall.SIGKILL) }

// Stop stops the broker cleanly (SIGTERM); with persistence it saves its
// state first.
func (m *Mosquitto) Stop() { m.signal(syscall.SIGTERM) }

func (m *Mosquitto) signal(sig syscall.Signal) {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		m.t.Errorf("mqtttest: mosquitto pid %d did not exit after %v", cmd.Process.Pid, sig)
	}
}

// Restart starts the broker again on the same port (after Kill or Stop).
// It may be called from any goroutine, so it returns the error rather than
// failing the test.
func (m *Mosquitto) Restart() error {
	m.mu.Lock()
	running := m.cmd != nil
	m.mu.Unlock()
	if running {
		return fmt.Errorf("mqtttest: Restart while mosquitto is running")
	}
	var err error
	for range 50 { // the old socket may linger for a moment
		if err = m.start(); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("mqtttest: restart on %s: %w", m.Addr(), err)
}

// Log returns mosquitto's log so far, for failure messages.
func (m *Mosquitto) Log() string { return m.logTail() }
