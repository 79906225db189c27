//go:build linux

package netfilter

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// nftRule is one rule of the tunnel's nftables chain: packets from one of
// srcs to one of dsts leave with the source address to. A side with more
// than one prefix is matched through an interval set, so that N
// destinations cost one rule and a set, not N rules: a one-off benchmark
// measured the set 10 times faster to write and twice as fast to read
// back at N=1000 (docs/BENCHMARKS.md).
type nftRule struct {
	srcs, dsts []netip.Prefix
	to         netip.Addr
}

// groupRules folds SNAT rules that share their source and target (as
// SNATOutbound's do: one rule per own tunnel address, whatever the number
// of destinations), then those left that share their destination and
// target (as SNATInbound's do: one per peer), into rules with sets. A
// rule read back that the tunnel did not write (other) cannot be written
// again and is left out.
func groupRules(rules []NATRule) []nftRule {
	type key struct {
		p  netip.Prefix
		to netip.Addr
	}
	group := func(rules []NATRule, side func(NATRule) (key, netip.Prefix)) (keys []key, members map[key][]netip.Prefix) {
		members = map[key][]netip.Prefix{}
		for _, r := range rules {
			if r.Other != "" {
				continue
			}
			k, p := side(r)
			if _, ok := members[k]; !ok {
				keys = append(keys, k)
			}
			members[k] = append(members[k], p)
		}
		return keys, members
	}
	var out []nftRule
	var single []NATRule
	keys, dsts := group(rules, func(r NATRule) (key, netip.Prefix) { return key{r.Src, r.To}, r.Dst })
	for _, k := range keys {
		if len(dsts[k]) > 1 {
			out = append(out, nftRule{srcs: []netip.Prefix{k.p}, dsts: dsts[k], to: k.to})
		} else {
			single = append(single, NATRule{Src: k.p, Dst: dsts[k][0], To: k.to})
		}
	}
	keys, srcs := group(single, func(r NATRule) (key, netip.Prefix) { return key{r.Dst, r.To}, r.Src })
	for _, k := range keys {
		out = append(out, nftRule{srcs: srcs[k], dsts: []netip.Prefix{k.p}, to: k.to})
	}
	return out
}

// expand is the SNAT rules r stands for.
func (r nftRule) expand() []NATRule {
	var rules []NATRule
	for _, s := range r.srcs {
		for _, d := range r.dsts {
			rules = append(rules, NATRule{Src: s, Dst: d, To: r.to})
		}
	}
	return rules
}

// sortRules puts SNAT rules in a canonical order, so that rules read back
// compare equal to the wanted ones however a firewall stores them. Their
// order does not matter: the rules of one chain never match the same
// packet with different targets.
func SortRules(rules []NATRule) {
	prefix := func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	}
	slices.SortFunc(rules, func(a, b NATRule) int {
		return cmp.Or(prefix(a.Src, b.Src), prefix(a.Dst, b.Dst), a.To.Compare(b.To), strings.Compare(a.Other, b.Other))
	})
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

// maxSetChunk is how many prefixes go into one message adding set
// elements: google/nftables puts a message's elements in one attribute,
// whose 16-bit length silently truncates them past 64 KiB (500 IPv6
// intervals take about 40 KiB).
const maxSetChunk = 500

// nftSetPrefix starts the names of the chain's sets, numbered from 0
// (names, not anonymous sets: google/nftables adds elements to an
// anonymous set in one message only, too small for thousands).
const nftSetPrefix = "prefixes_"

