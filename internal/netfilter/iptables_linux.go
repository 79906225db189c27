//go:build linux

package netfilter

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/wgtransparent/transparent/internal/sentinel"

	"github.com/coreos/go-iptables/iptables"
	"github.com/wgtransparent/transparent/internal/inet"
	"github.com/wgtransparent/transparent/internal/iptsave"
	"github.com/wgtransparent/transparent/internal/namespace"
	"golang.org/x/sys/unix"
)

// natTable is the table of the article's SNAT rules.
const natTable = "nat"

// IPTables runs iptables (through go-iptables) inside the tunnel's
// namespace: a child process belongs to the namespace of the thread that
// starts it.
type IPTables struct {
	ns      namespace.NS
	variant string // "", "-nft" or "-legacy": the suffix of the commands
	ipt     map[int]*iptables.IPTables
	made    []string // nat tables and chains its writes created (Created)
}

// newIPTables picks the iptables variant for want, inside ns.
func newIPTables(ns namespace.NS, want Want) (*IPTables, error) {
	fw := &IPTables{ns: ns, ipt: map[int]*iptables.IPTables{}}
	switch want {
	case WantIPTablesNFT:
		fw.variant = "-nft"
	case WantIPTablesLegacy:
		fw.variant = "-legacy"
	default:
		fw.variant = detectVariant(ns)
	}
	if _, err := exec.LookPath("iptables" + fw.variant); err != nil {
		return nil, fmt.Errorf("find iptables%s: %w (install the iptables package, such as `apt-get install iptables`)", fw.variant, errors.Join(err, sentinel.ErrFirewall))
	}
	return fw, nil
}

// detectVariant counts the rules that iptables-legacy and iptables-nft
// hold (IPv4 and IPv6, as kube-proxy's iptables wrapper does) and returns
// the suffix of the one holding more, else the system default's (see
// defaultVariant).
func detectVariant(ns namespace.NS) string {
	count := func(variant string) int {
		n := 0
		for _, cmd := range []string{"iptables" + variant + "-save", "ip6tables" + variant + "-save"} {
			var out []byte
			ns.Do(func() error {
				out, _ = exec.Command(cmd).Output() // a missing variant holds no rules
				return nil
			})
			for line := range bytes.Lines(out) {
				if bytes.HasPrefix(line, []byte("-A ")) {
					n++
				}
			}
		}
		return n
	}
	legacy, nft := count("-legacy"), count("-nft")
	switch {
	case legacy > nft:
		return "-legacy"
	case nft > legacy:
		return "-nft"
	}
	return defaultVariant()
}

// defaultVariant returns the suffix of the variant that `iptables` is
// (`iptables -V` says "nf_tables" or "legacy"), so that the record names
// one kind of firewall however it was chosen, or "" when it cannot tell.
func defaultVariant() string {
	out, _ := exec.Command("iptables", "-V").Output()
	for _, v := range []struct{ says, suffix string }{{"(nf_tables)", "-nft"}, {"(legacy)", "-legacy"}} {
		if bytes.Contains(out, []byte(v.says)) {
			if _, err := exec.LookPath("iptables" + v.suffix); err == nil {
				return v.suffix
			}
		}
	}
	return ""
}

func (fw *IPTables) Kind() string { return KindIPTables + fw.variant }

func (fw *IPTables) Where(family int, name string) string {
	return inet.FamilyName(family == unix.AF_INET6) + " nat chain " + chainName(name)
}

// chainName names the tunnel's chain; iptables allows 28 bytes, and Name
// has at most 15.
func chainName(name string) string { return "WGT-" + name }

// comment tags every rule the tunnel makes, so that a person reading
// `iptables-save` knows whose it is.
func comment(name string) []string {
	return []string{"-m", "comment", "--comment", "wgtransparent " + name}
}

// marked reports whether a rule's arguments carry the tunnel's comment.
func marked(name string, args []string) bool {
	mark := comment(name)
	for i := range args {
		if slices.Equal(args[i:min(i+len(mark), len(args))], mark) {
			return true
		}
	}
	return false
}

// jumpRule is the rule in a hook that sends packets to the chain.
func jumpRule(name string) []string {
	return append(comment(name), "-j", chainName(name))
}

// ruleArgs writes a SNAT rule as `iptables -S` prints it, so that what
// ReadChain reads back compares equal to what SetChain wrote.
func ruleArgs(name string, r NATRule) []string {
	if r.Other != "" {
		return iptsave.Split(r.Other)
	}
	// iptables-save leaves out a selector of length 0, which matches
	// every address anyway: so do the rules written, so that they read
	// back the same.
	var args []string
	if r.Src.Bits() != 0 {
		args = append(args, "-s", r.Src.String())
	}
	if r.Dst.Bits() != 0 {
		args = append(args, "-d", r.Dst.String())
	}
	args = append(args, comment(name)...)
	return append(args, "-j", "SNAT", "--to-source", r.To.String())
}

