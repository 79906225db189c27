package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// adoptOrphans makes this test process the reaper of its orphaned
// descendants: the background process of an up, whose parent (the up)
// has exited, becomes its child, so that reap can tell how it ended.
func adoptOrphans(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

// reap waits (at most lifecycleWait) for the adopted process pid to end,
// and returns how it ended.
func reap(t *testing.T, pid int, what string) unix.WaitStatus {
	t.Helper()
	for deadline := time.Now().Add(lifecycleWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err != nil {
			t.Fatalf("wait for %s (pid %d): %v", what, pid, err)
		}
		if got == pid {
			return ws
		}
	}
	unix.Kill(pid, unix.SIGKILL)
	t.Fatalf("%s (pid %d) did not end within %s", what, pid, lifecycleWait)
	return 0
}

var backgroundPID = regexp.MustCompile(`run by background process (\d+)\)`)

// upBackground runs up, which must return with exit 0 having started the
// tunnel's background process, and returns that process's pid. The
// process is killed at cleanup if still running.
func upBackground(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	pid, out := upReturns(t, bin, args...)
	if pid == 0 {
		t.Fatalf("up started no background process:\n%s", out)
	}
	return pid, out
}

// upReturns runs up, which must return with exit 0, and returns the pid
// of the background process it started (killed at cleanup if still
// running), or 0 with kernel WireGuard.
func upReturns(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lifecycleWait)
	defer cancel()
	// The reported break: up with the embedded device never returned.
	code, out := exitCode(t, exec.CommandContext(ctx, bin, append([]string{"up"}, args...)...))
	m := backgroundPID.FindStringSubmatch(out)
	if code != exitOK || m == nil && !strings.Contains(out, "(kernel WireGuard device)") {
		t.Fatalf("up: exit %d (%v)\n%s\nwant exit 0, and the background process named", code, ctx.Err(), out)
	}
	if m == nil {
		return 0, out
	}
	pid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() {
		if unix.Kill(pid, 0) == nil {
			unix.Kill(pid, unix.SIGKILL)
			reap(t, pid, "the background process")
		}
	})
	return pid, out
}

// TestUpBackground (issue 21, item 2): up with the embedded device
// returns once the tunnel is up, with the usual `[#]` lines, leaving the
// device to a background process of its own (a session leader, its
// output on /dev/null), and the tunnel in sync; that process makes a
// link deleted from outside again. down from another process
// ends that process (exit 0), and nothing is left: no link, rule,
// record, keeper lock, UAPI socket or owner file.
func TestUpBackground(t *testing.T) {
	testns.RequireRoot(t)
	adoptOrphans(t)
	bin := commandBinary(t)
	ns := testns.New(t, "bgup")
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	name := uniqueName("wgbg")
	file := tunnelFile(t, dir, name, "PreUp = echo preup %i >> "+trace+"\nPostUp = echo postup %i >> "+trace+"\n")
	pid, out := upBackground(t, bin, file, "--netns", ns.Name, "--backend", "userspace")
	if !strings.Contains(out, "[#] ") {
		t.Errorf("up printed no [#] lines:\n%s", out)
	}
	if got, _ := os.ReadFile(trace); string(got) != "preup "+name+"\npostup "+name+"\n" {
		t.Errorf("hooks ran as %q", got)
	}
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("the background process's session: %d (%v), want its own (%d)", sid, err, pid)
	}
	for _, fd := range []string{"0", "1", "2"} {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd)); err != nil || target != os.DevNull {
			t.Errorf("the background process's descriptor %s is %q (%v), want %s", fd, target, err, os.DevNull)
		}
	}
	if code, out := exitCode(t, exec.Command(bin, "check", file, "--netns", ns.Name)); code != exitOK {
		t.Errorf("check after up: exit %d\n%s", code, out)
	}
	if code, out := exitCode(t, exec.Command(bin, "show", file, "--netns", ns.Name)); code != exitOK || !strings.Contains(out, "interface: "+name+" (") {
		t.Errorf("show after up: exit %d\n%s", code, out)
	}
	// A link deleted from outside is made again by that process.
	old, err := ns.Netlink().LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Netlink().LinkDel(old); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(lifecycleWait); ; time.Sleep(20 * time.Millisecond) {
		if l, err := ns.Netlink().LinkByName(name); err == nil && l.Attrs().Index != old.Attrs().Index {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background process did not make the deleted link again")
		}
	}
	waitInSync(t, bin, file, ns.Name)
	// A second up finds the device run by that process, and returns.
	if code, out := exitCode(t, exec.Command(bin, "up", file, "--netns", ns.Name, "--backend", "userspace")); code != exitOK || !strings.Contains(out, "run by another process") {
		t.Errorf("a second up: exit %d\n%s", code, out)
	}
	if !running(pid) {
		t.Fatal("the background process ended after the deleted link or a second up")
	}

	if code, out := exitCode(t, exec.Command(bin, "down", file, "--netns", ns.Name)); code != exitOK {
		t.Fatalf("down: exit %d\n%s", code, out)
	}
	if ws := reap(t, pid, "the background process after down"); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("the background process after down: %v, want exit 0", ws)
	}
	expectRestored(t, ns, before, name, "after down")
}

