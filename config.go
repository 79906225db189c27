package transparent

import (
	"net/netip"
	"strconv"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Defaults applied to the zero values of Config.
const (
	// DefaultTable is the routing table used when Config.Table is 0: the
	// article's example table, outside the reserved 253-255 (default, main,
	// local).
	DefaultTable = 123

	// DefaultPriority is the priority of the exception rule when
	// Config.Priority is 0: the article's 455, between the local table's
	// rule (0) and the main table's (32766).
	DefaultPriority = 455

	// DefaultMTU is WireGuard's usual MTU: 1500 minus the 80 bytes of the
	// largest (IPv6) encapsulation overhead, as wg-quick uses.
	DefaultMTU = 1420
)

// RouteProtocol is the routing protocol number (the "proto" of `ip route`
// and `ip rule`) set on every route and rule this package adds. It marks
// them as ours, so that Up and Down (even from a fresh process) find
// exactly their own objects and never touch anyone else's. 87 is ASCII "W"
// and is not assigned in iproute2's rt_protos.
const RouteProtocol = 87

// Rule priorities relative to Config.Priority. The exception rule must be
// evaluated before the transparent rules, so its number is smaller.
const (
	exceptionOffset   = 0 // to <endpoint> ipproto udp dport <port> lookup main
	transparentOffset = 1 // to <Transparent prefix> lookup Table
	peerRuleOffset    = 2 // to <peer tunnel address> lookup Table (PeerRouteRule)
)

// Reserved routing tables and priorities that the tunnel must not use.
const (
	tableDefault = 253
	tableMain    = 254
	tableLocal   = 255

	maxPriority = 32765 // 32766 and 32767 are the main and default tables' rules
)

// PeerRoute selects how the peer's tunnel address stays reachable once the
// interface's routes live in a custom table: the article's fourth change,
// which offers three options.
type PeerRoute uint8

const (
	// PeerRouteRule (the zero value) adds a rule "to <peer tunnel address>
	// lookup Table" at Priority+2: the article's "Add Rule for Custom
	// Table". It needs no change to the addresses and leaves main alone.
	PeerRouteRule PeerRoute = iota

	// PeerRoutePrefix relies on the connected route of an address prefix
	// wide enough to cover the peers' tunnel addresses (10.0.0.1/30 rather
	// than /32): the article's "Expand Address Subnet Mask". Validate says
	// which prefix is needed.
	PeerRoutePrefix

	// PeerRouteMain adds "<peer tunnel address> dev <Name>" to the main
	// table: the article's "Add Route to Main Table".
	PeerRouteMain
)

// String returns the option's name as used in errors and docs.
func (p PeerRoute) String() string {
	switch p {
	case PeerRouteRule:
		return "rule"
	case PeerRoutePrefix:
		return "prefix"
	case PeerRouteMain:
		return "main"
	}
	return "PeerRoute(" + strconv.Itoa(int(p)) + ")"
}

// Config is the whole description of one transparent tunnel. It is plain
// data: build it by hand or from a file, check it with Validate, and pass
// it to New. Zero values are documented per field.
type Config struct {
	// Name is the WireGuard interface name, such as "wg0" (at most 15
	// bytes). Required.
	Name string

	// PrivateKey is this endpoint's WireGuard private key ([Interface]
	// PrivateKey). Required.
	PrivateKey wgtypes.Key

	// ListenPort is the UDP port WireGuard listens on ([Interface]
	// ListenPort). 0 lets the kernel pick one, and Up then leaves whatever
	// port the device has.
	ListenPort int

	// Addresses are the interface's tunnel addresses ([Interface] Address),
	// such as 10.0.0.1/32. At least one, and one of each IP family that the
	// peers' AllowedIPs and Transparent prefixes use.
	Addresses []netip.Prefix

	// MTU of the interface. 0 means DefaultMTU.
	MTU int

	// Table is the custom routing table that holds the interface's routes
	// ([Interface] Table). 0 means DefaultTable; 253, 254 and 255 (default,
	// main, local) are refused.
	Table int

	// Priority is the priority of the exception rule that sends the peers'
	// own WireGuard packets through the main table. The transparent rules
	// use Priority+1 and the PeerRouteRule rules Priority+2. 0 means
	// DefaultPriority; the range is 1 to 32763.
	Priority int

	// PeerRoute selects how the peers' tunnel addresses stay reachable;
	// the zero value is PeerRouteRule.
	PeerRoute PeerRoute

	// Peers are the remote endpoints ([Peer] sections). At least one.
	Peers []Peer
}

// Peer is one remote WireGuard endpoint.
type Peer struct {
	// PublicKey is the peer's public key ([Peer] PublicKey). Required.
	PublicKey wgtypes.Key

	// PresharedKey is an optional extra symmetric key ([Peer]
	// PresharedKey). The zero key means none.
	PresharedKey wgtypes.Key

	// Endpoint is the peer's public address and WireGuard port ([Peer]
	// Endpoint), such as 203.0.113.2:51822. The zero value means none: the
	// device learns it from the peer's handshake. A peer with Transparent
	// prefixes needs it, because the exception rule matches it.
	Endpoint netip.AddrPort

	// AllowedIPs are the peer's tunnel addresses ([Peer] AllowedIPs as in
	// a plain point-to-point setup), such as 10.0.0.2/32.
	AllowedIPs []netip.Prefix

	// Transparent are the peer's public addresses that should be reached
	// through the tunnel, such as 203.0.113.2/32: the article's first
	// change. They are added to the device's AllowedIPs and get a policy
	// rule each. They must not overlap AllowedIPs.
	Transparent []netip.Prefix

	// PersistentKeepalive is the interval of keepalive packets ([Peer]
	// PersistentKeepalive). 0 turns them off.
	PersistentKeepalive time.Duration
}

// withDefaults returns a copy of c with the documented zero values filled in.
func (c Config) withDefaults() Config {
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.Table == 0 {
		c.Table = DefaultTable
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	return c
}
