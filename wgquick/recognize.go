package wgquick

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/rulelayout"
)

// recognize turns the article's hooks into Config fields, fills in the
// fields the file leaves implicit, and keeps every other hook.
//
// The rules at the tunnel's three priorities (Priority to Priority+2) must
// all be the tunnel's own: the library refuses a foreign rule there at Up,
// so such a hook is an error here rather than a surprise later.
func (p *parser) recognize() {
	for _, h := range p.hooks {
		h.parse(p.cfg.Name)
	}
	p.recognizeKeyHook()
	p.resolveTable()
	if p.cfg.Table == transparent.TableOff {
		// A plain tunnel: no rule or route is the tunnel's, so every
		// hook is the file's own.
		p.resolveFwMark()
		p.keep()
		return
	}
	p.resolvePriority()
	p.recognizeTransparent()
	p.recognizeExceptions()
	peerRule := p.recognizePeerRules()
	p.checkRuleRange()
	mainRoute := p.recognizeRoutes()
	p.resolvePeerRoute(peerRule, mainRoute)
	p.recognizeSNAT()
	p.recognizeBlocks()
	p.resolveFwMark()
	p.keep()
}

// resolveTable sets Table, when the file has no Table key, from the first
// rule of the hooks into a custom table (the article's files name their
// table only there), else to auto, as wg-quick's default is: Up chooses a
// free table and records it.
func (p *parser) resolveTable() {
	if _, ok := p.at["Table"]; ok {
		return
	}
	for _, h := range p.hooks {
		if r := h.addRule(); r != nil && r.table != inet.TableMain && r.table != 0 && h.up() {
			p.cfg.Table = r.table
			p.at["Table"] = source{h.line, h.kind}
			return
		}
	}
	p.cfg.Table = transparent.TableAuto
}

// resolvePriority sets Priority, when the file has no Priority key, from
// the first exception rule that fits a peer (its fwmark, endpoint or
// public address), else from the first exception rule for the only peer
// without an endpoint, else from the first rule to a peer's address in a
// custom table (a PeerRouteRule rule, at Priority+2), else to auto when
// Table is auto, else to the default.
func (p *parser) resolvePriority() {
	if _, ok := p.at["Priority"]; ok {
		return
	}
	set := func(h *hook, priority int) {
		p.cfg.Priority = priority
		p.at["Priority"] = source{h.line, h.kind}
	}
	for _, h := range p.hooks {
		if r := h.addRule(); r != nil && r.table == inet.TableMain && p.exceptionCandidate(*r) {
			set(h, r.priority)
			return
		}
	}
	for _, h := range p.hooks {
		if r := h.addRule(); r != nil && r.table == inet.TableMain && r.dport != 0 && r.to.IsSingleIP() {
			if i, _ := matchException(p.cfg.Peers, p.f.namedPorts(), netip.AddrPortFrom(r.to.Addr(), r.dport)); i >= 0 {
				set(h, r.priority)
				return
			}
		}
	}
	for _, h := range p.hooks {
		r := h.addRule()
		if r == nil || !r.to.IsValid() || r.dport != 0 || r.table == inet.TableMain || !p.inPeerLists(r.to) {
			continue
		}
		if base := rulelayout.Base(rulelayout.Peer, r.priority); base >= 1 {
			set(h, base)
			return
		}
	}
	if p.cfg.Table == transparent.TableAuto {
		p.cfg.Priority = transparent.PriorityAuto // chosen with the table
		return
	}
	p.cfg.Priority = transparent.DefaultPriority
}

