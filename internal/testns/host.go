package testns

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NewHost is [New] with an uplink, for tests that need one namespace
// rather than the article's whole Internet: a veth link "eth0" (its other
// end "uplink" stays in the namespace too), both up, eth0 with
// Endpoint A's addresses (198.51.100.1/24, 2001:db8:a::1/64) and default
// routes via the router's addresses (198.51.100.254, 2001:db8:a::fe). No
// router answers there, but the main table routes every public address of
// both families, as on a host on the Internet, so that a tunnel finds its
// underlay (the route and source address toward a peer). It is cheaper
// than [Article]: one namespace and no server.
func NewHost(t TB, label string) *NS {
	t.Helper()
	n := New(t, label)
	// A veth rather than a dummy link: every kernel the tests run on has
	// veth (the article's world needs it), not every one has dummy.
	if err := n.nl.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "uplink"}); err != nil {
		t.Fatalf("add veth eth0 in %s: %v", n.Name, err)
	}
	err := n.linkUp("uplink")
	if err == nil {
		err = n.configure("eth0", prefixes("198.51.100.1/24", "2001:db8:a::1/64"))
	}
	for _, gw := range []netip.Addr{netip.MustParseAddr("198.51.100.254"), netip.MustParseAddr("2001:db8:a::fe")} {
		if err == nil {
			err = n.addDefault("eth0", gw)
		}
	}
	// A dump before the link is up with its link-local address, and
	// before the local route of the global IPv6 address (which the kernel
	// adds from a work queue), would see them appear later.
	for _, dev := range []string{"eth0", "uplink"} {
		if err == nil {
			err = n.waitSettled(dev, 5*time.Second)
		}
	}
	if err == nil {
		err = n.waitLocalRoute(netip.MustParseAddr("2001:db8:a::1"), 5*time.Second)
	}
	if err != nil {
		t.Fatalf("build the uplink of %s: %v", n.Name, err)
	}
	return n
}

// waitLocalRoute waits until the local table has the route of the local
// address a.
func (n *NS) waitLocalRoute(a netip.Addr, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		routes, err := n.nl.RouteListFiltered(unix.AF_INET6, &netlink.Route{Table: unix.RT_TABLE_LOCAL}, netlink.RT_FILTER_TABLE)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return fmt.Errorf("list local routes in %s: %w", n.Name, err)
		}
		for _, r := range routes {
			if r.Dst != nil && r.Dst.IP.Equal(a.AsSlice()) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no local route for %s in %s after %s", a, n.Name, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// DumpAll is [Dump] followed by [DumpNftables]: the links, addresses,
// routes and rules, and the whole nf_tables ruleset (iptables-nft's
// tables included). It starts no process.
func DumpAll(n *NS) (string, error) {
	d, err := Dump(n)
	if err != nil {
		return "", err
	}
	nft, err := DumpNftables(n)
	if err != nil {
		return "", fmt.Errorf("dump %s: %w", n, err)
	}
	return d + nft, nil
}

// DiffSettledAll is [DiffSettled] for [DumpAll].
func DiffSettledAll(n *NS, before string) (string, error) { return diffSettled(n, before, DumpAll) }
