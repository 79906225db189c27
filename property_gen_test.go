package transparent_test

import (
	cryptorand "crypto/rand"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// The random configs of TestProperty (property_test.go). Most fields take
// an ordinary value; with a probability (the case's chaos, itself random
// so that some configs are clean and some full of oddities) they take an
// edge value instead: zero, the ends of the documented range and one past
// them, huge numbers, /0 prefixes, odd names. Configs are valid and
// invalid alike; the properties hold for both.

// propCase is one input of the property test: a config, the firewall
// option, and how the device name is made unique at run time.
type propCase struct {
	cfg transparent.Config
	fw  transparent.Firewall
	// uniq random hex digits are appended to cfg.Name when the case runs,
	// so that reruns (and other tests) never share an embedded device's
	// UAPI socket, which all namespaces share.
	uniq int
}

// gen makes one case from its own random source.
type gen struct {
	r     *rand.Rand
	chaos float64 // probability of an edge value per field
	c     *propCase
}

// chaosLevels: a fifth of the configs are clean (only ordinary values),
// and the rest have a few odd fields each, so that many configs get as
// far as Up, Check and Down, with odd values among them.
var chaosLevels = []float64{0, 0.01, 0.03, 0.06, 0.12}

// newPropCase makes case number i of the run with the given seed: the
// same seed and number always give the same case.
func newPropCase(seed uint64, i int) propCase {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	g := &gen{r: r, chaos: chaosLevels[r.IntN(len(chaosLevels))], c: &propCase{}}
	g.config()
	return *g.c
}

// edge reports whether this field takes an edge value.
func (g *gen) edge() bool { return g.r.Float64() < g.chaos }

// oftenEdge is edge for the fields whose edge values found bugs (the
// name, the priority): they take one in a tenth of the configs at least.
func (g *gen) oftenEdge() bool { return g.r.Float64() < max(g.chaos, 0.1) }

// oneOf returns a random element.
func oneOf[T any](g *gen, xs ...T) T { return xs[g.r.IntN(len(xs))] }

// families the config routes: IPv4, IPv6 or both.
type fams struct{ v4, v6 bool }

func (g *gen) config() {
	c := &g.c.cfg
	f := oneOf(g, fams{v4: true}, fams{v6: true}, fams{v4: true, v6: true})
	g.name()
	c.PrivateKey = g.privateKey()
	c.ListenPort = g.listenPort()
	c.MTU = g.mtu()
	c.Table = g.table()
	c.Priority = g.priority()
	c.PeerRoute = transparent.PeerRoute(g.r.IntN(3))
	if g.edge() {
		c.PeerRoute = 3
	}
	c.Exception = transparent.ExceptionMode(g.r.IntN(2))
	if g.edge() {
		c.Exception = 2
	}
	if g.r.IntN(3) == 0 || g.edge() {
		c.FwMark = oneOf(g, uint32(1), uint32(0xca6c), g.r.Uint32(), math.MaxUint32)
	}
	c.SNAT = transparent.SNATMode(g.r.IntN(3))
	if g.edge() {
		c.SNAT = 3
	}
	g.c.fw = oneOf(g, transparent.FirewallAuto, transparent.FirewallAuto, transparent.FirewallNftables, transparent.FirewallIPTablesNFT, transparent.FirewallIPTablesLegacy)

	// The tunnel network: 10.N.N.0/24 and fd00:N:N::/64 with the own
	// address first and the peers' after it.
	net4 := netip.AddrFrom4([4]byte{10, byte(g.r.IntN(256)), byte(g.r.IntN(256)), 0})
	net6 := netip.AddrFrom16([16]byte{0xfd, 0, byte(g.r.IntN(256)), byte(g.r.IntN(256)), 6: byte(g.r.IntN(256))})
	host := func(n netip.Addr, k int) netip.Addr {
		b := n.AsSlice()
		b[len(b)-1] = byte(k)
		a, _ := netip.AddrFromSlice(b)
		return a
	}
	wide := c.PeerRoute == transparent.PeerRoutePrefix // needs a connected route that covers the peers
	if f.v4 {
		c.Addresses = append(c.Addresses, g.ownAddress(host(net4, 1), wide))
	}
	if f.v6 {
		c.Addresses = append(c.Addresses, g.ownAddress(host(net6, 1), wide))
	}
	if g.edge() {
		c.Addresses = oneOf(g,
			nil,                                 // none
			append(c.Addresses, c.Addresses[0]), // a repeat
			append(c.Addresses, netip.MustParsePrefix("::ffff:10.0.0.1/128")),            // IPv4-mapped
			append(c.Addresses, netip.PrefixFrom(host(net4, 1), 24)),                     // host bits: allowed for addresses
			append(c.Addresses, netip.MustParsePrefix("198.51.100.7/24")),                // covers the uplink (and endpoints there)
			append(c.Addresses, netip.PrefixFrom(netip.IPv4Unspecified(), 0)),            // 0.0.0.0/0
			append(c.Addresses, netip.PrefixFrom(host(net6, 9), 0)),                      // fd00::9/0
			append(c.Addresses, netip.PrefixFrom(host(net4, 1), 33).Masked()),            // invalid prefix
			append(c.Addresses, netip.MustParsePrefix("fe80::1/64")),                     // link-local
			append(c.Addresses, netip.MustParsePrefix("224.0.0.1/32")),                   // multicast
			append(c.Addresses, netip.PrefixFrom(netip.MustParseAddr("10.0.0.255"), 32)), // broadcast-ish
		)
	}

	n := 1 + g.r.IntN(3)
	if g.edge() {
		n = oneOf(g, 0, 5)
	}
	used := map[netip.AddrPort]bool{}
	for k := range n {
		c.Peers = append(c.Peers, g.peer(f, host(net4, 2+k), host(net6, 2+k), used))
	}
	if g.edge() && len(c.Peers) > 1 {
		c.Peers[1].PublicKey = c.Peers[0].PublicKey
	}
	if g.edge() && len(c.Peers) > 0 {
		c.Peers[0].PublicKey = wgtypes.Key{}
	}
	g.defaultRoutes(f)
	g.publicAddresses(f)
}

// defaultRoutes turns some configs into the two shapes that route /0
// into the tunnel, which odd prefixes alone rarely reach (a /0 overlaps
// every prefix of the other list): wg-quick's full tunnel (AllowedIPs /0,
// nothing transparent) and a transparent default route (Transparent /0,
// the peer's tunnel address only in the other family).
func (g *gen) defaultRoutes(f fams) {
	c := &g.c.cfg
	if len(c.Peers) == 0 || g.r.IntN(100) >= 12 {
		return
	}
	p := &c.Peers[0]
	c.Peers = c.Peers[:1]
	zero4, zero6 := netip.PrefixFrom(netip.IPv4Unspecified(), 0), netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	if g.r.IntN(2) == 0 || !(f.v4 && f.v6) {
		// Full tunnel.
		p.AllowedIPs, p.Transparent = nil, nil
		if f.v4 {
			p.AllowedIPs = append(p.AllowedIPs, zero4)
		}
		if f.v6 {
			p.AllowedIPs = append(p.AllowedIPs, zero6)
		}
		c.SNAT, c.PeerRoute = transparent.SNATOff, oneOf(g, transparent.PeerRouteRule, transparent.PeerRouteMain)
		return
	}
	// Dual stack: the tunnel carries one family, the other is all
	// transparent.
	var v4, v6 netip.Prefix
	for _, a := range p.AllowedIPs {
		if a.Addr().Is4() && !v4.IsValid() {
			v4 = a
		} else if a.Addr().Is6() && !v6.IsValid() {
			v6 = a
		}
	}
	switch {
	case !v4.IsValid() || !v6.IsValid(): // an odd AllowedIPs: leave it
	case g.r.IntN(2) == 0:
		p.AllowedIPs, p.Transparent = []netip.Prefix{v6}, []netip.Prefix{zero4}
	default:
		p.AllowedIPs, p.Transparent = []netip.Prefix{v4}, []netip.Prefix{zero6}
	}
	if c.SNAT == transparent.SNATInbound {
		c.SNAT = transparent.SNATOutbound
	}
	if !p.Endpoint.IsValid() && c.Exception == transparent.ExceptionPort {
		p.Endpoint, p.ExpectedEndpoint = netip.AddrPortFrom(netip.MustParseAddr("203.0.113.2"), 51822), netip.AddrPort{}
	}
}

// name is usually "wp" and 6 random hex digits; edge names test what
// Linux, the firewalls and the lock files make of odd bytes.
func (g *gen) name() {
	c := g.c
	c.cfg.Name, c.uniq = "wp", 6
	if !g.oftenEdge() {
		return
	}
	// A base and how many random hex digits follow it.
	type name struct {
		base string
		uniq int
	}
	n := oneOf(g,
		name{"wp", 13}, // 15 bytes, the longest
		name{"wp", 14}, // one too many
		name{"", 0},
		name{".", 0}, // Linux refuses . and ..
		name{"..", 0},
		name{"w/", 4},
		name{"w:", 4},
		name{"w ", 4},
		name{"w\t", 4},
		name{"w\n", 4},
		name{"w\x00", 4},
		name{"w\u00a0", 4}, // its byte 0xa0 is white space to Linux
		name{"w%d", 4},     // a kernel name template: Linux would make w0...
		name{"w%", 4},      // a broken template
		name{"w\"", 4},     // breaks quoting in iptables-restore
		name{"w'", 4},
		name{"w\\", 4},
		name{"w$", 4},
		name{"w*", 4},
		name{"w#", 4}, // a comment in iptables-restore input
		name{"w;", 4},
		name{"-w", 4},    // looks like an option
		name{"w\x01", 4}, // a control character
		name{"wé", 4},    // UTF-8
		name{"w\xff", 4}, // not UTF-8
		name{"lo", 0},    // taken by the namespace's loopback: a conflict
		name{"eth0", 0},  // taken by the uplink: a conflict
		name{"all", 0},   // names of /proc/sys/net/ipv4/conf entries
		name{"default", 0},
	)
	c.cfg.Name, c.uniq = n.base, n.uniq
}

// privateKey is a clamped random key (as `wg genkey` makes), rarely an
// unclamped one (32 random bytes, which wg accepts and clamps) or none.
func (g *gen) privateKey() wgtypes.Key {
	k := g.key()
	if g.edge() {
		if g.r.IntN(2) == 0 {
			return wgtypes.Key{}
		}
		k[0] |= 7 // unclamped
		return k
	}
	k[0] &= 248
	k[31] = k[31]&127 | 64
	return k
}

func (g *gen) key() wgtypes.Key {
	var k wgtypes.Key
	for i := range k {
		k[i] = byte(g.r.IntN(256))
	}
	return k
}

func (g *gen) listenPort() int {
	if g.edge() {
		return oneOf(g, 0, 1, 65535, -1, 65536, math.MaxInt)
	}
	return oneOf(g, 0, 51820, 1024+g.r.IntN(60000))
}

func (g *gen) mtu() int {
	if g.edge() {
		return oneOf(g, 576, 575, 1279, 1280, 65535, 65536, -1, math.MaxInt)
	}
	return oneOf(g, 0, 0, 1420, 1280+g.r.IntN(8000))
}

func (g *gen) table() int {
	if g.edge() {
		return oneOf(g, 1, 252, 253, 254, 255, 256, math.MaxInt32, math.MaxUint32, math.MaxUint32+1, -1, -2, -3, math.MaxInt, math.MinInt)
	}
	return oneOf(g, 0, 123, 1+g.r.IntN(252), 256+g.r.IntN(1<<20))
}

// priority: the docs give 1 to 32763 (the three rules use Priority to
// Priority+2, below main's 32766); 0 means the default, -1 PriorityAuto.
func (g *gen) priority() int {
	if g.oftenEdge() {
		return oneOf(g, 1, 32763, 32764, 32766, -1, -2, math.MaxInt32, math.MaxInt-1, math.MaxInt, math.MinInt)
	}
	return oneOf(g, 0, 455, 1+g.r.IntN(32763))
}

// ownAddress is the interface's tunnel address: a host address, or a
// prefix that covers the peers for PeerRoutePrefix, rarely /0.
func (g *gen) ownAddress(a netip.Addr, wide bool) netip.Prefix {
	bits := a.BitLen()
	if wide || g.r.IntN(4) == 0 {
		bits = oneOf(g, a.BitLen()-8, a.BitLen()-2) // /24, /30 (/120, /126)
	}
	if g.edge() {
		bits = oneOf(g, 0, 1, 8)
	}
	return netip.PrefixFrom(a, bits)
}

// publicAddr is a public address of the family: on the uplink's subnet,
// in the documentation ranges, or anywhere.
func (g *gen) publicAddr(v6 bool) netip.Addr {
	if v6 {
		switch g.r.IntN(3) {
		case 0:
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xb, 15: byte(1 + g.r.IntN(250))})
		case 1:
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xa, 15: byte(2 + g.r.IntN(250))}) // the uplink's /64
		}
		var b [16]byte
		b[0] = 0x20 | byte(g.r.IntN(16))
		for i := 1; i < 16; i++ {
			b[i] = byte(g.r.IntN(256))
		}
		return netip.AddrFrom16(b)
	}
	switch g.r.IntN(3) {
	case 0:
		return netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + g.r.IntN(254))})
	case 1:
		return netip.AddrFrom4([4]byte{198, 51, 100, byte(2 + g.r.IntN(250))}) // the uplink's /24
	}
	return netip.AddrFrom4([4]byte{oneOf(g, byte(1), 45, 80, 151, 185, 223), byte(g.r.IntN(256)), byte(g.r.IntN(256)), byte(1 + g.r.IntN(254))})
}

