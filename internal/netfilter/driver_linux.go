//go:build linux

package netfilter

import (
	"fmt"
	"net/netip"

	"github.com/wgtransparent/transparent/internal/namespace"
)

// Want is the firewall a tunnel asks for.
type Want uint8

// The firewalls to ask for.
const (
	// Auto uses nf_tables when the kernel has it, else the iptables
	// variant that already holds rules.
	WantAuto           Want = iota
	WantIPTablesNFT         // the commands iptables-nft and ip6tables-nft
	WantIPTablesLegacy      // the commands iptables-legacy and ip6tables-legacy
	WantNftables            // nf_tables netlink, in the tunnel's own tables
)

// Built-in chains of the nat table that jump to the tunnel's chain.
const (
	HookOutbound = "POSTROUTING" // SNATOutbound: after routing, before the packet leaves
	HookInbound  = "INPUT"       // SNATInbound: before the packet reaches a local socket
)

// NATRule is one of the article's SNAT rules: packets from Src to Dst
// leave with the source address To. A rule read back that the tunnel did
// not write has only Other, its text, and equals no wanted rule.
type NATRule struct {
	Src, Dst netip.Prefix
	To       netip.Addr
	Other    string
}

func (r NATRule) String() string {
	if r.Other != "" {
		return r.Other
	}
	return fmt.Sprintf("from %s to %s: SNAT to %s", r.Src, r.Dst, r.To)
}

// ChainState is the tunnel's chain in one family of one firewall, as
// the kernel has it.
type ChainState struct {
	Driver Driver
	Family int
	Exists bool
	Rules  []NATRule
	Hooks  []string // the hooks that jump to the chain
	// What the tunnel did not make in its table or chain: Foreign are
	// objects it never makes; Unmarked are rules without its comment,
	// which only a release before the comment made (NotOurs).
	Foreign, Unmarked []string
	// With iptables-nft: NAT lists the family's nat table and its chains
	// that exist (MadeKeys), and Made those of them that the tunnel's Ups
	// created (Adopter).
	NAT, Made []string
}

// Driver holds the tunnel's SNAT rules in one place of one IP family: a
// chain of its own with the rules, and jumps to it from hooks (built-in
// chains). Every method works in the tunnel's namespace; what is already
// there (on add) or already gone (on delete) is fine.
type Driver interface {
	// Kind names the firewall in the record of the last Up, so that a
	// later Up or Down with another one finds the old chain.
	Kind() string
	// ReadChain reads the tunnel's chain and the hooks that jump to it.
	ReadChain(family int, name string) (ChainState, error)
	// SetChain creates the chain if needed and makes it hold exactly rules.
	SetChain(family int, name string, rules []NATRule) error
	// DeleteChain deletes the chain with its rules.
	DeleteChain(family int, name string) error
	// AddJump makes hook (HookOutbound or HookInbound) jump to the chain
	// first, before any other rule of that hook; DelJump undoes it.
	AddJump(family int, name, hook string) error
	DelJump(family int, name, hook string) error
	// Where names the chain in messages; Commands gives the shell
	// equivalent of each method for Plan.
	Where(family int, name string) string
	Commands() CommandPrinter
}

// Adopter is a driver whose writes may create tables and chains beside
// the tunnel's chain (iptables-nft's nat table), which it removes with the
// chain: Created lists those its writes created and that still stand, for
// the record; Adopt hands it the record's list of an earlier process.
// Prune removes what it created in a family's nat table and left empty:
// the given hook chains, then, with table, the table when it holds no
// chain. A removal prunes by itself; Prune is for what a crash left
// between a removal and its pruning.
type Adopter interface {
	Created() []string
	Adopt(created []string)
	Prune(family int, hooks []string, table bool) error
}

// CommandPrinter prints the shell equivalent of a firewall's writes.
type CommandPrinter interface {
	SetChainCommand(family int, name string, rules []NATRule, exists bool) string
	DeleteChainCommand(family int, name string) string
	JumpCommand(family int, name, hook string, add bool) string
}

// Kinds of firewall, as recorded.
const (
	KindNftables = "nftables"
	KindIPTables = "iptables" // followed by the variant's suffix, if any
)

// Announced reports whether the kernel announces changes to the firewall
// of kind on the nf_tables netlink group: nf_tables and iptables-nft,
// which writes nf_tables objects, do; iptables-legacy does not (nor an
// iptables whose variant is unknown), so its chains must be read to find
// what someone else changed.
func Announced(kind string) bool {
	return kind == KindNftables || kind == KindIPTables+"-nft"
}

// Open opens the firewall want asks for in ns. WantAuto prefers
// nf_tables: it needs no process per read or write.
func Open(ns namespace.NS, want Want) (Driver, error) {
	switch want {
	case WantNftables:
		return newNftables(ns)
	case WantAuto:
		if fw, err := newNftables(ns); err == nil {
			return fw, nil
		}
	}
	return newIPTables(ns, want)
}

// OpenKind opens the firewall a record names (its Kind).
func OpenKind(ns namespace.NS, kind string) (Driver, error) {
	switch kind {
	case KindNftables:
		return newNftables(ns)
	case KindIPTables + "-nft":
		return newIPTables(ns, WantIPTablesNFT)
	case KindIPTables + "-legacy":
		return newIPTables(ns, WantIPTablesLegacy)
	}
	// "iptables", or a record from before the kind was recorded: those
	// releases had only iptables, and chose the variant as WantAuto
	// does between the iptables variants.
	return newIPTables(ns, WantAuto)
}
