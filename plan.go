//go:build linux

package transparent

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// desired is the state a config asks for.
type desired struct {
	name   string
	mtu    int
	addrs  []netip.Prefix
	routes []route
	rules  []rule // in the order they must be added
}

func desiredState(c Config) desired {
	return desired{
		name:   c.Name,
		mtu:    c.MTU,
		addrs:  dedupe(c.Addresses),
		routes: desiredRoutes(c),
		rules:  desiredRules(c),
	}
}

// upSteps returns the kernel writes that take the state have to want, in
// a safe order:
//
//  1. stale transparent and peer rules of ours go first;
//  2. the link is made and configured: device settings, MTU, addresses, up;
//  3. missing routes are added and stale ones removed;
//  4. the SNAT chains are made (fw, from firewallSteps), so that the first
//     packet through the tunnel is already translated;
//  5. missing rules are added: exception rules first, then the peer and
//     transparent rules;
//  6. stale exception rules go last.
//
// So at no moment does a transparent rule stand without the exception rule
// that keeps the peers' own WireGuard packets out of the tunnel, even when
// a config change replaces the exception rules.
//
// An empty result means the kernel already matches the config.
func upSteps(c Config, want desired, have *state, device *wgtypes.Device, fw []step) []step {
	var steps []step
	wantRules := map[rule]bool{}
	for _, r := range want.rules {
		wantRules[r] = true
	}
	stale := func(exception bool) func(ownedRule) bool {
		return func(r ownedRule) bool {
			return (!r.ok || !wantRules[r.spec]) && (r.raw.Table == tableMain) == exception
		}
	}
	steps = append(steps, removeRules(c.Priority, have.rules, stale(false))...)

	link := &createLink{name: want.name, mtu: want.mtu}
	if have.link == nil {
		steps = append(steps, link)
	} else {
		steps = append(steps, &keep{link})
	}
	if cfg := deviceDiff(c, device); cfg != nil {
		steps = append(steps, &configureDevice{name: want.name, cfg: *cfg, old: device})
	} else {
		steps = append(steps, &keep{&deviceInSync{name: want.name}})
	}
	if have.link != nil && have.link.Attrs().MTU != want.mtu {
		steps = append(steps, &setMTU{mtu: want.mtu, old: have.link.Attrs().MTU})
	}
	kept, added := partition(want.addrs, have.addrs)
	for _, a := range kept {
		steps = append(steps, &keep{&addAddress{addr: address(a)}})
	}
	for _, a := range added {
		steps = append(steps, &addAddress{addr: address(a)})
	}
	for _, a := range missing(have.addrs, want.addrs) {
		steps = append(steps, &delAddress{addr: address(a)})
	}
	if have.link == nil || !isUp(have.link) {
		steps = append(steps, &setUp{})
	}

	keptRoutes, addedRoutes := partition(want.routes, have.routes)
	for _, r := range keptRoutes {
		steps = append(steps, &keep{&addRoute{route: r}})
	}
	for _, r := range addedRoutes {
		steps = append(steps, &addRoute{route: r})
	}
	for _, r := range missing(have.routes, want.routes) {
		steps = append(steps, &delRoute{route: r})
	}
	steps = append(steps, fw...)

	var haveRules []rule
	for _, r := range have.rules {
		if r.ok {
			haveRules = append(haveRules, r.spec)
		}
	}
	keptRules, addedRules := partition(want.rules, haveRules)
	for _, r := range keptRules {
		steps = append(steps, &keep{&addRule{rule: r}})
	}
	for _, r := range addedRules {
		steps = append(steps, &addRule{rule: r})
	}
	return append(steps, removeRules(c.Priority, have.rules, stale(true))...)
}

// downSteps returns the kernel writes that remove everything of ours:
// rules (transparent ones first, exceptions last), the SNAT chains (fw),
// routes, then the link, which takes its addresses and any remaining
// routes with it.
func downSteps(c Config, have *state, owned bool, fw []firewallState) []step {
	steps := removeRules(c.Priority, have.rules, func(ownedRule) bool { return true })
	for _, h := range fw {
		steps = append(steps, removeChainSteps(c.Name, h)...)
	}
	removeLink := have.link != nil && owned
	for _, r := range have.routes {
		if !removeLink || !have.onLink[r] { // the link takes its own routes with it
			steps = append(steps, &delRoute{route: r})
		}
	}
	if removeLink {
		steps = append(steps, &deleteLink{})
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
		steps[i] = &delRule{rule: r}
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

// missing returns the elements of a that are not in b, in a's order.
func missing[T comparable](a, b []T) []T {
	_, out := partition(a, b)
	return out
}

// conflicts turns the foreign objects found in our way into one error.
func conflicts(have *state) error {
	if len(have.foreign) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %w (choose another Priority or Table, or remove them)", strings.Join(have.foreign, "; "), ErrConflict)
}
