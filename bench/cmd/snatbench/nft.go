package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftBase is what mechanisms B and C share: the table ip wgt-bench, a
// regular chain snat, a base chain postrouting (type nat, hook
// postrouting, priority 99) that jumps to it.
type nftBase struct {
	ns    *netns
	conn  *nftables.Conn
	table *nftables.Table
	snat  *nftables.Chain
	post  *nftables.Chain
}

// newNFTBase opens a netlink connection to the namespace. With lasting
// false (the google/nftables default) every Flush and every Get* dials
// its own socket, which the timings then include.
//
// sockbuf > 0 sets the socket's send and receive buffers to that size with
// SO_SNDBUFFORCE and SO_RCVBUFFORCE (which need CAP_NET_ADMIN, and ignore
// net.core.wmem_max and rmem_max), as nft does for big batches: netlink
// refuses a batch larger than the send buffer (EMSGSIZE), and the kernel
// drops acks and echoes that overflow the receive buffer (ENOBUFS).
func newNFTBase(ns *netns, lasting bool, sockbuf int) (*nftBase, error) {
	return newNFTBaseBuf(ns, lasting, sockbuf, sockbuf)
}

// newNFTBaseBuf forces the send and receive buffers separately (0: the
// kernel's default).
func newNFTBaseBuf(ns *netns, lasting bool, snd, rcv int) (*nftBase, error) {
	opts := []nftables.ConnOption{nftables.WithNetNSFd(int(ns.Handle))}
	if lasting {
		opts = append(opts, nftables.AsLasting())
	}
	if snd > 0 || rcv > 0 {
		opts = append(opts, nftables.WithSockOptions(forceBuffers(snd, rcv)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, err
	}
	t := &nftables.Table{Name: nftTable, Family: nftables.TableFamilyIPv4}
	return &nftBase{
		ns:    ns,
		conn:  c,
		table: t,
		snat:  &nftables.Chain{Name: nftChain, Table: t},
		post: &nftables.Chain{Name: nftHook, Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityRef(99)},
	}, nil
}

func forceBuffers(snd, rcv int) nftables.SockOption {
	return func(c *netlink.Conn) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		err = rc.Control(func(fd uintptr) {
			if snd > 0 {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, snd)
			}
			if serr == nil && rcv > 0 {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcv)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}

func (b *nftBase) close() {
	if b != nil && b.conn != nil {
		b.conn.CloseLasting()
	}
}

// pending counts the messages Flush will send (plus its BATCH_BEGIN and
// BATCH_END) and their bytes with headers. google/nftables keeps them in
// an unexported field; reflect reads its length without touching it.
func pending(c *nftables.Conn) (msgs, size int) {
	v := reflect.ValueOf(c).Elem().FieldByName("messages")
	for i := 0; i < v.Len(); i++ {
		size += 16 + v.Index(i).FieldByName("Data").Len()
	}
	return v.Len() + 2, size + 2*20
}

// flush sends the batch and fills in the message counts, and the time
// spent since start building the batch in Go (before Flush).
func (b *nftBase) flush(c *cost, start time.Time) error {
	c.build = time.Since(start)
	c.msgs, c.bytes = pending(b.conn)
	return b.conn.Flush()
}

// commentData is a rule comment as nft writes it: a TLV of type
// NFTNL_UDATA_RULE_COMMENT (0) with the NUL-terminated text.
func commentData() []byte {
	return userdata.AppendString(nil, userdata.TypeComment, commentTxt)
}

// jumpRule is `jump snat`, the only rule of the base chain.
func (b *nftBase) jumpRule() *nftables.Rule {
	return &nftables.Rule{Table: b.table, Chain: b.post, UserData: commentData(),
		Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: nftChain}}}
}

// addBase queues the table, both chains and the jump; rules for the snat
// chain come from fill, queued between the chain and the jump.
func (b *nftBase) addBase(fill func() error) error {
	b.conn.AddTable(b.table)
	b.conn.AddChain(b.snat)
	if err := fill(); err != nil {
		return err
	}
	b.conn.AddChain(b.post)
	b.conn.AddRule(b.jumpRule())
	return nil
}

// readJump checks the base chain holds exactly our jump.
func (b *nftBase) readJump() (bool, error) {
	rules, err := b.conn.GetRules(b.table, b.post)
	if err != nil {
		return false, err
	}
	for _, r := range rules {
		if len(r.Exprs) == 1 {
			if v, ok := r.Exprs[0].(*expr.Verdict); ok && v.Kind == expr.VerdictJump && v.Chain == nftChain {
				return true, nil
			}
		}
	}
	return false, nil
}

func (b *nftBase) remove() (cost, error) {
	start := time.Now()
	var c cost
	b.conn.DelTable(b.table)
	err := b.flush(&c, start)
	c.dur = time.Since(start)
	return c, err
}

func (b *nftBase) empty() error {
	tables, err := b.conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if t.Name == nftTable {
			return errors.New("table " + nftTable + " still exists")
		}
	}
	return nil
}