// addNftRule queues r in conn: its sets first (named from *sets on, which
// it counts up), then the rule.
func addNftRule(conn *nftables.Conn, chain *nftables.Chain, family int, r nftRule, sets *int) error {
	keyType := nftables.TypeIPAddr
	if family == unix.AF_INET6 {
		keyType = nftables.TypeIP6Addr
	}
	exprs, err := nftRuleExprs(family, r, func(ps []netip.Prefix) (*nftables.Set, error) {
		set := &nftables.Set{Table: chain.Table, Name: fmt.Sprintf("%s%d", nftSetPrefix, *sets), Interval: true, KeyType: keyType}
		*sets++
		if err := conn.AddSet(set, nil); err != nil {
			return nil, err
		}
		// In address order, a prefix's start and end in the same message.
		ps = slices.SortedFunc(slices.Values(ps), func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		for chunk := range slices.Chunk(ps, maxSetChunk) {
			if err := conn.SetAddElements(set, intervalElements(chunk)); err != nil {
				return nil, err
			}
		}
		return set, nil
	})
	if err != nil {
		return err
	}
	conn.AddRule(&nftables.Rule{Table: chain.Table, Chain: chain, Exprs: exprs, UserData: nftMark(chain.Table)})
	return nil
}

// nftRuleExprs writes r as nft writes `ip saddr SRC ip daddr { DST, ... }
// snat to TO`: load each address into register 1 and compare it (masked,
// for a prefix shorter than the address) or look it up in the set that
// newSet makes; then SNAT to the address in register 1.
func nftRuleExprs(family int, r nftRule, newSet func([]netip.Prefix) (*nftables.Set, error)) ([]expr.Any, error) {
	src, dst, size := headerFields(family)
	match := func(offset uint32, ps []netip.Prefix) ([]expr.Any, error) {
		e := []expr.Any{&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: size}}
		if len(ps) == 1 {
			return append(e, prefixMatch(ps[0])...), nil
		}
		set, err := newSet(ps)
		if err != nil {
			return nil, err
		}
		return append(e, &expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID}), nil
	}
	srcMatch, err := match(src, r.srcs)
	if err != nil {
		return nil, err
	}
	dstMatch, err := match(dst, r.dsts)
	if err != nil {
		return nil, err
	}
	nfproto := uint32(unix.NFPROTO_IPV4)
	if family == unix.AF_INET6 {
		nfproto = unix.NFPROTO_IPV6
	}
	exprs := append(srcMatch, dstMatch...)
	return append(exprs,
		&expr.Immediate{Register: 1, Data: r.to.AsSlice()},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: nfproto, RegAddrMin: 1}), nil
}

// prefixMatch compares register 1 with p: masked first when p is shorter
// than the address.
func prefixMatch(p netip.Prefix) []expr.Any {
	size := uint32(p.Addr().BitLen() / 8)
	var e []expr.Any
	if p.Bits() < p.Addr().BitLen() {
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: size, Mask: prefixMask(p), Xor: make([]byte, size)})
	}
	return append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()})
}

