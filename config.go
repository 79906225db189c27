package transparent

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/rulelayout"
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

	// DefaultFwMark is the device's firewall mark in ExceptionFwMark mode
	// when Config.FwMark is 0: 0xca6c (51820), the mark wg-quick uses for
	// the same purpose.
	DefaultFwMark = 0xca6c
)

// Special values of Config.Table and Config.Priority, which are otherwise
// positive numbers (0 meaning the defaults above). They are negative, so
// that the zero values keep meaning DefaultTable and DefaultPriority.
const (
	// TableAuto lets Up choose a free table, from AutoTableFirst to
	// AutoTableLast: the first that no rule looks up, no route is in, and
	// no other tunnel's record claims. The choice is recorded, and the
	// next operation of the tunnel, in this process or another, uses the
	// recorded table until Down. wg-quick's Table = auto, and the wgquick
	// package's default.
	TableAuto = -1

	// TableOff makes a plain tunnel, as wg-quick's Table = off: the
	// device, its addresses and peers, and no routes and no rules. Nothing
	// may then be Transparent (Transparent, TransparentNames) and SNAT is
	// off; Priority, PeerRoute, Exception and Rules are not used.
	TableOff = -2

	// PriorityAuto lets Up choose the tunnel's three rule priorities
	// (Priority to Priority+2), from AutoPriorityFirst to AutoPriorityLast
	// in steps of three: the first band where no rule exists and no other
	// tunnel's record claims one. Recorded and kept as TableAuto is.
	PriorityAuto = -1
)

// The ranges TableAuto and PriorityAuto choose from. They start at the
// defaults, so that the first tunnel on a host gets the article's values,
// and hold a thousand tunnels each: tables below wg-quick's own (51820)
// and other than 253-255; priorities below those other tools commonly use
// (Tailscale's 5210, wg-quick's 32764).
const (
	AutoTableFirst    = DefaultTable
	AutoTableLast     = DefaultTable + 999
	AutoPriorityFirst = DefaultPriority
	AutoPriorityLast  = DefaultPriority + 999*(rulelayout.PeerOffset+1)
)

// RouteProtocol is the routing protocol number (the "proto" of `ip route`
// and `ip rule`) set on every route and rule this package adds. It marks
// them as ours, so that Up and Down (even from a fresh process) find
// exactly their own objects and never touch anyone else's. 87 is ASCII "W"
// and is not assigned in iproute2's rt_protos.
const RouteProtocol = inet.RouteProtocol

