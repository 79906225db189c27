package main

import (
	"net/netip"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Addresses of the benchmark world: A and B share one veth, each with a
// route to the other's subnet, so that no router is needed.
var (
	addrA     = netip.MustParsePrefix("198.51.100.1/24")
	addrB     = netip.MustParsePrefix("203.0.113.2/24")
	tunnelA   = netip.MustParsePrefix("10.0.0.1/32")
	tunnelB   = netip.MustParsePrefix("10.0.0.2/32")
	endpointB = netip.AddrPortFrom(addrB.Addr(), 51822)
)

// keys are the two ends' private keys, made once per run.
type keys struct{ a, b wgtypes.Key }

func newKeys() (keys, error) {
	a, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return keys{}, err
	}
	b, err := wgtypes.GeneratePrivateKey()
	return keys{a, b}, err
}

// configA is the article's Endpoint A with the given transparent
// destinations, and SNAT outbound to A's public address when snat is set.
func configA(name string, k keys, dests []netip.Prefix, snat bool) transparent.Config {
	c := transparent.Config{
		Name:       name,
		PrivateKey: k.a,
		ListenPort: 51821,
		Addresses:  []netip.Prefix{tunnelA},
		Table:      123,
		Priority:   455,
		PeerRoute:  transparent.PeerRouteRule,
		Peers: []transparent.Peer{{
			PublicKey:   k.b.PublicKey(),
			Endpoint:    endpointB,
			AllowedIPs:  []netip.Prefix{tunnelB},
			Transparent: dests,
		}},
	}
	if snat {
		c.SNAT = transparent.SNATOutbound
		c.PublicAddresses = []netip.Addr{addrA.Addr()}
	}
	return c
}

// configB is a plain tunnel on B whose peer is A; it makes the world
// realistic (A's peer exists) and is not measured.
func configB(name string, k keys) transparent.Config {
	return transparent.Config{
		Name:       name,
		PrivateKey: k.b,
		ListenPort: int(endpointB.Port()),
		Addresses:  []netip.Prefix{tunnelB},
		Peers: []transparent.Peer{{
			PublicKey:  k.a.PublicKey(),
			AllowedIPs: []netip.Prefix{tunnelA},
		}},
	}
}

// destinations returns n transparent destinations: B's public address and
// n-1 host prefixes from 198.18.0.0/15 (RFC 2544's benchmarking range),
// stride addresses apart. stride 1 makes them adjacent, which a library
// that merges adjacent prefixes can collapse; stride 2 keeps them apart.
func destinations(n, stride int) []netip.Prefix {
	out := []netip.Prefix{netip.PrefixFrom(addrB.Addr(), 32)}
	for i := 1; i < n; i++ {
		out = append(out, hostIn(netip.MustParseAddr("198.18.0.0"), i*stride))
	}
	return out
}

// changed replaces the last tenth (rounded up, so at least one) of dests
// with addresses from 198.19.128.0/17, a part of the range destinations
// never uses for n ≤ 10000. At N=1 that replaces B's own address.
func changed(dests []netip.Prefix, stride int) []netip.Prefix {
	k := (len(dests) + 9) / 10
	out := append([]netip.Prefix(nil), dests[:len(dests)-k]...)
	for i := range k {
		out = append(out, hostIn(netip.MustParseAddr("198.19.128.0"), i*stride))
	}
	return out
}

// hostIn is the /32 at offset i from base.
func hostIn(base netip.Addr, i int) netip.Prefix {
	a := base.As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 32)
}
