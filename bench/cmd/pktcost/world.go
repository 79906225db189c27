package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// world is S, A and O (main.go), joined by two veth pairs made in A:
// "vs" to S's eth0 and "vo" to O's eth0.
type world struct {
	s, a, o *testns.NS
}

// newWorld makes the namespaces, named after the pid so that pktcost.sh
// can find them after a hard kill.
func newWorld() (*world, error) {
	label := func(x string) string { return fmt.Sprintf("pktcost-%d-%s", os.Getpid(), x) }
	w := &world{s: testns.New(tool.Session, label("s")), a: testns.New(tool.Session, label("a")), o: testns.New(tool.Session, label("o"))}
	steps := []func() error{
		func() error { return w.veth("vs", w.s, addrAS, addrS) },
		func() error { return w.veth("vo", w.o, addrA, addrO) },
		func() error { return defaultVia(w.s, addrAS.Addr()) },
		func() error { return defaultVia(w.a, addrO.Addr()) },
		func() error {
			return w.o.Netlink().RouteAdd(&netlink.Route{Dst: ipNet(dropped), Type: unix.RTN_BLACKHOLE})
		},
		// A routes S's packets; O too, so that its blackhole route drops
		// them silently (without forwarding, a failed lookup answers
		// with ICMP host unreachable).
		func() error { return sysctl(w.a, "net/ipv4/ip_forward", "1") },
		func() error { return sysctl(w.o, "net/ipv4/ip_forward", "1") },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return nil, fmt.Errorf("build the world: %w", err)
		}
	}
	return w, nil
}

// veth makes a veth pair from A (dev, with address mine) to other's eth0
// (theirs), both up.
func (w *world) veth(dev string, other *testns.NS, mine, theirs netip.Prefix) error {
	h := w.a.Netlink()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: dev}, PeerName: "eth0", PeerNamespace: netlink.NsFd(other.Handle)}
	if err := h.LinkAdd(v); err != nil {
		return err
	}
	if err := addrUp(w.a, dev, mine); err != nil {
		return err
	}
	return addrUp(other, "eth0", theirs)
}

func addrUp(n *testns.NS, dev string, p netip.Prefix) error {
	h := n.Netlink()
	l, err := h.LinkByName(dev)
	if err != nil {
		return err
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
		return err
	}
	return h.LinkSetUp(l)
}

func defaultVia(n *testns.NS, gw netip.Addr) error {
	return n.Netlink().RouteAdd(&netlink.Route{Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), Gw: gw.AsSlice()})
}

func sysctl(n *testns.NS, key, value string) error {
	return n.Do(func() error { return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644) })
}

// rules counts A's IPv4 policy rules.
func (w *world) rules() (int, error) {
	rs, err := w.a.Netlink().RuleList(unix.AF_INET)
	return len(rs), err
}

// received is the number of packets O's eth0 has received.
func (w *world) received() (uint64, error) {
	l, err := w.o.Netlink().LinkByName("eth0")
	if err != nil {
		return 0, err
	}
	return l.Attrs().Statistics.RxPackets, nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
