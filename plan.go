//go:build linux

package transparent

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/linuxnet"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// desired is the state a config asks for.
type desired struct {
	name   string
	mtu    int
	addrs  []netip.Prefix
	routes []linuxnet.Route
	rules  []rule // in the order they must be added
}

func desiredState(c Config) desired { return desiredStateFor(c, nil) }

// desiredStateFor is the state c asks for with the peers of failed out
// of the tunnel.
func desiredStateFor(c Config, failed map[wgtypes.Key]bool) desired {
	return desired{
		name:   c.Name,
		mtu:    c.MTU,
		addrs:  inet.Dedupe(c.Addresses),
		routes: desiredRoutesFor(c, failed),
		rules:  desiredRules(c),
	}
}

// planUp returns the kernel writes that take the kernel from o to what c
// asks for, in a safe order, or why it must not: objects of others in the
// way, a link it may not manage, strict reverse-path filtering. It is a
// pure function of its arguments. The order:
//
//  1. the link is made and configured: device settings, MTU, addresses, up;
//  2. missing routes are added;
//  3. the SNAT chains are made, so that the first packet through the
//     tunnel is already translated;
//  4. missing rules are added: exception rules first, then the peer and
//     transparent rules; then a changed firewall mark of the device;
//  5. stale transparent and peer rules go, then stale exception rules;
//  6. stale routes go last, once no rule leads to them.
//
// So at no moment does a transparent rule stand without the exception rule
// that keeps the peers' own WireGuard packets out of the tunnel, even when
// a config change replaces the exception rules; and a destination that
// stays in the config keeps a rule into the tunnel throughout, even when
// its rule changes form (RulesPerDestination to RulesTable and back).
//
// A plan of keep steps only means the kernel already matches c.
func planUp(c Config, o *observed) ([]step, error) {
	if err := conflicts(o); err != nil {
		return nil, err
	}
	if o.linkErr != nil {
		return nil, o.linkErr
	}
	if o.rpErr != nil {
		return nil, o.rpErr
	}
	want := desiredStateFor(c, o.failed)
	var steps []step
	wantRules := map[rule]bool{}
	for _, r := range want.rules {
		wantRules[r] = true
	}
	stale := func(exception bool) func(ownedRule) bool {
		return func(r ownedRule) bool {
			return (!r.ok || !wantRules[r.spec]) && (r.raw.Table == inet.TableMain) == exception
		}
	}
	link := &createLinkStep{name: want.name, mtu: want.mtu, backend: o.backend}
	if o.link == nil {
		steps = append(steps, link)
	} else {
		steps = append(steps, &keepStep{link})
	}
	// A new firewall mark of an existing device waits until the new
	// exception rules are in (below): until then the old rules, port or
	// mark, must still match the device's packets.
	var markLater *configureDeviceStep
	if cfg := deviceDiff(c, o.device); cfg != nil {
		if o.device != nil && cfg.FirewallMark != nil {
			markLater = &configureDeviceStep{name: want.name, cfg: wgtypes.Config{FirewallMark: cfg.FirewallMark}, old: o.device}
			cfg.FirewallMark = nil
		}
		if cfg.PrivateKey != nil || cfg.ListenPort != nil || len(cfg.Peers) > 0 || cfg.ReplacePeers {
			steps = append(steps, &configureDeviceStep{name: want.name, cfg: *cfg, old: o.device})
		}
	} else {
		steps = append(steps, &keepStep{&deviceInSyncStep{cfg: c}})
	}
	if o.link != nil && o.link.MTU != want.mtu {
		steps = append(steps, &setMTUStep{name: want.name, mtu: want.mtu, old: o.link.MTU})
	}
	kept, added := partition(want.addrs, o.addrs)
	for _, a := range kept {
		steps = append(steps, &keepStep{&addAddressStep{name: want.name, addr: a}})
	}
	for _, a := range added {
		steps = append(steps, &addAddressStep{name: want.name, addr: a})
	}
	for _, a := range missing(o.addrs, want.addrs) {
		steps = append(steps, &delAddressStep{name: want.name, addr: a})
	}
	if o.link == nil || !o.link.Up {
		steps = append(steps, &setUpStep{name: want.name})
	}

	routes := newRouteDiff(want.routes, o.routes)
	steps = slices.Grow(steps, len(want.routes)+len(want.rules)+8) // a step per route: most of a large plan
	routes.each(routeKept, func(r linuxnet.Route) {
		steps = append(steps, &keepStep{&addRouteStep{name: want.name, route: r}})
	})
	routes.each(routeAdded, func(r linuxnet.Route) {
		steps = append(steps, &addRouteStep{name: want.name, route: r})
	})
	if o.fw != nil {
		steps = append(steps, firewallSteps(o.fw, c.Name, desiredSNAT(c, o.public), o.chains)...)
	}

	var haveRules []rule
	for _, r := range o.rules {
		if r.ok {
			haveRules = append(haveRules, r.spec)
		}
	}
	keptRules, addedRules := partition(want.rules, haveRules)
	for _, r := range keptRules {
		steps = append(steps, &keepStep{&addRuleStep{rule: r}})
	}
	for _, r := range addedRules {
		steps = append(steps, &addRuleStep{rule: r})
	}
	if markLater != nil {
		steps = append(steps, markLater)
	}
	steps = append(steps, removeRules(c.Priority, o.rules, stale(false))...)
	steps = append(steps, removeRules(c.Priority, o.rules, stale(true))...)
	routes.each(routeStale, func(r linuxnet.Route) {
		steps = append(steps, &delRouteStep{name: want.name, route: r})
	})
	return steps, nil
}

