package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"github.com/wgtransparent/transparent/wgquick"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// reloadCycles is how many times TestReloadWithoutLoss adds and removes
// a destination while packets flow: each reload changes rules, routes
// and the device's AllowedIPs, so a gap in any of them would show.
const reloadCycles = 5

// packetInterval is how often TestReloadWithoutLoss sends a datagram.
const packetInterval = 2 * time.Millisecond

// articleFile writes Endpoint A's file, NAME.conf, with the article's
// settings and extra Transparent prefixes, into dir.
func articleFile(t *testing.T, path string, keyA, keyB wgtypes.Key, extra string) {
	t.Helper()
	conf := `[Interface]
PrivateKey = ` + keyA.String() + `
Address = 10.0.0.1/32
ListenPort = 51821
Table = 123
Priority = 455

[Peer]
PublicKey = ` + keyB.PublicKey().String() + `
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
Transparent = 203.0.113.2/32` + extra + "\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
}

// endpointB brings Endpoint B up with the library, in B's namespace.
func endpointB(t *testing.T, w *testns.World, keyA, keyB wgtypes.Key) {
	t.Helper()
	b, err := transparent.New(transparent.Config{
		Name: uniqueName("wgrlb"), PrivateKey: keyB, ListenPort: 51822,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
		Peers:     []transparent.Peer{{PublicKey: keyA.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}}},
	}, transparent.WithNetNS(w.B.Path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Down(context.Background()); b.Close() })
	if err := b.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// hasRuleTo reports whether ns has a rule to dst.
func hasRuleTo(t *testing.T, ns *testns.NS, dst string) bool {
	t.Helper()
	rules, err := ns.Netlink().RuleList(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Dst != nil && r.Dst.String() == dst {
			return true
		}
	}
	return false
}

// stream sends numbered datagrams from A to B's public address, each
// routed afresh (an unconnected socket: a datagram that left over the
// Internet would carry A's public address), and records, on B, the
// source of each that arrives.
type stream struct {
	mu     sync.Mutex
	got    map[uint64]netip.Addr
	sent   uint64
	stop   chan struct{}
	done   chan struct{}
	send   *net.UDPConn
	listen *net.UDPConn
}

func startStream(t *testing.T, w *testns.World) *stream {
	t.Helper()
	s := &stream{got: map[uint64]netip.Addr{}, stop: make(chan struct{}), done: make(chan struct{})}
	err := w.B.Do(func() (err error) {
		s.listen, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(203, 0, 113, 2), Port: 9999})
		return err
	})
	if err == nil {
		err = w.A.Do(func() (err error) {
			s.send, err = net.ListenUDP("udp4", nil)
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.listen.Close(); s.send.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := s.listen.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if n == 8 {
				s.mu.Lock()
				s.got[binary.BigEndian.Uint64(buf)] = from.Addr().Unmap()
				s.mu.Unlock()
			}
		}
	}()
	go func() {
		defer close(s.done)
		to := &net.UDPAddr{IP: net.IPv4(203, 0, 113, 2), Port: 9999}
		tick := time.NewTicker(packetInterval)
		defer tick.Stop()
		for seq := uint64(0); ; seq++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], seq)
			s.send.WriteToUDP(b[:], to)
			s.mu.Lock()
			s.sent = seq + 1
			s.mu.Unlock()
		}
	}()
	return s
}

// firstThrough waits until a datagram arrived through the tunnel (the
// handshake done) and returns its number.
func (s *stream) firstThrough(t *testing.T, tunnelAddr netip.Addr) uint64 {
	t.Helper()
	for deadline := time.Now().Add(lifecycleWait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		for seq, from := range s.got {
			if from == tunnelAddr {
				s.mu.Unlock()
				return seq
			}
		}
		s.mu.Unlock()
	}
	t.Fatal("no datagram came through the tunnel")
	return 0
}