// parseRule reads one rule of the tunnel's chain back: one of ours if it
// is exactly what ruleArgs writes, else another's, kept as its text.
func parseRule(name string, args []string) NATRule {
	if n := len(args); n > 0 {
		if to, err := netip.ParseAddr(args[n-1]); err == nil {
			r := NATRule{Src: inet.AnyPrefix(inet.Family(to)), Dst: inet.AnyPrefix(inet.Family(to)), To: to}
			for i := 0; i+1 < n; i++ {
				switch args[i] {
				case "-s":
					r.Src, _ = netip.ParsePrefix(args[i+1])
				case "-d":
					r.Dst, _ = netip.ParsePrefix(args[i+1])
				}
			}
			if r.Src.IsValid() && r.Dst.IsValid() && slices.Equal(ruleArgs(name, r), args) {
				return r
			}
		}
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = iptsave.Quote(a)
	}
	return NATRule{Other: strings.Join(quoted, " ")}
}

// ReadChain reads the family's nat table with one iptables-save: the
// tunnel's chain and the hooks that jump to it.
func (fw *IPTables) ReadChain(family int, name string) (ChainState, error) {
	s := ChainState{Driver: fw, Family: family}
	table, err := fw.natTable(family)
	if err != nil {
		return s, fmt.Errorf("read %s nat table: %w", inet.FamilyName(family == unix.AF_INET6), err)
	}
	var rules [][]string
	rules, s.Exists = table[chainName(name)]
	for _, r := range rules {
		s.Rules = append(s.Rules, parseRule(name, r))
		if !marked(name, r) {
			s.Foreign = append(s.Foreign, "the rule "+parseRule(name, r).String())
		}
	}
	SortRules(s.Rules)
	s.NAT = fw.nftNatObjects(family)
	for _, o := range s.NAT {
		if slices.Contains(fw.made, o) {
			s.Made = append(s.Made, o)
		}
	}
	for _, hook := range []string{HookOutbound, HookInbound} {
		if slices.ContainsFunc(table[hook], func(r []string) bool { return slices.Equal(r, jumpRule(name)) }) {
			s.Hooks = append(s.Hooks, hook)
		}
	}
	return s, nil
}

func (fw *IPTables) Commands() CommandPrinter { return IPTablesCommands{} }

// iptablesCommands prints iptables commands.
type IPTablesCommands struct{}

func (IPTablesCommands) SetChainCommand(family int, name string, rules []NATRule, exists bool) string {
	chain := chainName(name)
	cmds := []string{iptablesCommand(family, "-N", chain)}
	if exists {
		cmds[0] = iptablesCommand(family, "-F", chain)
	}
	for _, r := range rules {
		cmds = append(cmds, iptablesCommand(family, append([]string{"-A", chain}, ruleArgs(name, r)...)...))
	}
	return strings.Join(cmds, " && ")
}

func (IPTablesCommands) DeleteChainCommand(family int, name string) string {
	chain := chainName(name)
	return iptablesCommand(family, "-F", chain) + " && " + iptablesCommand(family, "-X", chain)
}

func (IPTablesCommands) JumpCommand(family int, name, hook string, add bool) string {
	if add {
		return iptablesCommand(family, append([]string{"-I", hook, "1"}, jumpRule(name)...)...)
	}
	return iptablesCommand(family, append([]string{"-D", hook}, jumpRule(name)...)...)
}

func iptablesCommand(family int, args ...string) string {
	cmd := "iptables"
	if family == unix.AF_INET6 {
		cmd = "ip6tables"
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = iptsave.Quote(a)
	}
	return cmd + " -t nat " + strings.Join(quoted, " ")
}

// tables returns the go-iptables handle of a family, made on first use.
func (fw *IPTables) tables(family int) (*iptables.IPTables, error) {
	if ipt := fw.ipt[family]; ipt != nil {
		return ipt, nil
	}
	proto, cmd := iptables.ProtocolIPv4, "iptables"
	if family == unix.AF_INET6 {
		proto, cmd = iptables.ProtocolIPv6, "ip6tables"
	}
	ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Path(cmd+fw.variant))
	if err != nil {
		return nil, fmt.Errorf("use %s%s: %w (install the iptables package, such as `apt-get install iptables`)", cmd, fw.variant, errors.Join(err, sentinel.ErrFirewall))
	}
	fw.ipt[family] = ipt
	return ipt, nil
}

