package wgquick

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wgtransparent/transparent/internal/resolve"
	"github.com/wgtransparent/transparent/internal/rulelayout"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/inet"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// Render writes f as a plain wg-quick file, with wg-quick's keys only:
// what the library does is spelled out as the article does it, with Table
// and PreUp/PostUp/PostDown hooks. The layout is fixed: [Interface] with
// PrivateKey, Address, ListenPort, MTU, Table and FwMark (each when set);
// then the hooks in pairs, the exception rule, the transparent rules, the
// peer rules (PeerRoute rule) or routes (PeerRoute main) and the SNAT
// rules, and the kill switch's unreachable routes of the peers with
// Fallback block (with a comment: failing over needs wg-transparent);
// then f's own hooks, DNS and SaveConfig; then each [Peer] with
// PublicKey, PresharedKey, Endpoint, AllowedIPs (the tunnel's, then the
// Transparent prefixes) and PersistentKeepalive. An Endpoint with a host name (EndpointNames) is
// written with the name. What plain wg-quick cannot
// express (see Unrenderable) is written as a comment. Table and Priority
// auto are written as the values they choose first, DefaultTable and
// DefaultPriority (plain wg-quick's hooks need numbers). Render is pure: the
// peers' TransparentNames are written as the addresses in ResolvedNames
// (their rules, AllowedIPs and SNAT rules, as the library routes them),
// with a comment saying they were resolved at render time; a name without
// addresses there gets the comment only.
func Render(f *File) []byte {
	c := withNameAddresses(plainLayout(withDefaults(keyless(f))), f.ResolvedNames)
	var w writer
	w.line("[Interface]")
	w.common(c)
	if c.FwMark != 0 {
		w.kv("FwMark", fmt.Sprintf("%#x", c.FwMark))
	}
	hooks := append(plainHooks(c), blockHooks(c)...)
	if f.PrivateKeyFile != "" {
		hooks = append(hooks, hookLine{"PostUp", "wg set %i private-key " + f.PrivateKeyFile})
	}
	if len(hooks) > 0 || len(f.PreUp)+len(f.PostUp)+len(f.PreDown)+len(f.PostDown) > 0 {
		w.line("")
	}
	for _, h := range hooks {
		w.kv(h.kind, h.cmd)
	}
	w.kept(f)
	for _, gap := range Unrenderable(f) {
		w.line("# not expressible in plain wg-quick: " + gap)
	}
	for _, comment := range failoverComments(c) {
		w.line(comment)
	}
	for i, peer := range c.Peers {
		w.peer(peer, f.endpoint(i), append(slices.Clip(peer.AllowedIPs), peer.Transparent...))
		w.keepalive(peer)
	}
	return w.Bytes()
}