// TestReloadWithoutLoss (issue 21, item 5): while A sends a datagram to
// B's public address every 2 ms through the tunnel, `reload` adds another
// destination to A's file and removes it again, five times, through the
// run that keeps the tunnel: every reload is applied (the rule appears
// and goes), and not one datagram is lost or leaves over the Internet
// (each arrives from A's tunnel address). SIGTERM then brings the tunnel
// down and restores A's namespace.
func TestReloadWithoutLoss(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	w := testns.Article(t)
	keyA, keyB := genKey(t), genKey(t)
	endpointB(t, w, keyA, keyB)
	before, err := testns.DumpSettled(w.A)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("wgrla")
	file := filepath.Join(t.TempDir(), name+".conf")
	articleFile(t, file, keyA, keyB, "")
	run, lines := startForeground(t, "is up", bin, "run", file, "--netns", w.A.Name)
	go io.Copy(io.Discard, lines)

	s := startStream(t, w)
	tunnelAddr := netip.MustParseAddr("10.0.0.1")
	first := s.firstThrough(t, tunnelAddr)
	reload := func(want string) {
		t.Helper()
		code, out := exitCode(t, exec.Command(bin, "reload", file, "--netns", w.A.Name))
		if code != exitOK || !strings.Contains(out, "reloaded") {
			t.Fatalf("reload (%s): exit %d\n%s", want, code, out)
		}
	}
	for i := 0; i < reloadCycles; i++ {
		articleFile(t, file, keyA, keyB, ", 192.0.2.3/32")
		reload("add 192.0.2.3/32")
		if !hasRuleTo(t, w.A, "192.0.2.3/32") {
			t.Fatalf("cycle %d: the reload did not add the rule to 192.0.2.3/32", i)
		}
		articleFile(t, file, keyA, keyB, "")
		reload("remove 192.0.2.3/32")
		if hasRuleTo(t, w.A, "192.0.2.3/32") {
			t.Fatalf("cycle %d: the reload did not remove the rule to 192.0.2.3/32", i)
		}
	}
	time.Sleep(50 * time.Millisecond)
	close(s.stop)
	<-s.done
	time.Sleep(200 * time.Millisecond) // the last datagrams in flight
	s.mu.Lock()
	var lost, leaked []uint64
	for seq := first; seq < s.sent; seq++ {
		from, ok := s.got[seq]
		switch {
		case !ok:
			lost = append(lost, seq)
		case from != tunnelAddr:
			leaked = append(leaked, seq)
		}
	}
	total := s.sent - first
	s.mu.Unlock()
	if len(lost) > 0 || len(leaked) > 0 {
		t.Errorf("of %d datagrams sent during %d reloads, lost %v, over the Internet %v", total, 2*reloadCycles, lost, leaked)
	} else {
		t.Logf("%d datagrams sent during %d reloads, none lost", total, 2*reloadCycles)
	}

	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, run, "run after SIGTERM"); err != nil {
		t.Errorf("run after SIGTERM: %v", err)
	}
	expectRestored(t, w.A, before, name, "after SIGTERM")
}

// startLogged starts the command with args, its stderr into a buffer,
// and waits until its stdout says want.
func startLogged(t *testing.T, want, bin string, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	var out lockedBuffer
	c := exec.Command(bin, args...)
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Kill()
		c.Wait()
	})
	waitUntil(t, want, &out, func() bool { return strings.Contains(out.String(), want) })
	return c, &out
}

