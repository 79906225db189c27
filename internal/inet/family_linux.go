//go:build linux

package inet

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// Family is the address family of a: unix.AF_INET or unix.AF_INET6.
func Family(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// AnyPrefix is the prefix of length 0 of a family: every destination.
func AnyPrefix(fam int) netip.Prefix {
	if fam == unix.AF_INET6 {
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
}