// ---- B: one rule per destination ----

type nftRulesMech struct {
	*nftBase
	handles map[netip.Prefix]uint64 // from the last read
}

func (m *nftRulesMech) name() string { return "B-nft-rules" }

// snatExprs is `ip saddr 10.0.0.1 ip daddr <dst> snat to 198.51.100.1`:
// payload (network header, offset 12, 4 bytes) into reg 1, cmp eq; the
// same at offset 16 with a bitwise mask first if dst is not a /32;
// immediate 198.51.100.1 into reg 1; nat snat ip with addr_min reg 1.
func snatExprs(dst netip.Prefix) []expr.Any {
	e := []expr.Any{
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: srcAddr.AsSlice()},
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
	}
	if dst.Bits() < 32 {
		mask := fromU32(^uint32(0) << (32 - dst.Bits())).AsSlice()
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	return append(e,
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst.Masked().Addr().AsSlice()},
		&expr.Immediate{Register: 1, Data: toAddr.AsSlice()},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	)
}

func (m *nftRulesMech) addRules(d []netip.Prefix) {
	for _, p := range d {
		m.conn.AddRule(&nftables.Rule{Table: m.table, Chain: m.snat, Exprs: snatExprs(p), UserData: commentData()})
	}
}

func (m *nftRulesMech) write(d []netip.Prefix) (cost, error) {
	start := time.Now()
	var c cost
	m.addBase(func() error { m.addRules(d); return nil })
	err := m.flush(&c, start)
	c.dur = time.Since(start)
	return c, err
}

func (m *nftRulesMech) read() (readResult, cost, error) {
	start := time.Now()
	c := cost{requests: 2}
	rules, err := m.conn.GetRules(m.table, m.snat)
	if err != nil {
		return readResult{}, c, err
	}
	var r readResult
	m.handles = make(map[netip.Prefix]uint64, len(rules))
	for _, rule := range rules {
		d, err := decodeSNAT(rule)
		if err != nil {
			return r, c, err
		}
		if d.set != "" {
			return r, c, fmt.Errorf("rule %d looks up set %s", rule.Handle, d.set)
		}
		r.dsts = append(r.dsts, d.dst)
		m.handles[d.dst] = rule.Handle
	}
	r.jump, err = m.readJump()
	c.dur = time.Since(start)
	return r, c, err
}

