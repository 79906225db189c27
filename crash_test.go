package transparent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// crashChildEnv names the environment variable that turns the test binary
// into a child that runs Up and then waits to be killed.
const crashChildEnv = "WGTRANSPARENT_CRASH_CHILD"

// crashChild runs in the child process: Up with the config and namespace
// given in the environment, report "up", then wait forever. On failure it
// reports "up failed", whether the error is a permission error, and the
// error.
func crashChild() {
	var req struct {
		Config    transparent.Config
		NetNS     string
		Backend   transparent.Backend
		StepDelay time.Duration
	}
	if err := json.Unmarshal([]byte(os.Getenv(crashChildEnv)), &req); err != nil {
		fmt.Println("bad request:", err)
		os.Exit(2)
	}
	tun, err := transparent.New(req.Config, transparent.WithNetNS(req.NetNS), transparent.WithBackend(req.Backend), transparent.WithFirewall(testFirewall()))
	if err == nil {
		transparent.SetStepDelay(tun, req.StepDelay)
		fmt.Println("start")
		err = tun.Up(context.Background())
	}
	if err != nil {
		fmt.Printf("up failed: permission=%v: %v\n", errors.Is(err, os.ErrPermission), err)
		os.Exit(1)
	}
	fmt.Println("up")
	if done := tun.DeviceDone(); done != nil {
		<-done // another process brought the embedded device down
		fmt.Println("device done")
		os.Exit(0)
	}
	time.Sleep(math.MaxInt64) // until killed; a pending timer keeps Go from seeing a deadlock
}

// startChild starts the test binary as a crashChild with req (Config,
// NetNS, Backend, StepDelay) and returns it once it said "start", with
// its output to read on. The child is killed at cleanup if still running.
func startChild(t *testing.T, req map[string]any) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), crashChildEnv+"="+string(data))
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		child.Process.Kill()
		child.Wait()
	})
	lines := bufio.NewReader(out)
	if line, _ := lines.ReadString('\n'); strings.TrimSpace(line) != "start" {
		t.Fatalf("child: %q", line)
	}
	return child, lines
}

