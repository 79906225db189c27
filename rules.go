//go:build linux

package transparent

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/rulelayout"
	"golang.org/x/sys/unix"
)

// rule is one policy routing rule owned by the tunnel, in the shape of
// `ip rule add [to DST] [fwmark MARK] [ipproto udp dport PORT] lookup
// TABLE [suppress_prefixlength 0] priority N`.
//
// A destination of length 0 (0.0.0.0/0, ::/0) is kept as such, although
// the kernel stores and reports it as no destination at all:
// ruleFromNetlink turns a rule without destination or mark back into
// one, so that the rule read back equals the rule wanted.
type rule struct {
	Priority int
	Family   int          // unix.AF_INET or unix.AF_INET6
	Dst      netip.Prefix // invalid: any destination (a fwmark rule)
	Mark     uint32       // 0: any mark
	Table    int
	IPProto  int    // 0: any protocol
	DPort    uint16 // 0: any port
	// Suppress is suppress_prefixlength 0: the lookup's result is
	// ignored when it is a route of length 0 (a default route).
	Suppress bool
}

func (r rule) String() string {
	s := fmt.Sprintf("rule %d", r.Priority)
	if r.Dst.IsValid() {
		s += " to " + r.Dst.String()
	} else if r.Family == unix.AF_INET6 {
		s += " (IPv6)"
	}
	if r.Mark != 0 {
		s += fmt.Sprintf(" fwmark %#x", r.Mark)
	}
	if r.IPProto == unix.IPPROTO_UDP {
		s += " ipproto udp"
	} else if r.IPProto != 0 {
		s += " ipproto " + strconv.Itoa(r.IPProto)
	}
	if r.DPort != 0 {
		s += " dport " + strconv.Itoa(int(r.DPort))
	}
	s += " lookup " + inet.TableName(r.Table)
	if r.Suppress {
		s += " suppress_prefixlength 0"
	}
	return s
}

// netlink returns the kernel form of r, marked with RouteProtocol.
func (r rule) netlink() *netlink.Rule {
	nr := netlink.NewRule() // unset fields stay "absent", not zero
	nr.Priority = r.Priority
	nr.Family = r.Family
	if r.Dst.IsValid() {
		nr.Dst = inet.IPNet(r.Dst)
	}
	nr.Mark = r.Mark
	nr.Table = r.Table
	nr.IPProto = r.IPProto
	if r.DPort != 0 {
		nr.Dport = netlink.NewRulePortRange(r.DPort, r.DPort)
	}
	if r.Suppress {
		nr.SuppressPrefixlen = 0
	}
	nr.Protocol = RouteProtocol
	return nr
}

// ruleFromNetlink converts a rule read from the kernel. ok is false when
// the rule has a selector or action this package never sets, so it cannot
// equal any desired rule.
func ruleFromNetlink(nr netlink.Rule) (r rule, ok bool) {
	r = rule{Priority: nr.Priority, Family: nr.Family, Mark: nr.Mark, Table: nr.Table, IPProto: nr.IPProto, Suppress: nr.SuppressPrefixlen == 0}
	switch {
	case nr.Dst != nil:
		r.Dst = inet.PrefixOf(nr.Dst)
	case r.Mark == 0 && (r.Family == unix.AF_INET || r.Family == unix.AF_INET6):
		r.Dst = inet.AnyPrefix(r.Family) // the kernel's form of "to 0.0.0.0/0"
	}
	if nr.Mask != nil && *nr.Mask != 0xFFFFFFFF {
		return r, false
	}
	if nr.Dport != nil {
		if nr.Dport.Start != nr.Dport.End {
			return r, false
		}
		r.DPort = nr.Dport.Start
	}
	plain := nr.Src == nil && nr.Sport == nil &&
		nr.IifName == "" && nr.OifName == "" && !nr.Invert && nr.Goto < 0 &&
		nr.Tos == 0 && nr.UIDRange == nil && (nr.Type == 0 || nr.Type == unix.RTN_UNICAST) &&
		(unset(nr.SuppressPrefixlen) || r.Suppress) && unset(nr.SuppressIfgroup)
	return r, plain && (r.Dst.IsValid() || r.Mark != 0)
}

// halves are the destinations of the RulesTable rules of an IP family
// (rulelayout.TableRuleDestinations).
func halves(fam int) []netip.Prefix { return rulelayout.TableRuleDestinations(fam == unix.AF_INET6) }

// unset reports whether a rule's suppress_prefixlength or
// suppress_ifgroup is absent: netlink reports that as -1, or, from the
// kernel, as 0xFFFFFFFF (which is also -1 where int has 32 bits).
func unset(v int) bool { return v < 0 || uint64(v) == math.MaxUint32 }

