package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/wgquick"
	"golang.org/x/sys/unix"
)

// wgOverhead is what WireGuard adds to a packet in the worst case (IPv6
// outer header 40, UDP 8, WireGuard 32): wg-quick subtracts it from the
// underlying MTU.
const wgOverhead = 80

// fallbackUnderlayMTU is wg-quick's guess when no route says: Ethernet's
// 1500, which gives the usual 1420 (the library's DefaultMTU).
const fallbackUnderlayMTU = 1500

// defaultMTU fills in a file's missing MTU as wg-quick computes it: the
// largest MTU of the routes toward the peers' endpoints (a route's own
// mtu, else its device's), else of the default route, minus 80; 1420 when
// none is known. The routes are the main table's, in the tunnel's
// namespace: where the peers' encrypted packets go (the exception rule
// sends them there), whatever the tunnel's own rules say.
func (c *command) defaultMTU(f *wgquick.File, cfg *transparent.Config) error {
	if f.Config.MTU != 0 {
		return nil
	}
	var endpoints []netip.Addr
	for _, p := range f.Config.Peers { // not cfg's: its stand-in endpoints are nowhere
		if p.Endpoint.IsValid() {
			endpoints = append(endpoints, p.Endpoint.Addr())
		}
	}
	mtu := 0
	err := c.inNetNS(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		mtu = underlayMTU(h, f.Config.Name, endpoints)
		return nil
	})
	if err != nil {
		return fmt.Errorf("find the MTU: %w", err)
	}
	if mtu == 0 {
		mtu = fallbackUnderlayMTU
	}
	f.Config.MTU = mtu - wgOverhead
	cfg.MTU = f.Config.MTU
	c.mtuChosen = true
	return nil
}

// underlayMTU is the largest MTU toward endpoints, else the default
// route's; 0 when unknown. Routes through the tunnel's own device (self)
// do not count: a repeated up would shrink the MTU each time.
func underlayMTU(h *netlink.Handle, self string, endpoints []netip.Addr) int {
	best := 0
	for _, ep := range endpoints {
		if r, ok := mainRoute(h, ep, self); ok {
			best = max(best, routeMTU(h, r))
		}
	}
	if best == 0 { // wg-quick reads the first line of `ip route show default`: IPv4's
		if r, ok := mainRoute(h, netip.IPv4Unspecified(), self); ok && (r.Dst == nil || r.Dst.IP.IsUnspecified()) {
			if ones, _ := maskOf(r); ones == 0 {
				best = routeMTU(h, r)
			}
		}
	}
	return best
}

// maskOf is the prefix length of the route's destination, 0 for none.
func maskOf(r netlink.Route) (int, int) {
	if r.Dst == nil {
		return 0, 0
	}
	return r.Dst.Mask.Size()
}

// mainRoute is the main table's most specific unicast route to a, not
// through the device named self.
func mainRoute(h *netlink.Handle, a netip.Addr, self string) (netlink.Route, bool) {
	family := unix.AF_INET
	if a.Is6() {
		family = unix.AF_INET6
	}
	routes, err := h.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return netlink.Route{}, false
	}
	var best netlink.Route
	bestBits := -1
	for _, r := range routes {
		if r.Type != unix.RTN_UNICAST && r.Type != 0 {
			continue
		}
		bits := 0
		if r.Dst != nil {
			p, ok := prefixOf(r.Dst)
			if !ok || !p.Contains(a) {
				continue
			}
			bits = p.Bits()
		}
		if bits > bestBits && !via(h, r, self) {
			best, bestBits = r, bits
		}
	}
	return best, bestBits >= 0
}

// via reports whether the route goes through the device named self.
func via(h *netlink.Handle, r netlink.Route, self string) bool {
	l, err := h.LinkByIndex(r.LinkIndex)
	return err == nil && l.Attrs().Name == self
}

// routeMTU is the route's mtu attribute, else its device's MTU.
func routeMTU(h *netlink.Handle, r netlink.Route) int {
	if r.MTU > 0 {
		return r.MTU
	}
	if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
		return l.Attrs().MTU
	}
	return 0
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}