// exceptionCandidate reports whether r looks like an exception rule of
// this file: the device's fwmark, or a peer's endpoint.
func (p *parser) exceptionCandidate(r ruleCmd) bool {
	if r.mark != 0 {
		return r.mark == p.effectiveMark()
	}
	if r.dport == 0 || !r.to.IsSingleIP() {
		return false
	}
	ep := netip.AddrPortFrom(r.to.Addr(), r.dport)
	host := hostPrefix(ep.Addr())
	named := p.f.namedPorts()
	for i, peer := range p.cfg.Peers {
		switch {
		case peer.Endpoint == ep || peer.ExpectedEndpoint == ep || named[i] == ep.Port():
			return true
		case peer.Endpoint.IsValid() || peer.ExpectedEndpoint.IsValid() || named[i] != 0:
		case containsPrefix(peer.Transparent, host):
			return true
		case containsPrefix(peer.AllowedIPs, host) && p.hasTransparentRule(host, r.priority+1):
			return true
		}
	}
	return false
}

func (p *parser) hasTransparentRule(to netip.Prefix, priority int) bool {
	return slices.ContainsFunc(p.hooks, func(h *hook) bool {
		r := h.addRule()
		return r != nil && r.to.IsValid() && r.to.Masked() == to && r.dport == 0 && r.priority == priority
	})
}

// effectiveMark is the device's fwmark as the file sets it, 0 for none.
func (p *parser) effectiveMark() uint32 {
	if p.cfg.FwMark == 0 && p.cfg.Exception == transparent.ExceptionFwMark {
		return transparent.DefaultFwMark
	}
	return p.cfg.FwMark
}

func containsPrefix(list []netip.Prefix, pr netip.Prefix) bool {
	return slices.ContainsFunc(list, func(x netip.Prefix) bool { return x.Masked() == pr.Masked() })
}

func (p *parser) inPeerLists(pr netip.Prefix) bool {
	return slices.ContainsFunc(p.cfg.Peers, func(peer transparent.Peer) bool {
		return containsPrefix(peer.AllowedIPs, pr) || containsPrefix(peer.Transparent, pr)
	})
}

// findAllowed returns the peer and index of pr in the AllowedIPs lists.
func (p *parser) findAllowed(pr netip.Prefix) (peer, index int) {
	for i, peer := range p.cfg.Peers {
		for j, a := range peer.AllowedIPs {
			if a.Masked() == pr.Masked() {
				return i, j
			}
		}
	}
	return -1, -1
}

// customRule is a rule "to <prefix> table <T>" at priority, the shape of
// the transparent and peer rules, or nil.
func (h *hook) customRule(priority int) *ruleCmd {
	r := h.addRule()
	if r == nil || r.priority != priority || !r.to.IsValid() || r.dport != 0 || r.table == inet.TableMain {
		return nil
	}
	return r
}

// tableMatches reports a rule to another table than Table.
func (p *parser) tableMatches(h *hook, r *ruleCmd) bool {
	if r.table == p.cfg.Table {
		return true
	}
	p.fail(h.line, h.kind, fmt.Sprintf("%s: table %d is not Table %d", h.cmd, r.table, p.cfg.Table),
		fmt.Sprintf("use table %d, or set Table = %d", p.cfg.Table, r.table), nil)
	h.done = true
	return false
}

// recognizeTransparent reads the article's rules "to <public address>
// table T priority P+1": the address moves from the peer's AllowedIPs to
// its Transparent.
func (p *parser) recognizeTransparent() {
	for _, h := range p.hooks {
		r := h.customRule(rulePriority(*p.cfg, rulelayout.Transparent))
		if r == nil || !p.tableMatches(h, r) {
			continue
		}
		if slices.Contains(rulelayout.TableRuleDestinations(r.v6), r.to) {
			p.cfg.Rules = transparent.RulesTable
			p.consume(h, "Rules table (one of the rules that look the whole table up)")
			continue
		}
		if i, j := p.findAllowed(r.to); i >= 0 {
			peer, d := &p.cfg.Peers[i], &p.peers[i]
			peer.Transparent = append(peer.Transparent, peer.AllowedIPs[j])
			d.transparent = append(d.transparent, d.allowed[j])
			peer.AllowedIPs = slices.Delete(peer.AllowedIPs, j, j+1)
			d.allowed = slices.Delete(d.allowed, j, j+1)
			if len(peer.AllowedIPs) == 0 {
				peer.AllowedIPs = nil // as a file without AllowedIPs gives
			}
			p.consume(h, "Transparent %s of [Peer] line %d (moved out of its AllowedIPs)", r.to, d.section)
			continue
		}
		if i := slices.IndexFunc(p.cfg.Peers, func(peer transparent.Peer) bool { return containsPrefix(peer.Transparent, r.to) }); i >= 0 {
			p.consume(h, "Transparent %s of [Peer] line %d", r.to, p.peers[i].section)
			continue
		}
		p.fail(h.line, h.kind, fmt.Sprintf("%s: %s is in no peer's AllowedIPs", h.cmd, r.to),
			"add it to the AllowedIPs of the peer whose public address it is, as the article does", nil)
		h.done = true
	}
}

