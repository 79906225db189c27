package transparent

import (
	"fmt"
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

// snatChain is the tunnel's own chain in the nat table of one IP family:
// the SNAT rules, and the built-in chain (hook) that jumps to it.
type snatChain struct {
	family int
	hook   string
	rules  [][]string // in `iptables -S` form, after "-A CHAIN"
}

// chainName names the tunnel's chain; iptables allows 28 bytes, and Name
// has at most 15.
func chainName(name string) string { return "WGT-" + name }

// comment tags every rule the tunnel makes, so that a person reading
// `iptables-save` knows whose it is.
func comment(name string) []string {
	return []string{"-m", "comment", "--comment", "wgtransparent " + name}
}

// jumpRule is the rule in the hook that sends packets to the chain.
func jumpRule(name string) []string {
	return append(comment(name), "-j", chainName(name))
}

// snatRule is one SNAT rule, written as `iptables -S` prints it so that
// what Up reads back compares equal to what it wants.
func snatRule(name string, src, dst netip.Prefix, to netip.Addr) []string {
	r := []string{"-s", src.String(), "-d", dst.String()}
	r = append(r, comment(name)...)
	return append(r, "-j", "SNAT", "--to-source", to.String())
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
		for _, p := range c.Peers {
			if !ok {
				break
			}
			switch c.SNAT {
			case SNATOutbound: // from our tunnel address to the peer's public one
				for _, tp := range aggregate(p.Transparent) {
					for _, a := range c.Addresses {
						if family(tp.Addr()) == fam && family(a.Addr()) == fam {
							ch.rules = append(ch.rules, snatRule(c.Name, hostPrefix(a.Addr()), tp, pub))
						}
					}
				}
			case SNATInbound: // from the peer's tunnel address to its public one
				peerPublic, found := peerPublicAddress(p, fam)
				for _, ap := range p.AllowedIPs {
					if found && family(ap.Addr()) == fam {
						ch.rules = append(ch.rules, snatRule(c.Name, ap.Masked(), hostPrefix(pub), peerPublic))
					}
				}
			}
		}
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
func (t *Tunnel) publicAddresses(c Config) (map[int]netip.Addr, error) {
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
		src, err := t.mainSource(dst)
		if err != nil {
			return nil, fmt.Errorf("find the public %s address for SNAT (or set PublicAddresses): %w", familyString(fam), err)
		}
		t.log.Info("public address for SNAT: the main table's source toward the peer", "address", src, "peer", dst)
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

// firewallState is the tunnel's chain in one family as the kernel has it.
type firewallState struct {
	family int
	exists bool
	rules  [][]string
	hooks  []string // built-in chains that jump to the chain
}

// observeFirewall reads the tunnel's chains and jumps in the given IP
// families: those where the config or the last Up has SNAT rules
// (record.snatFamilies). The nat table of another family is never read,
// which saves a process per Up and works on kernels without IPv6 NAT.
func (t *Tunnel) observeFirewall(name string, families []int) ([]firewallState, error) {
	fw, err := t.firewall()
	if err != nil {
		return nil, err
	}
	var states []firewallState
	for _, fam := range families {
		s, err := observeChain(fw, fam, name)
		if err != nil {
			return nil, err
		}
		states = append(states, s)
	}
	return states, nil
}

// observeChain reads the tunnel's chain in one family, and which built-in
// chains jump to it.
func observeChain(fw firewall, fam int, name string) (firewallState, error) {
	s := firewallState{family: fam}
	table, err := fw.natTable(fam)
	if err != nil {
		return s, fmt.Errorf("read %s nat table: %w", familyString(fam), err)
	}
	s.rules, s.exists = table[chainName(name)]
	for _, hook := range []string{hookOutbound, hookInbound} {
		if slices.ContainsFunc(table[hook], func(r []string) bool { return slices.Equal(r, jumpRule(name)) }) {
			s.hooks = append(s.hooks, hook)
		}
	}
	return s, nil
}

// firewallSteps returns the steps that make the chains match want: the
// chain's rules first, then the jump to it, and stale jumps and chains
// removed (jumps before their chain).
func firewallSteps(name string, want []snatChain, have []firewallState) []step {
	var steps []step
	for _, h := range have {
		i := slices.IndexFunc(want, func(w snatChain) bool { return w.family == h.family })
		if i < 0 {
			steps = append(steps, removeChainSteps(name, h)...)
			continue
		}
		w := want[i]
		set := &setChain{family: w.family, name: name, rules: w.rules, old: h}
		if !h.exists || !slices.EqualFunc(h.rules, w.rules, slices.Equal) {
			steps = append(steps, set)
		} else {
			steps = append(steps, &keep{set})
		}
		for _, hook := range h.hooks {
			if hook != w.hook {
				steps = append(steps, &delJump{family: h.family, name: name, hook: hook})
			}
		}
		jump := &addJump{family: w.family, name: name, hook: w.hook}
		if !slices.Contains(h.hooks, w.hook) {
			steps = append(steps, jump)
		} else {
			steps = append(steps, &keep{jump})
		}
	}
	return steps
}

// removeChainSteps removes the jumps to a chain, then the chain.
func removeChainSteps(name string, h firewallState) []step {
	var steps []step
	for _, hook := range h.hooks {
		steps = append(steps, &delJump{family: h.family, name: name, hook: hook})
	}
	if h.exists {
		steps = append(steps, &delChain{family: h.family, name: name, old: h.rules})
	}
	return steps
}

type setChain struct {
	family int
	name   string
	rules  [][]string
	old    firewallState
}

func (s *setChain) String() string {
	lines := make([]string, len(s.rules))
	for i, r := range s.rules {
		lines[i] = strings.Join(r, " ")
	}
	return fmt.Sprintf("set %s nat chain %s: %s", familyString(s.family), chainName(s.name), strings.Join(lines, "; "))
}

func (s *setChain) do(t *Tunnel) error {
	return t.fw.setChain(s.family, chainName(s.name), s.rules)
}

func (s *setChain) undo(t *Tunnel) error {
	if !s.old.exists {
		return t.fw.deleteChain(s.family, chainName(s.name))
	}
	return t.fw.setChain(s.family, chainName(s.name), s.old.rules)
}

type delChain struct {
	family int
	name   string
	old    [][]string
}

func (s *delChain) String() string {
	return fmt.Sprintf("delete %s nat chain %s", familyString(s.family), chainName(s.name))
}

func (s *delChain) do(t *Tunnel) error { return t.fw.deleteChain(s.family, chainName(s.name)) }

func (s *delChain) undo(t *Tunnel) error {
	return t.fw.setChain(s.family, chainName(s.name), s.old)
}

type addJump struct {
	family     int
	name, hook string
}

func (s *addJump) String() string {
	return fmt.Sprintf("add %s nat rule %s -j %s", familyString(s.family), s.hook, chainName(s.name))
}

func (s *addJump) do(t *Tunnel) error   { return t.fw.insert(s.family, s.hook, jumpRule(s.name)) }
func (s *addJump) undo(t *Tunnel) error { return t.fw.delete(s.family, s.hook, jumpRule(s.name)) }

type delJump addJump

func (s *delJump) String() string {
	return fmt.Sprintf("delete %s nat rule %s -j %s", familyString(s.family), s.hook, chainName(s.name))
}

func (s *delJump) do(t *Tunnel) error   { return (*addJump)(s).undo(t) }
func (s *delJump) undo(t *Tunnel) error { return (*addJump)(s).do(t) }
