package transparent

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMayCreate: an Up's record lists, before its first write, the nat
// table and hook chain of iptables-nft that its chain and jump may create
// and that do not exist yet; nothing for iptables-legacy or nf_tables.
func TestMayCreate(t *testing.T) {
	nft := &iptablesFirewall{variant: "-nft"}
	legacy := &iptablesFirewall{variant: "-legacy"}
	v4, v6 := unix.AF_INET, unix.AF_INET6
	steps := []step{
		&setChain{fw: nft, family: v4, name: "wg0"},
		&addJump{fw: nft, family: v4, name: "wg0", hook: hookOutbound},
		&setChain{fw: nft, family: v6, name: "wg0", old: firewallState{nat: []string{"ip6 nat"}}},
		&addJump{fw: nft, family: v6, name: "wg0", hook: hookInbound, nat: []string{"ip6 nat", "ip6 nat INPUT"}},
		&setChain{fw: legacy, family: v4, name: "wg0"},
		&addJump{fw: legacy, family: v4, name: "wg0", hook: hookOutbound},
	}
	got := mayCreate(steps)
	if want := []string{"ip nat", "ip nat POSTROUTING"}; !slices.Equal(got, want) {
		t.Errorf("mayCreate = %q, want %q", got, want)
	}
}

// TestStrayNat: what the tunnel made in the nat table and no removal
// prunes (a crash came in between) gets a pruneNat step; what a removal
// prunes, and what the tunnel did not make, does not.
func TestStrayNat(t *testing.T) {
	nft := &iptablesFirewall{variant: "-nft"}
	v4 := unix.AF_INET
	for _, c := range []struct {
		name  string
		h     firewallState
		hooks []string
		table bool
	}{
		{"chain and jump there: their removals prune", firewallState{exists: true, hooks: []string{hookOutbound}, made: []string{"ip nat", "ip nat POSTROUTING"}}, nil, false},
		{"chain gone: the table", firewallState{made: []string{"ip nat"}}, nil, true},
		{"jump gone: the hook chain", firewallState{exists: true, made: []string{"ip nat", "ip nat POSTROUTING"}}, []string{hookOutbound}, false},
		{"both gone", firewallState{made: []string{"ip nat", "ip nat POSTROUTING"}}, []string{hookOutbound}, true},
		{"not made by the tunnel", firewallState{nat: []string{"ip nat", "ip nat POSTROUTING"}}, nil, false},
	} {
		c.h.fw, c.h.family = nft, v4
		p := strayNat(c.h)
		if p == nil {
			if c.table || c.hooks != nil {
				t.Errorf("%s: no step, want hooks %q table %v", c.name, c.hooks, c.table)
			}
			continue
		}
		if !slices.Equal(p.hooks, c.hooks) || p.table != c.table {
			t.Errorf("%s: hooks %q table %v, want %q %v", c.name, p.hooks, p.table, c.hooks, c.table)
		}
	}
}
