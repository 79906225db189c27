package transparent

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/wgtransparent/transparent/internal/resolve"
	"github.com/wgtransparent/transparent/internal/rulelayout"
)

// routedNames holds, for each TransparentNames name in canonical form
// (resolve.Canonical), the addresses routed for it: those of its last
// answer and those still in their grace period, sorted.
type routedNames map[string][]netip.Addr

// effectiveConfig is the config Up applies: c with the addresses of its
// peers' TransparentNames (routed, by name in canonical form) added to
// their Transparent prefixes as host prefixes, as rulelayout.NameHosts picks
// them. Rules or table routes, AllowedIPs and SNAT rules then follow the
// names as they follow Transparent. TransparentNames stay as they are; c
// is not changed; a config without names is returned as it is.
func effectiveConfig(c Config, routed routedNames) Config {
	if !c.hasNames() {
		return c
	}
	peers := make([]rulelayout.NamedPeer, len(c.Peers))
	for i, p := range c.Peers {
		peers[i] = rulelayout.NamedPeer{Names: p.TransparentNames, Transparent: p.Transparent}
	}
	out := c
	out.Peers = slices.Clone(c.Peers)
	for i, add := range rulelayout.NameHosts(c.Addresses, peers, routed, resolve.Canonical) {
		if len(add) > 0 {
			out.Peers[i].Transparent = append(slices.Clip(c.Peers[i].Transparent), add...)
		}
	}
	return out
}

// checkAnswer refuses an answer for name with an address that must not be
// routed as a transparent destination of name's peer: the name server
// that gave the answer (server; invalid when not known), whose queries
// would then go into the tunnel and never be answered again, so that the
// route could never be taken back; inside the tunnel's own Addresses or
// any peer's AllowedIPs (the tunnel's addresses), or routed to another
// peer, by its Transparent prefixes or by its names' addresses in routed.
// An address that is also a peer's endpoint is fine, as it is in
// Transparent (the article's B is both): the exception rule keeps the
// WireGuard packets themselves out of the tunnel.
func checkAnswer(c Config, name string, addrs []netip.Addr, routed routedNames, server netip.Addr) error {
	name = resolve.Canonical(name)
	server = server.WithZone("").Unmap()
	owner := -1
	for i, p := range c.Peers {
		if slices.ContainsFunc(p.TransparentNames, func(n string) bool { return resolve.Canonical(n) == name }) {
			owner = i
		}
	}
	for _, a := range addrs {
		if server.IsValid() && a.WithZone("").Unmap() == server {
			return fmt.Errorf("answer address %s is the name server that resolves the names: routed into the tunnel, it would never answer again and the route would stay; fix the name's records, or resolve through a name server outside the tunnel (WithResolver, or the namespace's resolv.conf)", a)
		}
		for k, ap := range c.Addresses {
			if ap.Masked().Contains(a) {
				return fmt.Errorf("answer address %s is inside Addresses[%d] %s, the tunnel's own addresses: fix the name's records, or renumber the tunnel", a, k, ap)
			}
		}
		for i, p := range c.Peers {
			for k, ap := range p.AllowedIPs {
				if ap.Contains(a) {
					return fmt.Errorf("answer address %s is inside Peers[%d].AllowedIPs[%d] %s, a tunnel address: fix the name's records, or renumber the tunnel", a, i, k, ap)
				}
			}
			if i == owner {
				continue
			}
			for k, tp := range p.Transparent {
				if tp.Contains(a) {
					return fmt.Errorf("answer address %s is already routed to Peers[%d] by its Transparent[%d] %s: WireGuard sends an address to one peer only; list the name with that peer", a, i, k, tp)
				}
			}
			for _, other := range p.TransparentNames {
				if _, found := slices.BinarySearchFunc(routed[resolve.Canonical(other)], a, netip.Addr.Compare); found {
					return fmt.Errorf("answer address %s is also an address of %s, routed to Peers[%d]: WireGuard sends an address to one peer only; list both names with one peer", a, resolve.Canonical(other), i)
				}
			}
		}
	}
	return nil
}

// nameField is the field of name in c, such as
// "Peers[0].TransparentNames[1]", for errors; "" if c does not list it.
func (c Config) nameField(name string) string {
	name = resolve.Canonical(name)
	for i, p := range c.Peers {
		for j, n := range p.TransparentNames {
			if resolve.Canonical(n) == name {
				return fmt.Sprintf("Peers[%d].TransparentNames[%d]", i, j)
			}
		}
	}
	return ""
}

// names returns c's TransparentNames in canonical form, in config order.
func (c Config) names() []string {
	var out []string
	for _, p := range c.Peers {
		for _, n := range p.TransparentNames {
			out = append(out, resolve.Canonical(n))
		}
	}
	return out
}

func (c Config) hasNames() bool {
	return slices.ContainsFunc(c.Peers, func(p Peer) bool { return len(p.TransparentNames) > 0 })
}

// hasFamily reports whether Addresses has an address of a's family: the
// source of packets routed to a through the tunnel.
func (c Config) hasFamily(a netip.Addr) bool {
	return slices.ContainsFunc(c.Addresses, func(p netip.Prefix) bool { return p.Addr().Is4() == a.Is4() })
}