func (m *nftRulesMech) replaces() []op {
	return []op{
		{name: "replace", run: func(_, to []netip.Prefix) (cost, error) {
			// flush the chain and add every rule again, in one batch
			start := time.Now()
			var c cost
			m.conn.FlushChain(m.snat)
			m.addRules(to)
			err := m.flush(&c, start)
			c.dur = time.Since(start)
			return c, err
		}},
		{name: "replace-delta", prepare: func() error {
			// untimed: the handles, which the library knows from the state
			// it reads before changing anything
			_, _, err := m.read()
			return err
		}, run: func(from, to []netip.Prefix) (cost, error) {
			// delete the rules that go by handle, add the new ones, in one batch
			start := time.Now()
			var c cost
			gone, added := diff(from, to)
			for _, p := range gone {
				h, ok := m.handles[p]
				if !ok {
					return c, fmt.Errorf("no handle for %s", p)
				}
				if err := m.conn.DelRule(&nftables.Rule{Table: m.table, Chain: m.snat, Handle: h}); err != nil {
					return c, err
				}
			}
			m.addRules(added)
			err := m.flush(&c, start)
			c.dur = time.Since(start)
			return c, err
		}},
	}
}

// diff returns what is in from but not in to, and the other way round.
func diff(from, to []netip.Prefix) (gone, added []netip.Prefix) {
	inFrom := map[netip.Prefix]bool{}
	for _, p := range from {
		inFrom[p] = true
	}
	inTo := map[netip.Prefix]bool{}
	for _, p := range to {
		inTo[p] = true
		if !inFrom[p] {
			added = append(added, p)
		}
	}
	for _, p := range from {
		if !inTo[p] {
			gone = append(gone, p)
		}
	}
	return gone, added
}

// decoded is an SNAT rule read back from the kernel.
type decoded struct {
	src, dst netip.Prefix
	set      string // the set daddr is looked up in, for C
	to       netip.Addr
	comment  string
}

// decodeSNAT turns a rule's expressions back into (src, dst, to), by
// following what each expression puts into register 1. It accepts what
// snatExprs and setRuleExprs write, in the form the kernel dumps it back,
// and refuses anything else.
func decodeSNAT(r *nftables.Rule) (decoded, error) {
	var d decoded
	bad := func(format string, a ...any) (decoded, error) {
		return decoded{}, fmt.Errorf("rule %d: "+format, append([]any{r.Handle}, a...)...)
	}
	if c, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
		d.comment = c
	}
	var field string // what register 1 holds: "saddr", "daddr", "to"
	bits := 32
	var to []byte
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case *expr.Payload:
			if e.OperationType != expr.PayloadLoad || e.Base != expr.PayloadBaseNetworkHeader || e.DestRegister != 1 || e.Len != 4 {
				return bad("unexpected payload %+v", *e)
			}
			switch e.Offset {
			case 12:
				field = "saddr"
			case 16:
				field = "daddr"
			default:
				return bad("payload offset %d", e.Offset)
			}
			bits = 32
		case *expr.Bitwise:
			if field == "" || e.SourceRegister != 1 || e.DestRegister != 1 || e.Len != 4 || len(e.Mask) != 4 || !bytes.Equal(e.Xor, make([]byte, 4)) {
				return bad("unexpected bitwise %+v", *e)
			}
			m, _ := netip.AddrFromSlice(e.Mask)
			mv := u32(m)
			bits = 32 - trailingZeros(mv)
			if mv != ^uint32(0)<<(32-bits) && bits != 0 {
				return bad("mask %s is not a prefix", m)
			}
		case *expr.Cmp:
			a, ok := netip.AddrFromSlice(e.Data)
			if e.Op != expr.CmpOpEq || e.Register != 1 || !ok || !a.Is4() {
				return bad("unexpected cmp %+v", *e)
			}
			p := netip.PrefixFrom(a, bits)
			switch field {
			case "saddr":
				d.src = p
			case "daddr":
				d.dst = p
			default:
				return bad("cmp of %q", field)
			}
		case *expr.Lookup:
			if field != "daddr" || e.SourceRegister != 1 || e.Invert || e.IsDestRegSet {
				return bad("unexpected lookup %+v", *e)
			}
			d.set = e.SetName
		case *expr.Immediate:
			if e.Register != 1 {
				return bad("unexpected immediate %+v", *e)
			}
			field, to = "to", e.Data
		case *expr.NAT:
			// RegAddrMax: the kernel dumps it (= RegAddrMin) even when only
			// RegAddrMin was written.
			if e.Type != expr.NATTypeSourceNAT || e.Family != unix.NFPROTO_IPV4 || e.RegAddrMin != 1 || (e.RegAddrMax != 0 && e.RegAddrMax != 1) || e.RegProtoMin != 0 || field != "to" {
				return bad("unexpected nat %+v", *e)
			}
			a, ok := netip.AddrFromSlice(to)
			if !ok {
				return bad("immediate %x", to)
			}
			d.to = a
		default:
			return bad("unexpected expression %T %+v", e, e)
		}
	}
	if d.src != netip.PrefixFrom(srcAddr, 32) || d.to != toAddr || (!d.dst.IsValid() && d.set == "") {
		return bad("decoded to src %s dst %s set %q to %s", d.src, d.dst, d.set, d.to)
	}
	return d, nil
}

