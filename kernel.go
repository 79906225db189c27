//go:build linux

package transparent

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/netfilter"
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
	// hasKernelWireGuard reports whether the kernel has WireGuard.
	hasKernelWireGuard() (bool, error)
	// sysctl reads a sysctl of the namespace, such as
	// "net/ipv4/conf/all/rp_filter".
	sysctl(key string) (string, error)
	// firewall opens the firewall that want asks for; firewallOfKind the
	// one a record names (firewall.go).
	firewall(want Firewall) (netfilter.Driver, error)
	firewallOfKind(kind string) (netfilter.Driver, error)

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

	// inNamespace runs fn on a thread inside the namespace, for sockets
	// that must belong to it (a name server's connection).
	inNamespace(fn func() error) error
	// subscribe reports changes to links, addresses, routes and rules on
	// the channel until stop is called.
	subscribe() (changes <-chan struct{}, stop func(), err error)
	// repairEmbedded serves the UAPI socket of the embedded device this
	// Tunnel runs again when someone deleted its file; nil when none runs.
	repairEmbedded() error
	// stopEmbedded stops the embedded device this Tunnel runs, if any (its
	// link may be gone already).
	stopEmbedded() error
	// removeStaleSocket removes the UAPI socket file of an embedded
	// device called name whose process died without removing it.
	removeStaleSocket(name string) error
	// embeddedDone is closed when the embedded device this Tunnel runs
	// stops; nil when none runs.
	embeddedDone() <-chan struct{}
	// firewallCreated lists the nat tables and chains that this process's
	// iptables-nft writes created and that still stand, for the record.
	firewallCreated() []string
	// close releases the handles and stops the embedded device.
	close() error
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
		kr.Dst = inet.PrefixOf(r.Dst)
	} else {
		kr.Dst = inet.AnyPrefix(r.Family)
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
