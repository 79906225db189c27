//go:build linux

package transparent

import (
	"fmt"

	"github.com/wgtransparent/transparent/internal/namespace"
)

// Firewall selects what holds the SNAT rules.
type Firewall uint8

const (
	// FirewallAuto (the zero value) uses FirewallNftables when the kernel
	// has nf_tables, and otherwise the iptables variant that already holds
	// rules (as kube-proxy does: iptables-legacy when it holds more rules
	// than iptables-nft, and so on), else the system's `iptables`.
	FirewallAuto Firewall = iota
	// FirewallIPTablesNFT uses the commands iptables-nft and ip6tables-nft.
	FirewallIPTablesNFT
	// FirewallIPTablesLegacy uses the commands iptables-legacy and
	// ip6tables-legacy.
	FirewallIPTablesLegacy
	// FirewallNftables talks nf_tables netlink directly: the tunnel's own
	// tables `ip wgtransparent-<Name>` and `ip6 wgtransparent-<Name>`,
	// written in one atomic transaction and read with one dump, without
	// starting a process (docs/BENCHMARKS.md measures the difference).
	// `nft list ruleset` shows them.
	FirewallNftables
)

func (f Firewall) String() string {
	switch f {
	case FirewallAuto:
		return "auto"
	case FirewallIPTablesNFT:
		return "nft"
	case FirewallIPTablesLegacy:
		return "legacy"
	case FirewallNftables:
		return "nftables"
	}
	return fmt.Sprintf("Firewall(%d)", uint8(f))
}

// firewall holds the tunnel's SNAT rules in one place of one IP family: a
// chain of its own with the rules, and jumps to it from hooks (built-in
// chains). Every method works in the tunnel's namespace; what is already
// there (on add) or already gone (on delete) is fine.
type firewall interface {
	// kind names the firewall in the record of the last Up, so that a
	// later Up or Down with another one finds the old chain.
	kind() string
	// observe reads the tunnel's chain and the hooks that jump to it.
	observe(family int, name string) (firewallState, error)
	// setChain creates the chain if needed and makes it hold exactly rules.
	setChain(family int, name string, rules []natRule) error
	// deleteChain deletes the chain with its rules.
	deleteChain(family int, name string) error
	// addJump makes hook (hookOutbound or hookInbound) jump to the chain
	// first, before any other rule of that hook; delJump undoes it.
	addJump(family int, name, hook string) error
	delJump(family int, name, hook string) error
	// where names the chain in messages; commands gives the shell
	// equivalent of each method for Plan.
	where(family int, name string) string
	commands() firewallCommands
}

// adopter is a firewall that may remove, with the tunnel's chain, the
// tables and chains an earlier Up created (iptables-nft's nat table):
// adopt hands it the record's list.
type adopter interface {
	adopt(created []string)
}

// firewallCommands prints the shell equivalent of a firewall's writes.
type firewallCommands interface {
	setChain(family int, name string, rules []natRule, exists bool) string
	deleteChain(family int, name string) string
	jump(family int, name, hook string, add bool) string
}

// Kinds of firewall, as recorded.
const (
	kindNftables = "nftables"
	kindIPTables = "iptables" // followed by the variant's suffix, if any
)

// newFirewall opens the firewall want asks for in ns. FirewallAuto
// prefers nf_tables: it needs no process per read or write.
func newFirewall(ns namespace.NS, want Firewall) (firewall, error) {
	switch want {
	case FirewallNftables:
		return newNftables(ns)
	case FirewallAuto:
		if fw, err := newNftables(ns); err == nil {
			return fw, nil
		}
	}
	return newIPTables(ns, want)
}

// firewallOfKind opens the firewall a record names.
func firewallOfKind(ns namespace.NS, kind string) (firewall, error) {
	switch kind {
	case kindNftables:
		return newNftables(ns)
	case kindIPTables + "-nft":
		return newIPTables(ns, FirewallIPTablesNFT)
	case kindIPTables + "-legacy":
		return newIPTables(ns, FirewallIPTablesLegacy)
	}
	// "iptables", or a record from before the kind was recorded: those
	// releases had only iptables, and chose the variant as FirewallAuto
	// does between the iptables variants.
	return newIPTables(ns, FirewallAuto)
}
