//go:build linux

package netfilter

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wgtransparent/transparent/internal/sentinel"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"github.com/wgtransparent/transparent/internal/namespace"
	"golang.org/x/sys/unix"
)

// NFTables keeps the SNAT rules in nf_tables, in a table of the
// tunnel's own per IP family, through netlink (no process):
//
//	table ip wgtransparent-wg0 {
//		set prefixes_0 {
//			type ipv4_addr
//			flags interval
//			elements = { 198.18.0.2, 198.18.0.4, 203.0.113.2 }
//		}
//		chain snat_rules {
//			ip saddr 10.0.0.1 ip daddr @prefixes_0 snat to 198.51.100.1
//		}
//		chain postrouting {
//			type nat hook postrouting priority srcnat - 1; policy accept;
//			jump snat_rules
//		}
//	}
//
// The chain is "snat_rules" ("snat" is a keyword of nft); a rule with
// more than one destination (or source) looks them up in a set
// (nftRule). A jump from a hook is a base chain named after the
// hook that holds only `jump snat_rules`. Everything in the table is the
// tunnel's, so Down deletes the table.
type NFTables struct {
	ns namespace.NS
}

const (
	// nftTablePrefix starts the tunnel's table name, followed by Name.
	nftTablePrefix = "wgtransparent-"
	// nftChain holds the SNAT rules, as WGT-<Name> does with iptables.
	nftChain = "snat_rules"
	// nftPriority orders the jump base chains among the nat hooks: one
	// before srcnat (100), where iptables' nat chains run, so the tunnel's
	// rules come first, as the article's `iptables -I` puts its rule
	// first.
	nftPriority = 99
)

// newNftables opens nf_tables in ns, and fails with ErrFirewall on a
// kernel without it.
func newNftables(ns namespace.NS) (*NFTables, error) {
	fw := &NFTables{ns: ns}
	conn, err := fw.conn()
	if err == nil {
		_, err = conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	}
	if err != nil {
		return nil, fmt.Errorf("use nf_tables: %w (the kernel needs nf_tables; or choose WithFirewall(FirewallIPTablesNFT) or FirewallIPTablesLegacy for iptables)", errors.Join(err, sentinel.ErrFirewall))
	}
	return fw, nil
}

// conn opens a netlink connection to nf_tables in the tunnel's namespace.
func (fw *NFTables) conn(opts ...nftables.ConnOption) (*nftables.Conn, error) {
	return nftables.New(append(fw.ns.NFTOptions(), opts...)...)
}

// Per rule of a transaction: more than its message takes (an IPv6 rule
// with both masks is about 400 bytes), and more than the kernel charges
// the receive buffer for its acknowledgment (a small message in a buffer
// of about a kilobyte).
const (
	nftRuleSendBytes = 512
	nftRuleAckBytes  = 2048
)

// buffersFor makes the socket's buffers hold a transaction of n rules and
// the kernel's acknowledgments of it. The kernel refuses a message longer
// than the send buffer (EMSGSIZE) and drops what does not fit the receive
// buffer (ENOBUFS); the defaults (net.core.wmem_default and rmem_default,
// about 200 KiB) hold some hundreds of rules. Like nft, the firewall
// forces larger ones (SO_SNDBUFFORCE and SO_RCVBUFFORCE, allowed to
// CAP_NET_ADMIN, which writing rules needs anyway) rather than split the
// transaction and lose its atomicity.
func buffersFor(n int) nftables.ConnOption {
	send, recv := 256<<10+n*nftRuleSendBytes, 256<<10+n*nftRuleAckBytes
	return nftables.WithSockOptions(func(c *netlink.Conn) error {
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var opErr error
		if err := raw.Control(func(fd uintptr) {
			opErr = errors.Join(
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, send),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recv))
		}); err != nil {
			return err
		}
		if opErr != nil {
			return fmt.Errorf("size the netlink buffers for %d rules: %w", n, opErr)
		}
		return nil
	})
}

func (fw *NFTables) Kind() string { return KindNftables }

// nftFamily returns the table family of an IP family, and the name nft
// gives it.
func nftFamily(family int) (nftables.TableFamily, string) {
	if family == unix.AF_INET6 {
		return nftables.TableFamilyIPv6, "ip6"
	}
	return nftables.TableFamilyIPv4, "ip"
}

func nftTable(family int, name string) *nftables.Table {
	tf, _ := nftFamily(family)
	return &nftables.Table{Name: nftTablePrefix + name, Family: tf}
}

