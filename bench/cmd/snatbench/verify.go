package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// world is two namespaces joined by a veth pair: va holds the SNAT rules
// and 10.0.0.1 on its loopback, and routes the test destinations to vb,
// where they are local (local routes) and a UDP socket receives them.
type world struct {
	va, vb *netns
	recv   *net.UDPConn
}

const testPort = 5555

func newWorld() (*world, error) {
	w := &world{va: newNS("va"), vb: newNS("vb")}
	steps := []struct {
		n    *netns
		args []string
	}{
		{w.va, []string{"link", "set", "lo", "up"}},
		{w.va, []string{"addr", "add", "10.0.0.1/32", "dev", "lo"}},
		{w.va, []string{"link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", w.vb.Name}},
		{w.va, []string{"addr", "add", "100.64.0.1/30", "dev", "veth0"}},
		{w.va, []string{"link", "set", "veth0", "up"}},
		{w.va, []string{"route", "add", "198.18.0.0/15", "via", "100.64.0.2"}},
		{w.va, []string{"route", "add", "203.0.113.0/24", "via", "100.64.0.2"}},
		{w.va, []string{"route", "add", "10.1.0.0/16", "via", "100.64.0.2"}},
		{w.vb, []string{"link", "set", "lo", "up"}},
		{w.vb, []string{"addr", "add", "100.64.0.2/30", "dev", "veth1"}},
		{w.vb, []string{"link", "set", "veth1", "up"}},
		{w.vb, []string{"route", "add", "local", "198.18.0.0/15", "dev", "lo"}},
		{w.vb, []string{"route", "add", "local", "203.0.113.0/24", "dev", "lo"}},
		{w.vb, []string{"route", "add", "local", "10.1.0.0/16", "dev", "lo"}},
		{w.vb, []string{"route", "add", "198.51.100.0/24", "via", "100.64.0.1"}},
		{w.vb, []string{"route", "add", "10.0.0.0/24", "via", "100.64.0.1"}},
	}
	for _, s := range steps {
		if err := s.n.ipn(s.args...); err != nil {
			return w, err
		}
	}
	err := w.vb.Do(func() (err error) {
		w.recv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero, Port: testPort})
		return err
	})
	return w, err
}

func (w *world) close() {
	if w.recv != nil {
		w.recv.Close()
	}
	w.va.close()
	w.vb.close()
}

// probe sends one UDP packet from 10.0.0.1 (a fresh source port, so a
// fresh conntrack entry and NAT decision) to dst and returns the source
// address vb sees.
func (w *world) probe(dst netip.Addr) (netip.Addr, error) {
	tag := fmt.Sprintf("probe %s %d", dst, time.Now().UnixNano())
	err := w.va.Do(func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: srcAddr.AsSlice()}, &net.UDPAddr{IP: dst.AsSlice(), Port: testPort})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(tag))
		return err
	})
	if err != nil {
		return netip.Addr{}, err
	}
	buf := make([]byte, 256)
	deadline := time.Now().Add(2 * time.Second)
	for {
		w.recv.SetReadDeadline(deadline)
		n, from, err := w.recv.ReadFromUDPAddrPort(buf)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("no packet to %s arrived: %w", dst, err)
		}
		if string(buf[:n]) == tag {
			return from.Addr().Unmap(), nil
		}
	}
}

