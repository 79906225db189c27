package wgquick

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// lookupNetIP is the system's resolver, for ResolveNames and for Resolve
// without a Lookup. Tests replace it.
var lookupNetIP = net.DefaultResolver.LookupNetIP

// resolveTimeout bounds the resolution of one host name.
const resolveTimeout = 10 * time.Second

// splitList splits a comma list such as "10.0.0.1/32, fd00::1/128" into
// its trimmed items. An empty item is an error.
func splitList(s string) ([]string, error) {
	items := strings.Split(s, ",")
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
		if items[i] == "" {
			return nil, errors.New("empty item in the comma list")
		}
	}
	return items, nil
}

// parsePrefix reads an address prefix; a bare address is a single-address
// prefix (/32 or /128), as wg-quick reads it. Host bits are kept as
// written.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address prefix: %w", s, err)
		}
		return p, nil
	}
	a, err := parseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseAddr reads an IPv4 or IPv6 address without a zone.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone", s)
	}
	return a, nil
}

// hostPrefix is the single-address prefix of a.
func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// addrString writes a single-address prefix without its length, as the
// article's commands do (203.0.113.2), and any other prefix in full.
func addrString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// parseKey reads a base64 WireGuard key. Its text is never repeated in
// errors, since it may be secret.
func parseKey(s string) (wgtypes.Key, error) {
	k, err := wgtypes.ParseKey(s)
	if err != nil {
		return k, errors.New("not a WireGuard key (44 characters of base64)")
	}
	return k, nil
}

// parseUint reads a decimal number of at most bits bits.
func parseUint(s string, bits int) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number from 0 to %d", s, uint64(1)<<bits-1)
	}
	return n, nil
}

// parseFwMark reads a firewall mark: decimal, hexadecimal with 0x, or
// "off" (0), as wg-quick does.
func parseFwMark(s string) (uint32, error) {
	if strings.EqualFold(s, "off") {
		return 0, nil
	}
	digits, base := s, 10
	if strings.HasPrefix(strings.ToLower(s), "0x") {
		digits, base = s[2:], 16
	}
	n, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a 32-bit mark (decimal, or hexadecimal with 0x)", s)
	}
	return uint32(n), nil
}

// parseKeepalive reads PersistentKeepalive: seconds, or "off".
func parseKeepalive(s string) (time.Duration, error) {
	if strings.EqualFold(s, "off") {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of seconds from 0 to 65535", s)
	}
	return time.Duration(n) * time.Second, nil
}

// parseEndpoint reads an Endpoint: 1.2.3.4:51820, [2001:db8::1]:51820 or
// host:port. A host name is not looked up (parsing does no network I/O):
// ep is then zero, and host and port are the name and its port, which the
// File keeps for Resolve.
func parseEndpoint(s string) (ep netip.AddrPort, host string, port uint16, err error) {
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		return ep, "", 0, fmt.Errorf("%q is not address:port", s)
	}
	n, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || n == 0 {
		return ep, "", 0, fmt.Errorf("%q has no valid port (1 to 65535)", s)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, uint16(n)), "", uint16(n), nil
	}
	if strings.Contains(host, ":") || !validHostName(host) {
		return ep, "", 0, fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return ep, host, uint16(n), nil
}

// validHostName reports whether s looks like a DNS name: letters, digits,
// hyphens, underscores and dots, at most 253 bytes.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		default:
			return false
		}
	}
	return true
}

// prefixList writes prefixes as a comma list.
func prefixList(list []netip.Prefix) string {
	s := make([]string, len(list))
	for i, p := range list {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
