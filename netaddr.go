//go:build linux

package transparent

import (
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// Small conversions between the netip types of the config and the net
// and netlink types of the kernel, used by every file that talks to it.

// tableName is a routing table as ip(8) names it.
func tableName(t int) string {
	switch t {
	case tableMain:
		return "main"
	case tableLocal:
		return "local"
	case tableDefault:
		return "default"
	}
	return strconv.Itoa(t)
}

func dedupe[T comparable](list []T) []T {
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

func family(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func familyString(family int) string {
	if family == unix.AF_INET {
		return "IPv4"
	}
	return "IPv6"
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) netip.Prefix {
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
