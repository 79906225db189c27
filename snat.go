//go:build linux

package transparent

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Built-in chains of the nat table that jump to the tunnel's chain.
const (
	hookOutbound = "POSTROUTING" // SNATOutbound: after routing, before the packet leaves
	hookInbound  = "INPUT"       // SNATInbound: before the packet reaches a local socket
)

// natRule is one of the article's SNAT rules: packets from src to dst
// leave with the source address to. A rule read back that the tunnel did
// not write has only other, its text, and equals no wanted rule.
type natRule struct {
	src, dst netip.Prefix
	to       netip.Addr
	other    string
}

func (r natRule) String() string {
	if r.other != "" {
		return r.other
	}
	return fmt.Sprintf("from %s to %s: SNAT to %s", r.src, r.dst, r.to)
}

// snatChain is the tunnel's chain of one IP family: the SNAT rules, and
// the hook that jumps to it.
type snatChain struct {
	family int
	hook   string
	rules  []natRule
}

// desiredSNAT returns the tunnel's chains, one per IP family with rules.
// public holds this endpoint's public address per family.
func desiredSNAT(c Config, public map[int]netip.Addr) []snatChain {
	var chains []snatChain
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		ch := snatChain{family: fam, hook: hookOutbound}
		if c.SNAT == SNATInbound {
			ch.hook = hookInbound
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
			for _, tp := range aggregate(dsts) {
				for _, a := range c.Addresses {
					if family(tp.Addr()) == fam && family(a.Addr()) == fam {
						ch.rules = append(ch.rules, natRule{src: hostPrefix(a.Addr()), dst: tp, to: pub})
					}
				}
			}
		case SNATInbound: // from each peer's tunnel addresses to its public one
			for _, p := range c.Peers {
				peerPublic, found := peerPublicAddress(p, fam)
				for _, ap := range aggregate(p.AllowedIPs) {
					if found && family(ap.Addr()) == fam {
						ch.rules = append(ch.rules, natRule{src: ap, dst: hostPrefix(pub), to: peerPublic})
					}
				}
			}
		}
		sortRules(ch.rules)
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
		if tp.IsSingleIP() && family(tp.Addr()) == fam {
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
		public[family(a)] = a
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
			return nil, fmt.Errorf("find the public %s address for SNAT (or set PublicAddresses): %w", familyString(fam), err)
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
		if ep := p.exceptionEndpoint(); ep.IsValid() && family(ep.Addr()) == fam {
			return ep.Addr(), true
		}
	}
	for _, p := range c.Peers {
		for _, tp := range p.Transparent {
			if family(tp.Addr()) == fam {
				return tp.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// firewallState is the tunnel's chain in one family of one firewall, as
// the kernel has it.
type firewallState struct {
	fw     firewall
	family int
	exists bool
	rules  []natRule
	hooks  []string // the hooks that jump to the chain
	// What the tunnel did not make in its table or chain: foreign are
	// objects it never makes; unmarked are rules without its comment,
	// which only a release before the comment made (foreign.go).
	foreign, unmarked []string
	// With iptables-nft: nat lists the family's nat table and its chains
	// that exist (madeKeys), and made those of them that the tunnel's Ups
	// created (record.Created).
	nat, made []string
}

// observeFirewall reads the tunnel's chains in the given IP families:
// those where the config or the last Up has SNAT rules
// (record.snatFamilies). The nat table of another family is never read,
// which saves a read per Up and works on kernels without IPv6 NAT. When
// a recorded Up used another firewall (recorded, the kinds in the
// tunnel's record), its chains are read too, so that the steps remove
// them; if that firewall is gone (iptables uninstalled since), that is
// logged, not fatal.
func observeFirewall(k kernel, log *slog.Logger, fw firewall, name string, families []int, recorded, created []string) ([]firewallState, error) {
	fws := []firewall{fw}
	for _, kind := range recorded {
		if kind == fw.kind() {
			continue
		}
		if old, err := k.firewallOfKind(kind); err != nil {
			log.Warn("cannot open the firewall of an earlier Up; its SNAT chain may stay", "firewall", kind, "err", err)
		} else {
			fws = append(fws, old)
		}
	}
	// What an earlier Up's iptables-nft created, for Down to remove.
	for _, f := range fws {
		if ipt, ok := f.(*iptablesFirewall); ok && slices.Contains(recorded, f.kind()) {
			ipt.adopt(created)
		}
	}
	var states []firewallState
	for _, fw := range fws {
		for _, fam := range families {
			s, err := fw.observe(fam, name)
			if err != nil {
				return nil, err
			}
			if err := s.notOurs(name, recorded); err != nil {
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
func firewallSteps(fw firewall, name string, want []snatChain, have []firewallState) []step {
	var steps []step
	for _, h := range have {
		i := slices.IndexFunc(want, func(w snatChain) bool { return w.family == h.family })
		if i < 0 || h.fw.kind() != fw.kind() {
			steps = append(steps, removeChainSteps(name, h)...)
			continue
		}
		w := want[i]
		set := &setChain{fw: fw, family: w.family, name: name, rules: w.rules, old: h}
		if !h.exists || !slices.Equal(h.rules, w.rules) {
			steps = append(steps, set)
		} else {
			steps = append(steps, &keep{set})
		}
		for _, hook := range h.hooks {
			if hook != w.hook {
				steps = append(steps, &delJump{fw: fw, family: h.family, name: name, hook: hook})
			}
		}
		jump := &addJump{fw: fw, family: w.family, name: name, hook: w.hook, nat: h.nat}
		if !slices.Contains(h.hooks, w.hook) {
			steps = append(steps, jump)
		} else {
			steps = append(steps, &keep{jump})
		}
	}
	return steps
}

// removeChainSteps removes the jumps to a chain, then the chain: each
// removal also removes the nat chain or table of iptables-nft that the
// tunnel made and that it leaves empty. What the tunnel made and no
// removal will prune (a crash came between a removal and its pruning, or
// between iptables-nft making the table and the chain's rules), a
// pruneNat step removes, before the chain.
func removeChainSteps(name string, h firewallState) []step {
	var steps []step
	for _, hook := range h.hooks {
		steps = append(steps, &delJump{fw: h.fw, family: h.family, name: name, hook: hook})
	}
	if p := strayNat(h); p != nil {
		steps = append(steps, p)
	}
	if h.exists {
		steps = append(steps, &delChain{fw: h.fw, family: h.family, name: name, old: h.rules})
	}
	return steps
}

type setChain struct {
	fw     firewall
	family int
	name   string
	rules  []natRule
	old    firewallState
}

// maxListedRules is how many rules a step's text lists; the rest it
// counts, so that an error about a chain of 10000 rules stays readable.
const maxListedRules = 3

func (s *setChain) String() string {
	var lines []string
	for _, r := range s.rules[:min(len(s.rules), maxListedRules)] {
		lines = append(lines, r.String())
	}
	if more := len(s.rules) - maxListedRules; more > 0 {
		lines = append(lines, fmt.Sprintf("and %d more", more))
	}
	return fmt.Sprintf("set %s: %s", s.fw.where(s.family, s.name), strings.Join(lines, "; "))
}

func (s *setChain) do(kernel) error { return s.fw.setChain(s.family, s.name, s.rules) }

func (s *setChain) undo(kernel) error {
	if !s.old.exists {
		return s.fw.deleteChain(s.family, s.name)
	}
	return s.fw.setChain(s.family, s.name, s.old.rules)
}

type delChain struct {
	fw     firewall
	family int
	name   string
	old    []natRule
}

func (s *delChain) String() string { return "delete " + s.fw.where(s.family, s.name) }

func (s *delChain) do(kernel) error   { return s.fw.deleteChain(s.family, s.name) }
func (s *delChain) undo(kernel) error { return s.fw.setChain(s.family, s.name, s.old) }

type addJump struct {
	fw         firewall
	family     int
	name, hook string
	nat        []string // the nat objects that exist (firewallState.nat)
}

func (s *addJump) String() string {
	return fmt.Sprintf("add jump from %s to %s", s.hook, s.fw.where(s.family, s.name))
}

func (s *addJump) do(kernel) error   { return s.fw.addJump(s.family, s.name, s.hook) }
func (s *addJump) undo(kernel) error { return s.fw.delJump(s.family, s.name, s.hook) }

type delJump addJump

func (s *delJump) String() string {
	return fmt.Sprintf("delete jump from %s to %s", s.hook, s.fw.where(s.family, s.name))
}

func (s *delJump) do(k kernel) error   { return (*addJump)(s).undo(k) }
func (s *delJump) undo(k kernel) error { return (*addJump)(s).do(k) }
