//go:build linux

package transparent

import (
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/netfilter"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// kernel is all the tunnel reads from and writes to its network namespace,
// the Tunnel's only way to the system: observe reads through it, and the
// steps of a plan write through it. linuxnet.Kernel talks netlink and
// wgctrl and runs the WireGuard devices; the tests' fake keeps a model of
// the kernel, so that a Tunnel runs without root, and a parity test keeps
// the fake equal to the real kernel. Tests inject faults and delays by
// wrapping it.
//
// Links are named, never held: a step reaches the link by the tunnel's
// name, so steps carry all their data and share nothing. Writes are
// idempotent: adding what is there and removing what is gone succeed.
// The SNAT rules go through the firewall drivers (netfilter.Driver), which
// the kernel hands out.
type kernel interface {
	// Link returns the link called name, or nil when there is none.
	Link(name string) (*linuxnet.Link, error)
	// LinkByIndex returns the link with the index, or nil.
	LinkByIndex(index int) (*linuxnet.Link, error)
	// Addresses lists the link's addresses, link-local ones included.
	Addresses(index int) ([]netip.Prefix, error)
	// Rules lists the policy rules of an IP family, in priority order.
	Rules(family int) ([]netlink.Rule, error)
	// Routes lists the routes of an IP family in a table (all tables
	// for unix.RT_TABLE_UNSPEC).
	Routes(family, table int) ([]linuxnet.KernelRoute, error)
	// EachRoute is Routes handing the routes to fn one by one, without
	// holding the table whole; reset is called before each attempt (the
	// first included), after which fn forgets what it was given.
	EachRoute(family, table int, reset func(), fn func(linuxnet.KernelRoute)) error
	// Device reads the WireGuard device called name, or nil.
	Device(name string) (*wgtypes.Device, error)
	// EmbeddedIndex returns the link index of the embedded device that this
	// Tunnel runs, or 0.
	EmbeddedIndex() int
	// UAPIClash returns a conflict error when an embedded device called
	// name would clash with one of another namespace, whose UAPI socket
	// (shared by all namespaces) is in use.
	UAPIClash(name string) error
	// DeviceGone returns an error matching ErrDeviceGone when this
	// namespace's embedded device called name died with its process; the
	// caller has found no link of that name.
	DeviceGone(name string) error
	// HasKernelWireGuard reports whether the kernel has WireGuard.
	HasKernelWireGuard() (bool, error)
	// Sysctl reads a sysctl of the namespace, such as
	// "net/ipv4/conf/all/rp_filter".
	Sysctl(key string) (string, error)
	// Firewall opens the firewall that want asks for; FirewallOfKind the
	// one a record names.
	Firewall(want netfilter.Want) (netfilter.Driver, error)
	FirewallOfKind(kind string) (netfilter.Driver, error)

	// CreateLink makes the tunnel's link, down, a kernel WireGuard link
	// or an embedded device this Tunnel runs, and marks it as this
	// package's.
	CreateLink(name string, mtu int, embedded bool) error
	// DeleteLink removes the link, which takes its addresses and routes
	// with it; an embedded device stops.
	DeleteLink(name string) error
	SetMTU(name string, mtu int) error
	SetUp(name string) error
	SetDown(name string) error
	AddAddress(name string, a netip.Prefix) error
	DelAddress(name string, a netip.Prefix) error
	// AddRoute adds r through the link called name; DelRoute removes it
	// from that link, or from any link when it is gone.
	AddRoute(name string, r linuxnet.Route) error
	DelRoute(name string, r linuxnet.Route) error
	AddRule(r netlink.Rule) error
	DelRule(r netlink.Rule) error
	// ConfigureDevice applies WireGuard settings through wgctrl.
	ConfigureDevice(name string, cfg wgtypes.Config) error

	// InNamespace runs fn on a thread inside the namespace, for sockets
	// that must belong to it (a name server's connection).
	InNamespace(fn func() error) error
	// Subscribe reports changes to links, addresses, routes and rules on
	// changes until stop is called, or until receiving fails: then the
	// error (ENOBUFS when the kernel dropped notifications) comes on
	// lost, and the subscription is over.
	Subscribe() (changes <-chan struct{}, lost <-chan error, stop func(), err error)
	// SubscribeFirewall is Subscribe for changes to nf_tables objects
	// (those of nf_tables and of iptables-nft alike).
	SubscribeFirewall() (changes <-chan struct{}, lost <-chan error, stop func(), err error)
	// RepairEmbedded serves the UAPI socket of the embedded device this
	// Tunnel runs again when someone deleted its file; nil when none runs.
	RepairEmbedded() error
	// StopEmbedded stops the embedded device this Tunnel runs, if any (its
	// link may be gone already).
	StopEmbedded() error
	// RemoveStaleSocket removes the UAPI socket file of an embedded
	// device called name whose process died without removing it.
	RemoveStaleSocket(name string) error
	// EmbeddedDone is closed when the embedded device this Tunnel runs
	// stops; nil when none runs.
	EmbeddedDone() <-chan struct{}
	// FirewallCreated lists the nat tables and chains that this process's
	// iptables-nft writes created and that still stand, for the record.
	FirewallCreated() []string
	// Close releases the handles and stops the embedded device.
	Close() error
}