// verifyAll checks every mechanism at N=1 and N=1000 with packets,
// round-trips prefixes that are not /32 through B and C, tries the
// google/nftables quirks, and saves what nft and iptables show.
func verifyAll(cfg config, out string) error {
	w, err := newWorld()
	defer w.close()
	if err != nil {
		return err
	}
	var rep strings.Builder
	logf := func(format string, a ...any) {
		fmt.Fprintf(&rep, format+"\n", a...)
		fmt.Printf(format+"\n", a...)
	}
	defer func() {
		os.WriteFile(filepath.Join(out, "verify.txt"), []byte(rep.String()), 0o644)
	}()

	nb := func() *nftBase {
		b, err := newNFTBase(w.va, false, cfg.sockbuf)
		if err != nil {
			panic(err)
		}
		return b
	}
	type mk struct {
		label string
		m     func() mechanism
	}
	mks := []mk{
		{"A iptables-nft", func() mechanism { return &iptMech{ns: w.va, variant: "nft"} }},
	}
	if cfg.legacy {
		mks = append(mks, mk{"A iptables-legacy", func() mechanism { return &iptMech{ns: w.va, variant: "legacy"} }})
	}
	mks = append(mks,
		mk{"B nftables rules", func() mechanism { return &nftRulesMech{nftBase: nb()} }},
		mk{"C nftables set (no leading 0.0.0.0 element)", func() mechanism { return newSetMech(nb(), false) }},
		mk{"C nftables set (leading 0.0.0.0 IntervalEnd element)", func() mechanism { return newSetMech(nb(), true) }},
	)

	logf("# SNAT verification: UDP from 10.0.0.1 in namespace va to a destination routed over a veth pair;")
	logf("# the source address the receiving socket in vb sees. Want 198.51.100.1 for listed destinations, 10.0.0.1 for the control.")
	failed := false
	control := netip.MustParseAddr("198.18.0.2") // never in the list: even last byte
	for _, n := range []int{1, 1000} {
		d := destinations(n)
		for _, k := range mks {
			m := k.m()
			if _, err := m.write(d); err != nil {
				return fmt.Errorf("%s N=%d write: %w", k.label, n, err)
			}
			targets := []netip.Addr{d[len(d)-1].Addr(), d[len(d)/2].Addr(), d[0].Addr()}
			var res []string
			for i, t := range targets {
				if i > 0 && t == targets[i-1] {
					continue
				}
				got, err := w.probe(t)
				ok := err == nil && got == toAddr
				res = append(res, fmt.Sprintf("%s→%s %s", t, show(got, err), okStr(ok)))
				failed = failed || !ok
			}
			got, err := w.probe(control)
			ok := err == nil && got == srcAddr
			res = append(res, fmt.Sprintf("control %s→%s %s", control, show(got, err), okStr(ok)))
			failed = failed || !ok
			logf("%-52s N=%-4d %s", k.label, n, strings.Join(res, "; "))
			if _, err := m.remove(); err != nil {
				return fmt.Errorf("%s N=%d delete: %w", k.label, n, err)
			}
		}
	}

	// Prefixes that are not /32 (a bitwise mask in B, a wider interval in C),
	// read back and decoded, and one packet into the /24.
	logf("\n# Round trip of prefixes that are not /32, and a packet to 198.18.0.77 (inside 198.18.0.0/24)")
	mixed := []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24"), netip.MustParsePrefix("10.1.0.0/20"),
		netip.MustParsePrefix("198.18.1.1/32"), netip.MustParsePrefix("203.0.113.2/32")}
	var listing strings.Builder
	for _, k := range mks {
		m := k.m()
		if _, err := m.write(mixed); err != nil {
			return fmt.Errorf("%s mixed write: %w", k.label, err)
		}
		r, _, err := m.read()
		if err == nil {
			err = sameSet(r.dsts, mixed)
		}
		got, perr := w.probe(netip.MustParseAddr("198.18.0.77"))
		ok := err == nil && perr == nil && got == toAddr
		failed = failed || !ok
		logf("%-52s read back %v (err %v); 198.18.0.77→%s %s", k.label, r.dsts, err, show(got, perr), okStr(ok))
		fmt.Fprintf(&listing, "## %s, destinations %v\n\n", k.label, mixed)
		if !strings.HasPrefix(k.label, "A") {
			listing.WriteString("(table ip nat is iptables-nft's, left empty by mechanism A in the same namespace)\n")
		}
		if strings.HasPrefix(k.label, "A") {
			save, _ := w.va.cmd(nil, "iptables-"+m.(*iptMech).variant+"-save", "-t", "nat")
			fmt.Fprintf(&listing, "$ iptables-%s-save -t nat\n%s\n", m.(*iptMech).variant, stripDates(string(save)))
		}
		ruleset, err := w.va.cmd(nil, "nft", "list", "ruleset")
		fmt.Fprintf(&listing, "$ nft list ruleset\n%s%v\n", ruleset, errOrEmpty(err))
		if b, ok := m.(interface{ base() *nftBase }); ok {
			listing.WriteString(dumpExprs(b.base()))
		}
		if _, err := m.remove(); err != nil {
			return fmt.Errorf("%s mixed delete: %w", k.label, err)
		}
	}
	if err := os.WriteFile(filepath.Join(out, "nft-list.txt"), []byte(listing.String()), 0o644); err != nil {
		return err
	}

	logf("\n# google/nftables quirks, tried on this kernel")
	quirks(w, logf, cfg)
	if failed {
		return errors.New("some packets were not translated as expected; see verify.txt")
	}
	return nil
}

