package transparent_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// shrinkPropCase minimizes a failing case: it tries smaller variants
// (a peer, a prefix or an address dropped, a field back to its zero
// value, a plain name, the default firewall), keeps the first that still
// breaks the property the same way (the same signature), and starts over,
// until no variant does or propShrinkRuns reruns are spent. It returns the
// smallest case, its failure and the number of reruns.
func shrinkPropCase(t *testing.T, c propCase, f *propFailure) (propCase, *propFailure, int) {
	t.Helper()
	sig, runs := f.signature(), 0
	for {
		progress := false
		for _, smaller := range c.smaller() {
			if runs >= *propShrinkRuns {
				return c, f, runs
			}
			runs++
			if sf, _ := runPropCase(t, smaller); sf != nil && sf.signature() == sig {
				c, f, progress = smaller, sf, true
				break
			}
		}
		if !progress {
			return c, f, runs
		}
	}
}

// smaller returns the variants of c with one thing removed or reset,
// biggest cuts first.
func (c propCase) smaller() []propCase {
	var out []propCase
	try := func(change func(*propCase) bool) {
		d := c.clone()
		if change(&d) {
			out = append(out, d)
		}
	}
	for i := range c.cfg.Peers {
		try(func(d *propCase) bool { d.cfg.Peers = slices.Delete(d.cfg.Peers, i, i+1); return true })
	}
	for i := range c.cfg.Addresses {
		try(func(d *propCase) bool { d.cfg.Addresses = slices.Delete(d.cfg.Addresses, i, i+1); return true })
	}
	for i := range c.cfg.PublicAddresses {
		try(func(d *propCase) bool {
			d.cfg.PublicAddresses = slices.Delete(d.cfg.PublicAddresses, i, i+1)
			return true
		})
	}
	for i, p := range c.cfg.Peers {
		for j := range p.AllowedIPs {
			try(func(d *propCase) bool {
				d.cfg.Peers[i].AllowedIPs = slices.Delete(d.cfg.Peers[i].AllowedIPs, j, j+1)
				return true
			})
		}
		for j := range p.Transparent {
			try(func(d *propCase) bool {
				d.cfg.Peers[i].Transparent = slices.Delete(d.cfg.Peers[i].Transparent, j, j+1)
				return true
			})
		}
		try(func(d *propCase) bool { return zero(&d.cfg.Peers[i].Endpoint) })
		try(func(d *propCase) bool { return zero(&d.cfg.Peers[i].ExpectedEndpoint) })
		try(func(d *propCase) bool { return zero(&d.cfg.Peers[i].PresharedKey) })
		try(func(d *propCase) bool { return zero(&d.cfg.Peers[i].PersistentKeepalive) })
	}
	try(func(d *propCase) bool { return zero(&d.cfg.SNAT) })
	try(func(d *propCase) bool { return zero(&d.fw) })
	try(func(d *propCase) bool { return zero(&d.cfg.PeerRoute) })
	try(func(d *propCase) bool { return zero(&d.cfg.Exception) })
	try(func(d *propCase) bool { return zero(&d.cfg.FwMark) })
	try(func(d *propCase) bool { return zero(&d.cfg.Priority) })
	try(func(d *propCase) bool { return zero(&d.cfg.Table) })
	try(func(d *propCase) bool { return zero(&d.cfg.MTU) })
	try(func(d *propCase) bool { return zero(&d.cfg.ListenPort) })
	try(func(d *propCase) bool {
		if d.cfg.Name == "wp" && d.uniq == 6 {
			return false
		}
		d.cfg.Name, d.uniq = "wp", 6
		return true
	})
	return out
}

// zero sets *p to its zero value and reports whether that changed it.
func zero[T comparable](p *T) bool {
	var z T
	if *p == z {
		return false
	}
	*p = z
	return true
}

// clone is a deep copy: the variants of smaller share no slices.
func (c propCase) clone() propCase {
	d := c
	d.cfg.Addresses = slices.Clone(c.cfg.Addresses)
	d.cfg.PublicAddresses = slices.Clone(c.cfg.PublicAddresses)
	d.cfg.Peers = slices.Clone(c.cfg.Peers)
	for i := range d.cfg.Peers {
		d.cfg.Peers[i].AllowedIPs = slices.Clone(c.cfg.Peers[i].AllowedIPs)
		d.cfg.Peers[i].Transparent = slices.Clone(c.cfg.Peers[i].Transparent)
	}
	return d
}

