package inet

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
)

// RouteProtocol is the routing protocol number set on every route and
// rule the tunnel adds, its mark (the root package documents it).
const RouteProtocol = 87

// The kernel's reserved routing tables, which the tunnel must not use.
const (
	TableDefault = 253
	TableMain    = 254
	TableLocal   = 255
)

// TableName is a routing table as ip(8) names it.
func TableName(t int) string {
	switch t {
	case TableMain:
		return "main"
	case TableLocal:
		return "local"
	case TableDefault:
		return "default"
	}
	return strconv.Itoa(t)
}

// Dedupe returns list without repeats, in its order.
func Dedupe[T comparable](list []T) []T {
	seen := map[T]bool{}
	out := list[:0:0]
	for _, x := range list {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// FamilyName names the IP family in messages.
func FamilyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// HostPrefix is the /32 or /128 of a.
func HostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// IPNet converts p for the net and netlink packages.
func IPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// PrefixOf converts n back, unmapping IPv4-mapped addresses.
func PrefixOf(n *net.IPNet) netip.Prefix {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	a = a.Unmap()
	if a.Is4() && ones > 32 {
		ones -= 96
	}
	return netip.PrefixFrom(a, ones)
}

// Aggregate returns the fewest prefixes that cover exactly the addresses
// of ps, sorted: prefixes inside others are dropped, and two halves of a
// prefix are merged into it, repeatedly. A thousand consecutive
// destinations then cost a handful of rules and routes instead of a
// thousand, which matters because the kernel keeps policy rules in a list
// and walks it on every insertion.
func Aggregate(ps []netip.Prefix) []netip.Prefix {
	return AggregateInPlace(slices.Clone(ps))
}

// AggregateInPlace is Aggregate writing into ps itself, which it sorts
// and overwrites: for a list of 100000 prefixes that its caller made for
// the purpose, no copy.
func AggregateInPlace(ps []netip.Prefix) []netip.Prefix {
	for i, p := range ps {
		ps[i] = p.Masked()
	}
	out := ps[:0] // never ahead of the prefix being read
	for _, p := range SortedPrefixes(ps) {
		if n := len(out); n > 0 && out[n-1].Bits() <= p.Bits() && out[n-1].Contains(p.Addr()) {
			continue // inside the previous one (sorted: no earlier one can hold p)
		}
		out = append(out, p)
		for n := len(out); n >= 2; n = len(out) {
			a, b := out[n-2], out[n-1]
			if a.Bits() != b.Bits() || a.Bits() == 0 {
				break
			}
			parent := netip.PrefixFrom(a.Addr(), a.Bits()-1).Masked()
			if netip.PrefixFrom(b.Addr(), b.Bits()-1).Masked() != parent {
				break
			}
			out = append(out[:n-2], parent)
		}
	}
	return out
}

// SortedPrefixes sorts ps in place, without repeats.
func SortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	if !slices.IsSortedFunc(ps, ComparePrefixes) { // often they are: 100000 of them at times
		slices.SortFunc(ps, ComparePrefixes)
	}
	return slices.Compact(ps)
}

// ComparePrefixes orders prefixes by address, then length.
func ComparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
