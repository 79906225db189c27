package wgquick

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// transparentItems reads a Transparent value: a comma list of prefixes
// (or addresses) and host names. An item with a letter and neither '/'
// nor ':' is a host name, for Config.Peers[i].TransparentNames, checked
// by Validate; any other is a prefix.
func (p *parser) transparentItems(n int, key, value string) (prefixes []netip.Prefix, names []string) {
	items, err := splitList(value)
	if err != nil {
		p.fail(n, key, err.Error(), "separate the items with single commas, such as 203.0.113.2/32, app.example.com", nil)
		return nil, nil
	}
	for _, it := range items {
		if isHostName(it) {
			names = append(names, it)
			continue
		}
		pr, err := parsePrefix(it)
		if err != nil {
			p.fail(n, key, err.Error(), "write an address, an address/length or a host name, such as 203.0.113.2/32 or app.example.com", err)
			continue
		}
		prefixes = append(prefixes, pr)
	}
	return prefixes, names
}

// isHostName reports whether a Transparent item is meant as a host name:
// it has a letter, and no '/' or ':' as prefixes and IPv6 addresses do.
func isHostName(s string) bool {
	return !strings.ContainsAny(s, "/:") && strings.IndexFunc(s, func(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }) >= 0
}

// ResolveNames looks up the addresses of every name of the peers'
// TransparentNames with the system's resolver and sets ResolvedNames, for
// Render. A name that does not resolve is reported and left out; the
// others are still set.
func (f *File) ResolveNames(ctx context.Context) error {
	var errs []error
	for _, peer := range f.Config.Peers {
		for _, name := range peer.TransparentNames {
			ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
			addrs, err := lookupNetIP(ctx, "ip", name)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("resolve Transparent name %s: %w", name, err))
				continue
			}
			if f.ResolvedNames == nil {
				f.ResolvedNames = map[string][]netip.Addr{}
			}
			for i := range addrs {
				addrs[i] = addrs[i].Unmap()
			}
			slices.SortFunc(addrs, netip.Addr.Compare)
			f.ResolvedNames[name] = slices.Compact(addrs)
		}
	}
	return errors.Join(errs...)
}

// nameGaps are the peers' TransparentNames, which plain wg-quick cannot
// follow: Render writes the addresses in ResolvedNames, as they were when
// it ran.
func nameGaps(f *File) []string {
	var gaps []string
	for i, peer := range f.Config.Peers {
		for _, name := range peer.TransparentNames {
			addrs := slices.DeleteFunc(slices.Clone(resolvedOf(f, name)), func(a netip.Addr) bool {
				return !slices.ContainsFunc(f.Config.Addresses, func(p netip.Prefix) bool { return p.Addr().Is4() == a.Is4() })
			}) // as withNameAddresses: a family without a tunnel address is not routed
			if len(addrs) == 0 {
				gaps = append(gaps, fmt.Sprintf("Transparent name %s of [Peer] %d: not resolved when rendered, so nothing routes it; plain wg-quick routes addresses only", name, i+1))
				continue
			}
			s := make([]string, len(addrs))
			for j, a := range addrs {
				s[j] = a.String()
			}
			gaps = append(gaps, fmt.Sprintf("Transparent name %s of [Peer] %d: written as its addresses when rendered (%s), which do not follow its later answers", name, i+1, strings.Join(s, ", ")))
		}
	}
	return gaps
}

// resolvedOf returns the addresses ResolvedNames holds for name, in any
// case and with or without its trailing dot.
func resolvedOf(f *File, name string) []netip.Addr {
	canon := func(s string) string { return strings.ToLower(strings.TrimSuffix(s, ".")) }
	for n, addrs := range f.ResolvedNames {
		if canon(n) == canon(name) {
			return addrs
		}
	}
	return nil
}
