package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/testns"
)

// lifecycleWait bounds every wait of these tests for the command to act:
// far above what it needs, so a hang fails instead of blocking the suite.
const lifecycleWait = 15 * time.Second

// waitExit waits for cmd to end, at most lifecycleWait.
func waitExit(t *testing.T, cmd *exec.Cmd, what string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(lifecycleWait):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not end within %s", what, lifecycleWait)
		return nil
	}
}

// expectRestored fails unless ns is as before and name left no record,
// keeper lock, UAPI socket or owner file. A background device process
// that down ended removes its keeper lock as it exits, after down
// returned: the files get a few seconds.
func expectRestored(t *testing.T, ns *testns.NS, before, name, when string) {
	t.Helper()
	if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
		t.Errorf("%s (%v):\n%s", when, err, diff)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		entries, _ := os.ReadDir(ns.StateDir())
		if !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.Contains(e.Name(), name) }) {
			break
		}
	}
	if r := records(name); len(r) > 0 {
		t.Errorf("%s, records remain: %v", when, r)
	}
	if _, err := os.Stat(ns.StateDir()); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(ns.StateDir())
		for _, e := range entries {
			if strings.Contains(e.Name(), name) {
				t.Errorf("%s, the state file %s remains", when, e.Name())
			}
		}
	}
	if _, err := os.Stat("/var/run/wireguard/" + name + ".sock"); !os.IsNotExist(err) {
		t.Errorf("%s, the UAPI socket of %s remains (%v)", when, name, err)
	}
	if _, err := os.Stat("/run/wgtransparent/embedded/" + name + ".owner"); !os.IsNotExist(err) {
		t.Errorf("%s, the embedded device's owner file of %s remains (%v)", when, name, err)
	}
}

// TestRunTwiceRefused (issue 23, break 2): a second run of a tunnel that
// a run keeps is refused with exit 2, naming the first run's pid, and
// changes nothing; down then ends the first run (exit 0), and nothing
// comes back afterwards: the namespace stays as before the first run.
func TestRunTwiceRefused(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "runtwice")
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("wgcl")
	file := tunnelFile(t, t.TempDir(), name, "")
	first, lines := startForeground(t, "is up", bin, "run", file, "--netns", ns.Name)
	go io.Copy(io.Discard, lines)
	up, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}

	// The reported break: the second run printed "is up" and ran on.
	var out lockedBuffer
	second := exec.Command(bin, "run", file, "--netns", ns.Name)
	second.Stdout, second.Stderr = &out, &out
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	secondDone := make(chan struct{})
	go func() { second.Wait(); close(secondDone) }()
	t.Cleanup(func() {
		second.Process.Kill()
		<-secondDone
	})
	waitUntil(t, "the second run to refuse or to be up", &out, func() bool {
		select {
		case <-secondDone:
			return true
		default:
			return strings.Contains(out.String(), "is up")
		}
	})
	code := -1 // up, and running: the break
	select {
	case <-secondDone:
		code = second.ProcessState.ExitCode()
	case <-time.After(time.Second):
	}
	want := fmt.Sprintf("pid %d (run)", first.Process.Pid)
	if code != exitError || !strings.Contains(out.String(), want) || strings.Contains(out.String(), "is up") {
		t.Errorf("a second run: exit %d\n%s\nwant exit 2, refused, naming %q", code, out.String(), want)
	}
	if now, err := testns.Dump(ns); err != nil || testns.Diff(up, now) != "" {
		t.Errorf("the refused run changed the namespace (%v):\n%s", err, testns.Diff(up, now))
	}

	code, downOut := exitCode(t, exec.Command(bin, "down", file, "--netns", ns.Name))
	if code != exitOK || !strings.Contains(downOut, name+" is down") {
		t.Fatalf("down: exit %d\n%s", code, downOut)
	}
	if err := waitExit(t, first, "the first run after down"); err != nil {
		t.Errorf("the first run after another process's down: %v, want exit 0", err)
	}
	// The reported break: 116 ms after down the rule was back. Give a
	// straggler several Watch debounces to show itself.
	time.Sleep(time.Second)
	expectRestored(t, ns, before, name, "after down ended the run")
}