// RenderNative writes f with this library's own keys instead of hooks:
// [Interface] PrivateKey, Address, ListenPort, MTU, Table, Priority,
// PeerRoute, Exception, FwMark, SNAT, PublicAddress and the Health keys
// (HealthInterval, HealthFailAfter, HealthRecoverAfter), then f's hooks,
// DNS and SaveConfig; each [Peer] with PublicKey, PresharedKey, Endpoint,
// AllowedIPs (the tunnel's only), ExpectedEndpoint, Transparent (its
// prefixes, then its TransparentNames), Fallback and PersistentKeepalive. Priority and PeerRoute are always written, so that
// nothing is inferred when the file is read back.
func RenderNative(f *File) []byte {
	c := withDefaults(keyless(f))
	var w writer
	w.line("[Interface]")
	w.common(c)
	if f.PrivateKeyFile != "" {
		w.kv("PrivateKeyFile", f.PrivateKeyFile)
	}
	if c.Table != transparent.TableOff { // a plain tunnel has no rules
		w.kv("Priority", layoutValue(c.Priority))
		w.kv("PeerRoute", c.PeerRoute.String())
	}
	if c.Exception != transparent.ExceptionPort {
		w.kv("Exception", c.Exception.String())
	}
	if c.Rules != transparent.RulesPerDestination {
		w.kv("Rules", c.Rules.String())
	}
	if c.FwMark != 0 {
		w.kv("FwMark", fmt.Sprintf("%#x", c.FwMark))
	}
	if c.SNAT != transparent.SNATOff {
		w.kv("SNAT", c.SNAT.String())
	}
	if len(c.PublicAddresses) > 0 {
		s := make([]string, len(c.PublicAddresses))
		for i, a := range c.PublicAddresses {
			s[i] = a.String()
		}
		w.kv("PublicAddress", strings.Join(s, ", "))
	}
	for _, kv := range healthKeys(c.Health) {
		w.line("Health" + kv)
	}
	w.kept(f)
	for i, peer := range c.Peers {
		w.peer(peer, f.endpoint(i), peer.AllowedIPs)
		if peer.ExpectedEndpoint.IsValid() {
			w.kv("ExpectedEndpoint", peer.ExpectedEndpoint.String())
		}
		if len(peer.Transparent)+len(peer.TransparentNames) > 0 {
			items := prefixList(peer.Transparent)
			for _, n := range peer.TransparentNames {
				items = strings.TrimPrefix(items+", "+n, ", ")
			}
			w.kv("Transparent", items)
		}
		if peer.Fallback != transparent.FallbackNone {
			w.kv("Fallback", peer.Fallback.String())
		}
		w.keepalive(peer)
	}
	return w.Bytes()
}

// withDefaults is the library's Config.WithDefaults, but for the MTU and
// the private key: a file without MTU leaves it to the library, and
// renders without it; the key is written as the file had it.
func withDefaults(c transparent.Config) transparent.Config {
	mtu, key := c.MTU, c.PrivateKey
	c = c.WithDefaults()
	c.MTU, c.PrivateKey = mtu, key // the key as the file has it, not clamped
	return c
}

// rulePriority is the priority of c's rules of kind k, as the library
// puts them.
func rulePriority(c transparent.Config, k rulelayout.Kind) int {
	return rulelayout.Priority(c.WithDefaults().Priority, k)
}

// withNameAddresses is c with the addresses of its peers'
// TransparentNames (addrs, by name) added to their Transparent prefixes
// as the library's Up routes them (rulelayout.NameHosts).
func withNameAddresses(c transparent.Config, addrs map[string][]netip.Addr) transparent.Config {
	peers := make([]rulelayout.NamedPeer, len(c.Peers))
	for i, p := range c.Peers {
		peers[i] = rulelayout.NamedPeer{Names: p.TransparentNames, Transparent: p.Transparent}
	}
	out := c
	out.Peers = slices.Clone(c.Peers)
	for i, add := range rulelayout.NameHosts(c.Addresses, peers, addrs, resolve.Canonical) {
		if len(add) > 0 {
			out.Peers[i].Transparent = append(slices.Clip(c.Peers[i].Transparent), add...)
		}
	}
	return out
}

// keyless is f's Config without a private key read from PrivateKeyFile:
// the renders write the file's path, never the key it holds.
func keyless(f *File) transparent.Config {
	c := f.Config
	if f.PrivateKeyFile != "" {
		c.PrivateKey = wgtypes.Key{}
	}
	return c
}

// plainLayout is c with TableAuto and PriorityAuto as the first values
// they choose on a host without other tunnels, DefaultTable and
// DefaultPriority: plain wg-quick's hooks need numbers (and its own Table
// = auto means the main table).
func plainLayout(c transparent.Config) transparent.Config {
	if c.Table == transparent.TableAuto {
		c.Table = transparent.DefaultTable
	}
	if c.Priority == transparent.PriorityAuto {
		c.Priority = transparent.DefaultPriority
	}
	return c
}

