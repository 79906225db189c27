//go:build linux

package transparent

import "net/netip"

// aggregate returns the fewest prefixes that cover exactly the addresses
// of ps, sorted: prefixes inside others are dropped, and two halves of a
// prefix are merged into it, repeatedly. A thousand consecutive
// destinations then cost a handful of rules and routes instead of a
// thousand, which matters because the kernel keeps policy rules in a list
// and walks it on every insertion.
func aggregate(ps []netip.Prefix) []netip.Prefix {
	masked := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		masked = append(masked, p.Masked())
	}
	var out []netip.Prefix
	for _, p := range sortedPrefixes(masked) {
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
