//go:build linux

package transparent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// observed is one reading of the kernel: all that plan (plan.go) needs to
// decide what Up or Down writes. observe makes it and changes nothing.
type observed struct {
	link    *linkInfo      // the tunnel's link; nil when absent
	backend Backend        // the link's backend, or the one a new link gets
	linkErr error          // the link cannot be managed (ErrConflict) or made (ErrNoKernelWireGuard)
	addrs   []netip.Prefix // on the link, without kernel-made link-local ones
	routes  []route        // ours: RouteProtocol, in an owner's Table or on the link in main
	onLink  []bool         // for each of routes: whether it goes through the tunnel's link
	rules   []ownedRule    // ours: RouteProtocol, at an owner's priorities
	foreign []string       // objects in the config's way that are not ours
	tunnels []string       // other WireGuard links that foreign rules route to
	// unlisted are the objects among foreign that carry our marks: made
	// by a tunnel of this package, but not by this one (its record does
	// not list their layout), each with the command that removes it.
	unlisted []string
	device   *wgtypes.Device
	failed   map[wgtypes.Key]bool // peers out of the tunnel, as the record says (failover.go)

	fw     firewall           // the firewall for the SNAT rules; nil without them
	chains []firewallState    // the tunnel's SNAT chains, in every firewall recorded
	public map[int]netip.Addr // this endpoint's public address per family, for SNAT
	rpErr  error              // strict reverse-path filtering in the way (ErrStrictRPFilter)
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
	if o.link, err = k.link(c.Name); err != nil {
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
		addrs, err := k.addresses(o.link.index)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if !isLinkLocal(a) {
				o.addrs = append(o.addrs, a)
			}
		}
		if o.linkErr == nil {
			if o.device, err = k.device(c.Name); err != nil {
				return nil, err
			}
		}
	}
	if len(req.snat) > 0 {
		if o.fw, err = k.firewall(req.firewall); err != nil {
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
func chooseBackend(k kernel, log *slog.Logger, name string, l *linkInfo, want Backend) (b Backend, linkErr error, err error) {
	if l == nil {
		if want == BackendUserspace {
			return want, nil, nil
		}
		ok, err := k.hasKernelWireGuard()
		switch {
		case err != nil:
			return 0, nil, err
		case ok:
			return BackendKernel, nil, nil
		case want == BackendKernel:
			return 0, fmt.Errorf("create link %s: %w (load the wireguard module, or use BackendUserspace)", name, ErrNoKernelWireGuard), nil
		}
		log.Info("kernel has no WireGuard; using the embedded wireguard-go device", "name", name)
		return BackendUserspace, nil, nil
	}
	switch {
	case l.kind == "wireguard" && !l.ours:
		return 0, fmt.Errorf("link %s is a WireGuard device made by someone else (its alias is not %q), such as wg-quick's: %w", name, linkAlias, ErrConflict), nil
	case l.kind == "wireguard" && want == BackendUserspace:
		return 0, fmt.Errorf("link %s is a kernel WireGuard device but BackendUserspace was requested: %w", name, ErrConflict), nil
	case l.kind == "wireguard":
		return BackendKernel, nil, nil
	case l.kind == "tuntap" && !l.ours:
		return 0, fmt.Errorf("link %s is a TUN device that is not ours (another wireguard-go or VPN?): %w", name, ErrConflict), nil
	case l.kind == "tuntap" && want == BackendKernel:
		return 0, fmt.Errorf("link %s is an embedded WireGuard device but BackendKernel was requested: %w", name, ErrConflict), nil
	case l.kind == "tuntap":
		if k.embedded() != l.index {
			// Our embedded device, run by another process (or another
			// Tunnel): its settings are reachable through its UAPI socket.
			log.Info("the embedded device is run by another process", "name", name)
		}
		return BackendUserspace, nil, nil
	}
	return 0, fmt.Errorf("link %s exists and is a %q link, not WireGuard: %w", name, l.kind, ErrConflict), nil
}

// observeRules reads the rules at the priorities of owners and of c. A
// rule there is ours when it carries RouteProtocol and looks up the
// owner's table (or main, for the exception rule); any other rule in c's
// range is foreign, also one with our marks that no owner explains.
func observeRules(k kernel, c Config, owners []Config, o *observed) error {
	var marked []string // the commands that remove the foreign ones with our marks
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := k.rules(fam)
		if err != nil {
			return err
		}
		for _, nr := range rules {
			inRange, ours := false, false
			for _, ow := range owners {
				if ow.ownsPriority(nr.Priority) {
					inRange = true
					ours = ours || nr.Protocol == RouteProtocol &&
						(nr.Table == ow.Table || nr.Table == tableMain && nr.Priority == ow.Priority+exceptionOffset)
				}
			}
			switch {
			case ours:
				spec, ok := ruleFromNetlink(nr)
				o.rules = append(o.rules, ownedRule{spec: spec, ok: ok, raw: nr})
			case c.ownsPriority(nr.Priority) && nr.Protocol == RouteProtocol:
				spec, ok := ruleFromNetlink(nr)
				marked = append(marked, (&delRule{rule: ownedRule{spec: spec, ok: ok, raw: nr}}).command())
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
			len(marked), c.Priority, c.Priority+peerRuleOffset, RouteProtocol, strings.Join(marked, "; "))
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
	tables := []int{tableMain}
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
			if r.Table == tableMain {
				inMain[r.Dst] = true
			}
		}
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		for ti, table := range tables {
			routes, err := k.routes(fam, table)
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
				onLink := o.link != nil && r.LinkIndex == o.link.index
				dst := r.Dst
				switch {
				case table == tableMain && inMain[dst] && !(ours && onLink) && r.Type == unix.RTN_UNICAST:
					o.foreign = append(o.foreign, fmt.Sprintf("route %s in table main is not ours", dst))
				case ours && (table != tableMain || onLink):
					rt := routeOf(r)
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
func unlistedRoutes(fam, table int, routes []kernelRoute, o *observed) {
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

// retryDump repeats a netlink dump that the kernel interrupted because the
// table changed meanwhile.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for range 5 {
		list, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return list, err
		}
	}
	return dump()
}
