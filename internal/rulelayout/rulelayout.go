// Package rulelayout is the tunnel's rule layout, the one description that the
// library (Up) and the wgquick package (Render, and the import of
// wg-quick files) share: the priority of each kind of policy rule
// relative to the config's Priority, the destinations of the table mode's
// rules, and the host prefixes that TransparentNames add to the
// Transparent prefixes. It is portable.
package rulelayout

import (
	"net/netip"
	"slices"
)

// Kind names one of the tunnel's kinds of policy rule, each at a priority
// of its own.
type Kind uint8

const (
	// Exception keeps the peers' own WireGuard packets in the main table:
	// "to <endpoint> ipproto udp dport <port> lookup main", or "fwmark
	// <FwMark> lookup main" with ExceptionFwMark.
	Exception Kind = iota
	// Transparent sends a Transparent prefix into the tunnel: "to
	// <prefix> lookup <Table>".
	Transparent
	// Peer keeps a peer's tunnel address reachable with PeerRouteRule:
	// "to <peer tunnel address> lookup <Table>".
	Peer
)

// Rule priorities relative to the config's Priority. The exception rule
// must be evaluated before the transparent rules, so its number is
// smaller.
const (
	ExceptionOffset   = 0 // to <endpoint> ipproto udp dport <port> lookup main
	TransparentOffset = 1 // to <Transparent prefix> lookup Table
	PeerOffset        = 2 // to <peer tunnel address> lookup Table (PeerRouteRule)
)

// Priority is the priority of the rules of kind k of a tunnel whose
// Priority (with defaults) is base.
func Priority(base int, k Kind) int {
	switch k {
	case Transparent:
		return base + TransparentOffset
	case Peer:
		return base + PeerOffset
	}
	return base + ExceptionOffset
}

// Base is the Priority of a tunnel that puts its rule of kind k at
// priority: the inverse of Priority, for reading rules back into a config.
func Base(k Kind, priority int) int { return priority - Priority(0, k) }

// TableRuleDestinations are the destinations of the RulesTable rules of
// an IP family: its two halves (0.0.0.0/1 and 128.0.0.0/1, or ::/1 and
// 8000::/1). A rule without a destination would cover the family in one,
// but the kernel cannot tell such a rule from the rules to single
// destinations at the same priority and table: it refuses to add it
// beside them (EEXIST), and deleting it may delete one of them. Two /1
// rules are told apart from every other rule, so a change between the
// two rule modes can add the new rules before it removes the old.
func TableRuleDestinations(ipv6 bool) []netip.Prefix {
	if ipv6 {
		return []netip.Prefix{netip.MustParsePrefix("::/1"), netip.MustParsePrefix("8000::/1")}
	}
	return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}
}

// NamedPeer is what NameHosts needs of a peer: its TransparentNames and
// its Transparent prefixes.
type NamedPeer struct {
	Names       []string
	Transparent []netip.Prefix
}

// NameHosts returns, for each peer, the host prefixes (/32, /128) of its
// names' addresses that are routed as its Transparent prefixes: addrs
// holds each name's addresses, by name in canonical form (lower case,
// without a trailing dot; canonical turns a name into it). An address is
// left out when addresses (the tunnel's Addresses) has none of its family
// (packets to it would have no tunnel source address), or when a
// Transparent prefix or an earlier name already routes it. A peer's
// prefixes are sorted; nil when none.
func NameHosts(addresses []netip.Prefix, peers []NamedPeer, addrs map[string][]netip.Addr, canonical func(string) string) [][]netip.Prefix {
	byName := make(map[string][]netip.Addr, len(addrs))
	for name, list := range addrs {
		byName[canonical(name)] = append(byName[canonical(name)], list...)
	}
	hasFamily := func(a netip.Addr) bool {
		return slices.ContainsFunc(addresses, func(p netip.Prefix) bool { return p.Addr().Is4() == a.Is4() })
	}
	covered := func(a netip.Addr) bool {
		for _, p := range peers {
			if slices.ContainsFunc(p.Transparent, func(tp netip.Prefix) bool { return tp.Contains(a) }) {
				return true
			}
		}
		return false
	}
	out := make([][]netip.Prefix, len(peers))
	claimed := map[netip.Addr]bool{}
	for i, p := range peers {
		for _, name := range p.Names {
			for _, a := range byName[canonical(name)] {
				a = a.Unmap()
				if !a.IsValid() || claimed[a] || !hasFamily(a) || covered(a) {
					continue
				}
				claimed[a] = true
				out[i] = append(out[i], netip.PrefixFrom(a, a.BitLen()))
			}
		}
		slices.SortFunc(out[i], func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }) // host prefixes: one per address
	}
	return out
}
