//go:build linux

package linuxnet

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/inet"
	"golang.org/x/sys/unix"
)

// Route is one route owned by the tunnel, in the shape of
// `ip route add DST dev NAME table TABLE proto 87`, or with Unreachable
// `ip route add unreachable DST table TABLE metric METRIC proto 87` (the
// kill switch of FallbackBlock). Type and metric are part of its
// identity: the kernel holds a route through the link and an unreachable
// one to the same destination side by side.
type Route struct {
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

func (r Route) String() string {
	if r.Unreachable {
		return fmt.Sprintf("route unreachable %s table %s metric %d", r.Dst, inet.TableName(r.Table), r.Metric)
	}
	return fmt.Sprintf("route %s table %s", r.Dst, inet.TableName(r.Table))
}

// Netlink returns the kernel form of r through the link with index dev
// (none for an unreachable route).
func (r Route) Netlink(dev int) *netlink.Route {
	if r.Unreachable {
		return &netlink.Route{
			Dst:      inet.IPNet(r.Dst),
			Table:    r.Table,
			Scope:    netlink.SCOPE_UNIVERSE,
			Type:     unix.RTN_UNREACHABLE,
			Priority: r.Metric,
			Protocol: inet.RouteProtocol,
			Family:   inet.Family(r.Dst.Addr()),
		}
	}
	nr := &netlink.Route{
		LinkIndex: dev,
		Dst:       inet.IPNet(r.Dst),
		Table:     r.Table,
		Scope:     netlink.SCOPE_LINK,
		Type:      unix.RTN_UNICAST,
		Protocol:  inet.RouteProtocol,
		Family:    inet.Family(r.Dst.Addr()),
	}
	if r.Dst.Addr().Is6() {
		nr.Priority = devRouteMetric6
	}
	return nr
}

// RouteOf is the route of ours that the kernel's kr is.
func RouteOf(kr KernelRoute) Route {
	r := Route{Dst: kr.Dst, Table: kr.Table}
	if kr.Type == unix.RTN_UNREACHABLE {
		r.Unreachable, r.Metric = true, kr.Priority
	}
	return r
}

// Address is one address on the tunnel's link.
type Address netip.Prefix

func (a Address) String() string { return "address " + netip.Prefix(a).String() }

func (a Address) Netlink() *netlink.Addr {
	p := netip.Prefix(a)
	na := &netlink.Addr{IPNet: inet.IPNet(p)}
	if p.Addr().Is6() {
		na.Flags = unix.IFA_F_NODAD // a point-to-point tunnel has no neighbours to collide with
	}
	return na
}

// KernelRoute is a route as the tunnel reads it: a tenth of the size of
// netlink.Route, which matters at 100000 routes in a table.
type KernelRoute struct {
	Dst       netip.Prefix // the family's /0 for a default route
	Table     int
	Protocol  int
	Type      int
	Scope     int
	LinkIndex int
	Priority  int        // the metric
	Gw, Src   netip.Addr // invalid when absent
}

// KernelRouteOf converts a route read by the netlink package.
func KernelRouteOf(r netlink.Route) KernelRoute {
	kr := KernelRoute{
		Table: r.Table, Protocol: int(r.Protocol), Type: r.Type, Scope: int(r.Scope),
		LinkIndex: r.LinkIndex, Priority: r.Priority,
	}
	if r.Dst != nil {
		kr.Dst = inet.PrefixOf(r.Dst)
	} else {
		kr.Dst = inet.AnyPrefix(r.Family)
	}
	kr.Gw, _ = netip.AddrFromSlice(r.Gw)
	kr.Src, _ = netip.AddrFromSlice(r.Src)
	kr.Gw, kr.Src = kr.Gw.Unmap(), kr.Src.Unmap()
	return kr
}

// Link is what the tunnel needs to know of a link.
type Link struct {
	Name  string
	Index int
	Kind  string // "wireguard", "tuntap", or another link type
	MTU   int
	Up    bool
	Ours  bool // carries linkAlias or linkGroup
}

// ignore returns nil when err is one of the errnos that mean the step's
// goal is already reached.
func ignore(err error, done ...unix.Errno) error {
	for _, e := range done {
		if errors.Is(err, e) {
			return nil
		}
	}
	return err
}

// retryDump repeats a netlink dump that the kernel interrupted because the
// table changed meanwhile.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for range 5 {
		list, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return list, err
		}
	}
	return dump()
}
