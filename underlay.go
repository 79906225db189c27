//go:build linux

package transparent

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The underlay is the path the main table gives the peers' encrypted
// packets: the public side of the tunnel.

// mainRoute returns the main table's route toward dst: the longest
// matching unicast route, the lowest metric among equals. It reads main
// directly, because a route lookup would follow the tunnel's own rules.
func (t *Tunnel) mainRoute(dst netip.Addr) (netlink.Route, error) {
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return t.nl.RouteListFiltered(family(dst), &netlink.Route{Table: tableMain}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return netlink.Route{}, fmt.Errorf("list main routes: %w", err)
	}
	best, bestBits := -1, -1
	for i, r := range routes {
		p := netip.PrefixFrom(dst, 0).Masked() // a route without Dst is the default route
		if r.Dst != nil {
			p = prefixOf(r.Dst)
		}
		if r.Type != unix.RTN_UNICAST || !p.Contains(dst) {
			continue
		}
		if p.Bits() > bestBits || p.Bits() == bestBits && r.Priority < routes[best].Priority {
			best, bestBits = i, p.Bits()
		}
	}
	if best < 0 {
		return netlink.Route{}, fmt.Errorf("no route to %s in the main table", dst)
	}
	return routes[best], nil
}

// mainSource returns the source address the main table gives packets
// toward dst: the route's preferred source, else the first global address
// of its outgoing link.
func (t *Tunnel) mainSource(dst netip.Addr) (netip.Addr, error) {
	r, err := t.mainRoute(dst)
	if err != nil {
		return netip.Addr{}, err
	}
	if src, ok := netip.AddrFromSlice(r.Src); ok && src.IsValid() {
		return src.Unmap(), nil
	}
	link, err := t.nl.LinkByIndex(r.LinkIndex)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("look up the link of the route to %s: %w", dst, err)
	}
	addrs, err := t.nl.AddrList(link, family(dst))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
	}
	for _, a := range addrs {
		if p := prefixOf(a.IPNet); p.Addr().IsGlobalUnicast() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s, the link toward %s, has no global address", link.Attrs().Name, dst)
}

// rpStrict is net.ipv4.conf.*.rp_filter's value for strict mode.
const rpStrict = 1

// checkRPFilter refuses ExceptionFwMark over an IPv4 underlay with strict
// reverse-path filtering. The peer's encrypted packets arrive unmarked on
// the underlay from its public address, whose reverse route the
// transparent rule points into the tunnel, so the kernel drops them. (The
// port exception rule also matches the reverse lookup, which carries the
// ports, so ExceptionPort is not affected.)
func (t *Tunnel) checkRPFilter(c Config) error {
	if c.Exception != ExceptionFwMark {
		return nil
	}
	var errs []error
	for _, p := range c.Peers {
		dst, ok := peerPublicIPv4(p)
		if !ok {
			continue
		}
		r, err := t.mainRoute(dst)
		if err != nil {
			continue // no underlay route yet: nothing arrives to be filtered
		}
		link, err := t.nl.LinkByIndex(r.LinkIndex)
		if err != nil {
			return fmt.Errorf("look up the link toward %s: %w", dst, err)
		}
		dev := link.Attrs().Name
		mode, key, err := t.rpFilter(dev)
		if err != nil {
			return err
		}
		if mode == rpStrict {
			errs = append(errs, fmt.Errorf("%w: %s = 1 (strict) drops the WireGuard packets of the peer at %s on %s in ExceptionFwMark mode; set it to 2 (loose), or use ExceptionPort", ErrStrictRPFilter, key, dst, dev))
		}
	}
	return errors.Join(errs...)
}

// peerPublicIPv4 is the IPv4 address the peer's encrypted packets come
// from: its endpoint, else its first single-address Transparent prefix.
func peerPublicIPv4(p Peer) (netip.Addr, bool) {
	if ep := p.exceptionEndpoint().Addr(); ep.Is4() {
		return ep, true
	}
	for _, tp := range p.Transparent {
		if tp.Addr().Is4() && tp.IsSingleIP() {
			return tp.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// rpFilter returns the effective IPv4 reverse-path filter mode of dev (the
// larger of "all" and the device's own, as the kernel uses) and the
// sysctl that sets it.
func (t *Tunnel) rpFilter(dev string) (mode int, key string, err error) {
	err = t.ns.do(func() error {
		for _, name := range []string{"all", dev} {
			b, err := os.ReadFile(filepath.Join("/proc/sys/net/ipv4/conf", name, "rp_filter"))
			if err != nil {
				return fmt.Errorf("read rp_filter of %s: %w", name, err)
			}
			var v int
			if _, err := fmt.Sscan(string(bytes.TrimSpace(b)), &v); err != nil {
				return fmt.Errorf("parse rp_filter of %s: %w", name, err)
			}
			if v > mode || key == "" {
				mode, key = v, "net.ipv4.conf."+name+".rp_filter"
			}
		}
		return nil
	})
	return mode, key, err
}
