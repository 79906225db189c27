package main

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/testns"
)

// lockedBuffer collects a child process's output, safe to read while the
// process writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// netnsResolvConf writes /etc/netns/NAME/resolv.conf, the namespace's
// resolver as `ip netns exec` gives it, removed at cleanup.
func netnsResolvConf(t *testing.T, ns *testns.NS, text string) {
	t.Helper()
	etc := filepath.Join("/etc/netns", ns.Name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond for up to 30 seconds.
func waitUntil(t *testing.T, what string, out *lockedBuffer, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; run said:\n%s", what, out.String())
		}
	}
}

// routedIn reports whether table 123 of ns routes a, or a rule of ns
// sends a to it.
func routedIn(h *netlink.Handle, a netip.Addr) bool {
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 123}, netlink.RT_FILTER_TABLE)
	if err == nil && slices.ContainsFunc(routes, func(r netlink.Route) bool {
		return r.Dst != nil && r.Dst.Contains(a.AsSlice()) && r.Dst.String() != "0.0.0.0/0"
	}) {
		return true
	}
	rules, err := h.RuleList(netlink.FAMILY_V4)
	return err == nil && slices.ContainsFunc(rules, func(r netlink.Rule) bool {
		return r.Table == 123 && r.Dst != nil && r.Dst.Contains(a.AsSlice()) && r.Dst.String() != "0.0.0.0/0"
	})
}

// TestRunRefusesResolverAnswer (issue 23, break 5): under run, a
// Transparent name (TTL 1) whose answer becomes the name server's own
// address (203.0.113.53) must not route the server into the tunnel, which
// would lock every later lookup out and keep the route forever. The
// answer is refused with an error saying so, the last good answer stays
// routed, and a later answer is still followed.
func TestRunRefusesResolverAnswer(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	w := testns.Article(t)
	resolver := netip.MustParseAddr("203.0.113.53")
	eth0, err := w.B.Netlink().LinkByName("eth0")
	if err == nil {
		err = w.B.Netlink().AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: resolver.AsSlice(), Mask: net.CIDRMask(24, 32)}})
	}
	if err != nil {
		t.Fatal(err)
	}
	dns := testns.DNS(t, w.B, resolver)
	netnsResolvConf(t, w.A, "nameserver "+resolver.String()+"\n")
	before, err := testns.DumpSettled(w.A)
	if err != nil {
		t.Fatal(err)
	}
	first, second := netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.0.20")
	dns.Set("app.example.com", time.Second, first)
	name := uniqueName("wgdn")
	file := filepath.Join(t.TempDir(), name+".conf")
	conf := "[Interface]\nPrivateKey = " + genKey(t).String() + "\nAddress = 10.0.0.1/32\nTable = 123\n\n[Peer]\nPublicKey = " + genKey(t).PublicKey().String() +
		"\nEndpoint = 203.0.113.2:51822\nAllowedIPs = 10.0.0.2/32\nTransparent = app.example.com\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(bin, "run", file, "--netns", w.A.Name)
	var out lockedBuffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		run.Process.Kill()
		run.Wait()
	}()
	h := w.A.Netlink()
	waitUntil(t, "run to route "+first.String(), &out, func() bool { return routedIn(h, first) })

	dns.Set("app.example.com", time.Second, resolver)
	waitUntil(t, "run to refuse the resolver's address", &out, func() bool {
		return strings.Contains(out.String(), "is the name server that resolves the names")
	})
	if routedIn(h, resolver) {
		t.Errorf("the name server %s is routed into the tunnel", resolver)
	}
	if !routedIn(h, first) {
		t.Errorf("the last good answer %s is no longer routed", first)
	}

	dns.Set("app.example.com", time.Second, second)
	waitUntil(t, "run to follow a later answer to "+second.String(), &out, func() bool { return routedIn(h, second) })
	if routedIn(h, resolver) {
		t.Errorf("the name server %s is routed into the tunnel", resolver)
	}

	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(); err != nil {
		t.Errorf("run after SIGTERM: %v\n%s", err, out.String())
	}
	if diff, err := testns.DiffSettled(w.A, before); err != nil || diff != "" {
		t.Errorf("after SIGTERM (%v):\n%s", err, diff)
	}
}

