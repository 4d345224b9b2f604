package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const binPath = "/usr/local/bin/edgeclip"

// directives parses a unit file into section → key → values (a key may
// repeat, e.g. DeviceAllow).
func directives(t *testing.T, unit string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	sec := ""
	sc := bufio.NewScanner(strings.NewReader(unit))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sec = line[1 : len(line)-1]
			out[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				t.Fatalf("edgeclip.service:%d: not key=value in a section: %q", n, line)
			}
			out[sec][k] = append(out[sec][k], v)
		}
	}
	return out
}

// TestUnitDirectives pins what operators and the daemon rely on; it runs
// everywhere, systemd or not.
func TestUnitDirectives(t *testing.T) {
	d := directives(t, Unit)
	want := []struct{ sec, key, val string }{
		{"Service", "Type", "notify"},
		{"Service", "NotifyAccess", "main"},
		{"Service", "WatchdogSec", "30"},
		{"Service", "Restart", "on-failure"},
		{"Service", "RestartSec", "2"},
		{"Service", "User", "edgeclip"},
		{"Service", "StateDirectory", "edgeclip"},
		{"Service", "ConfigurationDirectory", "edgeclip"},
		{"Service", "ExecStart", binPath + " run --config /etc/edgeclip/config.yaml"},
		{"Service", "ExecStartPre", binPath + " run --check --config /etc/edgeclip/config.yaml"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "PrivateTmp", "yes"},
		{"Service", "SupplementaryGroups", "video"},
		{"Service", "ReadWritePaths", "/var/lib/edgeclip"},
		{"Service", "DevicePolicy", "closed"},
		{"Service", "DeviceAllow", "char-video4linux rw"},
		{"Install", "WantedBy", "multi-user.target"},
	}
	for _, w := range want {
		if vals := d[w.sec][w.key]; !contains(vals, w.val) {
			t.Errorf("[%s] %s = %q, want %q among them", w.sec, w.key, vals, w.val)
		}
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// needTool finds a systemd tool, skipping the test with the reason when it
// is absent, except in CI where its absence is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " not found: install the Debian package systemd (apt-get install --no-install-recommends systemd) to check the unit file"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// stubUnit writes the unit into a temp directory with ExecStart pointing at
// an executable stub, since verify checks that the binary exists.
func stubUnit(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	stub := filepath.Join(dir, "edgeclip")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "edgeclip.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(Unit, binPath, stub)), 0o644); err != nil {
		t.Fatal(err)
	}
	return unit
}

// TestUnitVerify runs systemd-analyze verify. It exits 0 on unknown keys and
// unparsable values (it only warns), so any line naming the unit fails too.
func TestUnitVerify(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	unit := stubUnit(t)
	var stderr bytes.Buffer
	cmd := exec.Command(sa, "verify", "--man=no", unit)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	err := cmd.Run()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "edgeclip.service") {
			t.Errorf("systemd-analyze verify: %s", line)
		} else if strings.TrimSpace(line) != "" {
			t.Logf("systemd-analyze verify (not about the unit): %s", line)
		}
	}
}

// TestUnitExposure guards the hardening with systemd-analyze security's
// offline score (0 = locked down, 10 = exposed).
func TestUnitExposure(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	unit := stubUnit(t)
	out, err := exec.Command(sa, "security", "--offline=yes", unit).CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("--offline")) {
		t.Skipf("this systemd-analyze has no offline security check (systemd < 252): %s", out)
	}
	m := regexp.MustCompile(`Overall exposure level for edgeclip\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security exposure: %.1f", score)
	if score > 2.5 {
		t.Errorf("exposure level %.1f, want at most 2.5: the hardening regressed\n%s", score, out)
	}
}

// TestSysusers applies the sysusers.d entry to an empty root and checks
// the user and its video group membership.
func TestSysusers(t *testing.T) {
	su := needTool(t, "systemd-sysusers")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "edgeclip.conf")
	if err := os.WriteFile(conf, []byte(Sysusers), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(su, "--root="+root, conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	group, _ := os.ReadFile(filepath.Join(root, "etc", "group"))
	if !regexp.MustCompile(`(?m)^edgeclip:x:\d+:\d+:[^:]*:/var/lib/edgeclip:/usr/sbin/nologin$`).Match(passwd) {
		t.Errorf("no edgeclip user in passwd:\n%s", passwd)
	}
	if !regexp.MustCompile(`(?m)^video:x:\d+:(.*,)?edgeclip(,.*)?$`).Match(group) {
		t.Errorf("edgeclip is not in the video group:\n%s", group)
	}
}