// layoutValue writes a Table or Priority as its key takes it: a number,
// auto or off.
func layoutValue(v int) string {
	switch v {
	case transparent.TableAuto: // = PriorityAuto
		return "auto"
	case transparent.TableOff:
		return "off"
	}
	return fmt.Sprint(v)
}

// hookLine is one hook that Render writes.
type hookLine struct{ kind, cmd string }

// plainHooks returns the hooks that do what the library does, in the
// article's order, each rule with its undo.
func plainHooks(c transparent.Config) []hookLine {
	var out []hookLine
	if c.Table == transparent.TableOff {
		return nil // a plain tunnel: no rules, and wg-quick adds no routes
	}
	pair := func(add, del fmt.Stringer) {
		h := hookLine{"PreUp", add.String()}
		if !slices.Contains(out, h) {
			out = append(out, h, hookLine{"PostDown", del.String()})
		}
	}
	rule := func(r ruleCmd) {
		del := r
		del.del = true
		pair(r, del)
	}
	for _, r := range exceptionRules(c) {
		rule(r)
	}
	if c.Rules == transparent.RulesTable {
		for _, v6 := range families(c) {
			for _, half := range rulelayout.TableRuleDestinations(v6) {
				rule(ruleCmd{to: half, v6: v6, table: c.Table, priority: rulePriority(c, rulelayout.Transparent)})
			}
		}
	}
	for _, peer := range c.Peers {
		for _, t := range peer.Transparent {
			if c.Rules == transparent.RulesPerDestination {
				rule(ruleCmd{to: t.Masked(), v6: t.Addr().Is6(), table: c.Table, priority: rulePriority(c, rulelayout.Transparent)})
			}
		}
	}
	for _, peer := range c.Peers {
		for _, a := range peer.AllowedIPs {
			switch {
			case c.PeerRoute == transparent.PeerRouteRule && c.Rules == transparent.RulesPerDestination:
				rule(ruleCmd{to: a.Masked(), v6: a.Addr().Is6(), table: c.Table, priority: rulePriority(c, rulelayout.Peer)})
			case c.PeerRoute == transparent.PeerRouteMain:
				h := hookLine{"PostUp", routeCmd{dst: a.Masked(), v6: a.Addr().Is6(), dev: "%i"}.String()}
				if !slices.Contains(out, h) {
					out = append(out, h)
				}
			}
		}
	}
	if c.SNAT != transparent.SNATOff {
		for _, pub := range c.PublicAddresses {
			for _, r := range snatRules(c, pub) {
				del := r
				del.del = true
				pair(r, del)
			}
		}
	}
	return out
}

// exceptionRules are the library's exception rules, in wg-quick form
// (without its "ipproto udp", as the article writes them).
func exceptionRules(c transparent.Config) []ruleCmd {
	var out []ruleCmd
	if c.Exception == transparent.ExceptionFwMark {
		for _, v6 := range families(c) {
			out = append(out, ruleCmd{v6: v6, mark: c.FwMark, table: inet.TableMain, priority: rulePriority(c, rulelayout.Exception)})
		}
		return out
	}
	for _, ep := range exceptionEndpoints(c) {
		out = append(out, ruleCmd{to: hostPrefix(ep.Addr()), v6: ep.Addr().Is6(), dport: ep.Port(), table: inet.TableMain, priority: rulePriority(c, rulelayout.Exception)})
	}
	return out
}

// exceptionEndpoints are the peers' endpoints (Endpoint, else
// ExpectedEndpoint), each once, in peer order.
func exceptionEndpoints(c transparent.Config) []netip.AddrPort {
	var out []netip.AddrPort
	for _, peer := range c.Peers {
		ep := peer.Endpoint
		if !ep.IsValid() {
			ep = peer.ExpectedEndpoint
		}
		if ep.IsValid() && !slices.Contains(out, ep) {
			out = append(out, ep)
		}
	}
	return out
}