// String shows the case as Go, zero fields left out. Keys are shown by
// identity (key1, key2, ...; the same key the same number), which is
// what matters to the library, and whether a private key is clamped.
func (c propCase) String() string {
	keys := map[wgtypes.Key]string{}
	key := func(k wgtypes.Key) string {
		if k == (wgtypes.Key{}) {
			return ""
		}
		if _, ok := keys[k]; !ok {
			keys[k] = fmt.Sprintf("key%d", len(keys)+1)
		}
		return keys[k]
	}
	var b strings.Builder
	b.WriteString("transparent.Config{\n")
	field := func(ind, name string, v any, isZero bool) {
		if !isZero {
			fmt.Fprintf(&b, "%s%s: %v,\n", ind, name, v)
		}
	}
	name := fmt.Sprintf("%q", c.cfg.Name)
	if c.uniq > 0 {
		name += fmt.Sprintf(" + %d random hex digits", c.uniq)
	}
	field("\t", "Name", name, false)
	pk := key(c.cfg.PrivateKey)
	if pk != "" && (c.cfg.PrivateKey[0]&7 != 0 || c.cfg.PrivateKey[31]&192 != 64) {
		pk += " (not clamped)"
	}
	field("\t", "PrivateKey", pk, pk == "")
	field("\t", "ListenPort", c.cfg.ListenPort, c.cfg.ListenPort == 0)
	field("\t", "Addresses", prefixList(c.cfg.Addresses), len(c.cfg.Addresses) == 0)
	field("\t", "MTU", c.cfg.MTU, c.cfg.MTU == 0)
	field("\t", "Table", c.cfg.Table, c.cfg.Table == 0)
	field("\t", "Priority", c.cfg.Priority, c.cfg.Priority == 0)
	field("\t", "PeerRoute", c.cfg.PeerRoute, c.cfg.PeerRoute == 0)
	field("\t", "Exception", c.cfg.Exception, c.cfg.Exception == 0)
	field("\t", "FwMark", fmt.Sprintf("%#x", c.cfg.FwMark), c.cfg.FwMark == 0)
	field("\t", "SNAT", c.cfg.SNAT, c.cfg.SNAT == 0)
	field("\t", "PublicAddresses", fmt.Sprint(c.cfg.PublicAddresses), len(c.cfg.PublicAddresses) == 0)
	if len(c.cfg.Peers) == 0 {
		b.WriteString("\tPeers: none,\n")
	}
	for i, p := range c.cfg.Peers {
		fmt.Fprintf(&b, "\tPeers[%d]: {\n", i)
		field("\t\t", "PublicKey", key(p.PublicKey), p.PublicKey == (wgtypes.Key{}))
		field("\t\t", "PresharedKey", key(p.PresharedKey), p.PresharedKey == (wgtypes.Key{}))
		field("\t\t", "Endpoint", p.Endpoint, p.Endpoint == (netip.AddrPort{}))
		field("\t\t", "ExpectedEndpoint", p.ExpectedEndpoint, p.ExpectedEndpoint == (netip.AddrPort{}))
		field("\t\t", "AllowedIPs", prefixList(p.AllowedIPs), len(p.AllowedIPs) == 0)
		field("\t\t", "Transparent", prefixList(p.Transparent), len(p.Transparent) == 0)
		field("\t\t", "PersistentKeepalive", p.PersistentKeepalive, p.PersistentKeepalive == 0)
		b.WriteString("\t},\n")
	}
	b.WriteString("}")
	if c.fw != transparent.FirewallAuto {
		fmt.Fprintf(&b, " with WithFirewall(%s)", c.fw)
	}
	if why := c.documentedInvalid(); len(why) > 0 {
		fmt.Fprintf(&b, "\n(invalid by the documentation: %s)", strings.Join(why, "; "))
	}
	return b.String()
}

func prefixList(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}
