package main

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wgtransparent/transparent/internal/iptsave"
)

// iptMech is mechanism A: the library's own chain WGT-wg0 in the nat
// table, written with one iptables-restore --noflush per change and read
// with one iptables-save -t nat, for iptables-nft or iptables-legacy.
type iptMech struct {
	ns      *netns
	variant string // "nft" or "legacy"
}

func (m *iptMech) name() string { return "A-ipt-" + m.variant }

func (m *iptMech) restoreCmd() string { return "iptables-" + m.variant + "-restore" }
func (m *iptMech) saveCmd() string    { return "iptables-" + m.variant + "-save" }

// ruleArgs is the library's SNAT rule (firewall_iptables.go ruleArgs) after "-A CHAIN".
func ruleArgs(dst netip.Prefix) []string {
	return []string{"-s", netip.PrefixFrom(srcAddr, 32).String(), "-d", dst.String(),
		"-m", "comment", "--comment", commentTxt, "-j", "SNAT", "--to-source", toAddr.String()}
}

func jumpArgs() []string {
	return []string{"-m", "comment", "--comment", commentTxt, "-j", iptChain}
}

func writeLine(b *strings.Builder, prefix string, args []string) {
	b.WriteString(prefix)
	for _, a := range args {
		b.WriteString(" " + iptsave.Quote(a))
	}
	b.WriteByte('\n')
}

// chainInput declares the chain (which creates it, or flushes it with
// --noflush) and appends every rule; with jump, also inserts the jump at
// the top of POSTROUTING.
func chainInput(d []netip.Prefix, jump bool) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*nat\n:%s - [0:0]\n", iptChain)
	for _, p := range d {
		writeLine(&b, "-A "+iptChain, ruleArgs(p))
	}
	if jump {
		writeLine(&b, "-I POSTROUTING 1", jumpArgs())
	}
	b.WriteString("COMMIT\n")
	return []byte(b.String())
}

func (m *iptMech) restore(in []byte) (cost, error) {
	_, cpu, err := m.ns.run(in, m.restoreCmd(), "--noflush", "--wait")
	return cost{procs: 1, childCPU: cpu}, err
}

func (m *iptMech) write(d []netip.Prefix) (cost, error) {
	start := time.Now()
	c, err := m.restore(chainInput(d, true))
	c.dur = time.Since(start)
	return c, err
}

func (m *iptMech) read() (readResult, cost, error) {
	start := time.Now()
	out, cpu, err := m.ns.run(nil, m.saveCmd(), "-t", "nat")
	if err != nil {
		return readResult{}, cost{procs: 1}, err
	}
	chains := iptsave.Parse(string(out))
	var r readResult
	var derr error
	for _, args := range chains[iptChain] {
		dst, err := decodeIPTRule(args)
		if err != nil {
			derr = err
			break
		}
		r.dsts = append(r.dsts, dst)
	}
	r.jump = slices.ContainsFunc(chains["POSTROUTING"], func(a []string) bool { return slices.Equal(a, jumpArgs()) })
	return r, cost{dur: time.Since(start), procs: 1, childCPU: cpu}, derr
}

// decodeIPTRule checks that args is the library's rule and returns its
// destination.
func decodeIPTRule(args []string) (netip.Prefix, error) {
	if len(args) != len(ruleArgs(netip.Prefix{})) || args[1] != netip.PrefixFrom(srcAddr, 32).String() {
		return netip.Prefix{}, fmt.Errorf("unexpected rule %q", args)
	}
	dst, err := netip.ParsePrefix(args[3])
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("rule %q: %w", args, err)
	}
	if !slices.Equal(args, ruleArgs(dst)) {
		return netip.Prefix{}, fmt.Errorf("unexpected rule %q", args)
	}
	return dst, nil
}

func (m *iptMech) replaces() []op {
	return []op{{name: "replace", run: func(_, to []netip.Prefix) (cost, error) {
		start := time.Now()
		c, err := m.restore(chainInput(to, false))
		c.dur = time.Since(start)
		return c, err
	}}}
}

// remove deletes the jump and the chain in one iptables-restore.
func (m *iptMech) remove() (cost, error) {
	start := time.Now()
	var b strings.Builder
	b.WriteString("*nat\n")
	writeLine(&b, "-D POSTROUTING", jumpArgs())
	fmt.Fprintf(&b, "-F %s\n-X %s\nCOMMIT\n", iptChain, iptChain)
	c, err := m.restore([]byte(b.String()))
	c.dur = time.Since(start)
	return c, err
}

func (m *iptMech) empty() error {
	out, _, err := m.ns.run(nil, m.saveCmd(), "-t", "nat")
	if err != nil {
		return err
	}
	chains := iptsave.Parse(string(out))
	if _, ok := chains[iptChain]; ok {
		return errors.New("chain " + iptChain + " still exists")
	}
	if len(chains["POSTROUTING"]) > 0 {
		return fmt.Errorf("POSTROUTING still has rules: %q", chains["POSTROUTING"])
	}
	return nil
}
