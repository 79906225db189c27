//go:build linux

package transparent

import (
	"fmt"

	"github.com/wgtransparent/transparent/internal/netfilter"
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

// want is the firewall's choice for the drivers.
func (f Firewall) want() netfilter.Want {
	switch f {
	case FirewallIPTablesNFT:
		return netfilter.WantIPTablesNFT
	case FirewallIPTablesLegacy:
		return netfilter.WantIPTablesLegacy
	case FirewallNftables:
		return netfilter.WantNftables
	}
	return netfilter.WantAuto
}
