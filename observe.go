//go:build linux

package transparent

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/netfilter"
	"github.com/wgtransparent/transparent/internal/rulelayout"
	"github.com/wgtransparent/transparent/internal/wgdevice"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// observed is one reading of the kernel: all that planUp and planDown need to
// decide what Up or Down writes. observe makes it and changes nothing.
type observed struct {
	link    *linuxnet.Link   // the tunnel's link; nil when absent
	backend Backend          // the link's backend, or the one a new link gets
	linkErr error            // the link cannot be managed (ErrConflict) or made (ErrNoKernelWireGuard)
	addrs   []netip.Prefix   // on the link, without kernel-made link-local ones
	routes  []linuxnet.Route // ours: RouteProtocol, in an owner's Table or on the link in main
	onLink  []bool           // for each of routes: whether it goes through the tunnel's link
	rules   []ownedRule      // ours: RouteProtocol, at an owner's priorities
	foreign []string         // objects in the config's way that are not ours
	tunnels []string         // other WireGuard links that foreign rules route to
	// unlisted are the objects among foreign that carry our marks: made
	// by a tunnel of this package, but not by this one (its record does
	// not list their layout), each with the command that removes it.
	unlisted []string
	device   *wgtypes.Device
	failed   map[wgtypes.Key]bool // peers out of the tunnel, as the record says

	fw     netfilter.Driver       // the firewall for the SNAT rules; nil without them
	chains []netfilter.ChainState // the tunnel's SNAT chains, in every firewall recorded
	public map[int]netip.Addr     // this endpoint's public address per family, for SNAT
	rpErr  error                  // strict reverse-path filtering in the way (ErrStrictRPFilter)
}

// ownedRule is a rule of ours as the kernel has it. spec is valid only when
// ok: a rule of ours with a shape we never make is removed from raw.
type ownedRule struct {
	spec rule
	ok   bool
	raw  netlink.Rule
}

// observation says what observe reads.
type observation struct {
	cfg        Config
	owners     []Config             // the recorded layouts (record.owners): their rules and routes are ours
	backend    Backend              // the backend requested (WithBackend)
	firewall   Firewall             // the firewall requested (WithFirewall)
	snat       []int                // the IP families whose SNAT chains to read (record.snatFamilies)
	recordedFW []string             // the firewalls of recorded SNAT chains (record.firewallKinds)
	created    []string             // the nat objects iptables-nft created for recorded Ups (record.Created)
	forUp      bool                 // also what only Up needs: public addresses, rp_filter
	failed     map[wgtypes.Key]bool // peers out of the tunnel (record.failedPeers)
}

