package main

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// The library's SNAT rule for outbound traffic, as in snat.go: from our
// tunnel address, to each destination (a peer's Transparent prefix), SNAT
// to our public address.
var (
	srcAddr = netip.MustParseAddr("10.0.0.1")
	toAddr  = netip.MustParseAddr("198.51.100.1")
)

const (
	tunName    = "wg0"
	commentTxt = "wgtransparent " + tunName // the library's comment
	iptChain   = "WGT-" + tunName           // the library's chain
	nftTable   = "wgt-bench"
	nftChain   = "snat"
	nftHook    = "postrouting"
	nftSet     = "dst"
)

// destinations returns n scattered /32s: 198.18.0.1, .3, .5, ... and,
// last, 203.0.113.2 (the article's B).
func destinations(n int) []netip.Prefix {
	d := make([]netip.Prefix, 0, n)
	base := netip.MustParseAddr("198.18.0.1")
	for i := 0; i < n-1; i++ {
		d = append(d, netip.PrefixFrom(addAddr(base, uint32(2*i)), 32))
	}
	return append(d, netip.MustParsePrefix("203.0.113.2/32"))
}

// replaced returns d with 10% of its entries (at least one; every tenth,
// from the first) replaced by new scattered /32s in 198.19.0.0/16.
func replaced(d []netip.Prefix) []netip.Prefix {
	r := slices.Clone(d)
	k := max(1, len(d)/10)
	base := netip.MustParseAddr("198.19.0.1")
	for j := 0; j < k; j++ {
		r[j*10] = netip.PrefixFrom(addAddr(base, uint32(2*j)), 32)
	}
	return r
}

func addAddr(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// sameSet reports whether a and b hold the same prefixes, in any order,
// and names the first difference.
func sameSet(got, want []netip.Prefix) error {
	g := slices.Clone(got)
	w := slices.Clone(want)
	cmp := func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr())*64 + (a.Bits() - b.Bits()) }
	slices.SortFunc(g, cmp)
	slices.SortFunc(w, cmp)
	if len(g) != len(w) {
		return fmt.Errorf("read back %d destinations, want %d", len(g), len(w))
	}
	for i := range g {
		if g[i] != w[i] {
			return fmt.Errorf("read back %s, want %s", g[i], w[i])
		}
	}
	return nil
}

// cost is what one timed operation did.
type cost struct {
	dur      time.Duration // wall time of the operation
	procs    int           // processes spawned (iptables)
	msgs     int           // netlink messages in the batch, with BATCH_BEGIN/END (nftables)
	bytes    int           // bytes of those messages
	requests int           // netlink requests (dumps) sent for a read
	childCPU time.Duration // user+sys CPU of the spawned processes
	build    time.Duration // nftables: building the batch in Go, before Flush
	cpu      time.Duration // user+sys CPU of this process (kernel work in its syscalls included) and its children
}

// readResult is what a mechanism reads back.
type readResult struct {
	dsts []netip.Prefix // destinations of rules (src, dst, to) with src and to as the library writes them
	jump bool           // the hook jumps to the chain
}

// op is one timed operation of a mechanism.
type op struct {
	name    string
	prepare func() error // untimed, before run; may be nil
	// run changes the kernel from having the destinations from to having
	// to (write: from is nil; delete: to is nil).
	run func(from, to []netip.Prefix) (cost, error)
}

// mechanism is one way to hold the SNAT rules.
type mechanism interface {
	name() string
	// write creates everything from nothing.
	write(d []netip.Prefix) (cost, error)
	// read reads back the rules and decodes them.
	read() (readResult, cost, error)
	// replaces are the ways to replace 10% of the destinations.
	replaces() []op
	// remove deletes everything write created.
	remove() (cost, error)
	// empty reports whether nothing of ours is left.
	empty() error
}