// hookChain is the base chain that jumps to the chain from hook.
func hookChain(table *nftables.Table, hook string) *nftables.Chain {
	h := nftables.ChainHookPostrouting
	if hook == HookInbound {
		h = nftables.ChainHookInput
	}
	return &nftables.Chain{
		Name: strings.ToLower(hook), Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: h, Priority: nftables.ChainPriorityRef(nftPriority),
	}
}

// nftMark is the comment (nft's rule userdata) on every rule the tunnel
// makes in its table, the same as on its iptables rules: `nft list
// ruleset` shows it, and ReadChain tells the tunnel's table from one that
// someone else made with its name, which the tunnel must not touch.
func nftMark(table *nftables.Table) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, comment(strings.TrimPrefix(table.Name, nftTablePrefix))[3])
}

func (fw *NFTables) Where(family int, name string) string {
	_, f := nftFamily(family)
	return fmt.Sprintf("nftables chain %s %s%s %s", f, nftTablePrefix, name, nftChain)
}

// flush sends the queued messages as one transaction: all or nothing.
func flush(conn *nftables.Conn, what string) error {
	if err := conn.Flush(); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) { // no SNAT expression
			err = noNAT(err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// noNAT explains an error of a kernel without nf_tables NAT.
func noNAT(err error) error {
	return fmt.Errorf("%w (the kernel has no nf_tables NAT: load nft_chain_nat and nft_nat)", errors.Join(err, sentinel.ErrFirewall))
}

// ReadChain reads the tunnel's table of the family: its chain's rules and
// the base chains that jump to it.
func (fw *NFTables) ReadChain(family int, name string) (ChainState, error) {
	s := ChainState{Driver: fw, Family: family}
	conn, err := fw.conn()
	if err != nil {
		return s, err
	}
	table := nftTable(family, name)
	if _, err := conn.ListTableOfFamily(table.Name, table.Family); errors.Is(err, unix.ENOENT) {
		return s, nil
	} else if err != nil {
		return s, fmt.Errorf("read nftables table %s: %w", table.Name, err)
	}
	s.Exists = true
	chains, err := conn.ListChainsOfTableFamily(table.Family) // the kernel lists a whole family's
	if err != nil {
		return s, fmt.Errorf("list nftables chains: %w", err)
	}
	sets, err := conn.GetSets(table)
	if err != nil {
		return s, fmt.Errorf("list the sets of nftables table %s: %w", table.Name, err)
	}
	for _, set := range sets {
		if !strings.HasPrefix(set.Name, nftSetPrefix) {
			s.Foreign = append(s.Foreign, "set "+set.Name)
		}
	}
	for _, c := range chains {
		if c.Table.Name != table.Name {
			continue
		}
		if c.Name != nftChain && c.Name != strings.ToLower(HookOutbound) && c.Name != strings.ToLower(HookInbound) {
			s.Foreign = append(s.Foreign, "chain "+c.Name)
			continue
		}
		rules, err := conn.GetRules(table, c)
		if err != nil {
			return s, fmt.Errorf("list rules of %s: %w", fw.Where(family, name), err)
		}
		for _, r := range rules {
			if !bytes.Equal(r.UserData, nftMark(table)) {
				s.Unmarked = append(s.Unmarked, fmt.Sprintf("a rule in chain %s without the comment %q", c.Name, comment(name)[3]))
			}
		}
		if c.Name == nftChain {
			for _, r := range rules {
				s.Rules = append(s.Rules, parseNftRule(conn, table, family, r)...)
			}
			SortRules(s.Rules)
			continue
		}
		for _, hook := range []string{HookOutbound, HookInbound} {
			if isJumpChain(c, hookChain(table, hook), rules) {
				s.Hooks = append(s.Hooks, hook)
			}
		}
	}
	return s, nil
}

// isJumpChain reports whether c is the base chain want, holding only the
// jump to the tunnel's chain.
func isJumpChain(c, want *nftables.Chain, rules []*nftables.Rule) bool {
	if c.Name != want.Name || c.Type != want.Type || c.Hooknum == nil || *c.Hooknum != *want.Hooknum ||
		c.Priority == nil || *c.Priority != *want.Priority || len(rules) != 1 || len(rules[0].Exprs) != 1 {
		return false
	}
	v, ok := rules[0].Exprs[0].(*expr.Verdict)
	return ok && v.Kind == expr.VerdictJump && v.Chain == nftChain
}

// SetChain creates the table and chain if needed and replaces the
// chain's rules and sets, in one transaction.
func (fw *NFTables) SetChain(family int, name string, rules []NATRule) error {
	conn, err := fw.conn(buffersFor(len(rules)))
	if err != nil {
		return err
	}
	table := nftTable(family, name)
	var old []*nftables.Set
	if _, err := conn.ListTableOfFamily(table.Name, table.Family); err == nil {
		if old, err = conn.GetSets(table); err != nil {
			return fmt.Errorf("list the sets of nftables table %s: %w", table.Name, err)
		}
	} else if !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("read nftables table %s: %w", table.Name, err)
	}
	conn.AddTable(table)
	chain := conn.AddChain(&nftables.Chain{Name: nftChain, Table: table})
	conn.FlushChain(chain) // the rules go first, so that nothing uses the old sets
	for _, s := range old {
		conn.DelSet(s)
	}
	sets := 0
	for _, r := range groupRules(rules) {
		if err := addNftRule(conn, chain, family, r, &sets); err != nil {
			return fmt.Errorf("set %s: %w", fw.Where(family, name), err)
		}
	}
	return flush(conn, "set "+fw.Where(family, name))
}

// DeleteChain deletes the tunnel's table: the chain and any jump left.
func (fw *NFTables) DeleteChain(family int, name string) error {
	conn, err := fw.conn()
	if err != nil {
		return err
	}
	conn.DelTable(nftTable(family, name))
	if err := flush(conn, "delete nftables table "+nftTablePrefix+name); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// AddJump creates the hook's base chain holding only the jump.
func (fw *NFTables) AddJump(family int, name, hook string) error {
	conn, err := fw.conn()
	if err != nil {
		return err
	}
	table := conn.AddTable(nftTable(family, name))
	base := conn.AddChain(hookChain(table, hook))
	conn.FlushChain(base)
	conn.AddRule(&nftables.Rule{Table: table, Chain: base, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: nftChain}}, UserData: nftMark(table)})
	err = flush(conn, fmt.Sprintf("add jump from %s to %s", hook, fw.Where(family, name)))
	if errors.Is(err, unix.ENOENT) { // no chain type nat
		return noNAT(err)
	}
	return err
}

