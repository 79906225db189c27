package testns

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/google/nftables"
)

// DumpNftables returns the namespace's nf_tables ruleset as text, one line
// per table, set (with its elements), chain and rule (a rule as its
// expressions), in a stable order and without handles, so that two dumps of the same ruleset are
// equal. It reads through netlink and needs no nft command. iptables-nft
// keeps its rules in nf_tables too, so they appear here as well.
func DumpNftables(n *NS) (string, error) {
	conn, err := nftables.New(nftables.WithNetNSFd(int(n.Handle)))
	if err != nil {
		return "", fmt.Errorf("nftables in %s: %w", n, err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		return "", fmt.Errorf("list nftables tables in %s: %w", n, err)
	}
	chains, err := conn.ListChains()
	if err != nil {
		return "", fmt.Errorf("list nftables chains in %s: %w", n, err)
	}
	var lines []string
	for _, t := range tables {
		lines = append(lines, fmt.Sprintf("nft table %d %s", t.Family, t.Name))
		sets, err := conn.GetSets(t)
		if err != nil {
			return "", fmt.Errorf("list the sets of table %s in %s: %w", t.Name, n, err)
		}
		for _, s := range sets {
			elems, err := conn.GetSetElements(s)
			if err != nil {
				return "", fmt.Errorf("list the elements of set %s in %s: %w", s.Name, n, err)
			}
			keys := make([]string, len(elems))
			for i, e := range elems {
				keys[i] = fmt.Sprintf("%x", e.Key)
				if e.IntervalEnd {
					keys[i] += "(end)"
				}
			}
			slices.Sort(keys)
			lines = append(lines, fmt.Sprintf("nft table %d %s set %s flags %v/%v: %s", t.Family, t.Name, s.Name, s.Interval, s.Constant, strings.Join(keys, " ")))
		}
	}
	for _, c := range chains {
		prefix := fmt.Sprintf("nft table %d %s chain %s", c.Table.Family, c.Table.Name, c.Name)
		line := prefix
		if c.Hooknum != nil && c.Priority != nil {
			line += fmt.Sprintf(" type %s hook %d priority %d", c.Type, *c.Hooknum, *c.Priority)
		}
		lines = append(lines, line)
		rules, err := conn.GetRules(c.Table, c)
		if err != nil {
			return "", fmt.Errorf("list rules of chain %s in %s: %w", c.Name, n, err)
		}
		for i, r := range rules {
			exprs := make([]string, len(r.Exprs))
			for j, e := range r.Exprs {
				exprs[j] = fmt.Sprintf("%s%+v", reflect.TypeOf(e).Elem().Name(), reflect.ValueOf(e).Elem().Interface())
			}
			lines = append(lines, fmt.Sprintf("%s rule %03d %s", prefix, i, strings.Join(exprs, " ")))
		}
	}
	slices.Sort(lines) // rule lines keep their order through their number
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return b.String(), nil
}
