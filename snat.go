//go:build linux

package transparent

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/netfilter"
	"golang.org/x/sys/unix"
)

// snatChain is the tunnel's chain of one IP family: the SNAT rules, and
// the hook that jumps to it.
type snatChain struct {
	family int
	hook   string
	rules  []netfilter.NATRule
}

// desiredSNAT returns the tunnel's chains, one per IP family with rules.
// public holds this endpoint's public address per family.
func desiredSNAT(c Config, public map[int]netip.Addr) []snatChain {
	var chains []snatChain
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		ch := snatChain{family: fam, hook: netfilter.HookOutbound}
		if c.SNAT == SNATInbound {
			ch.hook = netfilter.HookInbound
		}
		pub, ok := public[fam]
		if !ok {
			continue
		}
		switch c.SNAT {
		case SNATOutbound: // from our tunnel address to the peers' public ones
			// Aggregated across peers: one peer's prefix may hold
			// another's, and an nftables interval set takes no overlap.
			var dsts []netip.Prefix
			for _, p := range c.Peers {
				dsts = append(dsts, p.Transparent...)
			}
			for _, tp := range inet.Aggregate(dsts) {
				for _, a := range c.Addresses {
					if inet.Family(tp.Addr()) == fam && inet.Family(a.Addr()) == fam {
						ch.rules = append(ch.rules, netfilter.NATRule{Src: inet.HostPrefix(a.Addr()), Dst: tp, To: pub})
					}
				}
			}
		case SNATInbound: // from each peer's tunnel addresses to its public one
			for _, p := range c.Peers {
				peerPublic, found := peerPublicAddress(p, fam)
				for _, ap := range inet.Aggregate(p.AllowedIPs) {
					if found && inet.Family(ap.Addr()) == fam {
						ch.rules = append(ch.rules, netfilter.NATRule{Src: ap, Dst: inet.HostPrefix(pub), To: peerPublic})
					}
				}
			}
		}
		netfilter.SortRules(ch.rules)
		if len(ch.rules) > 0 {
			chains = append(chains, ch)
		}
	}
	return chains
}

