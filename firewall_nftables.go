package transparent

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftablesFirewall keeps the SNAT rules in nf_tables, in a table of the
// tunnel's own per IP family, through netlink (no process):
//
//	table ip wgtransparent-wg0 {
//		chain snat_rules {
//			ip saddr 10.0.0.1 ip daddr 203.0.113.2 snat to 198.51.100.1
//		}
//		chain postrouting {
//			type nat hook postrouting priority 99; policy accept;
//			jump snat_rules
//		}
//	}
//
// The chain is "snat_rules" ("snat" is a keyword of nft); a jump from a
// hook is a base chain named after the hook that holds only `jump
// snat_rules`. Everything in the table is the tunnel's, so Down deletes
// the table.
type nftablesFirewall struct {
	ns netNS
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
func newNftables(ns netNS) (*nftablesFirewall, error) {
	fw := &nftablesFirewall{ns: ns}
	conn, err := fw.conn()
	if err == nil {
		_, err = conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	}
	if err != nil {
		return nil, fmt.Errorf("use nf_tables: %w (the kernel needs nf_tables; or choose WithFirewall(FirewallNFT) or FirewallLegacy for iptables)", errors.Join(err, ErrFirewall))
	}
	return fw, nil
}

// conn opens a netlink connection to nf_tables in the tunnel's namespace.
func (fw *nftablesFirewall) conn(opts ...nftables.ConnOption) (*nftables.Conn, error) {
	return nftables.New(append([]nftables.ConnOption{nftables.WithNetNSFd(int(fw.ns.handle))}, opts...)...)
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

func (fw *nftablesFirewall) kind() string { return kindNftables }

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
	if hook == hookInbound {
		h = nftables.ChainHookInput
	}
	return &nftables.Chain{
		Name: strings.ToLower(hook), Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: h, Priority: nftables.ChainPriorityRef(nftPriority),
	}
}

func (fw *nftablesFirewall) where(family int, name string) string {
	_, f := nftFamily(family)
	return fmt.Sprintf("nftables chain %s %s%s %s", f, nftTablePrefix, name, nftChain)
}

// flush sends the queued messages as one transaction: all or nothing.
func flush(conn *nftables.Conn, what string) error {
	if err := conn.Flush(); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOENT) && strings.Contains(what, "jump") {
			err = fmt.Errorf("%w (the kernel has no nf_tables NAT: load nft_chain_nat and nft_nat)", errors.Join(err, ErrFirewall))
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// observe reads the tunnel's table of the family: its chain's rules and
// the base chains that jump to it.
func (fw *nftablesFirewall) observe(family int, name string) (firewallState, error) {
	s := firewallState{fw: fw, family: family}
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
	s.exists = true
	chains, err := conn.ListChainsOfTableFamily(table.Family) // the kernel lists a whole family's
	if err != nil {
		return s, fmt.Errorf("list nftables chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name != table.Name {
			continue
		}
		rules, err := conn.GetRules(table, c)
		if err != nil {
			return s, fmt.Errorf("list rules of %s: %w", fw.where(family, name), err)
		}
		if c.Name == nftChain {
			for _, r := range rules {
				s.rules = append(s.rules, parseExprs(family, r))
			}
			continue
		}
		for _, hook := range []string{hookOutbound, hookInbound} {
			if isJumpChain(c, hookChain(table, hook), rules) {
				s.hooks = append(s.hooks, hook)
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

// setChain creates the table and chain if needed and replaces the
// chain's rules, in one transaction. A rule read back that the tunnel did
// not write (other) cannot be written again and is left out.
func (fw *nftablesFirewall) setChain(family int, name string, rules []natRule) error {
	conn, err := fw.conn(buffersFor(len(rules)))
	if err != nil {
		return err
	}
	table := conn.AddTable(nftTable(family, name))
	chain := conn.AddChain(&nftables.Chain{Name: nftChain, Table: table})
	conn.FlushChain(chain)
	for _, r := range rules {
		if r.other == "" {
			conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: ruleExprs(family, r)})
		}
	}
	return flush(conn, "set "+fw.where(family, name))
}

// deleteChain deletes the tunnel's table: the chain and any jump left.
func (fw *nftablesFirewall) deleteChain(family int, name string) error {
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

// addJump creates the hook's base chain holding only the jump.
func (fw *nftablesFirewall) addJump(family int, name, hook string) error {
	conn, err := fw.conn()
	if err != nil {
		return err
	}
	table := conn.AddTable(nftTable(family, name))
	base := conn.AddChain(hookChain(table, hook))
	conn.FlushChain(base)
	conn.AddRule(&nftables.Rule{Table: table, Chain: base, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: nftChain}}})
	return flush(conn, fmt.Sprintf("add jump from %s to %s", hook, fw.where(family, name)))
}

// delJump deletes the hook's base chain.
func (fw *nftablesFirewall) delJump(family int, name, hook string) error {
	conn, err := fw.conn()
	if err != nil {
		return err
	}
	base := hookChain(nftTable(family, name), hook)
	conn.FlushChain(base)
	conn.DelChain(base)
	if err := flush(conn, fmt.Sprintf("delete jump from %s to %s", hook, fw.where(family, name))); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// Where the addresses are in the IPv4 and IPv6 headers.
const (
	ip4Src, ip4Dst, ip4Len = 12, 16, 4
	ip6Src, ip6Dst, ip6Len = 8, 24, 16
)

func headerFields(family int) (src, dst, size uint32) {
	if family == unix.AF_INET6 {
		return ip6Src, ip6Dst, ip6Len
	}
	return ip4Src, ip4Dst, ip4Len
}

// ruleExprs writes a SNAT rule as nft writes `ip saddr SRC ip daddr DST
// snat to TO`: load each address into register 1, mask it when the
// prefix is shorter than the address, compare; then SNAT to the address
// in register 1.
func ruleExprs(family int, r natRule) []expr.Any {
	src, dst, size := headerFields(family)
	match := func(offset uint32, p netip.Prefix) []expr.Any {
		e := []expr.Any{&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size}}
		if p.Bits() < int(size)*8 {
			e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: prefixMask(p), Xor: make([]byte, size)})
		}
		return append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()})
	}
	nfproto := uint32(unix.NFPROTO_IPV4)
	if family == unix.AF_INET6 {
		nfproto = unix.NFPROTO_IPV6
	}
	e := append(match(src, r.src), match(dst, r.dst)...)
	return append(e,
		&expr.Immediate{Register: 1, Data: r.to.AsSlice()},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: nfproto, RegAddrMin: 1})
}