// run calls f with the family's handle on a thread in the namespace, and
// explains the usual failure of a kernel without NAT support.
func (fw *IPTables) run(family int, f func(*iptables.IPTables) error) error {
	ipt, err := fw.tables(family)
	if err != nil {
		return err
	}
	err = fw.ns.Do(func() error { return f(ipt) })
	if err := refusedByIPTables(err); errors.Is(err, os.ErrPermission) {
		return err // also "can't initialize", but no missing module
	}
	var e *iptables.Error
	if errors.As(err, &e) && (strings.Contains(e.Error(), "can't initialize") || strings.Contains(e.Error(), "Table does not exist")) {
		return fmt.Errorf("%w (the kernel has no %s NAT: load the nf_nat and iptable_nat or nft_chain_nat modules)", errors.Join(err, sentinel.ErrFirewall), inet.FamilyName(family == unix.AF_INET6))
	}
	return err
}

// iptablesNotPermitted is what iptables prints when the kernel refused it
// for want of privilege ("Permission denied (you must be root)").
const iptablesNotPermitted = "you must be root"

// refusedByIPTables makes an iptables failure whose output says it lacked
// privilege match os.ErrPermission, as the kernel's EPERM from netlink
// does, so that it is explained the same way (the capability missing),
// whatever the firewall. Other errors are returned as they are.
func refusedByIPTables(err error) error {
	if err == nil || !strings.Contains(err.Error(), iptablesNotPermitted) {
		return err
	}
	return notPermitted{err}
}

// notPermitted is an error that also matches os.ErrPermission.
type notPermitted struct{ err error }

func (e notPermitted) Error() string   { return e.err.Error() }
func (e notPermitted) Unwrap() []error { return []error{e.err, os.ErrPermission} }

// natTable reads the nat table with one iptables-save, rather than a
// process per chain. Reading creates nothing (unlike listing a table with
// iptables-nft, which can create it).
func (fw *IPTables) natTable(family int) (iptsave.Chains, error) {
	if _, err := fw.tables(family); err != nil { // the same checks and advice as the other commands
		return nil, err
	}
	cmd := "iptables" + fw.variant + "-save"
	if family == unix.AF_INET6 {
		cmd = "ip6tables" + fw.variant + "-save"
	}
	var out []byte
	err := fw.ns.Do(func() (err error) {
		out, err = exec.Command(cmd, "-t", natTable).Output()
		return err
	})
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, refusedByIPTables(fmt.Errorf("%s -t %s: %w", cmd, natTable, err))
	}
	return iptsave.Parse(string(out)), nil
}

// SetChain writes the whole chain with one iptables-restore --noflush,
// whatever the number of rules: declaring the chain creates it, or
// flushes it if it exists, and nothing else in the table changes. One
// process instead of one per rule, and the chain is replaced atomically.
func (fw *IPTables) SetChain(family int, name string, rules []NATRule) error {
	chain := chainName(name)
	var in strings.Builder
	fmt.Fprintf(&in, "*%s\n:%s - [0:0]\n", natTable, chain)
	for _, r := range rules {
		in.WriteString("-A " + chain)
		for _, arg := range ruleArgs(name, r) {
			in.WriteString(" " + iptsave.Quote(arg))
		}
		in.WriteString("\n")
	}
	in.WriteString("COMMIT\n")
	if _, err := fw.tables(family); err != nil { // the same checks and advice as the other commands
		return err
	}
	cmd := "iptables" + fw.variant + "-restore"
	if family == unix.AF_INET6 {
		cmd = "ip6tables" + fw.variant + "-restore"
	}
	return fw.noteMade(family, func() error {
		return fw.ns.Do(func() error {
			c := exec.Command(cmd, "--noflush", "--wait")
			c.Stdin = strings.NewReader(in.String())
			if out, err := c.CombinedOutput(); err != nil {
				return refusedByIPTables(fmt.Errorf("%s --noflush: %w: %s", cmd, err, bytes.TrimSpace(out)))
			}
			return nil
		})
	})
}

// DeleteChain deletes the chain, and then the nat table if the
// firewall made it and it is left without chains.
func (fw *IPTables) DeleteChain(family int, name string) error {
	err := fw.run(family, func(ipt *iptables.IPTables) error {
		exists, err := ipt.ChainExists(natTable, chainName(name))
		if err != nil || !exists {
			return err
		}
		return ipt.ClearAndDeleteChain(natTable, chainName(name))
	})
	if err != nil {
		return err
	}
	return fw.pruneTable(family)
}

func (fw *IPTables) AddJump(family int, name, hook string) error {
	return fw.noteMade(family, func() error {
		return fw.run(family, func(ipt *iptables.IPTables) error { return ipt.Insert(natTable, hook, 1, jumpRule(name)...) })
	})
}

// DelJump deletes the jump, and then the hook chain if the firewall made
// it and it is left empty.
func (fw *IPTables) DelJump(family int, name, hook string) error {
	err := fw.run(family, func(ipt *iptables.IPTables) error { return ipt.DeleteIfExists(natTable, hook, jumpRule(name)...) })
	if err != nil {
		return err
	}
	return fw.pruneHook(family, hook)
}