// peer makes one peer with tunnel addresses t4/t6 (for the families f)
// and an endpoint not in used.
func (g *gen) peer(f fams, t4, t6 netip.Addr, used map[netip.AddrPort]bool) transparent.Peer {
	p := transparent.Peer{PublicKey: g.key()}
	if g.r.IntN(4) == 0 {
		p.PresharedKey = g.key()
	}
	epV6 := f.v6 && (!f.v4 || g.r.IntN(2) == 0)
	var ep netip.AddrPort
	for range 10 {
		if ep = netip.AddrPortFrom(g.publicAddr(epV6), uint16(1024+g.r.IntN(60000))); !used[ep] {
			break
		}
	}
	used[ep] = true
	if g.edge() {
		ep = oneOf(g,
			netip.AddrPortFrom(ep.Addr(), 0),
			netip.AddrPortFrom(netip.IPv4Unspecified(), 51820),
			netip.AddrPortFrom(netip.MustParseAddr("224.0.0.9"), 51820),
			netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 51820),
			netip.AddrPortFrom(t4, 51820),                                  // inside the tunnel network
			netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), 51820), // this host's own uplink address
			netip.AddrPortFrom(ep.Addr(), 65535),
		)
	}
	// The peer route and SNAT options decide what the rest needs.
	c := g.c.cfg
	transparentPeer := g.r.IntN(5) != 0 || c.SNAT != transparent.SNATOff
	needsEndpoint := transparentPeer && c.Exception == transparent.ExceptionPort
	switch g.r.IntN(4) {
	case 0: // no endpoint: the device learns it
		if needsEndpoint && !g.edge() {
			p.Endpoint = ep
		}
	case 1:
		p.ExpectedEndpoint = ep
	default:
		p.Endpoint = ep
	}
	if g.edge() {
		p.Endpoint, p.ExpectedEndpoint = ep, ep
	}

	// AllowedIPs: the peer's tunnel addresses, sometimes a subnet behind
	// it, rarely an edge case.
	if f.v4 {
		p.AllowedIPs = append(p.AllowedIPs, netip.PrefixFrom(t4, 32))
	}
	if f.v6 {
		p.AllowedIPs = append(p.AllowedIPs, netip.PrefixFrom(t6, 128))
	}
	if f.v4 && c.PeerRoute != transparent.PeerRoutePrefix && g.r.IntN(5) == 0 {
		b := t4.As4()
		p.AllowedIPs = append(p.AllowedIPs, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 16 + b[3]%16, b[2], 0}), 24))
	}
	if g.edge() {
		p.AllowedIPs = oneOf(g,
			nil,
			append(p.AllowedIPs, netip.PrefixFrom(netip.IPv4Unspecified(), 0)), // 0.0.0.0/0, wg-quick's full tunnel
			append(p.AllowedIPs, netip.PrefixFrom(netip.IPv6Unspecified(), 0)), // ::/0
			append(p.AllowedIPs, netip.PrefixFrom(netip.IPv4Unspecified(), 1)), // 0.0.0.0/1
			append(p.AllowedIPs, netip.PrefixFrom(netip.MustParseAddr("128.0.0.0"), 1)),
			append(p.AllowedIPs, netip.MustParsePrefix("10.0.0.5/8")), // host bits set
			append(p.AllowedIPs, netip.MustParsePrefix("::ffff:10.9.9.9/128")),
			append(p.AllowedIPs, netip.PrefixFrom(t4, 32)), // repeated (f.v4 or not)
		)
	}

	// Transparent: the peer's public address (its endpoint's, as in the
	// article), other public hosts and networks, rarely /0.
	switch {
	case !transparentPeer:
	case c.SNAT == transparent.SNATInbound:
		// SNATInbound translates to the peer's public address: exactly
		// one single address per family.
		for _, v6 := range []bool{false, true} {
			if v6 && !f.v6 || !v6 && !f.v4 {
				continue
			}
			a := g.publicAddr(v6)
			if ep.Addr().Is6() == v6 && ep.Addr().IsValid() {
				a = ep.Addr()
			}
			p.Transparent = append(p.Transparent, netip.PrefixFrom(a, a.BitLen()))
		}
	default:
		if ep.IsValid() && (ep.Addr().Is4() && f.v4 || ep.Addr().Is6() && f.v6) && g.r.IntN(3) != 0 {
			a := ep.Addr()
			p.Transparent = append(p.Transparent, netip.PrefixFrom(a, a.BitLen()))
		}
		for range 1 + g.r.IntN(3) {
			v6 := f.v6 && (!f.v4 || g.r.IntN(2) == 0)
			a := g.publicAddr(v6)
			bits := oneOf(g, a.BitLen(), a.BitLen(), a.BitLen()-8, a.BitLen()/2)
			pr := netip.PrefixFrom(a, bits).Masked()
			if p.Transparent == nil || !overlapsAny(pr, p.Transparent) {
				p.Transparent = append(p.Transparent, pr)
			}
		}
	}
	if g.edge() {
		p.Transparent = append(p.Transparent, oneOf(g,
			netip.PrefixFrom(netip.IPv4Unspecified(), 0),
			netip.PrefixFrom(netip.IPv6Unspecified(), 0),
			netip.PrefixFrom(netip.IPv4Unspecified(), 1),
			netip.MustParsePrefix("198.51.100.0/24"), // the uplink's own subnet
			netip.MustParsePrefix("203.0.113.9/24"),  // host bits set
		))
	}

	if g.r.IntN(4) == 0 {
		p.PersistentKeepalive = 25 * time.Second
	}
	if g.edge() {
		p.PersistentKeepalive = oneOf(g, time.Second, 65535*time.Second, 65536*time.Second, 1500*time.Millisecond, -time.Second, time.Duration(math.MaxInt64))
	}
	return p
}