// prefixMask is the netmask of p, as bytes.
func prefixMask(p netip.Prefix) []byte {
	mask := make([]byte, p.Addr().BitLen()/8)
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return mask
}

// parseExprs reads back a rule of the chain: a SNAT rule as ruleExprs
// writes it, or anything else as other.
func parseExprs(family int, rule *nftables.Rule) natRule {
	src, dst, _ := headerFields(family)
	var r natRule
	var offset uint32
	var mask []byte
	ok := true
	for _, e := range rule.Exprs {
		switch e := e.(type) {
		case *expr.Payload:
			offset, mask = e.Offset, nil
			ok = ok && e.Base == expr.PayloadBaseNetworkHeader && e.DestRegister == 1
		case *expr.Bitwise:
			mask = e.Mask
			ok = ok && e.SourceRegister == 1 && e.DestRegister == 1 && !slices.ContainsFunc(e.Xor, func(b byte) bool { return b != 0 })
		case *expr.Cmp:
			p, good := maskedPrefix(e.Data, mask)
			ok = ok && good && e.Op == expr.CmpOpEq
			switch offset {
			case src:
				r.src = p
			case dst:
				r.dst = p
			default:
				ok = false
			}
		case *expr.Immediate:
			r.to, _ = netip.AddrFromSlice(e.Data)
		case *expr.NAT:
			ok = ok && e.Type == expr.NATTypeSourceNAT && e.RegAddrMin == 1 && e.RegAddrMax <= 1 && e.RegProtoMin == 0 &&
				!e.Random && !e.FullyRandom && !e.Persistent && !e.Prefix && !e.Specified
		default:
			ok = false
		}
	}
	if ok && r.src.IsValid() && r.dst.IsValid() && r.to.IsValid() && equalExprs(family, r, rule.Exprs) {
		return r
	}
	return natRule{other: fmt.Sprintf("a rule the tunnel did not write (handle %d)", rule.Handle)}
}

// maskedPrefix is the prefix that an address compared under mask
// matches; mask nil is the whole address.
func maskedPrefix(data, mask []byte) (netip.Prefix, bool) {
	addr, ok := netip.AddrFromSlice(data)
	if !ok {
		return netip.Prefix{}, false
	}
	bits := addr.BitLen()
	if mask != nil {
		bits = 0
		for _, b := range mask {
			for i := 7; i >= 0 && b&(1<<i) != 0; i-- {
				bits++
			}
		}
	}
	p := netip.PrefixFrom(addr, bits)
	return p, mask == nil || string(prefixMask(p)) == string(mask)
}

// equalExprs checks that r written again gives the same expressions, so
// that a rule with extra or reordered parts does not pass as the
// tunnel's.
func equalExprs(family int, r natRule, have []expr.Any) bool {
	want := ruleExprs(family, r)
	if len(want) != len(have) {
		return false
	}
	for i := range want {
		if fmt.Sprintf("%T", want[i]) != fmt.Sprintf("%T", have[i]) {
			return false
		}
	}
	return true
}

func (fw *nftablesFirewall) commands() firewallCommands { return nftCommands{} }

// nftCommands prints nft commands: one nft call per transaction, as the
// firewall sends it.
type nftCommands struct{}

func nftScript(cmds ...string) string { return "nft '" + strings.Join(cmds, "; ") + "'" }

func (nftCommands) setChain(family int, name string, rules []natRule, _ bool) string {
	_, f := nftFamily(family)
	table := f + " " + nftTablePrefix + name
	cmds := []string{"add table " + table, "add chain " + table + " " + nftChain, "flush chain " + table + " " + nftChain}
	for _, r := range rules {
		if r.other == "" {
			cmds = append(cmds, fmt.Sprintf("add rule %s %s %s saddr %s %s daddr %s snat to %s", table, nftChain, f, r.src, f, r.dst, r.to))
		}
	}
	return nftScript(cmds...)
}

func (nftCommands) deleteChain(family int, name string) string {
	_, f := nftFamily(family)
	return nftScript("delete table " + f + " " + nftTablePrefix + name)
}

func (nftCommands) jump(family int, name, hook string, add bool) string {
	_, f := nftFamily(family)
	chain := f + " " + nftTablePrefix + name + " " + strings.ToLower(hook)
	if !add {
		return nftScript("flush chain "+chain, "delete chain "+chain)
	}
	return nftScript(
		fmt.Sprintf("add chain %s { type nat hook %s priority %d; }", chain, strings.ToLower(hook), nftPriority),
		"flush chain "+chain, "add rule "+chain+" jump "+nftChain)
}
