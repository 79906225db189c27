package transparent_test

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-iptables/iptables"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// family holds the article's addresses in one IP family.
type family struct {
	name                 string
	pubA, pubB, pubC     netip.Addr
	tunA, tunB           netip.Addr
	iptables, iptablesSv string
}

var (
	ipv4 = family{"IPv4", publicA, publicB, publicC, tunA, tunB, "iptables", "iptables-save"}
	ipv6 = family{"IPv6",
		netip.MustParseAddr("2001:db8:a::1"), netip.MustParseAddr("2001:db8:b::2"), netip.MustParseAddr("2001:db8:c::3"),
		netip.MustParseAddr("2001:db8:ff::1"), netip.MustParseAddr("2001:db8:ff::2"), "ip6tables", "ip6tables-save"}
)

func (f family) url(a netip.Addr) string { return "http://" + netip.AddrPortFrom(a, 80).String() + "/" }

// ends is the article's "Transparent Access to Both Endpoints": A and B
// each transparent to the other, in the given families.
type ends struct {
	fams      []family
	rules     transparent.RuleMode
	exception transparent.ExceptionMode
	snatA     transparent.SNATMode
	snatB     transparent.SNATMode
}

func hostPrefixes(fams []family, pick func(family) netip.Addr) []netip.Prefix {
	var ps []netip.Prefix
	for _, f := range fams {
		a := pick(f)
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	return ps
}

// configs returns A's and B's configs. A has B's Endpoint; B, like the
// article's B, has none for A, only A's expected public address and port.
func (e ends) configs(w *article) (a, b transparent.Config) {
	ep := e.fams[0] // the endpoints use the first family
	a = transparent.Config{
		Name: w.nameA, PrivateKey: w.keyA, ListenPort: 51821,
		Addresses: hostPrefixes(e.fams, func(f family) netip.Addr { return f.tunA }),
		Exception: e.exception, SNAT: e.snatA, Rules: e.rules,
		Peers: []transparent.Peer{{
			PublicKey:   w.keyB.PublicKey(),
			Endpoint:    netip.AddrPortFrom(ep.pubB, 51822),
			AllowedIPs:  hostPrefixes(e.fams, func(f family) netip.Addr { return f.tunB }),
			Transparent: hostPrefixes(e.fams, func(f family) netip.Addr { return f.pubB }),
		}},
	}
	b = transparent.Config{
		Name: w.nameB, PrivateKey: w.keyB, ListenPort: 51822,
		Addresses: hostPrefixes(e.fams, func(f family) netip.Addr { return f.tunB }),
		Exception: e.exception, SNAT: e.snatB, Rules: e.rules,
		Peers: []transparent.Peer{{
			PublicKey:   w.keyA.PublicKey(),
			AllowedIPs:  hostPrefixes(e.fams, func(f family) netip.Addr { return f.tunA }),
			Transparent: hostPrefixes(e.fams, func(f family) netip.Addr { return f.pubA }),
		}},
	}
	if e.exception == transparent.ExceptionPort {
		b.Peers[0].ExpectedEndpoint = netip.AddrPortFrom(ep.pubA, 51821)
	}
	return a, b
}

// TestBothEnds runs the article's second half: A and B both transparent,
// with SNAT on either side or none, in IPv4, IPv6 and dual stack, with
// either exception mode. B must log A's public address (A's tunnel address
// without SNAT), the request must really cross the tunnel, C is untouched,
// a second Up changes nothing, and Down restores both namespaces, iptables
// included.
func TestBothEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		ends ends
	}{
		{"IPv4 SNAT outbound on A", ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}},
		{"IPv4 SNAT inbound on B", ends{fams: []family{ipv4}, snatB: transparent.SNATInbound}},
		{"IPv4 no SNAT", ends{fams: []family{ipv4}}},
		{"IPv4 fwmark SNAT outbound", ends{fams: []family{ipv4}, exception: transparent.ExceptionFwMark, snatA: transparent.SNATOutbound}},
		{"IPv6 SNAT outbound on A", ends{fams: []family{ipv6}, snatA: transparent.SNATOutbound}},
		{"IPv6 SNAT inbound on B", ends{fams: []family{ipv6}, snatB: transparent.SNATInbound}},
		{"dual stack SNAT outbound on A", ends{fams: []family{ipv4, ipv6}, snatA: transparent.SNATOutbound}},
		{"dual stack fwmark SNAT inbound on B", ends{fams: []family{ipv6, ipv4}, exception: transparent.ExceptionFwMark, snatB: transparent.SNATInbound}},
		{"table rules IPv4 SNAT outbound on A", ends{fams: []family{ipv4}, rules: transparent.RulesTable, snatA: transparent.SNATOutbound}},
		{"table rules IPv6 SNAT inbound on B", ends{fams: []family{ipv6}, rules: transparent.RulesTable, snatB: transparent.SNATInbound}},
		{"table rules dual stack fwmark no SNAT", ends{fams: []family{ipv4, ipv6}, rules: transparent.RulesTable, exception: transparent.ExceptionFwMark}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireIPTables(t)
			w := newArticle(t)
			cfgA, cfgB := tc.ends.configs(w)
			beforeA, beforeB := fullDump(t, w.A), fullDump(t, w.B)
			a, b := newTunnel(t, cfgA, w.A), newTunnel(t, cfgB, w.B)
			ctx := context.Background()
			for _, tun := range []*transparent.Tunnel{b, a} {
				if err := tun.Up(ctx); err != nil {
					t.Fatalf("Up: %v", err)
				}
			}
			for _, f := range tc.ends.fams {
				want := f.tunA
				if tc.ends.snatA != transparent.SNATOff || tc.ends.snatB != transparent.SNATOff {
					want = f.pubA
				}
				viaTunnel, viaVeth := countHTTP(t, w.B, f, w.nameB), countHTTP(t, w.B, f, "eth0")
				rx := peerRx(t, b)
				w.expectClient(t, w.A, f.url(f.pubB), want)
				if viaTunnel() == 0 || viaVeth() != 0 {
					t.Errorf("%s: B received the request's TCP packets %d times on %s and %d times on eth0; want them all on %s",
						f.name, viaTunnel(), w.nameB, viaVeth(), w.nameB)
				}
				if peerRx(t, b) <= rx {
					t.Errorf("%s: B's peer A received no more bytes during the request", f.name)
				}
				w.expectClient(t, w.C, f.url(f.pubB), f.pubC)
			}

			upA, upB := fullDump(t, w.A), fullDump(t, w.B)
			watchA, watchB := testns.Watch(t, w.A), testns.Watch(t, w.B)
			for _, tun := range []*transparent.Tunnel{b, a} {
				if err := tun.Up(ctx); err != nil {
					t.Fatalf("second Up: %v", err)
				}
			}
			for _, ev := range [][]string{watchA.Settle(200 * time.Millisecond), watchB.Settle(200 * time.Millisecond)} {
				if len(ev) != 0 {
					t.Errorf("second Up changed the kernel: %q", ev)
				}
			}
			expectSame(t, "A after the second Up", upA, fullDump(t, w.A))
			expectSame(t, "B after the second Up", upB, fullDump(t, w.B))

			for _, tun := range []*transparent.Tunnel{a, b} {
				if err := tun.Down(ctx); err != nil {
					t.Fatalf("Down: %v", err)
				}
			}
			expectSame(t, "A after Down", beforeA, fullDump(t, w.A))
			expectSame(t, "B after Down", beforeB, fullDump(t, w.B))
			for _, f := range tc.ends.fams {
				w.expectClient(t, w.A, f.url(f.pubB), f.pubA) // over the Internet again
			}
		})
	}
}