// planDown returns the kernel writes that remove everything of ours: rules
// (transparent ones first, exceptions last), the SNAT chains, routes, then
// the link, which takes its addresses and any remaining routes with it. A
// link the tunnel may not manage (o.linkErr) stays.
func planDown(c Config, o *observed) []step {
	steps := removeRules(c.Priority, o.rules, func(ownedRule) bool { return true })
	for _, h := range o.chains {
		steps = append(steps, removeChainSteps(c.Name, h)...)
	}
	removeLink := o.link != nil && o.linkErr == nil
	for i, r := range o.routes {
		if !removeLink || i >= len(o.onLink) || !o.onLink[i] { // the link takes its own routes with it
			steps = append(steps, &delRouteStep{name: c.Name, route: r})
		}
	}
	if removeLink {
		steps = append(steps, &deleteLinkStep{name: c.Name})
	}
	return steps
}

// removeRules returns steps removing the rules that match, in the reverse
// of the order they are added in.
func removeRules(base int, rules []ownedRule, match func(ownedRule) bool) []step {
	var del []ownedRule
	for _, r := range rules {
		if match(r) {
			del = append(del, r)
		}
	}
	slices.SortStableFunc(del, func(a, b ownedRule) int {
		return ruleRemoveOrder(base, a.raw.Priority) - ruleRemoveOrder(base, b.raw.Priority)
	})
	steps := make([]step, len(del))
	for i, r := range del {
		steps[i] = &delRuleStep{rule: r}
	}
	return steps
}

// partition splits a into the elements that are in b and those that are
// not, each in a's order.
func partition[T comparable](a, b []T) (in, out []T) {
	set := make(map[T]bool, len(b))
	for _, x := range b {
		set[x] = true
	}
	for _, x := range a {
		if set[x] {
			in = append(in, x)
		} else {
			out = append(out, x)
		}
	}
	return in, out
}

// diffRoutes splits want into the routes that have holds and those it
// does not, each in want's order, and returns the routes of have that want
// does not hold, in have's order.
func diffRoutes(want, have []linuxnet.Route) (kept, added, stale []linuxnet.Route) {
	d := newRouteDiff(want, have)
	d.each(routeKept, func(r linuxnet.Route) { kept = append(kept, r) })
	d.each(routeAdded, func(r linuxnet.Route) { added = append(added, r) })
	d.each(routeStale, func(r linuxnet.Route) { stale = append(stale, r) })
	return kept, added, stale
}

// routeDiff compares the routes a config wants with those the kernel
// has, handing out one kind of difference at a time rather than three
// lists: planUp turns each route into a step as it comes, and at 100000
// routes the lists cost as much memory as the steps. It searches sorted
// copies rather than a map: hashing 100000 prefixes was most of a no-op
// Up's plan.
type routeDiff struct {
	want, have             []linuxnet.Route
	sortedWant, sortedHave []linuxnet.Route
	merge                  bool // both sorted: one pass over both
}

