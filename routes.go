//go:build linux

package transparent

import (
	"net/netip"
	"slices"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"golang.org/x/sys/unix"
)

// desiredRoutes returns the routes in Table for every prefix the device
// sends to a peer (the article's "Table = 123"), and, with PeerRouteMain,
// routes in main for the peers' tunnel addresses; aggregated
// , since they all go through the same link.
func desiredRoutes(c Config) []linuxnet.Route {
	if c.Table == TableOff {
		return nil
	}
	var all, tunnel []netip.Prefix
	for _, p := range c.Peers {
		all = append(append(all, p.AllowedIPs...), p.Transparent...)
		tunnel = append(tunnel, p.AllowedIPs...)
	}
	var rs []linuxnet.Route
	for _, p := range inet.Aggregate(all) {
		rs = append(rs, linuxnet.Route{Dst: p, Table: c.Table})
	}
	if c.PeerRoute == PeerRouteMain {
		for _, p := range inet.Aggregate(tunnel) {
			rs = append(rs, linuxnet.Route{Dst: p, Table: inet.TableMain})
		}
	}
	return rs
}

// isLinkLocal reports whether the kernel, not the config, owns a.
func isLinkLocal(p netip.Prefix) bool { return p.Addr().IsLinkLocalUnicast() }

// families returns the IP families (unix.AF_INET, unix.AF_INET6) that
// the peers route into the tunnel, IPv4 first.
func (c Config) families() []int {
	var v4, v6 bool
	for _, p := range c.Peers {
		for _, pr := range append(slices.Clip(p.AllowedIPs), p.Transparent...) {
			v4 = v4 || pr.Addr().Is4()
			v6 = v6 || pr.Addr().Is6()
		}
	}
	var out []int
	if v4 {
		out = append(out, unix.AF_INET)
	}
	if v6 {
		out = append(out, unix.AF_INET6)
	}
	return out
}