// TestExceptionModeUnderPortRewrite puts a NAT on the router that changes
// A's WireGuard source port on its way to B. B's port exception rule then
// no longer matches its own replies, which its transparent rule sends into
// the tunnel: the tunnel breaks. With the fwmark exception, B's device
// marks its packets whatever their port, and the tunnel works.
func TestExceptionModeUnderPortRewrite(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	if err := w.Router.Do(func() error {
		return run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "to-b", "-p", "udp", "-s", publicA.String(),
			"--sport", "51821", "-j", "SNAT", "--to-source", publicA.String()+":40000")
	}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []transparent.ExceptionMode{transparent.ExceptionPort, transparent.ExceptionFwMark} {
		t.Run(mode.String(), func(t *testing.T) {
			cfgA, cfgB := ends{fams: []family{ipv4}, exception: mode}.configs(w)
			a, b := newTunnel(t, cfgA, w.A), newTunnel(t, cfgB, w.B)
			ctx := context.Background()
			for _, tun := range []*transparent.Tunnel{b, a} {
				if err := tun.Up(ctx); err != nil {
					t.Fatalf("Up: %v", err)
				}
				defer tun.Down(ctx)
			}
			reqCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			_, err := testns.Get(reqCtx, w.A, ipv4.url(publicB))
			switch {
			case mode == transparent.ExceptionPort && err == nil:
				t.Errorf("port mode worked through a port-rewriting NAT (B logged %s); the test proves nothing", w.Server.Last())
			case mode == transparent.ExceptionFwMark && err != nil:
				t.Errorf("fwmark mode through a port-rewriting NAT: %v", err)
			case mode == transparent.ExceptionFwMark && w.Server.Last() != tunA:
				t.Errorf("B logged %s, want %s (through the tunnel)", w.Server.Last(), tunA)
			}
			if d, err := b.Device(); err == nil && mode == transparent.ExceptionFwMark {
				if got := d.Peers[0].Endpoint.Port; got != 40000 {
					t.Errorf("B sees A at port %d, want the rewritten 40000", got)
				}
			}
		})
	}
}

