package testns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// World is the article's Internet: a router joining Endpoint A, Endpoint B
// (which runs a web server) and a plain client C.
type World struct {
	Router, A, B, C *NS
	Server          *Server // HTTP server on B
}

// leg is the link between the router and one endpoint: the endpoint's
// "eth0" and the router's dev, with their addresses, IPv4 first.
type leg struct {
	ns           *NS
	dev          string
	addrs, gates []netip.Prefix
}

// Article builds the article's Internet, each piece in its own namespace:
//
//	A eth0 198.51.100.1/24 2001:db8:a::1/64 ── to-a 198.51.100.254/24 2001:db8:a::fe/64 ┐
//	B eth0 203.0.113.2/24  2001:db8:b::2/64 ── to-b 203.0.113.254/24  2001:db8:b::fe/64 ├ Router
//	C eth0 192.0.2.3/24    2001:db8:c::3/64 ── to-c 192.0.2.254/24    2001:db8:c::fe/64 ┘
//
// A, B and C have default routes via the router, which forwards IPv4 and
// IPv6. B serves HTTP on port 80. Everything is torn down at t.Cleanup, the
// server before the namespaces.
func Article(t TB) *World {
	t.Helper()
	w := &World{Router: New(t, "router"), A: New(t, "a"), B: New(t, "b"), C: New(t, "c")}
	legs := []leg{
		{w.A, "to-a", prefixes("198.51.100.1/24", "2001:db8:a::1/64"), prefixes("198.51.100.254/24", "2001:db8:a::fe/64")},
		{w.B, "to-b", prefixes("203.0.113.2/24", "2001:db8:b::2/64"), prefixes("203.0.113.254/24", "2001:db8:b::fe/64")},
		{w.C, "to-c", prefixes("192.0.2.3/24", "2001:db8:c::3/64"), prefixes("192.0.2.254/24", "2001:db8:c::fe/64")},
	}
	for _, err := range []error{
		w.Router.sysctl("net/ipv4/ip_forward", "1"),
		w.Router.sysctl("net/ipv6/conf/all/forwarding", "1"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range legs {
		if err := w.Router.connect(l); err != nil {
			t.Fatalf("build the article's world: %v", err)
		}
	}
	for _, l := range legs {
		for _, end := range []struct {
			ns  *NS
			dev string
		}{{w.Router, l.dev}, {l.ns, "eth0"}} {
			if err := end.ns.waitSettled(end.dev, 5*time.Second); err != nil {
				t.Fatalf("build the article's world: %v", err)
			}
		}
	}
	w.Server = serve(t, w.B)
	return w
}

// waitSettled waits until the link named dev is operationally up and has
// its IPv6 link-local address, no longer tentative. The kernel may bring a
// veth up up to a second after it was set up (it treats some link state
// changes as not urgent), and the link-local address and its routes come
// after that: a test that dumps the namespace before then would see them
// appear later.
func (n *NS) waitSettled(dev string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		link, err := n.nl.LinkByName(dev)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", dev, n.Name, err)
		}
		if link.Attrs().OperState == netlink.OperUp {
			addrs, err := n.nl.AddrList(link, unix.AF_INET6)
			// A dump interrupted by addresses changing meanwhile (as they
			// do now) is polled again.
			if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
				return fmt.Errorf("list addresses of %s in %s: %w", dev, n.Name, err)
			}
			for _, a := range addrs {
				if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in %s not up with a link-local address after %s", dev, n.Name, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connect makes the veth pair of l from router n, configures both ends and gives the
// endpoint its default routes via the router.
func (n *NS) connect(l leg) error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.dev}, PeerName: "eth0", PeerNamespace: netlink.NsFd(l.ns.Handle)}
	if err := n.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s in %s to eth0 in %s: %w", l.dev, n.Name, l.ns.Name, err)
	}
	if err := n.configure(l.dev, l.gates); err != nil {
		return err
	}
	if err := l.ns.configure("eth0", l.addrs); err != nil {
		return err
	}
	for _, gw := range l.gates {
		if err := l.ns.addDefault("eth0", gw.Addr()); err != nil {
			return err
		}
	}
	return nil
}

// configure sets the link named dev up and adds addrs to it. IPv6
// addresses skip duplicate address detection, so they are usable at once.
func (n *NS) configure(dev string, addrs []netip.Prefix) error {
	if err := n.linkUp(dev); err != nil {
		return err
	}
	link, err := n.nl.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", dev, n.Name, err)
	}
	for _, p := range addrs {
		a := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := n.nl.AddrAdd(link, a); err != nil {
			return fmt.Errorf("add address %s to %s in %s: %w", p, dev, n.Name, err)
		}
	}
	return nil
}

// addDefault adds a default route via gw through the link named dev.
func (n *NS) addDefault(dev string, gw netip.Addr) error {
	link, err := n.nl.LinkByName(dev)
	if err == nil {
		zero := netip.IPv4Unspecified()
		if gw.Is6() {
			zero = netip.IPv6Unspecified()
		}
		err = n.nl.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(netip.PrefixFrom(zero, 0)), Gw: gw.AsSlice()})
	}
	if err != nil {
		return fmt.Errorf("add default route via %s dev %s in %s: %w", gw, dev, n.Name, err)
	}
	return nil
}

func prefixes(s ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(s))
	for i, p := range s {
		ps[i] = netip.MustParsePrefix(p)
	}
	return ps
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
