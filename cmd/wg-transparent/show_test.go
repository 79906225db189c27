package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/wgtransparent/transparent/internal/testns"
)

// TestShowWithoutFile (issue 21, item 6): a bare show lists every tunnel
// of the namespace from its records (text and --json, with the process
// that keeps each), `show NAME` works without NAME's file, and a name
// with no tunnel, or a namespace without any, is said plainly.
func TestShowWithoutFile(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "rlshow")
	show := func(args ...string) string {
		t.Helper()
		code, out := exitCode(t, exec.Command(bin, append(append([]string{"show"}, args...), "--netns", ns.Name)...))
		if code != exitOK {
			t.Fatalf("show %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	if out := show(); !strings.Contains(out, "no tunnel is up in this namespace") {
		t.Errorf("a bare show without tunnels:\n%s", out)
	}
	name := uniqueName("wgrl")
	file := tunnelFile(t, t.TempDir(), name, "")
	run, _ := startForeground(t, "is up", bin, "run", file, "--netns", ns.Name)
	keeper := fmt.Sprintf("pid %d (run)", run.Process.Pid)
	for _, args := range [][]string{{}, {name}} {
		out := show(args...)
		for _, want := range []string{"interface: " + name, "kept up by: " + keeper, "456: to 203.0.113.2/32 lookup 123", "203.0.113.2/32 dev " + name, "allowed ips: 10.0.0.2/32, 203.0.113.2/32"} {
			if !strings.Contains(out, want) {
				t.Errorf("show %s: no %q in\n%s", strings.Join(args, " "), want, out)
			}
		}
	}
	var all showAllJSON
	if err := json.Unmarshal([]byte(show("--json")), &all); err != nil {
		t.Fatal(err)
	}
	if len(all.Tunnels) != 1 || all.Tunnels[0].Interface != name || !all.Tunnels[0].Up || all.Tunnels[0].Keeper != keeper || len(all.Tunnels[0].Rules) != 3 {
		t.Errorf("show --json: %+v", all)
	}
	if out := show("wgrlnone"); !strings.Contains(out, "wgrlnone is not up: no tunnel of that name") {
		t.Errorf("show of a name without a tunnel:\n%s", out)
	}
	run.Process.Signal(syscall.SIGTERM)
	waitExit(t, run, "run after SIGTERM")
}

// TestShowRoutes: show prints a route of the tunnel's table as `ip route`
// does: through its device, or a kill switch's unreachable route with its
// metric (no device: it has none).
func TestShowRoutes(t *testing.T) {
	for _, tc := range []struct {
		r    routeJSON
		want string
	}{
		{routeJSON{Destination: "203.0.113.2/32", Device: "wg0", Table: 123, Protocol: 87}, "203.0.113.2/32 dev wg0 proto 87"},
		{routeJSON{Destination: "203.0.113.2/32", Type: "unreachable", Table: 123, Metric: 4096, Protocol: 87}, "unreachable 203.0.113.2/32 proto 87 metric 4096"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}
