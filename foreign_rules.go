//go:build linux

package transparent

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// foreignRuleText writes a rule that is not ours the way `ip rule` shows
// it, with every selector that decides which packets it takes (a rule
// 455 without its ipproto and dport reads as another rule), its action
// and its protocol.
func foreignRuleText(r netlink.Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:", r.Priority)
	if r.Invert {
		b.WriteString(" not")
	}
	b.WriteString(" from " + ruleNet(r.Src))
	if r.Dst != nil {
		b.WriteString(" to " + ruleNet(r.Dst))
	}
	if r.Mark != 0 {
		fmt.Fprintf(&b, " fwmark %#x", r.Mark)
		if r.Mask != nil && *r.Mask != ^uint32(0) {
			fmt.Fprintf(&b, "/%#x", *r.Mask)
		}
	}
	if r.IifName != "" {
		b.WriteString(" iif " + r.IifName)
	}
	if r.OifName != "" {
		b.WriteString(" oif " + r.OifName)
	}
	switch r.IPProto {
	case 0:
	case unix.IPPROTO_UDP:
		b.WriteString(" ipproto udp")
	case unix.IPPROTO_TCP:
		b.WriteString(" ipproto tcp")
	default:
		fmt.Fprintf(&b, " ipproto %d", r.IPProto)
	}
	if r.Sport != nil {
		b.WriteString(" sport " + portRange(r.Sport))
	}
	if r.Dport != nil {
		b.WriteString(" dport " + portRange(r.Dport))
	}
	switch {
	case r.Goto > 0:
		fmt.Fprintf(&b, " goto %d", r.Goto)
	case r.Table == tableMain:
		b.WriteString(" lookup main")
	case r.Table > 0:
		fmt.Fprintf(&b, " lookup %d", r.Table)
	}
	if r.SuppressPrefixlen >= 0 {
		fmt.Fprintf(&b, " suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	fmt.Fprintf(&b, " proto %d", r.Protocol)
	return b.String()
}

func ruleNet(n *net.IPNet) string {
	if n == nil {
		return "all"
	}
	return n.String()
}

func portRange(p *netlink.RulePortRange) string {
	if p.Start == p.End {
		return fmt.Sprint(p.Start)
	}
	return fmt.Sprintf("%d-%d", p.Start, p.End)
}

// foreignTunnel names the WireGuard link (kernel or wireguard-go's TUN)
// that a foreign rule's table routes to: another tunnel's, such as the
// one wg-quick brought up with the article's hooks, which the operator
// takes down first. "" when there is none, or when it cannot be told:
// the name only makes the conflict's advice precise, so a failed read
// leaves the advice general rather than failing the observation.
func foreignTunnel(k kernel, r netlink.Rule) string {
	if r.Table == 0 || r.Table == tableMain {
		return ""
	}
	routes, err := k.routes(r.Family, r.Table)
	if err != nil {
		return ""
	}
	for _, rt := range routes {
		if l, err := k.linkByIndex(rt.LinkIndex); err == nil && l != nil && !l.ours && (l.kind == "wireguard" || l.kind == "tuntap") {
			return l.name
		}
	}
	return ""
}

// conflictAdvice says what to do about foreign objects in the tunnel's
// way: when rules route to another WireGuard tunnel (tunnels), take that
// one down first, as wg-quick would with its own; else move or remove.
func conflictAdvice(tunnels []string) string {
	if len(tunnels) == 0 {
		return "choose another Priority or Table, or remove them"
	}
	slices.Sort(tunnels)
	tunnels = slices.Compact(tunnels)
	downs := make([]string, len(tunnels))
	for i, t := range tunnels {
		downs[i] = "`wg-quick down " + t + "`"
	}
	return fmt.Sprintf("they route to %s, the WireGuard link of another setup, such as wg-quick with the article's hooks: take it down first with %s, or choose another Priority or Table", strings.Join(tunnels, ", "), strings.Join(downs, " and "))
}