func overlapsAny(p netip.Prefix, list []netip.Prefix) bool {
	for _, q := range list {
		if p.Overlaps(q) {
			return true
		}
	}
	return false
}

// publicAddresses: usually none (Up finds the uplink's), sometimes the
// uplink's or another, rarely invalid ones.
func (g *gen) publicAddresses(f fams) {
	c := &g.c.cfg
	if c.SNAT != transparent.SNATOff && g.r.IntN(3) == 0 {
		if f.v4 {
			c.PublicAddresses = append(c.PublicAddresses, oneOf(g, netip.MustParseAddr("198.51.100.1"), g.publicAddr(false)))
		}
		if f.v6 {
			c.PublicAddresses = append(c.PublicAddresses, oneOf(g, netip.MustParseAddr("2001:db8:a::1"), g.publicAddr(true)))
		}
	}
	if g.edge() {
		a := oneOf(g, netip.IPv4Unspecified(), netip.MustParseAddr("224.0.0.1"), netip.MustParseAddr("203.0.113.77"), netip.MustParseAddr("2001:db8:b::77"))
		c.PublicAddresses = append(c.PublicAddresses, a)
	}
}

// runName is the device name the case runs with: cfg.Name and uniq fresh
// random hex digits.
func (c propCase) runName() string {
	b := make([]byte, (c.uniq+1)/2)
	cryptorand.Read(b)
	return c.cfg.Name + hex.EncodeToString(b)[:c.uniq]
}
