//go:build linux

package transparent

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// kernel is all the tunnel reads from and writes to its network namespace:
// observe (observe.go) reads through it, and the steps of a plan
// (steps.go) write through it. liveKernel (kernel_live.go) talks netlink
// and wgctrl and runs the WireGuard backends; the tests' fake keeps a model
// of the kernel, so that observe, plan and apply run without root, and a
// parity test keeps the fake equal to the real kernel.
//
// Links are named, never held: a step reaches the link by the tunnel's
// name, so steps carry all their data and share nothing. Writes are
// idempotent: adding what is there and removing what is gone succeed.
// The SNAT rules go through the firewall interface (firewall.go), which
// the kernel hands out.
type kernel interface {
	// link returns the link called name, or nil when there is none.
	link(name string) (*linkInfo, error)
	// linkByIndex returns the link with the index, or nil.
	linkByIndex(index int) (*linkInfo, error)
	// addresses lists the link's addresses, link-local ones included.
	addresses(index int) ([]netip.Prefix, error)
	// rules lists the policy rules of an IP family, in priority order.
	rules(family int) ([]netlink.Rule, error)
	// routes lists the routes of an IP family in a table (all tables
	// for unix.RT_TABLE_UNSPEC).
	routes(family, table int) ([]kernelRoute, error)
	// device reads the WireGuard device called name, or nil.
	device(name string) (*wgtypes.Device, error)
	// embedded returns the link index of the embedded device that this
	// Tunnel runs, or 0.
	embedded() int
	// uapiClash returns a conflict error when an embedded device called
	// name would clash with one of another namespace, whose UAPI socket
	// (shared by all namespaces) is in use.
	uapiClash(name string) error
	// hasKernelWireGuard reports whether the kernel has WireGuard.
	hasKernelWireGuard() (bool, error)
	// sysctl reads a sysctl of the namespace, such as
	// "net/ipv4/conf/all/rp_filter".
	sysctl(key string) (string, error)
	// firewall opens the firewall that want asks for; firewallOfKind the
	// one a record names (firewall.go).
	firewall(want Firewall) (firewall, error)
	firewallOfKind(kind string) (firewall, error)

	// createLink makes the tunnel's link, down, with backend b (never
	// BackendAuto), and marks it as this package's.
	createLink(name string, mtu int, b Backend) error
	// deleteLink removes the link, which takes its addresses and routes
	// with it; an embedded device stops.
	deleteLink(name string) error
	setMTU(name string, mtu int) error
	setUp(name string) error
	setDown(name string) error
	addAddress(name string, a netip.Prefix) error
	delAddress(name string, a netip.Prefix) error
	// addRoute adds r through the link called name; delRoute removes it
	// from that link, or from any link when it is gone.
	addRoute(name string, r route) error
	delRoute(name string, r route) error
	addRule(r netlink.Rule) error
	delRule(r netlink.Rule) error
	// configureDevice applies WireGuard settings through wgctrl.
	configureDevice(name string, cfg wgtypes.Config) error
}

// kernelRoute is a route as the tunnel reads it: a tenth of the size of
// netlink.Route, which matters at 100000 routes in a table.
type kernelRoute struct {
	Dst       netip.Prefix // the family's /0 for a default route
	Table     int
	Protocol  int
	Type      int
	Scope     int
	LinkIndex int
	Priority  int        // the metric
	Gw, Src   netip.Addr // invalid when absent
}

// kernelRouteOf converts a route read by the netlink package.
func kernelRouteOf(r netlink.Route) kernelRoute {
	kr := kernelRoute{
		Table: r.Table, Protocol: int(r.Protocol), Type: r.Type, Scope: int(r.Scope),
		LinkIndex: r.LinkIndex, Priority: r.Priority,
	}
	if r.Dst != nil {
		kr.Dst = prefixOf(r.Dst)
	} else {
		kr.Dst = anyPrefix(r.Family)
	}
	kr.Gw, _ = netip.AddrFromSlice(r.Gw)
	kr.Src, _ = netip.AddrFromSlice(r.Src)
	kr.Gw, kr.Src = kr.Gw.Unmap(), kr.Src.Unmap()
	return kr
}

// linkInfo is what the tunnel needs to know of a link.
type linkInfo struct {
	name  string
	index int
	kind  string // "wireguard", "tuntap", or another link type
	mtu   int
	up    bool
	ours  bool // carries linkAlias or linkGroup
}
