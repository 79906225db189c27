package wgquick

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/inet"
)

// Unrenderable lists the settings of f that plain wg-quick cannot carry,
// so that Parse of Render's output would give another Config; Render
// writes each as a comment. It is empty for the article's files and for
// most tunnels: the gaps are settings that no rule of the file shows, such
// as a Priority without any rule, SNAT without a PublicAddress (the library
// finds the address at Up), or an ExpectedEndpoint in fwmark mode.
// RenderNative has none of these gaps.
func Unrenderable(f *File) []string {
	c := withNameAddresses(withDefaults(f.Config), f.ResolvedNames)
	var gaps []string
	gap := func(format string, args ...any) { gaps = append(gaps, fmt.Sprintf(format, args...)) }
	c = plainLayout(c)

	var tunnel []netip.Prefix
	transparentRules := false
	for _, peer := range c.Peers {
		tunnel = append(tunnel, peer.AllowedIPs...)
		transparentRules = transparentRules || len(peer.Transparent) > 0
	}
	peerRules := c.PeerRoute == transparent.PeerRouteRule && len(tunnel) > 0
	if len(exceptionRules(c)) == 0 && !transparentRules && !peerRules && c.Priority != transparent.DefaultPriority {
		gap("Priority %d: no rule of the file carries it", c.Priority)
	}
	if c.Exception == transparent.ExceptionFwMark && len(families(c)) == 0 {
		gap("Exception fwmark: no peer prefix, so no fwmark rule carries it")
	}
	if len(tunnel) == 0 && c.PeerRoute != transparent.PeerRouteRule {
		gap("PeerRoute %s: no peer tunnel address, so no rule or route carries it", c.PeerRoute)
	}
	if c.Rules == transparent.RulesTable && transparentRules {
		gap("Rules table: which of a peer's AllowedIPs are Transparent (one rule looks the whole table up, so no rule names them; they route alike)")
	}
	gaps = append(gaps, expectedGaps(c, f.namedPorts())...)
	if c.Exception == transparent.ExceptionPort {
		for _, i := range f.Unresolved() {
			gap("Endpoint %s of [Peer] %d: not resolved when rendered, so no exception rule is written for it (plain wg-quick's rules match addresses; resolve it, or use Exception fwmark)", f.endpoint(i), i+1)
		}
	}
	gaps = append(gaps, snatGaps(c)...)
	gaps = append(gaps, nameGaps(f)...)
	gaps = append(gaps, failoverGaps(c)...)
	for i, peer := range c.Peers {
		if peer.PersistentKeepalive%time.Second != 0 {
			gap("PersistentKeepalive %s of [Peer] %d: not whole seconds", peer.PersistentKeepalive, i+1)
		}
	}
	return gaps
}

// expectedGaps reports the ExpectedEndpoints that Parse would not find
// again from the exception rules Render writes.
func expectedGaps(c transparent.Config, named []uint16) []string {
	sim := slices.Clone(c.Peers)
	for i := range sim {
		sim[i].ExpectedEndpoint = netip.AddrPort{}
	}
	if c.Exception == transparent.ExceptionPort {
		for _, ep := range exceptionEndpoints(c) {
			if i, expected := matchException(sim, named, ep); i >= 0 && expected {
				sim[i].ExpectedEndpoint = ep
			}
		}
	}
	var gaps []string
	for i, peer := range c.Peers {
		if sim[i].ExpectedEndpoint != peer.ExpectedEndpoint {
			gaps = append(gaps, fmt.Sprintf("ExpectedEndpoint %s of [Peer] %d: wg-quick has no such key, and no exception rule names that peer alone", peer.ExpectedEndpoint, i+1))
		}
	}
	return gaps
}

// snatGaps reports the SNAT settings that no rule Render writes carries.
func snatGaps(c transparent.Config) []string {
	var gaps []string
	if c.SNAT == transparent.SNATOff {
		if len(c.PublicAddresses) > 0 {
			gaps = append(gaps, "PublicAddress without SNAT: no rule carries it")
		}
		return gaps
	}
	total := 0
	for _, pub := range c.PublicAddresses {
		n := len(snatRules(c, pub))
		if n == 0 {
			gaps = append(gaps, fmt.Sprintf("PublicAddress %s: no SNAT rule of its family carries it", pub))
		}
		total += n
	}
	for _, v6 := range families(c) {
		has := slices.ContainsFunc(c.PublicAddresses, func(a netip.Addr) bool { return a.Is6() == v6 })
		probe := netip.IPv4Unspecified()
		if v6 {
			probe = netip.IPv6Unspecified()
		}
		if !has && len(snatRules(c, probe)) > 0 {
			gaps = append(gaps, fmt.Sprintf("SNAT %s without a public %s address: the library finds it at Up, plain wg-quick needs it written (add PublicAddress)", c.SNAT, inet.FamilyName(v6)))
		}
	}
	if total == 0 {
		gaps = append(gaps, fmt.Sprintf("SNAT %s: no SNAT rule carries it", c.SNAT))
	}
	return gaps
}