func (m *nftRulesMech) base() *nftBase { return m.nftBase }
func (m *nftSetMech) base() *nftBase   { return m.nftBase }

func show(a netip.Addr, err error) string {
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return a.String()
}

func okStr(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

func errOrEmpty(err error) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	return ""
}

func stripDates(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, "# ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// dumpExprs prints the rules and set elements as google/nftables decodes
// what the kernel dumps back: the shapes a reader has to accept.
func dumpExprs(b *nftBase) string {
	var s strings.Builder
	s.WriteString("google/nftables' decoding of the kernel's dump:\n")
	for _, ch := range []*nftables.Chain{b.snat, b.post} {
		rules, err := b.conn.GetRules(b.table, ch)
		if err != nil {
			fmt.Fprintf(&s, "GetRules %s: %v\n", ch.Name, err)
			continue
		}
		for _, r := range rules {
			fmt.Fprintf(&s, "chain %s rule handle %d userdata %q\n", ch.Name, r.Handle, r.UserData)
			for _, e := range r.Exprs {
				fmt.Fprintf(&s, "    %T %+v\n", e, e)
			}
		}
	}
	set := &nftables.Set{Table: b.table, Name: nftSet}
	if els, err := b.conn.GetSetElements(set); err == nil {
		fmt.Fprintf(&s, "set %s elements, in dump order:\n", nftSet)
		for _, e := range els {
			fmt.Fprintf(&s, "    key %v intervalEnd %v\n", net.IP(e.Key), e.IntervalEnd)
		}
	}
	return s.String() + "\n"
}

// quirks tries, one at a time, shapes a native backend might write.
func quirks(w *world, logf func(string, ...any), cfg config) {
	// Batches against the kernel's default socket buffers.
	for _, bufs := range []struct {
		label    string
		snd, rcv int
	}{{"default socket buffers", 0, 0}, {"SO_SNDBUFFORCE only", cfg.sockbuf, 0}, {"SO_SNDBUFFORCE and SO_RCVBUFFORCE", cfg.sockbuf, cfg.sockbuf}} {
		for _, n := range []int{100, 300, 1000, 3000, 10000} {
			b, err := newNFTBaseBuf(w.va, false, bufs.snd, bufs.rcv)
			if err != nil {
				logf("quirks: %v", err)
				return
			}
			m := &nftRulesMech{nftBase: b}
			c, err := m.write(destinations(n))
			r, _, rerr := m.read()
			logf("B write N=%-5d with %s (batch %d msgs, %d KiB): Flush error %v; read back %d rules (err %v)", n, bufs.label, c.msgs, c.bytes/1024, err, len(r.dsts), rerr)
			b.conn.DelTable(b.table)
			b.conn.Flush()
			b.close()
		}
	}
	b, err := newNFTBase(w.va, false, cfg.sockbuf)
	if err != nil {
		logf("quirks: %v", err)
		return
	}
	defer b.close()
	reset := func() {
		b.conn.DelTable(b.table)
		b.conn.Flush()
	}
	// try writes the table, chains and one rule with exprs and userdata,
	// and reports the error, the packet result, nft's listing of the rule
	// and what google/nftables reads back.
	try := func(label string, exprs []expr.Any, ud []byte) {
		defer reset()
		b.addBase(func() error {
			b.conn.AddRule(&nftables.Rule{Table: b.table, Chain: b.snat, Exprs: exprs, UserData: ud})
			return nil
		})
		if err := b.conn.Flush(); err != nil {
			logf("%s: Flush: %v", label, err)
			return
		}
		got, perr := w.probe(netip.MustParseAddr("203.0.113.2"))
		// `nft list chain ip wgt-bench snat` fails: nft 1.0.6 parses snat as
		// a keyword there, quoted or not; listing the table works.
		list, _ := w.va.cmd(nil, "nft", "list", "table", "ip", nftTable)
		line := ""
		for _, l := range strings.Split(string(list), "\n") {
			if strings.Contains(l, "saddr") {
				line = strings.TrimSpace(l)
			}
		}
		rules, err := b.conn.GetRules(b.table, b.snat)
		back := ""
		if err == nil && len(rules) == 1 {
			for _, e := range rules[0].Exprs {
				if n, ok := e.(*expr.NAT); ok {
					back = fmt.Sprintf("%+v", *n)
				}
			}
			back += fmt.Sprintf(" userdata %q", rules[0].UserData)
		}
		logf("%s: accepted; 203.0.113.2→%s; nft list: %q; read back nat %s", label, show(got, perr), line, back)
	}
	dst := netip.MustParsePrefix("203.0.113.2/32")
	withNAT := func(n *expr.NAT) []expr.Any {
		e := snatExprs(dst)
		e[len(e)-1] = n
		return e
	}
	try("NAT{RegAddrMin:1} (as nft writes it), comment via userdata.AppendString",
		snatExprs(dst), commentData())
	try("NAT{RegAddrMin:1, RegAddrMax:1}",
		withNAT(&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1}), commentData())
	try("NAT{RegAddrMin:1, Specified:true} (NF_NAT_RANGE_PROTO_SPECIFIED without ports)",
		withNAT(&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, Specified: true}), commentData())
	try("NAT without Family",
		withNAT(&expr.NAT{Type: expr.NATTypeSourceNAT, RegAddrMin: 1}), commentData())
	try("comment without the trailing NUL (userdata.Append)",
		snatExprs(dst), userdata.Append(nil, userdata.TypeComment, []byte(commentTxt)))
	try("comment as raw UserData bytes (no TLV)",
		snatExprs(dst), []byte(commentTxt))
	try("/32 daddr with a bitwise mask 255.255.255.255 first",
		append(snatExprs(dst)[:3], append([]expr.Any{&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 255, 255}, Xor: make([]byte, 4)}}, snatExprs(dst)[3:]...)...),
		commentData())

	// What reading and deleting return when nothing is there (reset left
	// no table).
	func() {
		_, err := b.conn.GetRules(b.table, b.snat)
		logf("GetRules of a missing table: err %v", err)
		_, err = b.conn.GetSetElements(&nftables.Set{Table: b.table, Name: nftSet})
		logf("GetSetElements of a missing table: err %v", err)
		_, err = b.conn.ListTableOfFamily(nftTable, nftables.TableFamilyIPv4)
		logf("ListTableOfFamily of a missing table: err %v", err)
		b.conn.DelTable(b.table)
		logf("DelTable of a missing table: Flush err %v", b.conn.Flush())
		b.conn.AddTable(b.table)
		b.conn.Flush()
		_, err = b.conn.GetRules(b.table, b.snat)
		logf("GetRules of a missing chain in an existing table: err %v", err)
		reset()
	}()
	// A NEWSETELEM message whose element list is over 64 KiB.
	func() {
		defer reset()
		m := newSetMech(b, false)
		m.chunk = 1 << 30
		_, err := m.write(destinations(10000))
		if err == nil {
			r, _, rerr := m.read()
			logf("10000 /32s (20000 elements, ~%d KiB) in ONE SetAddElements: Flush ok; read back %d destinations (err %v)", 20000*40/1024, len(r.dsts), rerr)
			return
		}
		logf("10000 /32s (20000 elements) in ONE SetAddElements: %v", err)
	}()
	// The same, chunked by 1024 elements.
	func() {
		defer reset()
		m := newSetMech(b, false)
		c, err := m.write(destinations(10000))
		r, _, rerr := m.read()
		logf("10000 /32s in SetAddElements chunks of 1024 elements: %d messages, err %v; read back %d (err %v)", c.msgs, err, len(r.dsts), rerr)
	}()
	// Adjacent /32s in an interval set: the end of one is the start of the next.
	func() {
		defer reset()
		m := newSetMech(b, false)
		adj := []netip.Prefix{netip.MustParsePrefix("198.18.0.1/32"), netip.MustParsePrefix("198.18.0.2/32")}
		_, err := m.write(adj)
		if err != nil {
			logf("adjacent /32s 198.18.0.1 and .2 in the interval set: %v", err)
			return
		}
		r, _, rerr := m.read()
		els, _ := b.conn.GetSetElements(m.set)
		var raw []string
		for _, e := range els {
			raw = append(raw, fmt.Sprintf("%v end=%v", net.IP(e.Key), e.IntervalEnd))
		}
		list, _ := w.va.cmd(nil, "nft", "list", "table", "ip", nftTable) // not `list set ... dst`: dst is a keyword to nft 1.0.6
		if i := strings.Index(string(list), "elements"); i >= 0 {
			list = list[i:]
			if j := strings.Index(string(list), "}"); j >= 0 {
				list = list[:j+1]
			}
		}
		logf("adjacent /32s 198.18.0.1 and .2 in the interval set: accepted; dump %v; read back %v (err %v); nft list set: %q", raw, r.dsts, rerr, strings.Join(strings.Fields(string(list)), " "))
	}()
}
