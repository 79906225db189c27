package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitFile is the systemd unit shipped with the command.
const unitFile = "systemd/wg-transparent@.service"

// TestSystemdUnit checks the shipped unit with `systemd-analyze verify`
// (test.sh installs systemd when it is missing; under CI a skip fails).
// verify wants ExecStart's binary to exist, so the test checks a copy
// whose ExecStart names the binary built here, instance wg0; everything
// else is the shipped text. Any warning fails. Starting the unit needs
// systemd as PID 1, which the test machine may not have: `run` itself,
// with the same NOTIFY_SOCKET protocol, is tested by TestRun.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing (test.sh installs the systemd package)")
		}
		t.Skip("systemd-analyze is missing: apt-get install systemd (test.sh does)")
	}
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	for _, want := range []string{"Type=notify", "ExecStart=/usr/local/bin/wg-transparent run %i", "ExecReload=/usr/local/bin/wg-transparent reload %i", "CapabilityBoundingSet=CAP_NET_ADMIN", "DeviceAllow=/dev/net/tun rw", "ReadWritePaths=/run"} {
		if !strings.Contains(text, want+"\n") && !strings.Contains(text, want+" ") {
			t.Errorf("%s lacks %q", unitFile, want)
		}
	}
	if strings.Contains(text, "RuntimeDirectory=") {
		t.Errorf("%s has RuntimeDirectory=: systemd would remove /run/wgtransparent, which the command run by hand shares", unitFile)
	}
	bin := commandBinary(t)
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "wg-transparent@wg0.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(text, "/usr/local/bin/wg-transparent", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
