//go:build linux

package transparent

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// route is one route owned by the tunnel, in the shape of
// `ip route add DST dev NAME table TABLE proto 87`, or with Unreachable
// `ip route add unreachable DST table TABLE metric METRIC proto 87` (the
// kill switch of FallbackBlock). Type and metric are part of its
// identity: the kernel holds a route through the link and an unreachable
// one to the same destination side by side.
type route struct {
	Dst         netip.Prefix
	Table       int
	Unreachable bool
	Metric      int // of an unreachable route; 0 for one through the link, whatever the kernel's
}

// BlockMetric is the metric of FallbackBlock's unreachable routes. The
// kernel picks the lowest metric among routes to the same destination in
// a table, so the route through the tunnel's link wins while it exists:
// its metric is 0 in IPv4 and 1024 in IPv6 (devRouteMetric6), both below.
// When it is gone (the peer failed over, the link deleted), the
// unreachable route is left and the kernel refuses the traffic.
const BlockMetric = 4096

// devRouteMetric6 is the metric the kernel gives an IPv6 route added
// without one (IP6_RT_PRIO_USER). The tunnel's IPv6 routes through the
// link name it when they are added and deleted, so that a delete never
// takes the unreachable route to the same destination instead (the IPv6
// route delete matches neither type nor scope).
const devRouteMetric6 = 1024

func (r route) String() string {
	if r.Unreachable {
		return fmt.Sprintf("route unreachable %s table %s metric %d", r.Dst, tableName(r.Table), r.Metric)
	}
	return fmt.Sprintf("route %s table %s", r.Dst, tableName(r.Table))
}

// netlink returns the kernel form of r through the link with index dev
// (none for an unreachable route).
func (r route) netlink(dev int) *netlink.Route {
	if r.Unreachable {
		return &netlink.Route{
			Dst:      ipNet(r.Dst),
			Table:    r.Table,
			Scope:    netlink.SCOPE_UNIVERSE,
			Type:     unix.RTN_UNREACHABLE,
			Priority: r.Metric,
			Protocol: RouteProtocol,
			Family:   family(r.Dst.Addr()),
		}
	}
	nr := &netlink.Route{
		LinkIndex: dev,
		Dst:       ipNet(r.Dst),
		Table:     r.Table,
		Scope:     netlink.SCOPE_LINK,
		Type:      unix.RTN_UNICAST,
		Protocol:  RouteProtocol,
		Family:    family(r.Dst.Addr()),
	}
	if r.Dst.Addr().Is6() {
		nr.Priority = devRouteMetric6
	}
	return nr
}

// routeOf is the route of ours that the kernel's kr is.
func routeOf(kr kernelRoute) route {
	r := route{Dst: kr.Dst, Table: kr.Table}
	if kr.Type == unix.RTN_UNREACHABLE {
		r.Unreachable, r.Metric = true, kr.Priority
	}
	return r
}

// desiredRoutes returns the routes in Table for every prefix the device
// sends to a peer (the article's "Table = 123"), and, with PeerRouteMain,
// routes in main for the peers' tunnel addresses; aggregated
// (prefixes.go), since they all go through the same link.
func desiredRoutes(c Config) []route { return desiredRoutesFor(c, nil) }

// desiredRoutesFor is desiredRoutes with the peers of failed out of the
// tunnel (failover.go): their Transparent prefixes have no route through
// the link. The Transparent prefixes of FallbackBlock peers are
// aggregated on their own and each also gets an unreachable route at
// BlockMetric, failed or not: a route through the link that covered more
// than the unreachable one would lose to it (the longest prefix wins
// before the metric), and the peers' tunnel addresses, which the health
// probes need, keep routes of their own.
func desiredRoutesFor(c Config, failed map[wgtypes.Key]bool) []route {
	if c.Table == TableOff {
		return nil
	}
	var all, tunnel, block, blockUp []netip.Prefix
	for _, p := range c.Peers {
		all = append(all, p.AllowedIPs...)
		tunnel = append(tunnel, p.AllowedIPs...)
		switch {
		case p.Fallback == FallbackBlock:
			block = append(block, p.Transparent...)
			if !failed[p.PublicKey] {
				blockUp = append(blockUp, p.Transparent...)
			}
		case p.Fallback == FallbackNone || !failed[p.PublicKey]:
			all = append(all, p.Transparent...)
		}
	}
	var rs []route
	for _, p := range aggregate(all) {
		rs = append(rs, route{Dst: p, Table: c.Table})
	}
	if len(block) > 0 {
		for _, p := range aggregate(blockUp) {
			if !slices.Contains(rs, route{Dst: p, Table: c.Table}) {
				rs = append(rs, route{Dst: p, Table: c.Table})
			}
		}
		for _, p := range aggregate(block) {
			rs = append(rs, route{Dst: p, Table: c.Table, Unreachable: true, Metric: BlockMetric})
		}
		slices.SortFunc(rs, compareRoutes)
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