func requireIPTables(t *testing.T) {
	t.Helper()
	testns.RequireRoot(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Fatal("iptables is not installed: run the tests through ./test.sh, which installs it")
	}
}

// fullDump is the namespace's links, addresses, routes and rules, plus its
// IPv4 and IPv6 nat tables and its nf_tables ruleset but the tables of
// iptables-nft (which the nat tables above show, and whose filter tables
// hold the tests' own packet counters: countHTTP).
func fullDump(t *testing.T, ns *testns.NS) string {
	t.Helper()
	d := dump(t, ns)
	for _, f := range []family{ipv4, ipv6} {
		for _, line := range strings.Split(natSave(t, ns, f.iptablesSv), "\n") {
			if !strings.HasPrefix(line, "#") { // "# Generated by ... on <date>"
				d += f.name + " " + line + "\n"
			}
		}
	}
	nft, err := testns.DumpNftables(ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.SplitAfter(nft, "\n") {
		if f := strings.Fields(line); len(f) < 4 || !slices.Contains([]string{"filter", "nat", "mangle", "raw", "security"}, f[3]) {
			d += line
		}
	}
	return d
}

func expectSame(t *testing.T, what, before, after string) {
	t.Helper()
	if diff := testns.Diff(before, after); diff != "" {
		t.Errorf("%s: differs:\n%s", what, diff)
	}
}

// countHTTP adds a rule to ns's filter table that counts TCP packets to
// port 80 arriving on dev, and returns a function reading the count. The
// rule is removed at cleanup.
func countHTTP(t *testing.T, ns *testns.NS, f family, dev string) func() uint64 {
	t.Helper()
	proto := iptables.ProtocolIPv4
	if f.name == "IPv6" {
		proto = iptables.ProtocolIPv6
	}
	ipt, err := iptables.New(iptables.IPFamily(proto))
	if err != nil {
		t.Fatal(err)
	}
	chain := "TEST-" + dev
	spec := []string{"-i", dev, "-p", "tcp", "--dport", "80"}
	if err := ns.Do(func() error {
		if err := ipt.NewChain("filter", chain); err != nil {
			return err
		}
		if err := ipt.Append("filter", chain, spec...); err != nil {
			return err
		}
		return ipt.Insert("filter", "INPUT", 1, "-j", chain)
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ns.Do(func() error {
			ipt.Delete("filter", "INPUT", "-j", chain)
			return ipt.ClearAndDeleteChain("filter", chain)
		})
	})
	return func() uint64 {
		var rules []string
		if err := ns.Do(func() (err error) {
			rules, err = ipt.ListWithCounters("filter", chain)
			return err
		}); err != nil || len(rules) != 2 {
			t.Fatalf("read counter %s in %s: %q, %v", chain, ns.Name, rules, err)
		}
		var packets, bytes uint64
		_, counters, _ := strings.Cut(rules[1], " -c ") // "-A TEST-x -i wgb ... -c PACKETS BYTES"
		if _, err := fmt.Sscan(counters, &packets, &bytes); err != nil {
			t.Fatalf("parse counter %q: %v", rules[1], err)
		}
		return packets
	}
}

func peerRx(t *testing.T, tun *transparent.Tunnel) int64 {
	t.Helper()
	d, err := tun.Device()
	if err != nil || d == nil || len(d.Peers) != 1 {
		t.Fatalf("device: %v, %v", d, err)
	}
	return d.Peers[0].ReceiveBytes
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
