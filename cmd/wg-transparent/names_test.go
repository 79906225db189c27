package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/testns"
)

// TestRunFollowsNames: with `Transparent = app.example.com`, run routes the
// name's addresses, asking the namespace's resolver as `ip netns exec`
// gives it (/etc/netns/NAME/resolv.conf), and follows the answer when it
// changes (within the 5 s TTL floor); show lists the name with its
// addresses; on SIGTERM the namespace is as before.
func TestRunFollowsNames(t *testing.T) {
	testns.RequireRoot(t)
	bin := commandBinary(t)
	ns := testns.New(t, "runnames")
	h := ns.Netlink()
	under := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "under0"}, PeerName: "under1"}
	if err := h.LinkAdd(under); err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(under, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(203, 0, 113, 1), Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(under); err != nil {
		t.Fatal(err)
	}
	dns := testns.DNS(t, ns, netip.MustParseAddr("127.0.0.1"))
	etc := filepath.Join("/etc/netns", ns.Name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := testns.DumpSettled(ns)
	if err != nil {
		t.Fatal(err)
	}

	first, second := netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("198.18.0.20")
	dns.Set("app.example.com", time.Second, first)
	name := uniqueName("wgn")
	file := filepath.Join(t.TempDir(), name+".conf")
	conf := `[Interface]
PrivateKey = ` + genKey(t).String() + `
Address = 10.0.0.1/32
Table = 123

[Peer]
PublicKey = ` + genKey(t).PublicKey().String() + `
Endpoint = 203.0.113.2:51822
AllowedIPs = 10.0.0.2/32
Transparent = app.example.com
`
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	runCmd := exec.Command(bin, "run", file, "--netns", ns.Name)
	var runOut strings.Builder
	runCmd.Stdout, runCmd.Stderr = &runOut, &runOut
	if err := runCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		runCmd.Process.Kill()
		runCmd.Wait()
	}()
	routed := func(a netip.Addr) bool {
		routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 123}, netlink.RT_FILTER_TABLE)
		return err == nil && slices.ContainsFunc(routes, func(r netlink.Route) bool { return r.Dst != nil && r.Dst.Contains(a.AsSlice()) })
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; run said:\n%s", what, runOut.String())
			}
		}
	}
	waitFor("run to route "+first.String(), func() bool { return routed(first) })

	dns.Set("app.example.com", time.Second, second)
	waitFor("run to follow the answer to "+second.String(), func() bool { return routed(second) })
	if !routed(first) {
		t.Errorf("%s left the answer and is no longer routed: it has 5 minutes of grace", first)
	}

	out, err := exec.Command(bin, "show", "--json", file, "--netns", ns.Name).Output()
	var show showJSON
	if err == nil {
		err = json.Unmarshal(out, &show)
	}
	if err != nil || len(show.Names) != 1 || show.Names[0].Name != "app.example.com" || !slices.Equal(show.Names[0].Addresses, []string{second.String()}) || show.Names[0].NextLookup == "" {
		t.Errorf("show --json: %v %+v", err, show.Names)
	}
	text, err := exec.Command(bin, "show", file, "--netns", ns.Name).Output()
	if err != nil || !strings.Contains(string(text), "transparent names (resolved now):\n  app.example.com: "+second.String()+" (ttl 1s") {
		t.Errorf("show: %v\n%s", err, text)
	}

	if err := runCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := runCmd.Wait(); err != nil {
		t.Errorf("run after SIGTERM: %v\n%s", err, runOut.String())
	}
	if diff, err := testns.DiffSettled(ns, before); err != nil || diff != "" {
		t.Errorf("after SIGTERM (%v):\n%s", err, diff)
	}
}