func trailingZeros(v uint32) int {
	n := 0
	for n < 32 && v&(1<<n) == 0 {
		n++
	}
	return n
}

// ---- C: one rule, destinations in an interval set ----

type nftSetMech struct {
	*nftBase
	set         *nftables.Set
	leadingZero bool // start the set with an IntervalEnd element at 0.0.0.0, as nft 1.0.6 does
	chunk       int  // elements per NEWSETELEM message
}

func newSetMech(b *nftBase, leadingZero bool) *nftSetMech {
	return &nftSetMech{nftBase: b, leadingZero: leadingZero, chunk: 1024,
		set: &nftables.Set{Table: b.table, Name: nftSet, KeyType: nftables.TypeIPAddr, Interval: true}}
}

func (m *nftSetMech) name() string { return "C-nft-set" }

// setRuleExprs is `ip saddr 10.0.0.1 ip daddr @dst snat to 198.51.100.1`.
func (m *nftSetMech) setRuleExprs() []expr.Any {
	return []expr.Any{
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: srcAddr.AsSlice()},
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Lookup{SourceRegister: 1, SetName: m.set.Name, SetID: m.set.ID},
		&expr.Immediate{Register: 1, Data: toAddr.AsSlice()},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}
}

// elements turns prefixes into interval elements: the first address, and
// the address after the last with IntervalEnd (none if the prefix ends at
// 255.255.255.255).
func elements(d []netip.Prefix) []nftables.SetElement {
	els := make([]nftables.SetElement, 0, 2*len(d))
	for _, p := range d {
		p = p.Masked()
		first := u32(p.Addr())
		last := first | (^uint32(0) >> p.Bits())
		if p.Bits() == 0 {
			last = ^uint32(0)
		}
		els = append(els, nftables.SetElement{Key: p.Addr().AsSlice()})
		if last != ^uint32(0) {
			els = append(els, nftables.SetElement{Key: fromU32(last + 1).AsSlice(), IntervalEnd: true})
		}
	}
	return els
}

// chunked queues elements in messages of at most m.chunk elements:
// google/nftables puts all the elements of one call into one netlink
// attribute, whose length is 16 bits.
func (m *nftSetMech) chunked(f func(*nftables.Set, []nftables.SetElement) error, els []nftables.SetElement) error {
	for len(els) > 0 {
		n := min(len(els), m.chunk)
		if n < len(els) && els[n].IntervalEnd { // keep an interval's two ends in one message
			n++
		}
		if err := f(m.set, els[:n]); err != nil {
			return err
		}
		els = els[n:]
	}
	return nil
}

func (m *nftSetMech) write(d []netip.Prefix) (cost, error) {
	start := time.Now()
	var c cost
	m.set.ID = 0 // a new set ID for each new set
	err := m.addBase(func() error {
		if err := m.conn.AddSet(m.set, nil); err != nil {
			return err
		}
		els := elements(d)
		if m.leadingZero {
			els = append([]nftables.SetElement{{Key: make([]byte, 4), IntervalEnd: true}}, els...)
		}
		if err := m.chunked(m.conn.SetAddElements, els); err != nil {
			return err
		}
		m.conn.AddRule(&nftables.Rule{Table: m.table, Chain: m.snat, Exprs: m.setRuleExprs(), UserData: commentData()})
		return nil
	})
	if err != nil {
		return c, err
	}
	err = m.flush(&c, start)
	c.dur = time.Since(start)
	return c, err
}