// TestReloadBadFile (issue 21, item 5): SIGHUP no longer brings a
// foreground up down: it reloads. A file made bad is refused, by a
// SIGHUP (logged with its file:line) and by the reload verb (exit 2,
// file:line, the keeping process not signalled), and the running config
// stays, the namespace unchanged; the repaired file is applied by the
// next reload; SIGINT still brings the tunnel down and restores the
// namespace.
func TestReloadBadFile(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "rlbad")
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("wgrl")
	dir := t.TempDir()
	file := tunnelFile(t, dir, name, "")
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	up, out := startLogged(t, "is up", bin, "up", file, "--netns", ns.Name, "--backend", "userspace", "--foreground")
	upDump, err := testns.Dump(ns)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), "Table = 123\n", "Table = 123\nMysteryKey = 1\n", 1)
	if err := os.WriteFile(file, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := up.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	where := filepath.Base(file) + ":5"
	waitUntil(t, "the bad reload to be logged", out, func() bool {
		return strings.Contains(out.String(), "reload: "+where) && strings.Contains(out.String(), "the running config is kept")
	})
	code, verbOut := exitCode(t, exec.Command(bin, "reload", file, "--netns", ns.Name))
	if code != exitError || !strings.Contains(verbOut, where) || strings.Contains(verbOut, "kill -HUP") {
		t.Errorf("reload of a bad file: exit %d\n%s\nwant exit 2 naming %s, no signal sent", code, verbOut, where)
	}
	if now, err := testns.Dump(ns); err != nil || testns.Diff(upDump, now) != "" {
		t.Errorf("a bad file changed the namespace (%v):\n%s", err, testns.Diff(upDump, now))
	}
	if up.ProcessState != nil {
		t.Fatalf("up ended on SIGHUP:\n%s", out.String())
	}

	fixed := strings.Replace(string(good), "Transparent = 203.0.113.2/32", "Transparent = 203.0.113.2/32, 192.0.2.0/24", 1)
	if err := os.WriteFile(file, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	code, verbOut = exitCode(t, exec.Command(bin, "reload", file, "--netns", ns.Name))
	if want := "(up)"; code != exitOK || !strings.Contains(verbOut, "reloaded") || !strings.Contains(verbOut, want) {
		t.Errorf("reload of the repaired file: exit %d\n%s\nwant exit 0, done by the up %s", code, verbOut, want)
	}
	if !hasRuleTo(t, ns, "192.0.2.0/24") {
		t.Errorf("the reload did not add the rule to 192.0.2.0/24:\n%s", out.String())
	}

	if err := up.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, up, "up after SIGINT"); err != nil {
		t.Errorf("up after SIGINT: %v\n%s", err, out.String())
	}
	expectRestored(t, ns, before, name, "after SIGINT")
}

