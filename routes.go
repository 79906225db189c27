//go:build linux

package transparent

import (
	"net/netip"
	"slices"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// BlockMetric is the metric of FallbackBlock's unreachable routes: above
// the metric of the routes through the tunnel's link (0 in IPv4, 1024 in
// IPv6), so those win while they exist, and the unreachable route is left
// when they are gone.
const BlockMetric = linuxnet.BlockMetric

// desiredRoutes returns the routes in Table for every prefix the device
// sends to a peer (the article's "Table = 123"), and, with PeerRouteMain,
// routes in main for the peers' tunnel addresses; aggregated, since they
// all go through the same link.
func desiredRoutes(c Config) []linuxnet.Route { return desiredRoutesFor(c, nil) }

// desiredRoutesFor is desiredRoutes with the peers of failed out of the
// tunnel: their Transparent prefixes have no route through
// the link. The Transparent prefixes of FallbackBlock peers are
// aggregated on their own and each also gets an unreachable route at
// BlockMetric, failed or not: a route through the link that covered more
// than the unreachable one would lose to it (the longest prefix wins
// before the metric), and the peers' tunnel addresses, which the health
// probes need, keep routes of their own.
func desiredRoutesFor(c Config, failed map[wgtypes.Key]bool) []linuxnet.Route {
	if c.Table == TableOff {
		return nil
	}
	n := 0
	for _, p := range c.Peers {
		n += len(p.AllowedIPs) + len(p.Transparent)
	}
	all := make([]netip.Prefix, 0, n) // aggregated in place below
	var tunnel, block, blockUp []netip.Prefix
	for _, p := range c.Peers {
		all = append(all, p.AllowedIPs...)
		tunnel = append(tunnel, p.AllowedIPs...)
		switch {
		case p.Fallback == FallbackBlock:
			block = append(block, p.Transparent...)
			if !failed[p.PublicKey] {
				blockUp = append(blockUp, p.Transparent...)
			}
		case p.Fallback == FallbackNone || !failed[p.PublicKey]:
			all = append(all, p.Transparent...)
		}
	}
	agg := inet.AggregateInPlace(all)
	rs := make([]linuxnet.Route, 0, len(agg))
	for _, p := range agg {
		rs = append(rs, linuxnet.Route{Dst: p, Table: c.Table})
	}
	if len(block) > 0 {
		for _, p := range inet.Aggregate(blockUp) {
			if !slices.Contains(rs, linuxnet.Route{Dst: p, Table: c.Table}) {
				rs = append(rs, linuxnet.Route{Dst: p, Table: c.Table})
			}
		}
		for _, p := range inet.Aggregate(block) {
			rs = append(rs, linuxnet.Route{Dst: p, Table: c.Table, Unreachable: true, Metric: BlockMetric})
		}
		slices.SortFunc(rs, compareRoutes)
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
