package main

import (
	"net/netip"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Addresses of the world (world.go): S and A share 192.0.2.0/24, A and O
// 198.51.100.0/24. The peer's endpoint and the outside host are behind O.
var (
	addrS     = netip.MustParsePrefix("192.0.2.2/24")
	addrAS    = netip.MustParsePrefix("192.0.2.1/24")
	addrA     = netip.MustParsePrefix("198.51.100.1/24")
	addrO     = netip.MustParsePrefix("198.51.100.2/24")
	endpointB = netip.MustParseAddrPort("203.0.113.2:51822")
	// outside is the host the packets go to: not a destination of the
	// tunnel, dropped by O's blackhole route.
	outside  = netip.MustParseAddr("203.0.113.200")
	dropped  = netip.MustParsePrefix("203.0.113.128/25")
	udpPort  = 9 // discard
	tunnelA  = netip.MustParsePrefix("10.0.0.1/32")
	tunnelB  = netip.MustParsePrefix("10.0.0.2/32")
	hubPeers = netip.MustParseAddr("10.1.0.0")
)

// destAddrs is the size of 198.18.0.0/15 (RFC 2544's benchmarking range),
// where destAddr starts; it goes on in 100.64.0.0/10 (RFC 6598), so that
// 100000 destinations two apart fit, as the library's bench_test.go.
const destAddrs = 1 << 17

// destAddr returns the j-th address of 198.18.0.0/15 followed by
// 100.64.0.0/10.
func destAddr(j int) netip.Addr {
	a := netip.MustParseAddr("198.18.0.0").As4()
	if j >= destAddrs {
		a, j = netip.MustParseAddr("100.64.0.0").As4(), j-destAddrs
	}
	a[1] += byte(j >> 16)
	a[2], a[3] = byte(j>>8), byte(j)
	return netip.AddrFrom4(a)
}

// articleA is the article's A (Table 123, Priority 455, PeerRouteRule)
// with n transparent destinations: 203.0.113.2 and n-1 addresses two
// apart, so that none aggregate (one rule and one route each in
// destination mode). n = 0: the peer's tunnel address only.
func articleA(n int, rm transparent.RuleMode) (transparent.Config, error) {
	ka, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return transparent.Config{}, err
	}
	kb, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return transparent.Config{}, err
	}
	p := transparent.Peer{PublicKey: kb.PublicKey(), Endpoint: endpointB, AllowedIPs: []netip.Prefix{tunnelB}}
	if n > 0 {
		p.Transparent = append(p.Transparent, netip.PrefixFrom(endpointB.Addr(), 32))
	}
	for i := 1; i < n; i++ {
		p.Transparent = append(p.Transparent, netip.PrefixFrom(destAddr(2*i), 32))
	}
	return transparent.Config{
		PrivateKey: ka,
		ListenPort: 51821,
		Addresses:  []netip.Prefix{tunnelA},
		Table:      123,
		Priority:   455,
		Rules:      rm,
		Peers:      []transparent.Peer{p},
	}, nil
}

// hubConfig is the article's B as a hub with n peers: peer i has the
// tunnel address 10.1.0.0+i+1 and the public address destAddr(2i+2),
// from which its WireGuard packets come (ExpectedEndpoint, port 51821),
// as the library's BenchmarkHub.
func hubConfig(n int, rm transparent.RuleMode, ex transparent.ExceptionMode) (transparent.Config, error) {
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return transparent.Config{}, err
	}
	c := transparent.Config{
		PrivateKey: k,
		ListenPort: 51822,
		Addresses:  []netip.Prefix{tunnelA},
		Table:      123,
		Priority:   455,
		Rules:      rm,
		Exception:  ex,
	}
	for i := range n {
		pk, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			return c, err
		}
		a, j := hubPeers.As4(), i+1
		a[2], a[3] = byte(j>>8), byte(j)
		public := destAddr(2*i + 2)
		c.Peers = append(c.Peers, transparent.Peer{
			PublicKey:        pk.PublicKey(),
			ExpectedEndpoint: netip.AddrPortFrom(public, 51821),
			AllowedIPs:       []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(a), 32)},
			Transparent:      []netip.Prefix{netip.PrefixFrom(public, 32)},
		})
	}
	return c, nil
}
