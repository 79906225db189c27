package transparent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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

// crashChild runs in the child process: the request's operation (Op) with
// the config and namespace given in the environment, after saying
// "start", then report how it went and wait forever (to be killed).
//   - "up" (or ""): Up, then report "up";
//   - "down": Up first, then Down, and report "down";
//   - "setconfig": Up first, then SetConfig(Next) and Up, and report "up";
//   - "failover": Up first, then the first peer's failover as Watch makes
//     it (its state recorded, then Repair), and report "up";
//   - "failback": Up and the failover first, then the failback, and
//     report "up".
//
// On failure it reports "up failed" (or "setup failed" for the Up before
// the operation), whether the error is a permission error, and the error.
func crashChild() {
	var req struct {
		Config   transparent.Config
		Next     transparent.Config
		NetNS    string
		Backend  transparent.Backend
		Firewall *transparent.Firewall // nil: testFirewall()
		Op       string
		// StepDelay paces the operation's writes (TestClaimSurvivesCrash);
		// the SIGKILL campaign needs none.
		StepDelay time.Duration
	}
	if err := json.Unmarshal([]byte(os.Getenv(crashChildEnv)), &req); err != nil {
		fmt.Println("bad request:", err)
		os.Exit(2)
	}
	fw := testFirewall()
	if req.Firewall != nil {
		fw = *req.Firewall
	}
	ctx := context.Background()
	tun, err := transparent.New(req.Config, transparent.WithNetNS(req.NetNS), transparent.WithBackend(req.Backend), transparent.WithFirewall(fw))
	if err == nil && req.Op != opUp && req.Op != "" {
		err = tun.Up(ctx)
		if err == nil && req.Op == opSetConfig {
			err = tun.SetConfig(req.Next)
		}
		if err == nil && req.Op == opFailback {
			err = transition(ctx, tun, req.Config.Peers[0], false)
		}
		if err != nil {
			fmt.Printf("setup failed: permission=%v: %v\n", errors.Is(err, os.ErrPermission), err)
			os.Exit(1)
		}
	}
	if err == nil {
		paceWrites(tun, req.StepDelay)
		fmt.Println("start")
		switch req.Op {
		case opDown:
			err = tun.Down(ctx)
		case opFailover:
			err = transition(ctx, tun, req.Config.Peers[0], false)
		case opFailback:
			err = transition(ctx, tun, req.Config.Peers[0], true)
		default:
			err = tun.Up(ctx)
		}
	}
	if err != nil {
		fmt.Printf("up failed: permission=%v: %v\n", errors.Is(err, os.ErrPermission), err)
		os.Exit(1)
	}
	if req.Op == opDown {
		fmt.Println("down")
		time.Sleep(math.MaxInt64)
	}
	fmt.Println("up")
	if done := tun.DeviceDone(); done != nil {
		<-done // another process brought the embedded device down
		fmt.Println("device done")
		os.Exit(0)
	}
	time.Sleep(math.MaxInt64) // until killed; a pending timer keeps Go from seeing a deadlock
}

// transition makes peer p fail over (healthy false: to its Fallback's
// state) or back as Watch does: its state recorded, then a Repair.
func transition(ctx context.Context, tun *transparent.Tunnel, p transparent.Peer, healthy bool) error {
	state := transparent.PeerThroughTunnel
	if !healthy {
		state = transparent.PeerFailedOver
		if p.Fallback == transparent.FallbackBlock {
			state = transparent.PeerBlocked
		}
	}
	if err := transparent.SetPeerState(ctx, tun, p.PublicKey, state); err != nil {
		return err
	}
	return tun.Repair(ctx)
}

// paceWrites makes tun pause for d before each kernel write: the one use
// of the library's pacing hook by the crash child.
func paceWrites(tun *transparent.Tunnel, d time.Duration) {
	if d > 0 {
		transparent.SetStepDelay(tun, d)
	}
}

// startChild starts the test binary as a crashChild with req (Config,
// NetNS, Backend, and optionally Firewall, Op, Next and StepDelay) and
// returns it once it said "start", with its output to read on. The child
// and its process group are killed at cleanup if still running.
func startChild(t *testing.T, req map[string]any) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), crashChildEnv+"="+string(data))
	child.Stderr = os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, with the commands it runs
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-child.Process.Pid, syscall.SIGKILL) // it and the commands it runs
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
		waitLinkGone(t, w.A, cfg.Name)
	} else if _, err := w.A.Netlink().LinkByName(cfg.Name); err != nil {
		t.Fatalf("kernel link %s gone with its process: %v", cfg.Name, err)
	}
	if testns.Diff(before, dump(t, w.A)) == "" {
		t.Fatal("no rules left behind by the crash; this test would prove nothing")
	}

	fresh := newTunnel(t, cfg, w.A)
	if wantBackend() == transparent.BackendUserspace {
		// The reported break: a dial error ("connection refused") on
		// the dead device's socket, instead of saying what happened.
		if d, err := fresh.Device(); d != nil || !errors.Is(err, transparent.ErrDeviceGone) {
			t.Errorf("Device after the device's process was killed: %v, %v; want ErrDeviceGone", d, err)
		}
	}
	if err := fresh.Down(context.Background()); err != nil {
		t.Fatalf("Down after crash: %v", err)
	}
	expectSameDump(t, w.A, before, "after Down from a fresh Tunnel")
	if _, err := os.Stat("/var/run/wireguard/" + cfg.Name + ".sock"); !os.IsNotExist(err) {
		t.Errorf("the dead device's UAPI socket is still there after Down (%v)", err)
	}
	if _, err := os.Stat(transparent.OwnerPath(cfg.Name)); !os.IsNotExist(err) {
		t.Errorf("the dead device's owner file is still there after Down (%v)", err)
	}
	if d, err := fresh.Device(); d != nil || err != nil {
		t.Errorf("Device after Down: %v, %v; want none, and no error", d, err)
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
	// Set the modes explicitly: the umask is the process's, and an
	// embedded device of another test serving its UAPI socket sets it to
	// 077 for a moment (wireguard-go's UAPIOpen), which would leave the
	// file unexecutable by nobody.
	if err == nil {
		err = os.Chmod(bin, 0o755)
	}
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
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

// waitLinkGone waits, bounded, for the link name to leave ns: an embedded
// device dies with its process.
func waitLinkGone(t *testing.T, ns *testns.NS, name string) {
	t.Helper()
	waitUntil(t, "link "+name+" to go with its killed process", 5*time.Second, func() bool {
		_, err := ns.Netlink().LinkByName(name)
		return err != nil
	})
}
