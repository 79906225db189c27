package main

import (
	"bufio"
	"context"
	"net"
	"net/netip"
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
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

func TestMain(m *testing.M) { testns.GuardMain(m) }

// TestCommand builds the command and drives the article's world with it:
// up (which returns; the embedded device runs in a background process),
// check in sync, a rule deleted by hand, check reports drift, up again
// repairs it, the tunnel works, down leaves nothing and ends the
// background process.
func TestCommand(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	w := testns.Article(t)
	keyA, keyB := genKey(t), genKey(t)
	endpointB(t, w, keyA, keyB)

	file := filepath.Join(t.TempDir(), "wgcmda.conf")
	conf := `[Interface]
PrivateKey = ` + keyA.String() + `
Address = 10.0.0.1/32
ListenPort = 51821
Table = 123
Priority = 455
PeerRoute = rule

[Peer]
PublicKey = ` + keyB.PublicKey().String() + `
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
Transparent = 203.0.113.2/32
`
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := testns.Dump(w.A)
	if err != nil {
		t.Fatal(err)
	}
	cmd := func(want int, args ...string) string {
		t.Helper()
		c := exec.Command(bin, append(args, file, "--netns", w.A.Name)...)
		out, err := c.CombinedOutput()
		if got := c.ProcessState.ExitCode(); got != want {
			t.Fatalf("wg-transparent %s: exit %d (%v), want %d\n%s", strings.Join(args, " "), got, err, want, out)
		}
		return string(out)
	}

	if out := cmd(0, "plan"); !strings.Contains(out, "add     ip rule add to 203.0.113.2/32 lookup 123 priority 456 proto 87") {
		t.Errorf("plan:\n%s", out)
	}
	adoptOrphans(t)
	pid, _ := upReturns(t, bin, file, "--netns", w.A.Name) // an embedded device runs in a process of its own
	cmd(0, "check")
	rule := netlink.NewRule()
	rule.Priority, rule.Table, rule.Protocol = 456, 123, transparent.RouteProtocol
	rule.Dst = &net.IPNet{IP: net.IPv4(203, 0, 113, 2).To4(), Mask: net.CIDRMask(32, 32)}
	if err := w.A.Netlink().RuleDel(rule); err != nil {
		t.Fatal(err)
	}
	if out := cmd(1, "check"); !strings.Contains(out, "add     ip rule add to 203.0.113.2/32 lookup 123 priority 456") {
		t.Errorf("check after deleting a rule:\n%s", out)
	}
	cmd(0, "up") // from another process: repairs, and returns
	cmd(0, "check")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := testns.Get(ctx, w.A, "http://203.0.113.2/"); err != nil || w.Server.Last() != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("request through the tunnel: %v, B logged %s", err, w.Server.Last())
	}
	if out := cmd(0, "show"); !strings.Contains(out, "456: to 203.0.113.2/32 lookup 123") ||
		!strings.Contains(out, "allowed ips: 10.0.0.2/32, 203.0.113.2/32") || !strings.Contains(out, "latest handshake") {
		t.Errorf("show:\n%s", out)
	}

	cmd(0, "down")
	if pid != 0 {
		if ws := reap(t, pid, "the background process after down"); !ws.Exited() || ws.ExitStatus() != 0 {
			t.Errorf("the background process after down: %v, want exit 0", ws)
		}
	}
	after, err := testns.Dump(w.A)
	if err != nil {
		t.Fatal(err)
	}
	if diff := testns.Diff(before, after); diff != "" {
		t.Errorf("after down:\n%s", diff)
	}
}

// TestCommandErrors: usage errors and bad files exit 2 with a message a
// person understands.
func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "wg0.conf")
	os.WriteFile(bad, []byte("[Interface]\nPrivateKey = nope\nColor = blue\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "want a command and a CONFIG_FILE or INTERFACE"},
		{[]string{"fly", bad}, `unknown command "fly"`},
		{[]string{"up", bad, "--backend", "magic"}, "use auto, kernel or userspace"},
		{[]string{"check", filepath.Join(dir, "missing.conf")}, "no such file"},
		{[]string{"check", bad}, "wg0.conf:3"},
	} {
		var out strings.Builder
		if got := run(tc.args, &out, &out); got != exitError || !strings.Contains(out.String(), tc.want) {
			t.Errorf("wg-transparent %q: exit %d\n%s\nwant exit 2 mentioning %q", tc.args, got, out.String(), tc.want)
		}
	}
}

func genKey(t *testing.T) wgtypes.Key {
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestCommandSignalAndHooks: the foreground up runs the file's hooks with
// %i replaced, and on SIGTERM brings the tunnel down (running its PreDown
// hook) and exits 0, leaving the namespace as it was.
func TestCommandSignalAndHooks(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "sig")
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	file := filepath.Join(dir, "wgsig.conf")
	conf := `[Interface]
PrivateKey = ` + genKey(t).String() + `
Address = 10.0.0.1/32
Table = 123
PostUp = echo up %i >> ` + trace + `
PreDown = echo down %i >> ` + trace + `

[Peer]
PublicKey = ` + genKey(t).PublicKey().String() + `
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
Transparent = 203.0.113.2/32
`
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := startForeground(t, "staying in the foreground", bin, "up", file, "--netns", ns.Name, "--backend", "userspace", "--foreground")
	if err := up.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := up.Wait(); err != nil {
		t.Errorf("up after SIGTERM: %v", err)
	}
	if got, _ := os.ReadFile(trace); string(got) != "up wgsig\ndown wgsig\n" {
		t.Errorf("hooks ran as %q, want %q", got, "up wgsig\ndown wgsig\n")
	}
	diff, err := testns.DiffSettled(ns, before)
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Errorf("after SIGTERM:\n%s", diff)
	}
}

// startForeground starts the command with args, waits for its first line
// of output to contain want, and returns it with its output to read on;
// it is killed at cleanup if still running.
func startForeground(t *testing.T, want, bin string, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	c := exec.Command(bin, args...)
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
	})
	lines := bufio.NewReader(stdout)
	if line, _ := lines.ReadString('\n'); !strings.Contains(line, want) {
		t.Fatalf("%s said %q, want %q", args[0], line, want)
	}
	return c, lines
}