// TestDownAfterCrash: a process runs Up and is killed with SIGKILL. An
// embedded device dies with it, a kernel device stays, and so do the
// rules; a fresh Tunnel in this process, with only the config, brings the
// namespace back to how it was.
func TestDownAfterCrash(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	cfg := w.configA(transparent.PeerRouteRule)
	before := dump(t, w.A)

	child, lines := startChild(t, map[string]any{"Config": cfg, "NetNS": w.A.Path, "Backend": testBackend()})
	if line, _ := lines.ReadString('\n'); strings.TrimSpace(line) != "up" {
		t.Fatalf("child: %q", line)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA) // the child's tunnel works
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err == nil || err.Error() != "signal: killed" {
		t.Fatalf("child ended with %v before it was killed", err)
	}

	if wantBackend() == transparent.BackendUserspace {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := w.A.Netlink().LinkByName(cfg.Name); err != nil {
				break // the embedded device died with its process
			}
			if time.Now().After(deadline) {
				t.Fatalf("link %s still there after its process was killed", cfg.Name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	} else if _, err := w.A.Netlink().LinkByName(cfg.Name); err != nil {
		t.Fatalf("kernel link %s gone with its process: %v", cfg.Name, err)
	}
	if testns.Diff(before, dump(t, w.A)) == "" {
		t.Fatal("no rules left behind by the crash; this test would prove nothing")
	}

	fresh := newTunnel(t, cfg, w.A)
	if err := fresh.Down(context.Background()); err != nil {
		t.Fatalf("Down after crash: %v", err)
	}
	expectSameDump(t, w.A, before, "after Down from a fresh Tunnel")
	if _, err := os.Stat("/var/run/wireguard/" + cfg.Name + ".sock"); !os.IsNotExist(err) {
		t.Errorf("the dead device's UAPI socket is still there after Down (%v)", err)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", publicA)

	// And Up from a fresh Tunnel converges to the full config again.
	if err := fresh.Up(context.Background()); err != nil {
		t.Fatalf("Up after crash: %v", err)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)
}

// TestNotPermitted: without root's capabilities, Up fails with an error
// that satisfies errors.Is(err, os.ErrPermission) and says what is needed.
// The child runs as user nobody, from a copy of the test binary it can
// read.
func TestNotPermitted(t *testing.T) {
	w := newArticle(t)
	before := dump(t, w.A)
	bin := nobodyBinary(t)
	req, err := json.Marshal(map[string]any{"Config": w.configA(transparent.PeerRouteRule), "NetNS": w.A.Path, "Backend": testBackend()})
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(bin, "-test.run=^$")
	child.Env = []string{crashChildEnv + "=" + string(req)}
	child.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := child.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "up failed: permission=true: ") || !strings.Contains(string(out), "CAP_NET_ADMIN") {
		t.Errorf("child as nobody: %v\n%s\nwant a permission error that says what is needed", err, out)
	}
	expectSameDump(t, w.A, before, "after Up without permission")
}

// nobodyBinary is a copy of the test binary that user nobody can run.
func nobodyBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wgtransparent-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "transparent.test")
	data, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(bin, data, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestCrashAtRandomPoints kills a process in the middle of an Up (SIGKILL
// at a random moment while its writes are under way), 24 times. After each
// crash a fresh Tunnel with only the config either brings the namespace
// back to how it was (Down), or, on alternate rounds, converges to the
// full config (Up, then Check finds nothing to do and the tunnel works).
func TestCrashAtRandomPoints(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	cfg, cfgB := ends{fams: []family{ipv4, ipv6}, snatA: transparent.SNATOutbound}.configs(w)
	newTunnel(t, cfgB, w.B).Up(context.Background())
	before := fullDump(t, w.A)
	const delay = 4 * time.Millisecond
	req := map[string]any{"Config": cfg, "NetNS": w.A.Path, "Backend": testBackend(), "StepDelay": delay}
	ctx := context.Background()
	for round := range 24 {
		child, _ := startChild(t, req) // Up begins
		// An Up of this config makes about 20 writes, one per delay.
		time.Sleep(time.Duration(rand.Int64N(int64(20 * delay))))
		child.Process.Kill()
		child.Wait()

		fresh, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithBackend(testBackend()), transparent.WithFirewall(testFirewall()))
		if err != nil {
			t.Fatal(err)
		}
		if round%2 == 1 {
			if err := fresh.Up(ctx); err != nil {
				t.Fatalf("round %d: Up after the crash: %v", round, err)
			}
			if err := fresh.Check(ctx); err != nil {
				t.Errorf("round %d: Check after Up: %v", round, err)
			}
			w.expectClient(t, w.A, ipv4.url(publicB), publicA)
		}
		if err := fresh.Down(ctx); err != nil {
			t.Fatalf("round %d: Down after the crash: %v", round, err)
		}
		fresh.Close()
		if diff := settledDiff(before, func() string { return fullDump(t, w.A) }); diff != "" {
			t.Fatalf("round %d: namespace after Down:\n%s", round, diff)
		}
	}
}

// TestManageFromAnotherProcess: a process runs Up and keeps the tunnel
// (an embedded device lives in that process). Another process, with only
// the config, checks it (in sync), finds a rule deleted by hand, repairs
// it, and finally brings it down; an embedded device then stops, and its
// process sees that through DeviceDone.
func TestManageFromAnotherProcess(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	cfg := w.configA(transparent.PeerRouteRule)
	before := dump(t, w.A)
	_, lines := startChild(t, map[string]any{"Config": cfg, "NetNS": w.A.Path, "Backend": testBackend()})
	if line, _ := lines.ReadString('\n'); strings.TrimSpace(line) != "up" {
		t.Fatalf("child: %q", line)
	}

	other := newTunnel(t, cfg, w.A)
	ctx := context.Background()
	if err := other.Check(ctx); err != nil {
		t.Fatalf("Check from another process: %v", err)
	}
	rule := netlink.NewRule()
	rule.Priority, rule.Table, rule.Protocol = 456, 123, transparent.RouteProtocol
	rule.Dst = &net.IPNet{IP: publicB.AsSlice(), Mask: net.CIDRMask(32, 32)}
	if err := w.A.Netlink().RuleDel(rule); err != nil {
		t.Fatal(err)
	}
	if err := other.Check(ctx); !errors.Is(err, transparent.ErrDrift) {
		t.Fatalf("Check after deleting a rule = %v, want ErrDrift", err)
	}
	if err := other.Up(ctx); err != nil {
		t.Fatalf("Up from another process: %v", err)
	}
	if err := other.Check(ctx); err != nil {
		t.Errorf("Check after the repair: %v", err)
	}
	w.expectClient(t, w.A, "http://203.0.113.2/", tunA)

	if err := other.Down(ctx); err != nil {
		t.Fatalf("Down from another process: %v", err)
	}
	expectSameDump(t, w.A, before, "after Down from another process")
	if wantBackend() == transparent.BackendUserspace {
		if line, _ := lines.ReadString('\n'); strings.TrimSpace(line) != "device done" {
			t.Errorf("the process running the embedded device said %q, want %q", line, "device done")
		}
		if _, err := os.Stat("/var/run/wireguard/" + cfg.Name + ".sock"); !os.IsNotExist(err) {
			t.Errorf("the stopped device's UAPI socket is still there (%v)", err)
		}
	}
}