// recognizeExceptions reads the exception rules at Priority: "to
// <endpoint> dport <port> table main" per peer, or "fwmark <FwMark> table
// main".
func (p *parser) recognizeExceptions() {
	_, modeKey := p.at["Exception"]
	var port, mark *hook
	for _, h := range p.hooks {
		r := h.addRule()
		if r == nil || r.priority != rulePriority(*p.cfg, rulelayout.Exception) || r.table != inet.TableMain {
			continue
		}
		switch {
		case r.mark != 0:
			if want := p.effectiveMark(); r.mark != want {
				p.fail(h.line, h.kind, fmt.Sprintf("%s: fwmark %#x is not the device's FwMark %#x", h.cmd, r.mark, want),
					fmt.Sprintf("set FwMark = %#x, or use that mark in the rule", r.mark), nil)
				h.done = true
				continue
			}
			if modeKey && p.cfg.Exception != transparent.ExceptionFwMark {
				p.conflict(h, "Exception", "fwmark")
				continue
			}
			p.cfg.Exception = transparent.ExceptionFwMark
			mark = h
			if !modeKey {
				p.at["Exception"] = source{h.line, h.kind}
			}
			p.consume(h, "Exception fwmark (FwMark %#x), Priority %d", r.mark, r.priority)
		case r.dport != 0 && r.to.IsSingleIP():
			if modeKey && p.cfg.Exception != transparent.ExceptionPort {
				p.conflict(h, "Exception", "port")
				continue
			}
			ep := netip.AddrPortFrom(r.to.Addr(), r.dport)
			i, expected := matchException(p.cfg.Peers, p.f.namedPorts(), ep)
			if i < 0 {
				p.fail(h.line, h.kind, fmt.Sprintf("%s: no peer has Endpoint %s", h.cmd, ep),
					"set that peer's Endpoint, or its ExpectedEndpoint when the device learns the endpoint from the peer's handshakes", nil)
				h.done = true
				continue
			}
			port = h
			if expected {
				p.cfg.Peers[i].ExpectedEndpoint = ep
				p.at[fmt.Sprintf("Peers[%d].ExpectedEndpoint", i)] = source{h.line, h.kind}
				p.consume(h, "ExpectedEndpoint %s of [Peer] line %d (it has no Endpoint), Priority %d", ep, p.peers[i].section, r.priority)
			} else {
				p.consume(h, "exception rule for [Peer] line %d, Priority %d", p.peers[i].section, r.priority)
			}
		}
	}
	if port != nil && mark != nil {
		later := port
		if mark.line > port.line {
			later = mark
		}
		p.fail(later.line, later.kind, fmt.Sprintf("exception rules of both kinds, port (line %d) and fwmark (line %d)", port.line, mark.line),
			"keep the fwmark rule (with FwMark) or the port rules, not both", nil)
	}
}

// conflict reports a hook that means another value than a key says.
func (p *parser) conflict(h *hook, key, means string) {
	at := p.at[key]
	p.fail(h.line, h.kind, fmt.Sprintf("%s means %s %s, but %s line %d says otherwise", h.cmd, key, means, at.key, at.line),
		"remove the hook or the key", nil)
	h.done = true
}