// desiredRules returns the rules of the config in the order they must be
// added: the exception rules first, so that the peers' own WireGuard
// packets are never routed into the tunnel, then the peer rules, then the
// transparent rules. Peer and transparent destinations are aggregated
// : all of them look up the same table. With RulesTable,
// two rules per IP family (its two halves) look the whole table up
// instead.
func desiredRules(c Config) []rule {
	if c.Table == TableOff {
		return nil
	}
	var exception, peer, transparent []rule
	if c.Exception == ExceptionFwMark {
		for _, fam := range c.families() {
			exception = append(exception, rule{Priority: c.Priority + rulelayout.ExceptionOffset, Family: fam, Mark: c.FwMark, Table: inet.TableMain})
		}
	}
	var tunnelIPs, transparentIPs []netip.Prefix
	for _, p := range c.Peers {
		if ep := p.exceptionEndpoint(); ep.IsValid() && c.Exception == ExceptionPort {
			exception = append(exception, rule{
				Priority: c.Priority + rulelayout.ExceptionOffset,
				Family:   inet.Family(ep.Addr()),
				Dst:      inet.HostPrefix(ep.Addr()),
				Table:    inet.TableMain,
				IPProto:  unix.IPPROTO_UDP,
				DPort:    ep.Port(),
			})
		}
		tunnelIPs = append(tunnelIPs, p.AllowedIPs...)
		transparentIPs = append(transparentIPs, p.Transparent...)
	}
	exception = append(exception, fullTunnelRules(append(tunnelIPs, transparentIPs...), c.Priority)...)
	if c.Rules == RulesTable {
		for _, fam := range c.families() {
			for _, half := range halves(fam) {
				transparent = append(transparent, rule{Priority: c.Priority + rulelayout.TransparentOffset, Family: fam, Dst: half, Table: c.Table})
			}
		}
		return append(inet.Dedupe(exception), transparent...)
	}
	if c.PeerRoute == PeerRouteRule {
		for _, a := range splitZero(inet.Aggregate(tunnelIPs)) {
			peer = append(peer, rule{Priority: c.Priority + rulelayout.PeerOffset, Family: inet.Family(a.Addr()), Dst: a, Table: c.Table})
		}
	}
	for _, t := range splitZero(inet.Aggregate(transparentIPs)) {
		transparent = append(transparent, rule{Priority: c.Priority + rulelayout.TransparentOffset, Family: inet.Family(t.Addr()), Dst: t, Table: c.Table})
	}
	return append(append(inet.Dedupe(exception), peer...), transparent...)
}

// splitZero replaces a /0 destination with the two halves of its family:
// the kernel cannot tell a rule to /0 (it keeps no destination) from the
// rules to single destinations at the same priority and table, so a
// change from those to /0 could not add it before removing them
// (rulelayout.TableRuleDestinations).
func splitZero(ps []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if p.Bits() == 0 {
			out = append(out, halves(inet.Family(p.Addr()))...)
		} else {
			out = append(out, p)
		}
	}
	return out
}

// fullTunnelRules returns, for each IP family in which the tunnel's
// prefixes hold every destination (0.0.0.0/0 or ::/0), in either rule
// mode, the rule `lookup main suppress_prefixlength 0` at Priority, which wg-quick adds for the same
// case: main's routes more specific than its default route (the LAN, the
// underlay, anything routed locally) still win, and only what would
// take main's default route goes into the tunnel. It sits with the
// exception rules, before the rules it tempers, and the exception rules
// still take the peers' own WireGuard packets to main's default route.
func fullTunnelRules(prefixes []netip.Prefix, priority int) []rule {
	var out []rule
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		if slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return inet.Family(p.Addr()) == fam && p.Bits() == 0 }) {
			out = append(out, rule{Priority: priority + rulelayout.ExceptionOffset, Family: fam, Dst: inet.AnyPrefix(fam), Table: inet.TableMain, Suppress: true})
		}
	}
	return out
}

// ownsPriority reports whether a rule at priority belongs to the range the
// tunnel uses.
func (c Config) ownsPriority(priority int) bool {
	return c.hasLayout() && priority >= c.Priority && priority <= c.Priority+rulelayout.PeerOffset
}

// ruleRemoveOrder sorts rules for removal: the transparent rules go first
// and the exception rules last, the reverse of adding them.
func ruleRemoveOrder(base, priority int) int {
	switch priority - base {
	case rulelayout.TransparentOffset:
		return 0
	case rulelayout.PeerOffset:
		return 1
	}
	return 2
}

// suggestTableAbove is the number of per-destination rules from which Up
// and Plan suggest RulesTable: every route lookup of the host walks the
// rule list, and from about a hundred rules that costs the host's other
// traffic measurably (docs/BENCHMARKS.md).
const suggestTableAbove = 100

// rulesAdvice returns a suggestion to use RulesTable when c's
// per-destination rules are many, or "".
func rulesAdvice(c Config) string {
	if c.Rules != RulesPerDestination {
		return ""
	}
	n := 0
	for _, r := range desiredRules(c) {
		if r.Table != inet.TableMain {
			n++
		}
	}
	if n <= suggestTableAbove {
		return ""
	}
	return fmt.Sprintf("%d per-destination rules: every route lookup of the host walks them; Rules: RulesTable makes them two per IP family", n)
}
