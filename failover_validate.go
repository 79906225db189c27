package transparent

import (
	"fmt"
	"net/netip"
)

// validateFailover checks the peers' Fallback and the HealthCheck.
func (c Config) validateFailover(v *validator) {
	fallbacks := false
	for i, p := range c.Peers {
		field := fmt.Sprintf("Peers[%d].Fallback", i)
		switch {
		case p.Fallback == FallbackNone:
			continue
		case p.Fallback < FallbackNone || p.Fallback > FallbackBlock:
			v.add(field, "%[1]d is not an option", "use FallbackNone, FallbackInternet or FallbackBlock", int(p.Fallback))
			continue
		}
		fallbacks = true
		if len(p.Transparent) == 0 && len(p.TransparentNames) == 0 {
			v.add(field, "%[1]s on a peer with nothing Transparent has nothing to fail over", "add the peer's public addresses to Transparent or TransparentNames, or remove the Fallback", p.Fallback)
		}
		if !hasProbeAddr(p) {
			v.add(field, "%[1]s needs a tunnel address of the peer to probe, and AllowedIPs has no single address (/32 or /128) outside Transparent", "add the peer's tunnel address to AllowedIPs, such as 10.0.0.2/32, or remove the Fallback", p.Fallback)
		}
	}
	h := c.Health
	if h == (HealthCheck{}) {
		return
	}
	if !fallbacks {
		v.add("Health", "set, but no peer has a Fallback", "set a peer's Fallback, or leave Health at its zero value")
	}
	if h.Interval != 0 && (h.Interval < MinHealthInterval || h.Interval > MaxHealthInterval) {
		v.add("Health.Interval", "%[1]s is out of range", "use %[2]s to %[3]s, or 0 for %[4]s", h.Interval, MinHealthInterval, MaxHealthInterval, DefaultHealthInterval)
	}
	if h.FailAfter < 0 || h.FailAfter > MaxHealthCount {
		v.add("Health.FailAfter", "%[1]d is out of range", "use 1 to %[2]d intervals, or 0 for %[3]d", h.FailAfter, MaxHealthCount, DefaultHealthFailAfter)
	}
	if h.RecoverAfter < 0 || h.RecoverAfter > MaxHealthCount {
		v.add("Health.RecoverAfter", "%[1]d is out of range", "use 1 to %[2]d intervals, or 0 for %[3]d", h.RecoverAfter, MaxHealthCount, DefaultHealthRecoverAfter)
	}
}

// hasProbeAddr reports whether p has an address Watch can probe: a single
// address of its AllowedIPs outside its Transparent prefixes.
func hasProbeAddr(p Peer) bool {
	for _, a := range p.AllowedIPs {
		if a.IsSingleIP() && !prefixesContain(p.Transparent, a.Addr()) {
			return true
		}
	}
	return false
}

func prefixesContain(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