// routeDiffKind is one kind of difference: a wanted route the kernel
// has, one it lacks, one it has that is not wanted.
type routeDiffKind int

const (
	routeKept routeDiffKind = iota
	routeAdded
	routeStale
)

func newRouteDiff(want, have []linuxnet.Route) routeDiff {
	if slices.IsSortedFunc(want, compareRoutes) && slices.IsSortedFunc(have, compareRoutes) {
		return routeDiff{want: want, have: have, merge: true}
	}
	return routeDiff{want: want, have: have, sortedWant: sortedRoutes(want), sortedHave: sortedRoutes(have)}
}

// each calls fn for the routes of one kind: kept and added in want's
// order, stale in have's.
func (d routeDiff) each(kind routeDiffKind, fn func(linuxnet.Route)) {
	if d.merge {
		mergeRoutes(d.want, d.have, kind, fn)
		return
	}
	in := func(sorted []linuxnet.Route, r linuxnet.Route) bool {
		_, found := slices.BinarySearchFunc(sorted, r, compareRoutes)
		return found
	}
	if kind == routeStale {
		for _, r := range d.have {
			if !in(d.sortedWant, r) {
				fn(r)
			}
		}
		return
	}
	for _, r := range d.want {
		if in(d.sortedHave, r) == (kind == routeKept) {
			fn(r)
		}
	}
}

// mergeRoutes is routeDiff.each for two lists sorted by compareRoutes, as
// they usually are: one pass over both.
func mergeRoutes(want, have []linuxnet.Route, kind routeDiffKind, fn func(linuxnet.Route)) {
	i, j := 0, 0
	for i < len(want) || j < len(have) {
		switch {
		case j == len(have) || i < len(want) && compareRoutes(want[i], have[j]) < 0:
			if kind == routeAdded {
				fn(want[i])
			}
			i++
		case i == len(want) || compareRoutes(want[i], have[j]) > 0:
			if kind == routeStale {
				fn(have[j])
			}
			j++
		default:
			if kind == routeKept {
				fn(want[i])
			}
			i, j = i+1, j+1
		}
	}
}

// sortedRoutes is rs in compareRoutes' order: rs itself when it is
// already (the kernel dumps a table in that order, and the desired routes
// come aggregated in it), else a sorted copy.
func sortedRoutes(rs []linuxnet.Route) []linuxnet.Route {
	if slices.IsSortedFunc(rs, compareRoutes) {
		return rs
	}
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, compareRoutes)
	return sorted
}

func compareRoutes(a, b linuxnet.Route) int {
	if a.Table != b.Table {
		return a.Table - b.Table
	}
	if c := a.Dst.Addr().Compare(b.Dst.Addr()); c != 0 {
		return c
	}
	if a.Dst.Bits() != b.Dst.Bits() {
		return a.Dst.Bits() - b.Dst.Bits()
	}
	if a.Unreachable != b.Unreachable {
		if a.Unreachable {
			return 1
		}
		return -1
	}
	return a.Metric - b.Metric
}

// missing returns the elements of a that are not in b, in a's order.
func missing[T comparable](a, b []T) []T {
	_, out := partition(a, b)
	return out
}

// conflicts turns the foreign objects found in our way into one error.
func conflicts(o *observed) error {
	if len(o.foreign) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w (%s)", strings.Join(o.foreign, "; "), ErrConflict, conflictAdvice(o.tunnels))
}

// Op is what a plan does to an object.
type Op string

// The operations of a plan.
const (
	OpAdd     Op = "add"
	OpRemove  Op = "remove"
	OpReplace Op = "replace" // change an object in place
	OpKeep    Op = "keep"    // already as the config says
)

// Change is one line of a plan: what Up does, or would do, to one object.
type Change struct {
	Op      Op
	Step    string // as in logs and errors: "add rule 456 to 203.0.113.2/32 lookup 123"
	Command string // the equivalent ip, wg, nft or iptables command
}

func (c Change) String() string { return fmt.Sprintf("%-7s %s", c.Op, c.Command) }