// TestUpBackgroundKilled (issue 21, item 2): after a SIGKILL of the
// background process, show and check say plainly that the device's
// process is gone and what to run (the break: "dial unix
// /var/run/wireguard/NAME.sock: connect: connection refused"), and up
// repairs the tunnel with a new background process, which down ends.
func TestUpBackgroundKilled(t *testing.T) {
	testns.RequireRoot(t)
	adoptOrphans(t)
	bin := commandBinary(t)
	ns := testns.New(t, "bgkill")
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("wgbg")
	file := tunnelFile(t, t.TempDir(), name, "")
	pid, _ := upBackground(t, bin, file, "--netns", ns.Name, "--backend", "userspace")
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	reap(t, pid, "the killed background process")
	for deadline := time.Now().Add(lifecycleWait); ; time.Sleep(20 * time.Millisecond) {
		if _, err := ns.Netlink().LinkByName(name); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the link outlived its process")
		}
	}
	if r, err := ns.Netlink().RuleList(netlink.FAMILY_V4); err != nil || !hasRule(r, 456) {
		t.Fatalf("the rules did not outlive the process (%v); this test would prove nothing", err)
	}

	gone := fmt.Sprintf("the embedded device's process is gone: run `%s up %s --netns %s` to restore it", program, file, ns.Name)
	code, out := exitCode(t, exec.Command(bin, "show", file, "--netns", ns.Name))
	if code != exitError || !strings.Contains(out, gone) || strings.Contains(out, "connection refused") {
		t.Errorf("show after the kill: exit %d\n%s\nwant exit 2 and %q", code, out, gone)
	}
	code, out = exitCode(t, exec.Command(bin, "show", "--json", file, "--netns", ns.Name))
	var shown showJSON
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &shown); err != nil || shown.Up || shown.Problem != gone {
		t.Errorf("show --json after the kill: exit %d, %v\n%s", code, err, out)
	}
	code, out = exitCode(t, exec.Command(bin, "check", file, "--netns", ns.Name))
	if code != exitDrift || !strings.Contains(out, gone) {
		t.Errorf("check after the kill: exit %d\n%s\nwant exit 1 and %q", code, out, gone)
	}

	again, _ := upBackground(t, bin, file, "--netns", ns.Name, "--backend", "userspace")
	if code, out := exitCode(t, exec.Command(bin, "check", file, "--netns", ns.Name)); code != exitOK {
		t.Errorf("check after up repaired: exit %d\n%s", code, out)
	}
	if code, out := exitCode(t, exec.Command(bin, "down", file, "--netns", ns.Name)); code != exitOK {
		t.Fatalf("down: exit %d\n%s", code, out)
	}
	if ws := reap(t, again, "the new background process after down"); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("the new background process after down: %v, want exit 0", ws)
	}
	expectRestored(t, ns, before, name, "after down")
}

// running reports whether the process pid runs: it exists and is no
// zombie (an adopted process that ended, not reaped yet).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// waitInSync waits (at most lifecycleWait) for check to report the
// tunnel in sync: a repair may still be under way.
func waitInSync(t *testing.T, bin, file, netns string) {
	t.Helper()
	var out string
	for deadline := time.Now().Add(lifecycleWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var code int
		if code, out = exitCode(t, exec.Command(bin, "check", file, "--netns", netns)); code == exitOK {
			return
		}
	}
	t.Fatalf("check: not in sync within %s:\n%s", lifecycleWait, out)
}

// hasRule reports whether rules has one at priority.
func hasRule(rules []netlink.Rule, priority int) bool {
	for _, r := range rules {
		if r.Priority == priority {
			return true
		}
	}
	return false
}

