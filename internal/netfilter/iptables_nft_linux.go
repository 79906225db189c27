//go:build linux

package netfilter

import (
	"errors"
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
func (fw *IPTables) nftNatObjects(family int) []string {
	if fw.variant != "-nft" {
		return nil
	}
	conn, err := nftables.New(fw.ns.NFTOptions()...)
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
func (fw *IPTables) noteMade(family int, write func() error) error {
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

// Created returns what the firewall's writes created and still stands;
// Adopt takes over what an earlier process's Ups created (record.Created).
func (fw *IPTables) Created() []string { return slices.Clone(fw.made) }

func (fw *IPTables) Adopt(made []string) {
	for _, o := range made {
		if !slices.Contains(fw.made, o) {
			fw.made = append(fw.made, o)
		}
	}
}

// pruneHook deletes the hook chain when the firewall made it and it holds
// no rule now.
func (fw *IPTables) pruneHook(family int, hook string) error {
	key := madeKey(family, hook)
	if !slices.Contains(fw.made, key) {
		return nil
	}
	conn, err := nftables.New(fw.ns.NFTOptions()...)
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
func (fw *IPTables) pruneTable(family int) error {
	key := madeKey(family, "")
	if !slices.Contains(fw.made, key) {
		return nil
	}
	for _, o := range fw.nftNatObjects(family) {
		if o != key {
			return nil // a chain, someone else's or one we made: the table stays
		}
	}
	conn, err := nftables.New(fw.ns.NFTOptions()...)
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

func (fw *IPTables) forget(key string) {
	fw.made = slices.DeleteFunc(fw.made, func(o string) bool { return o == key })
}

// MadeKey names a family's nat table (chain "") or one of its chains as
// Created, NAT and Made list them: "ip nat", "ip nat POSTROUTING".
func MadeKey(family int, chain string) string { return madeKey(family, chain) }

// Prune deletes the hook chains the firewall made and left without rules,
// then, with table, the nat table it made when it holds no chain.
func (fw *IPTables) Prune(family int, hooks []string, table bool) error {
	for _, hook := range hooks {
		if err := fw.pruneHook(family, hook); err != nil {
			return err
		}
	}
	if !table {
		return nil
	}
	return fw.pruneTable(family)
}