// matchException finds the peer whose WireGuard packets come from ep:
// by its Endpoint or ExpectedEndpoint; else the first whose Endpoint is a
// host name, not looked up, with ep's port (named holds those ports, by
// peer index; parsing does no lookup, and the library makes the rule for
// the name's address); else, among the peers with none of them, the
// first whose Transparent holds ep's address, or the only one. expected
// says that ep becomes that peer's ExpectedEndpoint; i is -1 when no peer
// fits.
func matchException(peers []transparent.Peer, named []uint16, ep netip.AddrPort) (i int, expected bool) {
	if i := slices.IndexFunc(peers, func(peer transparent.Peer) bool { return peer.Endpoint == ep || peer.ExpectedEndpoint == ep }); i >= 0 {
		return i, false
	}
	for i := range peers {
		if i < len(named) && named[i] != 0 && named[i] == ep.Port() {
			return i, false
		}
	}
	var open []int
	for i, peer := range peers {
		if !peer.Endpoint.IsValid() && !peer.ExpectedEndpoint.IsValid() && (i >= len(named) || named[i] == 0) {
			open = append(open, i)
		}
	}
	for _, i := range open {
		if containsPrefix(peers[i].Transparent, hostPrefix(ep.Addr())) {
			return i, true
		}
	}
	if len(open) == 1 {
		return open[0], true
	}
	return -1, false
}

// recognizePeerRules reads the article's "Add Rule for Custom Table":
// "to <peer tunnel address> table T priority P+2". It returns the first
// such hook, or nil.
func (p *parser) recognizePeerRules() (first *hook) {
	for _, h := range p.hooks {
		r := h.customRule(rulePriority(*p.cfg, rulelayout.Peer))
		if r == nil || !p.tableMatches(h, r) {
			continue
		}
		if i, _ := p.findAllowed(r.to); i < 0 {
			p.fail(h.line, h.kind, fmt.Sprintf("%s: %s is in no peer's AllowedIPs", h.cmd, r.to),
				"add the peer's tunnel address to its AllowedIPs, or remove the rule", nil)
			h.done = true
			continue
		}
		p.consume(h, "PeerRoute rule")
		if first == nil {
			first = h
		}
	}
	return first
}

// checkRuleRange reports the other rules added at the tunnel's priorities.
func (p *parser) checkRuleRange() {
	if p.cfg.Priority == transparent.PriorityAuto {
		return // Up chooses priorities where no rule is
	}
	lo, hi := rulePriority(*p.cfg, rulelayout.Exception), rulePriority(*p.cfg, rulelayout.Peer)
	for _, h := range p.hooks {
		if h.done || !h.up() {
			continue
		}
		prio, ok := looseRulePriority(h.cmd)
		if !ok || prio < lo || prio > hi {
			continue
		}
		p.fail(h.line, h.kind, fmt.Sprintf("%s: a rule at priority %d, which the tunnel uses (%d-%d), that is not one of its rules", h.cmd, prio, lo, hi),
			fmt.Sprintf("give it a priority outside %d-%d, or move the tunnel's rules with Priority", lo, hi), nil)
		h.done = true
	}
}

// recognizeRoutes reads the article's "Add Route to Main Table":
// PostUp = ip route add <peer tunnel address> dev %i. It returns the
// first such hook, or nil.
func (p *parser) recognizeRoutes() (first *hook) {
	for _, h := range p.hooks {
		r := h.route
		if h.done || h.kind != "PostUp" || r == nil || r.del || r.dev != "%i" {
			continue
		}
		if i, _ := p.findAllowed(r.dst); i < 0 {
			continue
		}
		p.consume(h, "PeerRoute main")
		if first == nil {
			first = h
		}
	}
	return first
}

