//go:build linux

package transparent

import (
	"slices"

	"github.com/wgtransparent/transparent/internal/netfilter"
)

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