// TestEmbeddedNameClash (issue 21, item 3): with an embedded device up
// in namespace A, a tunnel of the same name in namespace B, where no such
// link exists, is not up for show (the break: `show --json` said up: true
// with A's peers), plan and check report the clash naming A's namespace
// and the fix, and up refuses it before anything runs or changes (no
// PreUp hook, no object in B). A's tunnel is untouched; SIGTERM to its
// background process then brings it down (exit 0, nothing left).
func TestEmbeddedNameClash(t *testing.T) {
	testns.RequireRoot(t)
	adoptOrphans(t)
	bin := commandBinary(t)
	a, b := testns.New(t, "clasha"), testns.New(t, "clashb")
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	name := uniqueName("wgbg")
	file := tunnelFile(t, dir, name, "PreUp = echo preup %i >> "+trace+"\n")
	beforeA, err := testns.DumpSettled(a)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := upBackground(t, bin, file, "--netns", a.Name, "--backend", "userspace")
	os.Remove(trace)
	beforeB, err := testns.DumpSettled(b)
	if err != nil {
		t.Fatal(err)
	}

	code, out := exitCode(t, exec.Command(bin, "show", "--json", file, "--netns", b.Name))
	var shown showJSON
	if err := json.Unmarshal([]byte(out), &shown); err != nil || code != exitOK || shown.Up || shown.Device != nil {
		t.Errorf("show --json in the other namespace: exit %d, %v\n%s\nwant up: false and no device", code, err, out)
	}
	for _, verb := range []string{"plan", "check", "up"} {
		code, out := exitCode(t, exec.Command(bin, verb, file, "--netns", b.Name, "--backend", "userspace"))
		if code != exitError || !strings.Contains(out, "network namespace "+a.Path) || !strings.Contains(out, "choose another interface name") {
			t.Errorf("%s in the other namespace: exit %d\n%s\nwant exit 2, naming %s and the fix", verb, code, out, a.Path)
		}
	}
	if _, err := os.Stat(trace); !os.IsNotExist(err) {
		t.Error("the refused up ran PreUp")
	}
	if diff, err := testns.DiffSettled(b, beforeB); err != nil || diff != "" {
		t.Errorf("the refused up changed the other namespace (%v):\n%s", err, diff)
	}
	if code, out := exitCode(t, exec.Command(bin, "check", file, "--netns", a.Name)); code != exitOK {
		t.Errorf("check in A: exit %d\n%s", code, out)
	}
	// SIGTERM to the background process brings A's tunnel down.
	if err := unix.Kill(pid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ws := reap(t, pid, "the background process after SIGTERM"); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("the background process after SIGTERM: %v, want exit 0", ws)
	}
	expectRestored(t, a, beforeA, name, "after SIGTERM to the background process")
}

// TestUpBackgroundStopped: the background process of an embedded device
// is stopped (SIGSTOP): it accepts connections on its UAPI socket and
// never answers. `show` and `down` still return, saying why, and once the
// process runs again (SIGCONT) down restores the namespace.
func TestUpBackgroundStopped(t *testing.T) {
	testns.RequireRoot(t)
	adoptOrphans(t)
	bin := commandBinary(t)
	ns := testns.New(t, "bgstop")
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("wgbs")
	file := tunnelFile(t, t.TempDir(), name, "")
	pid, _ := upBackground(t, bin, file, "--netns", ns.Name, "--backend", "userspace")
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer unix.Kill(pid, unix.SIGCONT)
	for _, verb := range []string{"show", "down"} {
		start := time.Now()
		code, out := exitCode(t, exec.Command(bin, verb, file, "--netns", ns.Name))
		t.Logf("%s of a stopped device's tunnel: exit %d after %v\n%s", verb, code, time.Since(start).Round(time.Millisecond), out)
		if code != exitError || !strings.Contains(out, "is the process running an embedded device stopped?") {
			t.Errorf("%s while the device's process is stopped: exit %d\n%s\nwant exit 2 and the reason", verb, code, out)
		}
	}
	if err := unix.Kill(pid, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if code, out := exitCode(t, exec.Command(bin, "down", file, "--netns", ns.Name)); code != exitOK {
		t.Fatalf("down after SIGCONT: exit %d\n%s", code, out)
	}
	reap(t, pid, "the background process after down")
	expectRestored(t, ns, before, name, "after down")
}