// TestBrokenPipes (issue 23, break 3): a closed stdout and stderr pipe
// (`up | tee log` with tee killed, `run | head`) does not kill the
// command: a foreground up still brings the tunnel down on SIGINT, and a
// run keeps repairing drift after its log line fails and brings the tunnel
// down on SIGTERM, each exiting 0 with nothing left behind.
func TestBrokenPipes(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	for _, tc := range []struct {
		verb string
		args []string
		stop syscall.Signal
	}{
		{"up", []string{"--backend", "userspace", "--foreground"}, syscall.SIGINT},
		{"run", nil, syscall.SIGTERM},
	} {
		t.Run(tc.verb, func(t *testing.T) {
			ns := testns.New(t, "pipe"+tc.verb)
			before, err := testns.DumpSettled(ns)
			if err != nil {
				t.Fatal(err)
			}
			name := uniqueName("wgcl")
			file := tunnelFile(t, t.TempDir(), name, "")
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, append([]string{tc.verb, file, "--netns", ns.Name}, tc.args...)...)
			cmd.Stdout, cmd.Stderr = w, w
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
			})
			lines := bufio.NewReader(r)
			for {
				line, err := lines.ReadString('\n')
				if err != nil {
					t.Fatalf("%s ended before it was up: %v", tc.verb, err)
				}
				if strings.Contains(line, "is up") {
					break
				}
			}
			r.Close() // tee killed, head done: every later write gets EPIPE

			if tc.verb == "run" {
				// A rule deleted: the repair's log line goes to the
				// closed pipe, and the run must live on to repair it.
				rule := transparentRule()
				if err := ns.Netlink().RuleDel(rule); err != nil {
					t.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond) // the repair and its log line
				waitUntil(t, "run to repair the deleted rule", &lockedBuffer{}, func() bool {
					rules, err := ns.Netlink().RuleListFiltered(netlink.FAMILY_V4, rule, netlink.RT_FILTER_PRIORITY)
					return err == nil && len(rules) == 1
				})
			}
			if err := cmd.Process.Signal(tc.stop); err != nil {
				t.Fatalf("%s died on its closed output: %v", tc.verb, err)
			}
			err = waitExit(t, cmd, tc.verb)
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Errorf("%s was killed by %s", tc.verb, ws.Signal())
			} else if err != nil {
				t.Errorf("%s after %s with its output closed: %v, want exit 0", tc.verb, tc.stop, err)
			}
			expectRestored(t, ns, before, name, tc.verb+" with a closed output, after "+tc.stop.String())
		})
	}
}

// transparentRule is the transparent rule of tunnelFile's tunnel.
func transparentRule() *netlink.Rule {
	rule := netlink.NewRule()
	rule.Priority, rule.Table, rule.Protocol = 456, 123, 87
	rule.Dst = &net.IPNet{IP: net.IPv4(203, 0, 113, 2).To4(), Mask: net.CIDRMask(32, 32)}
	return rule
}

// TestDeletedLinkRepaired (issue 23, break 4): `ip link del` of the
// device neither ends run nor a foreground up with the embedded device:
// the record is still there, so the device is made again (the tunnel
// checks in sync), and a stop signal then restores the namespace. Only
// another process's down (TestRunTwiceRefused) ends them with exit 0.
func TestDeletedLinkRepaired(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	for _, tc := range []struct {
		verb string
		args []string
	}{
		{"run", nil},
		{"up", []string{"--backend", "userspace", "--foreground"}},
	} {
		t.Run(tc.verb, func(t *testing.T) {
			ns := testns.New(t, "linkdel"+tc.verb)
			before, err := testns.DumpSettled(ns)
			if err != nil {
				t.Fatal(err)
			}
			name := uniqueName("wgcl")
			file := tunnelFile(t, t.TempDir(), name, "")
			keeper, _ := startForeground(t, "is up", bin, append([]string{tc.verb, file, "--netns", ns.Name}, tc.args...)...)
			exited := make(chan error, 1)
			go func() { exited <- keeper.Wait() }()
			h := ns.Netlink()
			link, err := h.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.LinkDel(link); err != nil {
				t.Fatal(err)
			}
			inSync := func() bool {
				select {
				case err := <-exited:
					t.Fatalf("%s ended after its link was deleted: %v", tc.verb, err)
				default:
				}
				code, _ := exitCode(t, exec.Command(bin, "check", file, "--netns", ns.Name))
				return code == exitOK
			}
			waitUntil(t, tc.verb+" to make the deleted device again", &lockedBuffer{}, inSync)
			if again, err := h.LinkByName(name); err != nil || again.Attrs().Index == link.Attrs().Index {
				t.Errorf("after the repair: link %v (%v), want a new one", again, err)
			}
			if err := keeper.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("%s after SIGTERM: %v, want exit 0", tc.verb, err)
				}
			case <-time.After(lifecycleWait):
				t.Fatalf("%s did not end on SIGTERM", tc.verb)
			}
			expectRestored(t, ns, before, name, tc.verb+" after the repair and SIGTERM")
		})
	}
}