// observe reads the kernel: the tunnel's link, its addresses and device,
// the rules and routes of the owners, the SNAT chains, and for Up the
// public addresses and the underlay's reverse-path filter. It changes
// nothing.
func observe(k kernel, log *slog.Logger, req observation) (*observed, error) {
	c := req.cfg
	o := &observed{failed: req.failed}
	var err error
	if o.link, err = k.Link(c.Name); err != nil {
		return nil, err
	}
	if o.backend, o.linkErr, err = chooseBackend(k, log, c.Name, o.link, req.backend); err != nil {
		return nil, err
	}
	if err := observeRules(k, c, req.owners, o); err != nil {
		return nil, err
	}
	if err := observeRoutes(k, c, req.owners, o); err != nil {
		return nil, err
	}
	if o.link != nil {
		addrs, err := k.Addresses(o.link.Index)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if !isLinkLocal(a) {
				o.addrs = append(o.addrs, a)
			}
		}
		if o.linkErr == nil {
			if o.device, err = k.Device(c.Name); err != nil {
				return nil, err
			}
		}
	}
	if len(req.snat) > 0 {
		if o.fw, err = k.Firewall(req.firewall.want()); err != nil {
			return nil, err
		}
		if o.chains, err = observeFirewall(k, log, o.fw, c.Name, req.snat, req.recordedFW, req.created); err != nil {
			return nil, err
		}
	}
	if req.forUp {
		if c.SNAT != SNATOff {
			if o.public, err = publicAddresses(k, log, c); err != nil {
				return nil, err
			}
		}
		if o.rpErr, err = checkRPFilter(k, c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// chooseBackend picks the backend of the tunnel's link: the one an
// existing link has, else the one requested, with BackendAuto asking the
// kernel whether it has WireGuard. Links are known as ours by their alias
// or group (linkAlias); a link of the tunnel's name that is not ours, or
// not of the requested backend, is a conflict (linkErr), which Up refuses
// and Down leaves alone.
func chooseBackend(k kernel, log *slog.Logger, name string, l *linuxnet.Link, want Backend) (b Backend, linkErr error, err error) {
	if l == nil {
		if want == BackendUserspace {
			return want, k.UAPIClash(name), nil
		}
		ok, err := k.HasKernelWireGuard()
		switch {
		case err != nil:
			return 0, nil, err
		case ok:
			return BackendKernel, nil, nil
		case want == BackendKernel:
			return 0, fmt.Errorf("create link %s: %w (load the wireguard module, or use BackendUserspace)", name, ErrNoKernelWireGuard), nil
		}
		log.Info("kernel has no WireGuard; using the embedded wireguard-go device", "name", name)
		return BackendUserspace, k.UAPIClash(name), nil
	}
	switch {
	case l.Kind == "wireguard" && !l.Ours:
		return 0, fmt.Errorf("link %s is a WireGuard device made by someone else (its alias is not %q), such as wg-quick's: %w", name, wgdevice.LinkAlias, ErrConflict), nil
	case l.Kind == "wireguard" && want == BackendUserspace:
		return 0, fmt.Errorf("link %s is a kernel WireGuard device but BackendUserspace was requested: %w", name, ErrConflict), nil
	case l.Kind == "wireguard":
		return BackendKernel, nil, nil
	case l.Kind == "tuntap" && !l.Ours:
		return 0, fmt.Errorf("link %s is a TUN device that is not ours (another wireguard-go or VPN?): %w", name, ErrConflict), nil
	case l.Kind == "tuntap" && want == BackendKernel:
		return 0, fmt.Errorf("link %s is an embedded WireGuard device but BackendKernel was requested: %w", name, ErrConflict), nil
	case l.Kind == "tuntap":
		if err := k.UAPIClash(name); err != nil {
			return 0, err, nil // this link's device lost its socket to another namespace's
		}
		if k.EmbeddedIndex() != l.Index {
			// Our embedded device, run by another process (or another
			// Tunnel): its settings are reachable through its UAPI socket.
			log.Info("the embedded device is run by another process", "name", name)
		}
		return BackendUserspace, nil, nil
	}
	return 0, fmt.Errorf("link %s exists and is a %q link, not WireGuard: %w", name, l.Kind, ErrConflict), nil
}

// observeRules reads the rules at the priorities of owners and of c. A
// rule there is ours when it carries RouteProtocol and looks up the
// owner's table (or main, for the exception rule); any other rule in c's
// range is foreign, also one with our marks that no owner explains.
func observeRules(k kernel, c Config, owners []Config, o *observed) error {
	var marked []string // the commands that remove the foreign ones with our marks
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := k.Rules(fam)
		if err != nil {
			return err
		}
		for _, nr := range rules {
			inRange, ours := false, false
			for _, ow := range owners {
				if ow.ownsPriority(nr.Priority) {
					inRange = true
					ours = ours || nr.Protocol == RouteProtocol &&
						(nr.Table == ow.Table || nr.Table == inet.TableMain && nr.Priority == ow.Priority+rulelayout.ExceptionOffset)
				}
			}
			switch {
			case ours:
				spec, ok := ruleFromNetlink(nr)
				o.rules = append(o.rules, ownedRule{spec: spec, ok: ok, raw: nr})
			case c.ownsPriority(nr.Priority) && nr.Protocol == RouteProtocol:
				spec, ok := ruleFromNetlink(nr)
				marked = append(marked, (&delRuleStep{rule: ownedRule{spec: spec, ok: ok, raw: nr}}).command())
			case c.ownsPriority(nr.Priority):
				o.foreign = append(o.foreign, fmt.Sprintf("rule %s is not ours", foreignRuleText(nr)))
				if t := foreignTunnel(k, nr); t != "" {
					o.tunnels = append(o.tunnels, t)
				}
			case inRange: // a stranger among a recorded layout's priorities: not in our way
			}
		}
	}
	if len(marked) > 0 {
		msg := fmt.Sprintf("%d rules at priorities %d-%d carry this package's mark (proto %d) but the tunnel's record does not list them, so another tunnel made them (one whose record is lost?); bring that tunnel down, or if they are no tunnel's remove them: %s",
			len(marked), c.Priority, c.Priority+rulelayout.PeerOffset, RouteProtocol, strings.Join(marked, "; "))
		o.foreign = append(o.foreign, msg)
		o.unlisted = append(o.unlisted, msg)
	}
	return nil
}

// observeRoutes reads our routes in the owners' tables and, on our link,
// in main, and what is in c's Table. Any route in c's Table that is not
// ours is foreign; when no owner has that table (the tunnel's record does
// not list it), every route there is, also one with our marks.
func observeRoutes(k kernel, c Config, owners []Config, o *observed) error {
	tables := []int{inet.TableMain}
	for _, ow := range owners {
		if !slices.Contains(tables, ow.Table) {
			tables = append(tables, ow.Table)
		}
	}
	owned := len(tables)
	if c.hasLayout() && !slices.Contains(tables, c.Table) {
		tables = append(tables, c.Table)
	}
	// The config's routes in main (PeerRouteMain): one of someone else's
	// to the same destination holds their place (the kernel would take
	// ours for a duplicate and keep theirs).
	inMain := map[netip.Prefix]bool{}
	if c.PeerRoute == PeerRouteMain {
		for _, r := range desiredRoutes(c) {
			if r.Table == inet.TableMain {
				inMain[r.Dst] = true
			}
		}
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		for ti, table := range tables {
			routes, err := k.Routes(fam, table)
			if err != nil {
				return err
			}
			if ti >= owned { // c's Table, which the record does not list
				unlistedRoutes(fam, table, routes, o)
				continue
			}
			o.routes = slices.Grow(o.routes, len(routes))
			o.onLink = slices.Grow(o.onLink, len(routes))
			for _, r := range routes {
				ours := r.Protocol == RouteProtocol
				onLink := o.link != nil && r.LinkIndex == o.link.Index
				dst := r.Dst
				switch {
				case table == inet.TableMain && inMain[dst] && !(ours && onLink) && r.Type == unix.RTN_UNICAST:
					o.foreign = append(o.foreign, fmt.Sprintf("route %s in table main is not ours", dst))
				case ours && (table != inet.TableMain || onLink):
					rt := linuxnet.RouteOf(r)
					o.routes = append(o.routes, rt)
					o.onLink = append(o.onLink, onLink)
				case table == c.Table && !ours:
					o.foreign = append(o.foreign, fmt.Sprintf("route %s in table %d is not ours", r.Dst, table))
				}
			}
		}
	}
	return nil
}

// unlistedRoutes adds the routes of a table that the tunnel's record does
// not list to o.foreign: those with our marks in one line, with the
// command that removes them (a table may hold thousands).
func unlistedRoutes(fam, table int, routes []linuxnet.KernelRoute, o *observed) {
	var marked []netip.Prefix
	for _, r := range routes {
		if r.Protocol == RouteProtocol {
			marked = append(marked, r.Dst)
		} else {
			o.foreign = append(o.foreign, fmt.Sprintf("route %s in table %d is not ours", r.Dst, table))
		}
	}
	if len(marked) == 0 {
		return
	}
	msg := fmt.Sprintf("%d routes in table %d (such as %s) carry this package's mark (proto %d) but the tunnel's record does not list the table, so another tunnel made them (one whose record is lost?); bring that tunnel down, or if they are no tunnel's remove them: %sroute flush table %d proto %d",
		len(marked), table, marked[0], RouteProtocol, ipFamilyFlag(fam), table, RouteProtocol)
	o.foreign = append(o.foreign, msg)
	o.unlisted = append(o.unlisted, msg)
}

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
	case r.Table == inet.TableMain:
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
	if r.Table == 0 || r.Table == inet.TableMain {
		return ""
	}
	routes, err := k.Routes(r.Family, r.Table)
	if err != nil {
		return ""
	}
	for _, rt := range routes {
		if l, err := k.LinkByIndex(rt.LinkIndex); err == nil && l != nil && !l.Ours && (l.Kind == "wireguard" || l.Kind == "tuntap") {
			return l.Name
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
