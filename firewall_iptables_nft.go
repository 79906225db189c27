//go:build linux

package transparent

import (
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// iptables-nft keeps the nat table in nf_tables, as `table ip nat` (and
// ip6), which it creates on first use with the built-in chains it needs
// (`chain POSTROUTING`, a base chain): removing the tunnel's rules and
// chain leaves those. So the firewall notes what its writes created
// (made), the record of the last Up keeps it (record.Created), and when
// the tunnel's jump goes, so does a hook chain it made that is empty,
// and when its chain goes, so does a nat table it made that holds no
// chain. What existed before stays, however empty.

// madeKey names a nat table or one of its chains that the tunnel created:
// "ip nat", "ip nat POSTROUTING".
func madeKey(family int, chain string) string {
	_, f := nftFamily(family)
	return strings.TrimSpace(f + " " + natTable + " " + chain)
}

// nftNatObjects lists the nat table of the family and its chains as
// madeKeys, when the variant keeps them in nf_tables (iptables-nft);
// otherwise, or when they cannot be read, nil.
func (fw *iptablesFirewall) nftNatObjects(family int) []string {
	if fw.variant != "-nft" {
		return nil
	}
	conn, err := nftables.New(fw.ns.nftOptions()...)
	if err != nil {
		return nil
	}
	tf, _ := nftFamily(family)
	if _, err := conn.ListTableOfFamily(natTable, tf); err != nil {
		return nil
	}
	objs := []string{madeKey(family, "")}
	chains, err := conn.ListChainsOfTableFamily(tf)
	if err != nil {
		return objs
	}
	for _, c := range chains {
		if c.Table.Name == natTable {
			objs = append(objs, madeKey(family, c.Name))
		}
	}
	return objs
}

// noteMade runs write and adds to fw.made the nat objects it created.
func (fw *iptablesFirewall) noteMade(family int, write func() error) error {
	before := fw.nftNatObjects(family)
	if err := write(); err != nil {
		return err
	}
	for _, o := range fw.nftNatObjects(family) {
		if !slices.Contains(before, o) && !slices.Contains(fw.made, o) {
			fw.made = append(fw.made, o)
		}
	}
	return nil
}

// created returns what the firewall's writes created and still stands;
// adopt takes over what an earlier process's Ups created (record.Created).
func (fw *iptablesFirewall) created() []string { return slices.Clone(fw.made) }

func (fw *iptablesFirewall) adopt(made []string) {
	for _, o := range made {
		if !slices.Contains(fw.made, o) {
			fw.made = append(fw.made, o)
		}
	}
}

// pruneHook deletes the hook chain when the firewall made it and it holds
// no rule now.
func (fw *iptablesFirewall) pruneHook(family int, hook string) error {
	key := madeKey(family, hook)
	if !slices.Contains(fw.made, key) {
		return nil
	}
	conn, err := nftables.New(fw.ns.nftOptions()...)
	if err != nil {
		return err
	}
	tf, _ := nftFamily(family)
	table := &nftables.Table{Name: natTable, Family: tf}
	chain := &nftables.Chain{Name: hook, Table: table}
	rules, err := conn.GetRules(table, chain)
	if errors.Is(err, unix.ENOENT) {
		fw.forget(key)
		return nil
	}
	if err != nil || len(rules) > 0 {
		return err // someone else's rules: the chain stays
	}
	conn.DelChain(chain)
	if err := flush(conn, "delete nat chain "+hook+" made by iptables-nft"); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) {
		return err
	}
	fw.forget(key)
	return nil
}

// pruneTable deletes the nat table when the firewall made it and it holds
// no chain now.
func (fw *iptablesFirewall) pruneTable(family int) error {
	key := madeKey(family, "")
	if !slices.Contains(fw.made, key) {
		return nil
	}
	for _, o := range fw.nftNatObjects(family) {
		if o != key {
			return nil // a chain, someone else's or one we made: the table stays
		}
	}
	conn, err := nftables.New(fw.ns.nftOptions()...)
	if err != nil {
		return err
	}
	tf, _ := nftFamily(family)
	conn.DelTable(&nftables.Table{Name: natTable, Family: tf})
	if err := flush(conn, "delete nat table made by iptables-nft"); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) {
		return err
	}
	fw.forget(key)
	return nil
}

func (fw *iptablesFirewall) forget(key string) {
	fw.made = slices.DeleteFunc(fw.made, func(o string) bool { return o == key })
}

// mayCreate returns the nat table and hook chains of iptables-nft that
// steps may create and that do not exist now: Up lists them in the record
// before its first write, so that a Down after a crash half-way removes
// them (an Up that ends records what it did create). Restoring the chain
// can create the table; a jump, the table and the hook chain.
func mayCreate(steps []step) []string {
	var keys []string
	add := func(fw firewall, nat []string, key string) {
		if ipt, ok := fw.(*iptablesFirewall); ok && ipt.variant == "-nft" && !slices.Contains(nat, key) && !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	for _, s := range steps {
		switch s := s.(type) {
		case *setChain:
			add(s.fw, s.old.nat, madeKey(s.family, ""))
		case *addJump:
			add(s.fw, s.nat, madeKey(s.family, ""))
			add(s.fw, s.nat, madeKey(s.family, s.hook))
		}
	}
	return keys
}

// pruneNat removes the hook chains and then the nat table of a family
// that the tunnel's Ups made with iptables-nft, when they are empty.
type pruneNat struct {
	fw     *iptablesFirewall
	family int
	hooks  []string // the hook chains to prune
	table  bool     // and then the table
}

// strayNat returns the pruneNat step for what the tunnel made in h's nat
// table that no other removal prunes: a hook chain without the tunnel's
// jump, and the table when the tunnel's chain is gone. Nil when there is
// none.
func strayNat(h firewallState) *pruneNat {
	ipt, ok := h.fw.(*iptablesFirewall)
	if !ok {
		return nil
	}
	p := &pruneNat{fw: ipt, family: h.family}
	for _, key := range h.made {
		if key == madeKey(h.family, "") {
			p.table = !h.exists // else deleting the chain prunes it
			continue
		}
		for _, hook := range []string{hookOutbound, hookInbound} {
			if key == madeKey(h.family, hook) && !slices.Contains(h.hooks, hook) {
				p.hooks = append(p.hooks, hook)
			}
		}
	}
	if !p.table && len(p.hooks) == 0 {
		return nil
	}
	return p
}

func (s *pruneNat) String() string {
	var what []string
	for _, hook := range s.hooks {
		what = append(what, madeKey(s.family, hook))
	}
	if s.table {
		what = append(what, madeKey(s.family, ""))
	}
	return "delete what iptables-nft made for the tunnel, if empty: " + strings.Join(what, ", ")
}

func (s *pruneNat) do(kernel) error {
	for _, hook := range s.hooks {
		if err := s.fw.pruneHook(s.family, hook); err != nil {
			return err
		}
	}
	return s.fw.pruneTable(s.family)
}

func (s *pruneNat) undo(kernel) error { return nil } // empty objects: nothing to restore

func (s *pruneNat) op() Op { return OpRemove }

func (s *pruneNat) command() string {
	var cmds []string
	for _, hook := range s.hooks {
		cmds = append(cmds, "nft delete chain "+madeKey(s.family, hook))
	}
	if s.table {
		cmds = append(cmds, "nft delete table "+madeKey(s.family, ""))
	}
	return strings.Join(cmds, " && ")
}

func (s *pruneNat) attrs() []slog.Attr { return firewallAttrs(s.fw, s.family) }
