//go:build linux

package transparent

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"golang.org/x/sys/unix"
)

// The underlay is the path the main table gives the peers' encrypted
// packets: the public side of the tunnel.

// mainRoute returns the main table's route toward dst: the longest
// matching unicast route, the lowest metric among equals. It reads main
// directly, because a route lookup would follow the tunnel's own rules.
func mainRoute(k kernel, dst netip.Addr) (linuxnet.KernelRoute, error) {
	routes, err := k.Routes(inet.Family(dst), inet.TableMain)
	if err != nil {
		return linuxnet.KernelRoute{}, err
	}
	return mainRouteIn(routes, dst)
}

// mainRouteIn is mainRoute among routes, the main table's of dst's family
// as read once: a hub with a thousand peers asks it a thousand times.
func mainRouteIn(routes []linuxnet.KernelRoute, dst netip.Addr) (linuxnet.KernelRoute, error) {
	best, bestBits := -1, -1
	for i, r := range routes {
		p := r.Dst
		if r.Type != unix.RTN_UNICAST || !p.Contains(dst) {
			continue
		}
		if p.Bits() > bestBits || p.Bits() == bestBits && r.Priority < routes[best].Priority {
			best, bestBits = i, p.Bits()
		}
	}
	if best < 0 {
		return linuxnet.KernelRoute{}, fmt.Errorf("no route to %s in the main table", dst)
	}
	return routes[best], nil
}

// mainSource returns the source address the main table gives packets
// toward dst: the route's preferred source, else the first global address
// of its outgoing link.
func mainSource(k kernel, dst netip.Addr) (netip.Addr, error) {
	r, err := mainRoute(k, dst)
	if err != nil {
		return netip.Addr{}, err
	}
	if r.Src.IsValid() {
		return r.Src.Unmap(), nil
	}
	link, err := k.LinkByIndex(r.LinkIndex)
	if err == nil && link == nil {
		err = errors.New("gone")
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("look up the link of the route to %s: %w", dst, err)
	}
	addrs, err := k.Addresses(link.Index)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if a.Addr().IsGlobalUnicast() && inet.Family(a.Addr()) == inet.Family(dst) {
			return a.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s, the link toward %s, has no global address", link.Name, dst)
}

// rpStrict is net.ipv4.conf.*.rp_filter's value for strict mode.
const rpStrict = 1

// checkRPFilter refuses ExceptionFwMark over an IPv4 underlay with strict
// reverse-path filtering. The peer's encrypted packets arrive unmarked on
// the underlay from its public address, whose reverse route the
// transparent rule points into the tunnel, so the kernel drops them. (The
// port exception rule also matches the reverse lookup, which carries the
// ports, so ExceptionPort is not affected.) It returns that refusal as
// strict, and a failure to read as err.
func checkRPFilter(k kernel, c Config) (strict, err error) {
	if c.Exception != ExceptionFwMark {
		return nil, nil
	}
	var errs []error
	var main []linuxnet.KernelRoute // read once, for every peer
	filters := map[int]linkFilter{}
	for _, p := range c.Peers {
		dst, ok := peerPublicIPv4(p)
		if !ok {
			continue
		}
		if main == nil {
			if main, err = k.Routes(unix.AF_INET, inet.TableMain); err != nil {
				return nil, err
			}
		}
		r, err := mainRouteIn(main, dst)
		if err != nil {
			continue // no underlay route yet: nothing arrives to be filtered
		}
		f, ok := filters[r.LinkIndex]
		if !ok {
			if f, err = underlayFilter(k, r.LinkIndex, dst); err != nil {
				return nil, err
			}
			filters[r.LinkIndex] = f
		}
		if f.mode == rpStrict {
			errs = append(errs, fmt.Errorf("%w: %s = 1 (strict) drops the WireGuard packets of the peer at %s on %s in ExceptionFwMark mode; set it to 2 (loose), or use ExceptionPort", ErrStrictRPFilter, f.key, dst, f.dev))
		}
	}
	return errors.Join(errs...), nil
}

// linkFilter is the reverse-path filter of one underlay link.
type linkFilter struct {
	dev, key string
	mode     int
}

// underlayFilter reads the reverse-path filter of the link with index,
// the main table's way toward dst.
func underlayFilter(k kernel, index int, dst netip.Addr) (linkFilter, error) {
	link, err := k.LinkByIndex(index)
	if err == nil && link == nil {
		err = errors.New("gone")
	}
	if err != nil {
		return linkFilter{}, fmt.Errorf("look up the link toward %s: %w", dst, err)
	}
	mode, key, err := rpFilter(k, link.Name)
	return linkFilter{dev: link.Name, key: key, mode: mode}, err
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
func rpFilter(k kernel, dev string) (mode int, key string, err error) {
	for _, name := range []string{"all", dev} {
		v, err := k.Sysctl("net/ipv4/conf/" + name + "/rp_filter")
		if err != nil {
			return 0, "", err
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, "", fmt.Errorf("parse rp_filter of %s: %w", name, err)
		}
		if n > mode || key == "" {
			mode, key = n, "net.ipv4.conf."+name+".rp_filter"
		}
	}
	return mode, key, nil
}