func (m *nftSetMech) read() (readResult, cost, error) {
	start := time.Now()
	c := cost{requests: 3}
	rules, err := m.conn.GetRules(m.table, m.snat)
	if err != nil {
		return readResult{}, c, err
	}
	if len(rules) != 1 {
		return readResult{}, c, fmt.Errorf("chain %s has %d rules, want 1", nftChain, len(rules))
	}
	d, err := decodeSNAT(rules[0])
	if err != nil {
		return readResult{}, c, err
	}
	if d.set != nftSet {
		return readResult{}, c, fmt.Errorf("rule looks up %q, want set %s", d.set, nftSet)
	}
	els, err := m.conn.GetSetElements(m.set)
	if err != nil {
		return readResult{}, c, err
	}
	var r readResult
	if r.dsts, err = intervals(els); err != nil {
		return r, c, err
	}
	r.jump, err = m.readJump()
	c.dur = time.Since(start)
	return r, c, err
}

// intervals turns interval-set elements, in whatever order the kernel
// dumps them, back into prefixes. An IntervalEnd at 0.0.0.0 (nft's
// leading element) ends nothing.
func intervals(els []nftables.SetElement) ([]netip.Prefix, error) {
	type el struct {
		v   uint32
		end bool
	}
	s := make([]el, 0, len(els))
	for _, e := range els {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok || !a.Is4() {
			return nil, fmt.Errorf("element key %x", e.Key)
		}
		s = append(s, el{u32(a), e.IntervalEnd})
	}
	// The kernel dumps in descending order. Where one interval ends and
	// the next starts at the same address (adjacent prefixes), both
	// elements are there: the end sorts first.
	slices.SortFunc(s, func(a, b el) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		case a.end && !b.end:
			return -1
		case !a.end && b.end:
			return 1
		}
		return 0
	})
	var out []netip.Prefix
	for i := 0; i < len(s); i++ {
		if s[i].end {
			if s[i].v == 0 {
				continue
			}
			return nil, fmt.Errorf("interval end %s without a start", fromU32(s[i].v))
		}
		first, last := s[i].v, ^uint32(0)
		if i+1 < len(s) {
			if !s[i+1].end {
				return nil, fmt.Errorf("interval start %s without an end", fromU32(first))
			}
			last = s[i+1].v - 1
			i++
		}
		out = append(out, rangePrefixes(first, last)...)
	}
	return out, nil
}

// rangePrefixes splits [first, last] into prefixes.
func rangePrefixes(first, last uint32) []netip.Prefix {
	var out []netip.Prefix
	for {
		bits := 32
		for bits > 0 {
			size := uint64(1) << (32 - (bits - 1))
			if uint64(first)%size != 0 || uint64(first)+size-1 > uint64(last) {
				break
			}
			bits--
		}
		out = append(out, netip.PrefixFrom(fromU32(first), bits))
		end := uint64(first) + uint64(1)<<(32-bits) - 1
		if end >= uint64(last) {
			return out
		}
		first = uint32(end + 1)
	}
}

func (m *nftSetMech) replaces() []op {
	return []op{{name: "replace", run: func(from, to []netip.Prefix) (cost, error) {
		start := time.Now()
		var c cost
		gone, added := diff(from, to)
		if err := m.chunked(m.conn.SetDeleteElements, elements(gone)); err != nil {
			return c, err
		}
		if err := m.chunked(m.conn.SetAddElements, elements(added)); err != nil {
			return c, err
		}
		err := m.flush(&c, start)
		c.dur = time.Since(start)
		return c, err
	}}}
}