// Reserved routing tables and priorities that the tunnel must not use.
const (
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

// ExceptionMode selects how the peers' own encrypted WireGuard packets,
// sent to a public address that the transparent rules route into the
// tunnel, are kept out of it.
type ExceptionMode uint8

const (
	// ExceptionPort (the zero value) is the article's rule "to <peer
	// address> ipproto udp dport <peer port> lookup main" at Priority, one
	// per peer. It needs each peer's port (Endpoint or ExpectedEndpoint),
	// and it fails when that port changes on the way, behind a NAT or
	// when the peer roams.
	ExceptionPort ExceptionMode = iota

	// ExceptionFwMark sets the device's firewall mark (FwMark) and adds one
	// rule "fwmark <FwMark> lookup main" at Priority per IP family: the
	// device's own packets are marked, whatever their port. This is how
	// wg-quick keeps its own traffic out of a default route through the
	// tunnel.
	ExceptionFwMark
)

func (m ExceptionMode) String() string {
	switch m {
	case ExceptionPort:
		return "port"
	case ExceptionFwMark:
		return "fwmark"
	}
	return "ExceptionMode(" + strconv.Itoa(int(m)) + ")"
}

// RuleMode selects how traffic reaches the tunnel's table: one policy
// rule per destination, as the article does, or one rule for all of them.
type RuleMode uint8

const (
	// RulesPerDestination (the zero value) is the article's form: a rule
	// "to <Transparent prefix> lookup Table" at Priority+1 per (aggregated)
	// destination, and with PeerRouteRule one per peer tunnel address at
	// Priority+2. The kernel walks the rule list on every route lookup of
	// the host, the tunnel's or not: fine for tens of destinations, a
	// measurable cost for all of the host's traffic from a few hundred
	// (docs/BENCHMARKS.md).
	RulesPerDestination RuleMode = iota

	// RulesTable looks the whole Table up from Priority+1, after the
	// exception rules, with no per-destination or peer rules: the table's
	// routes (one per Transparent and AllowedIPs prefix) decide. It is two
	// rules per IP family, "to 0.0.0.0/1" and "to 128.0.0.0/1" (::/1 and
	// 8000::/1): a rule without a destination would be one, but the kernel
	// cannot tell it from the per-destination rules at the same priority,
	// and a change between the modes must add the new rules before it
	// removes the old.
	// It routes as RulesPerDestination does as long as the table holds
	// only the tunnel's routes, which Up and Check enforce (a route of
	// someone else's in the table is ErrConflict). With ExceptionFwMark the
	// tunnel then has three rules per IP family, whatever its peers and
	// destinations. Choose it from about 100 destinations.
	RulesTable
)

func (m RuleMode) String() string {
	switch m {
	case RulesPerDestination:
		return "destination"
	case RulesTable:
		return "table"
	}
	return "RuleMode(" + strconv.Itoa(int(m)) + ")"
}

// SNATMode selects the article's optional SNAT rule, which makes traffic
// through the tunnel come from public addresses, so that the receiving end
// sees the sender's public address rather than its tunnel address. It
// needs the peer to be transparent too (its Transparent holds our public
// address), so that replies go back through the tunnel.
type SNATMode uint8

const (
	// SNATOff (the zero value) adds no firewall rule.
	SNATOff SNATMode = iota

	// SNATOutbound is the article's "Firewall for Endpoint A": in the nat
	// table's POSTROUTING chain, "-s <own tunnel address> -d <peer
	// Transparent prefix> -j SNAT --to-source <own public address>".
	SNATOutbound

	// SNATInbound is the article's "Firewall for Endpoint B": in the nat
	// table's INPUT chain, "-s <peer tunnel address> -d <own public
	// address> -j SNAT --to-source <peer public address>", where the
	// peer's public address is its single-address Transparent prefix.
	SNATInbound
)

func (m SNATMode) String() string {
	switch m {
	case SNATOff:
		return "off"
	case SNATOutbound:
		return "outbound"
	case SNATInbound:
		return "inbound"
	}
	return "SNATMode(" + strconv.Itoa(int(m)) + ")"
}

// Config is the whole description of one transparent tunnel. It is plain
// data: build it by hand or from a file, check it with Validate, and pass
// it to New. Zero values are documented per field.
type Config struct {
	// Name is the WireGuard interface name, such as "wg0". Required: 1 to
	// 15 ASCII letters, digits, '_', '.' and '-', starting with a letter,
	// digit or '_', and neither "all" nor "default". That is wg-quick's
	// rule less '=' and '+', which nft cannot name a table with: the name
	// is also part of the nf_tables tables, the iptables chain and its
	// comments, the UAPI socket's path and the commands Plan prints.
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
	// ([Interface] Table): 1 to 4294967295. 0 means DefaultTable; 253, 254
	// and 255 (default, main, local) are refused. TableAuto lets Up choose
	// a free one and record it; TableOff makes a plain tunnel without
	// routes and rules.
	Table int

	// Priority is the priority of the exception rule that sends the peers'
	// own WireGuard packets through the main table. The transparent rules
	// (or with RulesTable the table's rule) use Priority+1 and the
	// PeerRouteRule rules Priority+2. 0 means
	// DefaultPriority; the range is 1 to 32763. PriorityAuto lets Up
	// choose a free band of three and record it.
	Priority int

	// PeerRoute selects how the peers' tunnel addresses stay reachable;
	// the zero value is PeerRouteRule.
	PeerRoute PeerRoute

	// Exception selects how the peers' own WireGuard packets stay out of
	// the tunnel; the zero value is ExceptionPort, as in the article.
	Exception ExceptionMode

	// Rules selects one rule per destination (RulesPerDestination, the
	// zero value and the article's form) or one rule for the whole table
	// (RulesTable).
	Rules RuleMode

	// FwMark is the device's firewall mark ([Interface] FwMark). In
	// ExceptionFwMark mode 0 means DefaultFwMark; otherwise 0 means none.
	// Where int has 32 bits, marks above math.MaxInt32 are refused
	// (wgctrl carries the mark in an int).
	FwMark uint32

	// SNAT selects the article's optional SNAT rule; the zero value is
	// SNATOff.
	SNAT SNATMode

	// PublicAddresses are this endpoint's public addresses, at most one
	// per IP family, used by the SNAT rules. For a family not listed, Up
	// uses the source address the kernel picks for the packets it sends
	// to the peer's endpoint through the main table, and logs it.
	PublicAddresses []netip.Addr

	// Peers are the remote endpoints ([Peer] sections). At least one.
	Peers []Peer

	// Health tunes how Watch judges the health of the peers with a
	// Fallback; the zero value means the defaults (HealthCheck).
	Health HealthCheck
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
	// device learns it from the peer's handshake.
	Endpoint netip.AddrPort

	// ExpectedEndpoint is where the peer's WireGuard packets come from,
	// for a peer without Endpoint: the article's Endpoint B, whose [Peer]
	// A has no Endpoint, still needs A's public address and port
	// (198.51.100.1:51821) for its exception rule. It is used for that
	// rule (and to find the public address for SNAT) only; the device is
	// not told. In ExceptionPort mode a peer with Transparent prefixes
	// needs Endpoint or ExpectedEndpoint.
	ExpectedEndpoint netip.AddrPort

	// AllowedIPs are the peer's tunnel addresses ([Peer] AllowedIPs as in
	// a plain point-to-point setup), such as 10.0.0.2/32.
	//
	// A prefix of length 0 (0.0.0.0/0, ::/0) makes a full tunnel, as
	// wg-quick's: with PeerRouteRule its rule sends every destination to
	// Table, and Up adds the rule "lookup main suppress_prefixlength 0" at
	// Priority, so that main's routes more specific than its default route
	// (the LAN, the underlay) still win and only what would take main's
	// default route goes into the tunnel. The exception rule still keeps
	// the peer's own WireGuard packets out, so in ExceptionPort mode such
	// a peer needs Endpoint or ExpectedEndpoint. PeerRouteMain refuses it.
	AllowedIPs []netip.Prefix

	// Transparent are the peer's public addresses that should be reached
	// through the tunnel, such as 203.0.113.2/32: the article's first
	// change. They are added to the device's AllowedIPs and get a policy
	// rule each. They must not overlap AllowedIPs.
	Transparent []netip.Prefix

	// TransparentNames are host names, such as "app.example.com", whose
	// addresses are routed through the tunnel exactly as Transparent
	// prefixes are: each A and AAAA address as a /32 or /128, with its
	// rule or table route, AllowedIPs entry and SNAT rule. Up resolves
	// them (WithResolver), Watch resolves each again when its answer's TTL
	// runs out and applies the difference, and an address that leaves an
	// answer stays routed for a grace period (WithNameGrace). Names are
	// fully qualified, without search domains; each may be listed once in
	// the whole config. They may be combined with Transparent; an address
	// of an IP family without a tunnel address in Addresses is not routed.
	// In ExceptionPort mode a peer with names needs Endpoint or
	// ExpectedEndpoint, as with Transparent.
	TransparentNames []string

	// PersistentKeepalive is the interval of keepalive packets ([Peer]
	// PersistentKeepalive). 0 turns them off.
	PersistentKeepalive time.Duration

	// Fallback selects what happens to the peer's Transparent
	// destinations while the peer is unhealthy: nothing (FallbackNone,
	// the zero value), the Internet path (FallbackInternet) or refusal
	// (FallbackBlock). A peer with a Fallback needs something Transparent
	// and a single tunnel address in AllowedIPs (a /32 or /128) that Watch
	// probes with ICMP echo.
	Fallback Fallback
}

// WithDefaults returns a copy of c with the documented zero values filled
// in: MTU, Table, Priority (TableAuto, TableOff and PriorityAuto stay as
// they are), and FwMark in ExceptionFwMark mode; and the
// private key clamped, as WireGuard keeps it.
func (c Config) WithDefaults() Config {
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.Table == 0 {
		c.Table = DefaultTable
	}
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.Exception == ExceptionFwMark && c.FwMark == 0 {
		c.FwMark = DefaultFwMark
	}
	c.PrivateKey = clamped(c.PrivateKey)
	return c
}

// clamped is k as Curve25519 uses it, and as WireGuard stores and reports
// it: the same key (the same public key) with three low bits and the top
// bit cleared and the second-highest set. A key from `wg genkey` or
// wgtypes.GeneratePrivateKey is clamped already; one of 32 random bytes
// is not, and compared with what the device reports it would look changed
// at every Up.
func clamped(k wgtypes.Key) wgtypes.Key {
	if k == (wgtypes.Key{}) {
		return k
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k
}

// exceptionEndpoint is the address and port the peer's WireGuard packets
// use: Endpoint, else ExpectedEndpoint, else the zero value.
func (p Peer) exceptionEndpoint() netip.AddrPort {
	if p.Endpoint.IsValid() {
		return p.Endpoint
	}
	return p.ExpectedEndpoint
}

// Fallback selects what happens to a peer's Transparent destinations
// (its prefixes and the addresses of its TransparentNames) while the peer
// is unhealthy: it stops answering, or the WireGuard path to it is cut.
// Watch judges the peer's health (HealthCheck).
type Fallback int

const (
	// FallbackNone (the zero value) keeps the destinations in the tunnel
	// whatever the peer's health, as before failover existed: Watch does
	// not probe the peer.
	FallbackNone Fallback = iota

	// FallbackInternet takes the destinations' routes out of Table while
	// the peer is unhealthy, so that they are reached over the main table,
	// as if the tunnel were down; they return once the peer is healthy
	// again. Without a running Watch nothing fails over.
	FallbackInternet

	// FallbackBlock is the kill switch: beside each destination's route
	// through the tunnel, Up adds an unreachable route in Table with a
	// higher metric (BlockMetric). While the peer is unhealthy its routes
	// through the tunnel leave, and whenever the device is gone (its link
	// deleted, the process that runs the embedded device killed) the
	// kernel removes them: either way the unreachable route is left, and
	// the kernel refuses the traffic, with no process running. Down
	// removes the unreachable routes too.
	FallbackBlock
)

// String returns the name used in wg-quick files and messages: "none",
// "internet" or "block".
func (f Fallback) String() string {
	switch f {
	case FallbackNone:
		return "none"
	case FallbackInternet:
		return "internet"
	case FallbackBlock:
		return "block"
	}
	return "Fallback(" + strconv.Itoa(int(f)) + ")"
}

// Health-check defaults, for the zero values of HealthCheck. With them a
// peer whose path is cut fails over within FailAfter intervals of the last
// packet received from it plus the one in flight: 4 x 500 ms, 2 to 2.5 s,
// within the 3 s the failover promises; and one reply lost now and then
// (a probe is one ICMP echo per interval) costs nothing.
const (
	// DefaultHealthInterval is the time between probes.
	DefaultHealthInterval = 500 * time.Millisecond
	// DefaultHealthFailAfter is the number of consecutive intervals with
	// nothing received from the peer after which it fails over.
	DefaultHealthFailAfter = 4
	// DefaultHealthRecoverAfter is the number of consecutive intervals
	// with something received after which it returns: 1.5 s of a path
	// that works again, so that a flapping path does not flap the routes.
	DefaultHealthRecoverAfter = 3
)

// Limits of HealthCheck that Validate enforces.
const (
	// MinHealthInterval is the shortest Interval: below it probes and
	// device reads cost more than they tell, and a scheduler's hiccup is
	// a miss.
	MinHealthInterval = 50 * time.Millisecond
	// MaxHealthInterval is the longest Interval: beyond it failover takes
	// minutes, longer than a peer's handshake retries.
	MaxHealthInterval = time.Minute
	// MaxHealthCount bounds FailAfter and RecoverAfter.
	MaxHealthCount = 1000
)

// HealthCheck tunes how Watch judges the health of the peers with a
// Fallback. It is plain data; its zero value means the defaults.
type HealthCheck struct {
	// Interval is the time between probes; 0 means DefaultHealthInterval.
	Interval time.Duration
	// FailAfter is the number of consecutive intervals without anything
	// received from the peer before it fails over; 0 means
	// DefaultHealthFailAfter.
	FailAfter int
	// RecoverAfter is the number of consecutive intervals with something
	// received before it returns; 0 means DefaultHealthRecoverAfter.
	RecoverAfter int
}

// WithDefaults returns h with its zero values replaced by the defaults.
func (h HealthCheck) WithDefaults() HealthCheck {
	if h.Interval == 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.FailAfter == 0 {
		h.FailAfter = DefaultHealthFailAfter
	}
	if h.RecoverAfter == 0 {
		h.RecoverAfter = DefaultHealthRecoverAfter
	}
	return h
}

// PeerState is where a peer with a Fallback sends its Transparent
// destinations.
type PeerState int

const (
	// PeerThroughTunnel: the peer is healthy (or not judged yet), its
	// destinations go through the tunnel.
	PeerThroughTunnel PeerState = iota
	// PeerFailedOver: the peer is unhealthy and has FallbackInternet, its
	// destinations go over the main table.
	PeerFailedOver
	// PeerBlocked: the peer is unhealthy and has FallbackBlock, its
	// destinations are refused.
	PeerBlocked
)

// String returns "tunnel", "failed-over" or "blocked".
func (s PeerState) String() string {
	switch s {
	case PeerThroughTunnel:
		return "tunnel"
	case PeerFailedOver:
		return "failed-over"
	case PeerBlocked:
		return "blocked"
	}
	return "PeerState(" + strconv.Itoa(int(s)) + ")"
}

// PeerHealth is one peer's health, as Tunnel.Health reports it.
type PeerHealth struct {
	PublicKey wgtypes.Key
	Fallback  Fallback
	State     PeerState
	Since     time.Time // when State began; zero when never recorded
	Healthy   bool      // the last judgement
	// LastHandshake and the byte counters are the device's; zero when the
	// device is gone.
	LastHandshake               time.Time
	ReceiveBytes, TransmitBytes int64
	// Failovers and Failbacks are counted by this Tunnel's Watch.
	Failovers, Failbacks int
}

// Stats are counters of this Tunnel (not of other processes').
type Stats struct {
	// DriftRepairs counts Watch's Ups that wrote something to the tunnel
	// this Tunnel had brought up: not the Up that brings it up, nor the
	// changes of a failover or of a name's new answer.
	DriftRepairs int
	// NameResolutions counts the lookups of TransparentNames.
	NameResolutions int
	// Resyncs counts Watch's subscriptions again after the kernel dropped
	// change notifications (ENOBUFS), each followed by an Up.
	Resyncs int
}