// TestEndpointNameInNetNS (issue 23, breaks 7 and 8; issue 21, item 1):
// with --netns, an Endpoint host name is resolved by the namespace's
// resolver (a name server reachable only inside it), as Transparent
// names are; resolvconf runs inside the namespace, as the hooks do. With
// that name server gone silent, check fails naming the name, while
// render, import, plan and show succeed, the namespace's hosts file
// answers check without DNS, and down, after the run that
// brought the tunnel up was killed, leaves the namespace as before.
func TestEndpointNameInNetNS(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	w := testns.Article(t)
	dns := testns.DNS(t, w.A, netip.MustParseAddr("127.0.0.1")) // reachable only inside A
	dns.Set("b.example.test", time.Minute, netip.MustParseAddr("203.0.113.2"))
	netnsResolvConf(t, w.A, "nameserver 127.0.0.1\n")
	before, err := testns.DumpSettled(w.A)
	if err != nil {
		t.Fatal(err)
	}
	var nsA string
	if err := w.A.Do(func() (err error) { nsA, err = os.Readlink("/proc/thread-self/ns/net"); return err }); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	fake := filepath.Join(dir, "bin")
	nsLog := filepath.Join(dir, "ns.log")
	if err := os.Mkdir(fake, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"resolvconf $1 $(readlink /proc/self/ns/net)\" >> " + nsLog + "\ncat > /dev/null\nexit 0\n"
	if err := os.WriteFile(filepath.Join(fake, "resolvconf"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	name := uniqueName("wgdn")
	file := filepath.Join(dir, name+".conf")
	conf := "[Interface]\nPrivateKey = " + genKey(t).String() + "\nAddress = 10.0.0.1/32\nTable = 123\nDNS = 10.0.0.53\nPostUp = echo \"hook $(readlink /proc/self/ns/net)\" >> " + nsLog +
		"\n\n[Peer]\nPublicKey = " + genKey(t).PublicKey().String() + "\nEndpoint = b.example.test:51822\nAllowedIPs = 10.0.0.2/32\nTransparent = 203.0.113.2/32\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	verb := func(want int, args ...string) string {
		t.Helper()
		c := exec.Command(bin, append(args, file, "--netns", w.A.Name)...)
		c.Env = env
		status, out := exitCode(t, c)
		if status != want {
			t.Errorf("%s: exit %d, want %d\n%s", args[0], status, want, out)
		}
		return out
	}

	run := exec.Command(bin, "run", file, "--netns", w.A.Name)
	run.Env = env
	var out lockedBuffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		run.Process.Kill()
		run.Wait()
	}()
	waitUntil(t, "run to bring the tunnel up", &out, func() bool { return strings.Contains(out.String(), name+" is up") })
	rules, err := w.A.Netlink().RuleList(netlink.FAMILY_V4)
	if err != nil || !slices.ContainsFunc(rules, func(r netlink.Rule) bool {
		return r.Dst != nil && r.Dst.String() == "203.0.113.2/32" && r.Dport != nil && r.Dport.Start == 51822 && r.Table == 254
	}) {
		t.Errorf("no exception rule to b.example.test's address 203.0.113.2 dport 51822 (%v): %v\n%s", err, rules, out.String())
	}
	logged, _ := os.ReadFile(nsLog)
	if want := "resolvconf -a " + nsA + "\nhook " + nsA + "\n"; string(logged) != want {
		t.Errorf("resolvconf and the hook ran in:\n%s\nwant both in %s:\n%s", logged, w.A.Name, want)
	}
	verb(exitOK, "check")

	dns.Silent(true) // DNS gone
	if out := verb(exitError, "check"); !strings.Contains(out, `cannot resolve "b.example.test"`) {
		t.Errorf("check with DNS gone does not name the Endpoint name:\n%s", out)
	}
	if out := verb(exitOK, "render"); !strings.Contains(out, "Endpoint = b.example.test:51822") {
		t.Errorf("render with DNS gone:\n%s", out)
	}
	if out := verb(exitOK, "import"); !strings.Contains(out, "Endpoint = b.example.test:51822") {
		t.Errorf("import with DNS gone:\n%s", out)
	}
	if out := verb(exitOK, "plan"); !strings.Contains(out, "b.example.test:51822 of [Peer] 1 is not resolved") {
		t.Errorf("plan with DNS gone does not say the endpoint is unresolved:\n%s", out)
	}
	verb(exitOK, "show")
	// The namespace's hosts file answers without DNS, as wg(8) finds it.
	hosts := filepath.Join("/etc/netns", w.A.Name, "hosts")
	if err := os.WriteFile(hosts, []byte("203.0.113.2 b.example.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	verb(exitOK, "check")
	if err := os.Remove(hosts); err != nil {
		t.Fatal(err)
	}

	run.Process.Kill() // the tunnel stays: rules, routes, record
	run.Wait()
	verb(exitOK, "down")
	if diff, err := testns.DiffSettled(w.A, before); err != nil || diff != "" {
		t.Errorf("after down with DNS gone (%v):\n%s", err, diff)
	}
	if logged, _ := os.ReadFile(nsLog); !strings.HasSuffix(string(logged), "resolvconf -d "+nsA+"\n") {
		t.Errorf("down's resolvconf did not run in %s:\n%s", w.A.Name, logged)
	}
}
