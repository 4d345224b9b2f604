// Package sdnotify speaks systemd's notify protocol (sd_notify(3)): a
// Type=notify service tells systemd when it is ready, what it is doing, and
// that it is alive (WatchdogSec=). Outside systemd ($NOTIFY_SOCKET unset)
// every call is a no-op, so the daemon calls them unconditionally.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrUnsupported is returned for a $NOTIFY_SOCKET this package cannot reach
// (systemd also allows vsock addresses, used by VMs).
var ErrUnsupported = errors.New("sdnotify: unsupported NOTIFY_SOCKET address")

// Notify sends one datagram of newline-separated assignments to
// $NOTIFY_SOCKET ("READY=1", "STATUS=…"). It reports whether a socket was
// set; with none it does nothing and returns false, nil.
func Notify(state string) (bool, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	return true, send(addr, state)
}

func send(addr, state string) error {
	// Paths start with /, abstract sockets with @ (Go turns a leading @
	// into the NUL byte the kernel expects).
	if !strings.HasPrefix(addr, "/") && !strings.HasPrefix(addr, "@") {
		return fmt.Errorf("%w: %q", ErrUnsupported, addr)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %s: %w", addr, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: %s: %w", addr, err)
	}
	return nil
}

// Ready tells systemd that start-up has finished: a Type=notify unit is
// "active" only from now, and units ordered after it start.
func Ready() error { _, err := Notify("READY=1"); return err }

// Stopping tells systemd that a clean stop has begun.
func Stopping() error { _, err := Notify("STOPPING=1"); return err }

// Status sets the one-line status shown by `systemctl status`.
func Status(s string) error {
	_, err := Notify("STATUS=" + strings.ReplaceAll(s, "\n", " "))
	return err
}

// Ping sends one watchdog keep-alive (WATCHDOG=1). Prefer the Watchdog
// type, which pings only while the daemon's loops make progress. (The name
// is not Watchdog because that is the type.)
func Ping() error { _, err := Notify("WATCHDOG=1"); return err }

// WatchdogInterval is the watchdog timeout systemd expects pings within
// ($WATCHDOG_USEC), or 0 when the watchdog is off or meant for another
// process ($WATCHDOG_PID is not ours). Ping at half of it.
func WatchdogInterval() (time.Duration, error) {
	us := os.Getenv("WATCHDOG_USEC")
	if us == "" {
		return 0, nil
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("sdnotify: WATCHDOG_PID=%q: %w", p, err)
		}
		if pid != os.Getpid() {
			return 0, nil
		}
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil || n <= 0 || n > int64(1<<63-1)/int64(time.Microsecond) {
		return 0, fmt.Errorf("sdnotify: WATCHDOG_USEC=%q: want a positive number of microseconds", us)
	}
	return time.Duration(n) * time.Microsecond, nil
}