// peerPublicAddress is the peer's single-address Transparent prefix of a
// family: its public address, as Validate requires for SNATInbound.
func peerPublicAddress(p Peer, fam int) (netip.Addr, bool) {
	for _, tp := range p.Transparent {
		if tp.IsSingleIP() && inet.Family(tp.Addr()) == fam {
			return tp.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// publicAddresses returns this endpoint's public address for each family
// the SNAT rules need: from PublicAddresses, else the source address the
// main table gives packets toward the peer.
func publicAddresses(k kernel, log *slog.Logger, c Config) (map[int]netip.Addr, error) {
	public := map[int]netip.Addr{}
	for _, a := range c.PublicAddresses {
		public[inet.Family(a)] = a
	}
	for _, fam := range c.families() {
		if _, ok := public[fam]; ok {
			continue
		}
		dst, ok := probeTarget(c, fam)
		if !ok {
			continue
		}
		src, err := mainSource(k, dst)
		if err != nil {
			return nil, fmt.Errorf("find the public %s address for SNAT (or set PublicAddresses): %w", inet.FamilyName(fam == unix.AF_INET6), err)
		}
		log.Info("public address for SNAT: the main table's source toward the peer", "address", src, "peer", dst)
		public[fam] = src
	}
	return public, nil
}

// probeTarget is a peer's public address of the family: its endpoint, else
// its first Transparent prefix.
func probeTarget(c Config, fam int) (netip.Addr, bool) {
	for _, p := range c.Peers {
		if ep := p.exceptionEndpoint(); ep.IsValid() && inet.Family(ep.Addr()) == fam {
			return ep.Addr(), true
		}
	}
	for _, p := range c.Peers {
		for _, tp := range p.Transparent {
			if inet.Family(tp.Addr()) == fam {
				return tp.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// observeFirewall reads the tunnel's chains in the given IP families:
// those where the config or the last Up has SNAT rules
// (record.snatFamilies). The nat table of another family is never read,
// which saves a read per Up and works on kernels without IPv6 NAT. When
// a recorded Up used another firewall (recorded, the kinds in the
// tunnel's record), its chains are read too, so that the steps remove
// them; if that firewall is gone (iptables uninstalled since), that is
// logged, not fatal.
func observeFirewall(k kernel, log *slog.Logger, fw netfilter.Driver, name string, families []int, recorded, created []string) ([]netfilter.ChainState, error) {
	fws := []netfilter.Driver{fw}
	for _, kind := range recorded {
		if kind == fw.Kind() {
			continue
		}
		if old, err := k.FirewallOfKind(kind); err != nil {
			log.Warn("cannot open the firewall of an earlier Up; its SNAT chain may stay", "firewall", kind, "err", err)
		} else {
			fws = append(fws, old)
		}
	}
	// What an earlier Up's iptables-nft created, for Down to remove.
	for _, f := range fws {
		if a, ok := f.(netfilter.Adopter); ok && slices.Contains(recorded, f.Kind()) {
			a.Adopt(created)
		}
	}
	var states []netfilter.ChainState
	for _, fw := range fws {
		for _, fam := range families {
			s, err := fw.ReadChain(fam, name)
			if err != nil {
				return nil, err
			}
			if err := s.NotOurs(name, recorded); err != nil {
				return nil, err
			}
			states = append(states, s)
		}
	}
	return states, nil
}

// firewallSteps returns the steps that make the chains match want in
// fw: the chain's rules first, then the jump to it, and stale jumps and
// chains removed (jumps before their chain), also those of another
// firewall.
func firewallSteps(fw netfilter.Driver, name string, want []snatChain, have []netfilter.ChainState) []step {
	var steps []step
	for _, h := range have {
		i := slices.IndexFunc(want, func(w snatChain) bool { return w.family == h.Family })
		if i < 0 || h.Driver.Kind() != fw.Kind() {
			steps = append(steps, removeChainSteps(name, h)...)
			continue
		}
		w := want[i]
		set := &setChainStep{fw: fw, family: w.family, name: name, rules: w.rules, old: h}
		if !h.Exists || !slices.Equal(h.Rules, w.rules) {
			steps = append(steps, set)
		} else {
			steps = append(steps, &keepStep{set})
		}
		for _, hook := range h.Hooks {
			if hook != w.hook {
				steps = append(steps, &delJumpStep{fw: fw, family: h.Family, name: name, hook: hook})
			}
		}
		jump := &addJumpStep{fw: fw, family: w.family, name: name, hook: w.hook, nat: h.NAT}
		if !slices.Contains(h.Hooks, w.hook) {
			steps = append(steps, jump)
		} else {
			steps = append(steps, &keepStep{jump})
		}
	}
	return steps
}

// removeChainSteps removes the jumps to a chain, then the chain: each
// removal also removes the nat chain or table of iptables-nft that the
// tunnel made and that it leaves empty. What the tunnel made and no
// removal will prune (a crash came between a removal and its pruning, or
// between iptables-nft making the table and the chain's rules), a
// pruneNatStep removes, before the chain (strayNat).
func removeChainSteps(name string, h netfilter.ChainState) []step {
	var steps []step
	for _, hook := range h.Hooks {
		steps = append(steps, &delJumpStep{fw: h.Driver, family: h.Family, name: name, hook: hook})
	}
	if p := strayNat(h); p != nil {
		steps = append(steps, p)
	}
	if h.Exists {
		steps = append(steps, &delChainStep{fw: h.Driver, family: h.Family, name: name, old: h.Rules})
	}
	return steps
}

// iptables-nft creates the nat table and its hook chain on first use
// (internal/netfilter). Up lists in the record what its steps may create
// before its first write (mayCreate), so that a Down after a crash
// half-way removes it; Down removes what a crash left between a removal
// and its pruning (strayNat).

// kindIPTablesNFT is the Kind of the firewall whose nat table lives in
// nf_tables, created on first use.
const kindIPTablesNFT = netfilter.KindIPTables + "-nft"

// mayCreate returns the nat table and hook chains of iptables-nft that
// steps may create and that do not exist now (an Up that ends records
// what it did create). Restoring the chain can create the table; a jump,
// the table and the hook chain.
func mayCreate(steps []step) []string {
	var keys []string
	add := func(fw netfilter.Driver, nat []string, key string) {
		if fw.Kind() == kindIPTablesNFT && !slices.Contains(nat, key) && !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	for _, s := range steps {
		switch s := s.(type) {
		case *setChainStep:
			add(s.fw, s.old.NAT, netfilter.MadeKey(s.family, ""))
		case *addJumpStep:
			add(s.fw, s.nat, netfilter.MadeKey(s.family, ""))
			add(s.fw, s.nat, netfilter.MadeKey(s.family, s.hook))
		}
	}
	return keys
}

// strayNat returns the step that removes what the tunnel made in h's nat
// table and no other removal prunes: a hook chain without the tunnel's
// jump, and the table when the tunnel's chain is gone. Nil when there is
// none.
func strayNat(h netfilter.ChainState) *pruneNatStep {
	if _, ok := h.Driver.(netfilter.Adopter); !ok {
		return nil
	}
	p := &pruneNatStep{fw: h.Driver, family: h.Family}
	for _, key := range h.Made {
		if key == netfilter.MadeKey(h.Family, "") {
			p.table = !h.Exists // else deleting the chain prunes it
			continue
		}
		for _, hook := range []string{netfilter.HookOutbound, netfilter.HookInbound} {
			if key == netfilter.MadeKey(h.Family, hook) && !slices.Contains(h.Hooks, hook) {
				p.hooks = append(p.hooks, hook)
			}
		}
	}
	if !p.table && len(p.hooks) == 0 {
		return nil
	}
	return p
}