// resolvePeerRoute sets PeerRoute from the key, the hooks, or the
// addresses: the article's three options.
func (p *parser) resolvePeerRoute(rule, route *hook) {
	key, hasKey := p.at["PeerRoute"]
	switch {
	case rule != nil && route != nil:
		later := rule
		if route.line > rule.line {
			later = route
		}
		p.fail(later.line, later.kind, fmt.Sprintf("both a route in main for the peers (line %d, PeerRoute main) and a rule to the custom table (line %d, PeerRoute rule)", route.line, rule.line),
			"keep one of the article's options", nil)
	case hasKey:
		if rule != nil && p.cfg.PeerRoute != transparent.PeerRouteRule {
			p.fail(rule.line, rule.kind, fmt.Sprintf("%s means PeerRoute rule, but %s line %d says %s", rule.cmd, key.key, key.line, p.cfg.PeerRoute), "remove the hook or the key", nil)
		}
		if route != nil && p.cfg.PeerRoute != transparent.PeerRouteMain {
			p.fail(route.line, route.kind, fmt.Sprintf("%s means PeerRoute main, but %s line %d says %s", route.cmd, key.key, key.line, p.cfg.PeerRoute), "remove the hook or the key", nil)
		}
	case rule != nil:
		p.cfg.PeerRoute = transparent.PeerRouteRule
		p.at["PeerRoute"] = source{rule.line, rule.kind}
	case route != nil:
		p.cfg.PeerRoute = transparent.PeerRouteMain
		p.at["PeerRoute"] = source{route.line, route.kind}
	default:
		p.inferPeerRoute()
	}
}

// inferPeerRoute chooses PeerRoutePrefix when the addresses cover every
// peer tunnel address (the article's "Expand Address Subnet Mask"), else
// the library's default, PeerRouteRule.
func (p *parser) inferPeerRoute() {
	var tunnel []netip.Prefix
	for _, peer := range p.cfg.Peers {
		tunnel = append(tunnel, peer.AllowedIPs...)
	}
	if len(tunnel) == 0 {
		return
	}
	cover := -1
	for _, t := range tunnel {
		k := slices.IndexFunc(p.cfg.Addresses, func(a netip.Prefix) bool {
			return a.Bits() <= t.Bits() && a.Masked().Contains(t.Addr())
		})
		if k < 0 {
			p.cfg.PeerRoute = transparent.PeerRouteRule
			rule := ruleCmd{to: t.Masked(), v6: t.Addr().Is6(), table: p.cfg.Table, priority: rulePriority(*p.cfg, rulelayout.Peer)}
			if t.Bits() != 0 && (p.cfg.Table == transparent.TableAuto || p.cfg.Priority == transparent.PriorityAuto) {
				p.note(noLine, "no route for the peers' tunnel addresses in the file -> PeerRoute = rule: up adds a rule to %s and the like, into the table and at the priority it chooses (Table = auto)", t.Masked())
				return
			}
			if t.Bits() != 0 {
				p.note(noLine, "no route for the peers' tunnel addresses in the file -> PeerRoute = rule: up adds `%s` and the like", rule)
				return
			}
			// Every destination: the rules are the family's two halves,
			// behind main's more specific routes (as wg-quick does).
			halves := rulelayout.TableRuleDestinations(t.Addr().Is6())
			low, high := rule, rule
			low.to, high.to = halves[0], halves[1]
			p.note(noLine, "AllowedIPs %s sends every destination into the tunnel -> PeerRoute = rule: up adds `%s` and `%s`, after `%srule add table main suppress_prefixlength 0 priority %d`, so that main's routes other than its default route still win, as with wg-quick",
				t.Masked(), low, high, ipPrefix(rule.v6), rulePriority(*p.cfg, rulelayout.Exception))
			return
		}
		if cover < 0 {
			cover = k
		}
	}
	p.cfg.PeerRoute = transparent.PeerRoutePrefix
	src := p.addrs[cover]
	p.at["PeerRoute"] = src
	p.note(src.line, "%s line %d: %s covers the peers' tunnel addresses -> PeerRoute prefix", src.key, src.line, p.cfg.Addresses[cover])
}