// prefixMask is the netmask of p, as bytes.
func prefixMask(p netip.Prefix) []byte {
	mask := make([]byte, p.Addr().BitLen()/8)
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return mask
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// intervalElements writes prefixes as an interval set's elements: each
// its first address, then the address after its last, marked as an end
// (none when the prefix reaches the top of the address space), in
// address order, an end before a start at the same address (for adjacent
// prefixes).
func intervalElements(ps []netip.Prefix) []nftables.SetElement {
	ps = slices.SortedFunc(slices.Values(ps), func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	var elems []nftables.SetElement
	for _, p := range ps {
		elems = append(elems, nftables.SetElement{Key: p.Masked().Addr().AsSlice()})
		if end := lastAddr(p).Next(); end.IsValid() {
			elems = append(elems, nftables.SetElement{Key: end.AsSlice(), IntervalEnd: true})
		}
	}
	return elems
}

// intervalPrefixes reads an interval set's elements back as prefixes (the
// kernel lists them in any order), and reports false for an interval that
// is not one prefix. A lone end element (nft writes one at address 0) is
// skipped.
func intervalPrefixes(elems []nftables.SetElement) ([]netip.Prefix, bool) {
	type point struct {
		addr netip.Addr
		end  bool
	}
	var points []point
	for _, e := range elems {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok {
			return nil, false
		}
		points = append(points, point{a, e.IntervalEnd})
	}
	slices.SortFunc(points, func(a, b point) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		if a.end == b.end {
			return 0
		}
		if a.end {
			return -1
		}
		return 1
	})
	var ps []netip.Prefix
	for i := 0; i < len(points); i++ {
		if points[i].end {
			continue
		}
		start, end := points[i].addr, netip.Addr{} // end invalid: to the top
		if i+1 < len(points) && points[i+1].end {
			end = points[i+1].addr
			i++
		} else if i+1 < len(points) {
			return nil, false // a start without an end before the next start
		}
		p, ok := rangePrefix(start, end)
		if !ok {
			return nil, false
		}
		ps = append(ps, p)
	}
	return ps, true
}

// rangePrefix is the prefix covering exactly start up to (not including)
// end; end invalid means up to the top of the address space.
func rangePrefix(start, end netip.Addr) (netip.Prefix, bool) {
	for bits := 0; bits <= start.BitLen(); bits++ {
		p := netip.PrefixFrom(start, bits)
		if p.Masked().Addr() == start && lastAddr(p).Next() == end {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// parseNftRule reads back a rule of the chain, fetching the elements of its
// sets through conn: the SNAT rules that addNftRule wrote it for, or, for
// anything else, one rule with only other.
func parseNftRule(conn *nftables.Conn, table *nftables.Table, family int, rule *nftables.Rule) []NATRule {
	src, dst, size := headerFields(family)
	var r nftRule
	var offset uint32
	var mask []byte
	ok, done := true, false
	side := func(ps []netip.Prefix) {
		switch {
		case offset == src && r.srcs == nil:
			r.srcs = ps
		case offset == dst && r.dsts == nil && r.srcs != nil:
			r.dsts = ps
		default:
			ok = false
		}
		offset = 0
	}
	for _, e := range rule.Exprs {
		switch e := e.(type) {
		case *expr.Payload:
			ok = ok && offset == 0 && e.OperationType == expr.PayloadLoad && e.Base == expr.PayloadBaseNetworkHeader &&
				e.DestRegister == 1 && e.Len == size
			offset, mask = e.Offset, nil
		case *expr.Bitwise:
			ok = ok && mask == nil && e.SourceRegister == 1 && e.DestRegister == 1 && !slices.ContainsFunc(e.Xor, func(b byte) bool { return b != 0 })
			mask = e.Mask
		case *expr.Cmp:
			p, good := maskedPrefix(e.Data, mask)
			ok = ok && good && e.Op == expr.CmpOpEq && e.Register == 1
			side([]netip.Prefix{p})
		case *expr.Lookup:
			ok = ok && mask == nil && e.SourceRegister == 1 && !e.Invert && !e.IsDestRegSet
			elems, err := conn.GetSetElements(&nftables.Set{Table: table, Name: e.SetName})
			ps, good := intervalPrefixes(elems)
			ok = ok && err == nil && good && len(ps) > 0
			side(ps)
		case *expr.Immediate:
			ok = ok && e.Register == 1 && r.dsts != nil && !r.to.IsValid()
			r.to, _ = netip.AddrFromSlice(e.Data)
		case *expr.NAT:
			ok = ok && !done && r.to.IsValid() && e.Type == expr.NATTypeSourceNAT && e.RegAddrMin == 1 && e.RegAddrMax <= 1 &&
				e.RegProtoMin == 0 && !e.Random && !e.FullyRandom && !e.Persistent && !e.Prefix && !e.Specified
			done = true
		default:
			ok = false
		}
	}
	if !ok || !done || r.to.Is4() != (family == unix.AF_INET) {
		return []NATRule{{Other: fmt.Sprintf("a rule the tunnel did not write (handle %d)", rule.Handle)}}
	}
	return r.expand()
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
	return p, p.Masked().Addr() == addr && (mask == nil || string(prefixMask(p)) == string(mask))
}
