//go:build linux

package transparent

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// route is one route owned by the tunnel, in the shape of
// `ip route add DST dev NAME table TABLE proto 87`.
type route struct {
	Dst   netip.Prefix
	Table int
}

func (r route) String() string {
	return fmt.Sprintf("route %s table %s", r.Dst, tableName(r.Table))
}

// netlink returns the kernel form of r through the link with index dev.
func (r route) netlink(dev int) *netlink.Route {
	return &netlink.Route{
		LinkIndex: dev,
		Dst:       ipNet(r.Dst),
		Table:     r.Table,
		Scope:     netlink.SCOPE_LINK,
		Protocol:  RouteProtocol,
		Family:    family(r.Dst.Addr()),
	}
}

// desiredRoutes returns the routes in Table for every prefix the device
// sends to a peer (the article's "Table = 123"), and, with PeerRouteMain,
// routes in main for the peers' tunnel addresses; aggregated
// (prefixes.go), since they all go through the same link.
func desiredRoutes(c Config) []route {
	if c.Table == TableOff {
		return nil
	}
	var all, tunnel []netip.Prefix
	for _, p := range c.Peers {
		all = append(append(all, p.AllowedIPs...), p.Transparent...)
		tunnel = append(tunnel, p.AllowedIPs...)
	}
	var rs []route
	for _, p := range aggregate(all) {
		rs = append(rs, route{Dst: p, Table: c.Table})
	}
	if c.PeerRoute == PeerRouteMain {
		for _, p := range aggregate(tunnel) {
			rs = append(rs, route{Dst: p, Table: tableMain})
		}
	}
	return rs
}

// address is one address on the tunnel's link.
type address netip.Prefix

func (a address) String() string { return "address " + netip.Prefix(a).String() }

func (a address) netlink() *netlink.Addr {
	p := netip.Prefix(a)
	na := &netlink.Addr{IPNet: ipNet(p)}
	if p.Addr().Is6() {
		na.Flags = unix.IFA_F_NODAD // a point-to-point tunnel has no neighbours to collide with
	}
	return na
}

// isLinkLocal reports whether the kernel, not the config, owns a.
func isLinkLocal(p netip.Prefix) bool { return p.Addr().IsLinkLocalUnicast() }
