//go:build linux

package transparent

import (
	"slices"
	"testing"

	"github.com/wgtransparent/transparent/internal/netfilter"
	"golang.org/x/sys/unix"
)

// kindOnly is a firewall of a kind, for the pure functions that look at
// nothing else; adopting is one that also adopts (as iptables does).
type kindOnly struct {
	netfilter.Driver
	kind string
}

func (k kindOnly) Kind() string { return k.kind }

type adopting struct{ kindOnly }

func (adopting) Created() []string                     { return nil }
func (adopting) Adopt([]string)                        {}
func (adopting) Prune(int, []string, bool) (err error) { return nil }

// TestMayCreate: an Up's record lists, before its first write, the nat
// table and hook chain of iptables-nft that its chain and jump may create
// and that do not exist yet; nothing for iptables-legacy or nf_tables.
func TestMayCreate(t *testing.T) {
	nft := kindOnly{kind: netfilter.KindIPTables + "-nft"}
	legacy := kindOnly{kind: netfilter.KindIPTables + "-legacy"}
	nftables := kindOnly{kind: netfilter.KindNftables}
	v4, v6 := unix.AF_INET, unix.AF_INET6
	steps := []step{
		&setChainStep{fw: nft, family: v4, name: "wg0"},
		&addJumpStep{fw: nft, family: v4, name: "wg0", hook: netfilter.HookOutbound},
		&setChainStep{fw: nft, family: v6, name: "wg0", old: netfilter.ChainState{NAT: []string{"ip6 nat"}}},
		&addJumpStep{fw: nft, family: v6, name: "wg0", hook: netfilter.HookInbound, nat: []string{"ip6 nat", "ip6 nat INPUT"}},
		&setChainStep{fw: legacy, family: v4, name: "wg0"},
		&addJumpStep{fw: legacy, family: v4, name: "wg0", hook: netfilter.HookOutbound},
		&setChainStep{fw: nftables, family: v4, name: "wg0"},
	}
	got := mayCreate(steps)
	if want := []string{"ip nat", "ip nat POSTROUTING"}; !slices.Equal(got, want) {
		t.Errorf("mayCreate = %q, want %q", got, want)
	}
}

// TestStrayNat: what the tunnel made in the nat table and no removal
// prunes (a crash came in between) gets a pruneNatStep; what a removal
// prunes, and what the tunnel did not make, does not.
func TestStrayNat(t *testing.T) {
	fw := adopting{kindOnly{kind: netfilter.KindIPTables + "-nft"}}
	out := netfilter.HookOutbound
	for _, c := range []struct {
		name  string
		h     netfilter.ChainState
		hooks []string
		table bool
	}{
		{"chain and jump there: their removals prune", netfilter.ChainState{Exists: true, Hooks: []string{out}, Made: []string{"ip nat", "ip nat POSTROUTING"}}, nil, false},
		{"chain gone: the table", netfilter.ChainState{Made: []string{"ip nat"}}, nil, true},
		{"jump gone: the hook chain", netfilter.ChainState{Exists: true, Made: []string{"ip nat", "ip nat POSTROUTING"}}, []string{out}, false},
		{"both gone", netfilter.ChainState{Made: []string{"ip nat", "ip nat POSTROUTING"}}, []string{out}, true},
		{"not made by the tunnel", netfilter.ChainState{NAT: []string{"ip nat", "ip nat POSTROUTING"}}, nil, false},
	} {
		c.h.Driver, c.h.Family = fw, unix.AF_INET
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
	// Only a firewall that adopts (iptables) prunes.
	if p := strayNat(netfilter.ChainState{Driver: kindOnly{kind: netfilter.KindNftables}, Family: unix.AF_INET, Made: []string{"ip nat"}}); p != nil {
		t.Errorf("nf_tables: %v, want no step", p)
	}
}