// families lists the IP families the peers route into the tunnel, IPv4
// (false) first, as "is IPv6".
func families(c transparent.Config) []bool {
	var v4, v6 bool
	for _, peer := range c.Peers {
		for _, pr := range append(slices.Clip(peer.AllowedIPs), peer.Transparent...) {
			v4 = v4 || pr.Addr().Is4()
			v6 = v6 || pr.Addr().Is6()
		}
	}
	var out []bool
	if v4 {
		out = append(out, false)
	}
	if v6 {
		out = append(out, true)
	}
	return out
}

// snatRules are the library's SNAT rules for the public address pub,
// in the article's iptables form.
func snatRules(c transparent.Config, pub netip.Addr) []natCmd {
	var out []natCmd
	v6 := pub.Is6()
	for _, peer := range c.Peers {
		switch c.SNAT {
		case transparent.SNATOutbound:
			for _, t := range peer.Transparent {
				for _, a := range c.Addresses {
					if t.Addr().Is6() == v6 && a.Addr().Is6() == v6 {
						out = append(out, natCmd{v6: v6, chain: "POSTROUTING", src: hostPrefix(a.Addr()), dst: t.Masked(), to: pub})
					}
				}
			}
		case transparent.SNATInbound:
			peerPub, ok := peerPublic(peer, !v6)
			for _, a := range peer.AllowedIPs {
				if ok && a.Addr().Is6() == v6 {
					out = append(out, natCmd{v6: v6, chain: "INPUT", src: a.Masked(), dst: hostPrefix(pub), to: peerPub})
				}
			}
		}
	}
	return out
}

// writer builds a file.
type writer struct{ strings.Builder }

func (w *writer) line(s string) { w.WriteString(s + "\n") }

func (w *writer) kv(key, value string) { w.line(key + " = " + value) }

// common writes the [Interface] keys that both forms share.
func (w *writer) common(c transparent.Config) {
	if c.PrivateKey != (wgtypes.Key{}) {
		w.kv("PrivateKey", c.PrivateKey.String())
	}
	if len(c.Addresses) > 0 {
		w.kv("Address", prefixList(c.Addresses))
	}
	if c.ListenPort != 0 {
		w.kv("ListenPort", fmt.Sprint(c.ListenPort))
	}
	if c.MTU != 0 {
		w.kv("MTU", fmt.Sprint(c.MTU))
	}
	w.kv("Table", layoutValue(c.Table))
}

// kept writes f's own hooks, DNS and SaveConfig.
func (w *writer) kept(f *File) {
	for _, list := range []struct {
		kind string
		cmds []string
	}{{"PreUp", f.PreUp}, {"PostUp", f.PostUp}, {"PreDown", f.PreDown}, {"PostDown", f.PostDown}} {
		for _, cmd := range list.cmds {
			w.kv(list.kind, cmd)
		}
	}
	if len(f.DNS) > 0 {
		w.kv("DNS", strings.Join(f.DNS, ", "))
	}
	if f.SaveConfig {
		w.kv("SaveConfig", "true")
	}
}

// peer starts a [Peer] section with its keys up to AllowedIPs; endpoint
// is the Endpoint as written.
func (w *writer) peer(peer transparent.Peer, endpoint string, allowed []netip.Prefix) {
	w.line("")
	w.line("[Peer]")
	w.kv("PublicKey", peer.PublicKey.String())
	if peer.PresharedKey != (wgtypes.Key{}) {
		w.kv("PresharedKey", peer.PresharedKey.String())
	}
	if endpoint != "" {
		w.kv("Endpoint", endpoint)
	}
	if len(allowed) > 0 {
		w.kv("AllowedIPs", prefixList(allowed))
	}
}

func (w *writer) keepalive(peer transparent.Peer) {
	if peer.PersistentKeepalive != 0 {
		w.kv("PersistentKeepalive", fmt.Sprint(int64(peer.PersistentKeepalive/time.Second)))
	}
}

func (w *writer) Bytes() []byte { return []byte(w.String()) }
