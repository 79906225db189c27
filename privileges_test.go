package transparent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// capsChildEnv names the environment variable that turns the test binary
// into a child that runs Up, Check and, after a line on its input, Down,
// in the namespace it was started in (no WithNetNS).
const capsChildEnv = "WGTRANSPARENT_CAPS_CHILD"

// capsChild is that child. It reports each step as "up", "checked",
// "down", or "failed: permission=BOOL: ERROR".
func capsChild() {
	var req struct {
		Config   transparent.Config
		Firewall transparent.Firewall
		Backend  transparent.Backend
	}
	if err := json.Unmarshal([]byte(os.Getenv(capsChildEnv)), &req); err != nil {
		fmt.Println("bad request:", err)
		os.Exit(2)
	}
	fail := func(err error) {
		fmt.Printf("failed: permission=%v: %v\n", errors.Is(err, os.ErrPermission), err)
		os.Exit(1)
	}
	tun, err := transparent.New(req.Config, transparent.WithBackend(req.Backend), transparent.WithFirewall(req.Firewall))
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if err := tun.Up(ctx); err != nil {
		fail(err)
	}
	fmt.Println("up")
	if err := tun.Check(ctx); err != nil {
		fail(err)
	}
	fmt.Println("checked")
	bufio.NewReader(os.Stdin).ReadString('\n')
	if err := tun.Down(ctx); err != nil {
		fail(err)
	}
	fmt.Println("down")
}

// capsCommand is the test binary as a capsChild for cfg, with its input
// and output.
func capsCommand(t *testing.T, cfg transparent.Config) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	req, err := json.Marshal(map[string]any{"Config": cfg, "Firewall": testFirewall(), "Backend": testBackend()})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), capsChildEnv+"="+string(req))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	return cmd, in, bufio.NewReader(out)
}

// expectLine reads the child's next report and fails unless it is want.
func expectLine(t *testing.T, out *bufio.Reader, want string) {
	t.Helper()
	line, err := out.ReadString('\n')
	if strings.TrimSpace(line) != want {
		t.Fatalf("child said %q (%v), want %q", line, err, want)
	}
}

// TestOnlyNetAdmin: a root process with CAP_NET_ADMIN alone (as in a
// container given only that capability) brings a tunnel with SNAT up,
// checks it and brings it down in the namespace it runs in, without
// WithNetNS, so without entering any namespace: the tunnel works
// meanwhile, and Down leaves the namespace as it was.
func TestOnlyNetAdmin(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	cfgA, cfgB := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
	if err := newTunnel(t, cfgB, w.B).Up(context.Background()); err != nil {
		t.Fatalf("Up B: %v", err)
	}
	before := fullDump(t, w.A)
	cmd, in, out := capsCommand(t, cfgA)
	testns.StartRestricted(t, w.A, unix.CAP_NET_ADMIN, cmd)
	expectLine(t, out, "up")
	expectLine(t, out, "checked")
	w.expectClient(t, w.A, ipv4.url(publicB), publicA) // through the tunnel, translated
	fmt.Fprintln(in)
	expectLine(t, out, "down")
	expectSame(t, "A after Down with CAP_NET_ADMIN alone", before, fullDump(t, w.A))
}

// TestNoCapabilities: a root process without capabilities, in its own
// namespace (no WithNetNS), gets a permission error from Up that matches
// os.ErrPermission and names CAP_NET_ADMIN (and not CAP_SYS_ADMIN, which
// it does not need there), and changes nothing.
func TestNoCapabilities(t *testing.T) {
	w := newArticle(t)
	before := dump(t, w.A)
	cmd, _, out := capsCommand(t, w.configA(transparent.PeerRouteRule))
	testns.StartRestricted(t, w.A, -1, cmd)
	line, _ := out.ReadString('\n')
	if !strings.HasPrefix(line, "failed: permission=true: ") || !strings.Contains(line, "lacks CAP_NET_ADMIN") || strings.Contains(line, "CAP_SYS_ADMIN") {
		t.Errorf("child without capabilities: %q\nwant a permission error naming CAP_NET_ADMIN alone", line)
	}
	expectSameDump(t, w.A, before, "after Up without capabilities")
}

// TestIPv6DisabledIsNotPermission: the kernel refuses an IPv6 address on a
// link whose IPv6 is disabled with EACCES, which is no privilege problem:
// Up's error does not match os.ErrPermission, names the sysctl, and Up
// rolls back.
func TestIPv6DisabledIsNotPermission(t *testing.T) {
	w := newArticle(t)
	w.upB(t)
	for _, key := range []string{"all", "default"} {
		path := "/proc/sys/net/ipv6/conf/" + key + "/disable_ipv6"
		if err := w.A.Do(func() error { return os.WriteFile(path, []byte("1"), 0o644) }); err != nil {
			t.Fatal(err)
		}
	}
	cfg := w.configA(transparent.PeerRouteRule)
	cfg.Addresses = append(cfg.Addresses, netip.MustParsePrefix("2001:db8:ff::1/128"))
	cfg.Peers[0].AllowedIPs = append(cfg.Peers[0].AllowedIPs, netip.MustParsePrefix("2001:db8:ff::2/128"))
	before := dump(t, w.A)
	tun := newTunnel(t, cfg, w.A)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := tun.Up(ctx)
	if err == nil || errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "disable_ipv6") || strings.Contains(err.Error(), "CAP_") {
		t.Errorf("Up with IPv6 disabled = %v\nwant an error about disable_ipv6 that is no permission error", err)
	}
	expectSameDump(t, w.A, before, "after Up with IPv6 disabled")
}
