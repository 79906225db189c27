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
// `ip route add DST dev NAME table TABLE proto 87`.
type Route struct {
	Dst   netip.Prefix
	Table int
}

func (r Route) String() string {
	return fmt.Sprintf("route %s table %s", r.Dst, inet.TableName(r.Table))
}

// netlink returns the kernel form of r through the link with index dev.
func (r Route) Netlink(dev int) *netlink.Route {
	return &netlink.Route{
		LinkIndex: dev,
		Dst:       inet.IPNet(r.Dst),
		Table:     r.Table,
		Scope:     netlink.SCOPE_LINK,
		Protocol:  inet.RouteProtocol,
		Family:    inet.Family(r.Dst.Addr()),
	}
}

// address is one address on the tunnel's link.
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