// DelJump deletes the hook's base chain.
func (fw *NFTables) DelJump(family int, name, hook string) error {
	conn, err := fw.conn()
	if err != nil {
		return err
	}
	base := hookChain(nftTable(family, name), hook)
	conn.FlushChain(base)
	conn.DelChain(base)
	if err := flush(conn, fmt.Sprintf("delete jump from %s to %s", hook, fw.Where(family, name))); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

func (fw *NFTables) Commands() CommandPrinter { return NFTCommands{} }

// nftCommands prints nft commands: one nft call per transaction, as the
// firewall sends it.
type NFTCommands struct{}

func nftScript(cmds ...string) string { return "nft '" + strings.Join(cmds, "; ") + "'" }

func (NFTCommands) SetChainCommand(family int, name string, rules []NATRule, _ bool) string {
	_, f := nftFamily(family)
	table := f + " " + nftTablePrefix + name
	cmds := []string{"add table " + table, "add chain " + table + " " + nftChain, "flush chain " + table + " " + nftChain}
	list := func(ps []netip.Prefix) string {
		if len(ps) == 1 {
			return ps[0].String()
		}
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.String()
		}
		return "{ " + strings.Join(s, ", ") + " }"
	}
	for _, r := range groupRules(rules) {
		cmds = append(cmds, fmt.Sprintf("add rule %s %s %s saddr %s %s daddr %s snat to %s comment %q", table, nftChain, f, list(r.srcs), f, list(r.dsts), r.to, comment(name)[3]))
	}
	return nftScript(cmds...)
}

func (NFTCommands) DeleteChainCommand(family int, name string) string {
	_, f := nftFamily(family)
	return nftScript("delete table " + f + " " + nftTablePrefix + name)
}

func (NFTCommands) JumpCommand(family int, name, hook string, add bool) string {
	_, f := nftFamily(family)
	chain := f + " " + nftTablePrefix + name + " " + strings.ToLower(hook)
	if !add {
		return nftScript("flush chain "+chain, "delete chain "+chain)
	}
	return nftScript(
		fmt.Sprintf("add chain %s { type nat hook %s priority %d; }", chain, strings.ToLower(hook), nftPriority),
		"flush chain "+chain, fmt.Sprintf("add rule %s jump %s comment %q", chain, nftChain, comment(name)[3]))
}