// recognizeSNAT reads the article's SNAT rules: "Firewall for Endpoint
// A" (nat POSTROUTING, from our tunnel address to the peer's public one)
// and "Firewall for Endpoint B" (nat INPUT, from the peer's tunnel address
// to our public one).
func (p *parser) recognizeSNAT() {
	_, modeKey := p.at["SNAT"]
	for _, h := range p.hooks {
		r := h.nat
		if h.done || !h.up() || r == nil || r.del {
			continue
		}
		mode, public := p.snatShape(*r)
		if mode == transparent.SNATOff {
			continue
		}
		if _, set := p.at["SNAT"]; set && p.cfg.SNAT != mode {
			if modeKey {
				p.conflict(h, "SNAT", mode.String())
			} else {
				at := p.at["SNAT"]
				p.fail(h.line, h.kind, fmt.Sprintf("%s means SNAT %s, but line %d means %s", h.cmd, mode, at.line, p.cfg.SNAT), "keep the rules of one side", nil)
				h.done = true
			}
			continue
		}
		if k := slices.IndexFunc(p.cfg.PublicAddresses, func(a netip.Addr) bool { return a.Is4() == public.Is4() }); k >= 0 && p.cfg.PublicAddresses[k] != public {
			at := p.public[k]
			p.fail(h.line, h.kind, fmt.Sprintf("%s: public address %s, but %s line %d says %s", h.cmd, public, at.key, at.line, p.cfg.PublicAddresses[k]),
				"use one public address per IP family", nil)
			h.done = true
			continue
		} else if k < 0 {
			p.cfg.PublicAddresses = append(p.cfg.PublicAddresses, public)
			p.public = append(p.public, source{h.line, h.kind})
		}
		p.cfg.SNAT = mode
		if !modeKey {
			p.at["SNAT"] = source{h.line, h.kind}
		}
		p.consume(h, "SNAT %s, PublicAddress %s", mode, public)
	}
}

// snatShape returns the mode and this endpoint's public address that an
// SNAT rule stands for, or SNATOff when it is not one of the tunnel's.
func (p *parser) snatShape(r natCmd) (transparent.SNATMode, netip.Addr) {
	switch r.chain {
	case "POSTROUTING":
		own := slices.ContainsFunc(p.cfg.Addresses, func(a netip.Prefix) bool { return hostPrefix(a.Addr()) == r.src })
		if own && slices.ContainsFunc(p.cfg.Peers, func(peer transparent.Peer) bool { return containsPrefix(peer.Transparent, r.dst) }) {
			return transparent.SNATOutbound, r.to
		}
	case "INPUT":
		if !r.dst.IsSingleIP() {
			break
		}
		for _, peer := range p.cfg.Peers {
			if pub, ok := peerPublic(peer, r.to.Is4()); ok && pub == r.to && containsPrefix(peer.AllowedIPs, r.src) {
				return transparent.SNATInbound, r.dst.Addr()
			}
		}
	}
	return transparent.SNATOff, netip.Addr{}
}

// peerPublic is the peer's single-address Transparent prefix of a family:
// its public address, the target of SNATInbound.
func peerPublic(peer transparent.Peer, is4 bool) (netip.Addr, bool) {
	for _, t := range peer.Transparent {
		if t.IsSingleIP() && t.Addr().Is4() == is4 {
			return t.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// resolveFwMark makes the fwmark of the fwmark exception mode explicit.
func (p *parser) resolveFwMark() {
	if p.cfg.Exception == transparent.ExceptionFwMark && p.cfg.FwMark == 0 {
		p.cfg.FwMark = transparent.DefaultFwMark
		p.note(noLine, "Exception fwmark without FwMark: the device marks its packets with %#x", transparent.DefaultFwMark)
	}
}