// TestReloadWithoutKeeper (issue 21, item 5): with no process keeping
// the tunnel (here a library Tunnel of the test, which runs the device
// without Keep), the reload verb applies the file's difference itself:
// the new destination's rule is added and the device is the same link,
// never brought down; an Endpoint host name in the reloaded file is looked
// up (here in the namespace's hosts file), not replaced by a stand-in; DNS
// an earlier up may have set is removed when the file has none. A
// tunnel that is not up is not reloaded (exit 2, saying to bring it up).
func TestReloadWithoutKeeper(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "rlnokeep")
	name := uniqueName("wgrl")
	file := tunnelFile(t, t.TempDir(), name, "")
	code, out := exitCode(t, exec.Command(bin, "reload", file, "--netns", ns.Name))
	if code != exitError || !strings.Contains(out, "not up") {
		t.Errorf("reload of a tunnel that is not up: exit %d\n%s", code, out)
	}
	f, err := wgquick.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tun, err := transparent.New(f.Config, transparent.WithNetNS(ns.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	if err := tun.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer tun.Down(context.Background())
	link, err := ns.Netlink().LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	data = []byte(strings.NewReplacer("Transparent = 203.0.113.2/32", "Transparent = 203.0.113.2/32, 192.0.2.0/24",
		"Endpoint = 203.0.113.2:51822", "Endpoint = b.example.test:51822").Replace(string(data)))
	netnsResolvConf(t, ns, "nameserver 192.0.2.53\n") // never asked: the hosts file answers
	if err := os.WriteFile(filepath.Join("/etc/netns", ns.Name, "hosts"), []byte("203.0.113.2 b.example.test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// resolvconf is a stand-in that records its calls: this process does
	// not know which DNS an earlier up set, and the file has none now.
	fake := t.TempDir()
	dnsLog := filepath.Join(fake, "resolvconf.log")
	script := "#!/bin/sh\necho \"$*\" >> " + dnsLog + "\ncat > /dev/null\nexit 0\n"
	if err := os.WriteFile(filepath.Join(fake, "resolvconf"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	reload := exec.Command(bin, "reload", file, "--netns", ns.Name)
	reload.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"))
	code, out = exitCode(t, reload)
	if code != exitOK || !strings.Contains(out, name+" reloaded") || strings.Contains(out, "kill -HUP") {
		t.Errorf("reload without a keeper: exit %d\n%s", code, out)
	}
	if dns, _ := os.ReadFile(dnsLog); string(dns) != "-d "+resolvconfName(name)+" -f\n" {
		t.Errorf("resolvconf calls of a reload of a file without DNS:\n%s\nwant the entry removed", dns)
	}
	if !hasRuleTo(t, ns, "192.0.2.0/24") {
		t.Errorf("the reload did not add the rule to 192.0.2.0/24:\n%s", out)
	}
	dev, err := tun.Device()
	if err != nil || dev == nil || len(dev.Peers) != 1 || dev.Peers[0].Endpoint == nil || dev.Peers[0].Endpoint.String() != "203.0.113.2:51822" {
		var eps []string
		for i := 0; dev != nil && i < len(dev.Peers); i++ {
			eps = append(eps, fmt.Sprint(dev.Peers[i].Endpoint))
		}
		t.Errorf("after the reload, the peers' endpoints are %v (%v), want 203.0.113.2:51822", eps, err)
	}
	if now, err := ns.Netlink().LinkByName(name); err != nil || now.Attrs().Index != link.Attrs().Index {
		t.Errorf("the reload replaced the link (%v)", err)
	}
}

// TestReloadBackground: the background process that keeps an embedded
// device after `up` returns answers the reload verb as run does: the
// file's new destination is added by that process, the link stays the
// same, and down from another process ends it and restores the namespace.
func TestReloadBackground(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "rlbg")
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("wgrl")
	file := tunnelFile(t, t.TempDir(), name, "")
	if code, out := exitCode(t, exec.Command(bin, "up", file, "--netns", ns.Name, "--backend", "userspace")); code != exitOK || !strings.Contains(out, "background process") {
		t.Fatalf("up: exit %d\n%s", code, out)
	}
	t.Cleanup(func() { exec.Command(bin, "down", file, "--netns", ns.Name).Run() })
	link, err := ns.Netlink().LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "Transparent = 203.0.113.2/32", "Transparent = 203.0.113.2/32, 192.0.2.0/24", 1))
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := exitCode(t, exec.Command(bin, "reload", file, "--netns", ns.Name))
	if code != exitOK || !strings.Contains(out, "reloaded") || !strings.Contains(out, "(up)") {
		t.Errorf("reload of a tunnel kept by up's background process: exit %d\n%s\nwant exit 0, done by that process", code, out)
	}
	if !hasRuleTo(t, ns, "192.0.2.0/24") {
		t.Errorf("the reload did not add the rule to 192.0.2.0/24:\n%s", out)
	}
	if now, err := ns.Netlink().LinkByName(name); err != nil || now.Attrs().Index != link.Attrs().Index {
		t.Errorf("the reload replaced the link (%v)", err)
	}
	if code, out := exitCode(t, exec.Command(bin, "down", file, "--netns", ns.Name)); code != exitOK {
		t.Fatalf("down: exit %d\n%s", code, out)
	}
	expectRestored(t, ns, before, name, "after down")
}

// TestReloadOutcome: a reload verb reports the first reload that read the
// file after it signalled; one running when it read the keeper's status
// may have read the file before, and two verbs at once do not report each
// other's older outcome. No root.
func TestReloadOutcome(t *testing.T) {
	for _, c := range []struct {
		before, now string
		want        string // "" for: keep waiting
	}{
		{"reload 0: ready", "reload 0: ready", ""},
		{"reload 0: ready", "reload 1: running", ""},
		{"reload 0: ready", "reload 1: ok", "ok"},
		{"reload 2: ok", "reload 3: failed: Address: bad", "failed: Address: bad"},
		// Another verb's reload 3 was running when this verb read the
		// status: its outcome is not this verb's.
		{"reload 3: running", "reload 3: ok", ""},
		{"reload 3: running", "reload 4: running", ""},
		{"reload 3: running", "reload 4: ok", "ok"},
	} {
		before, ok := reloadCount(c.before)
		if !ok {
			t.Fatalf("reloadCount(%q) found no number", c.before)
		}
		got, done := reloadOutcome(c.now, before)
		if done != (c.want != "") || got != c.want && done {
			t.Errorf("status %q after %q: got %q, done %v; want %q", c.now, c.before, got, done, c.want)
		}
	}
}
