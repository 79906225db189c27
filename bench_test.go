package transparent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent/internal/linuxnet"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// manyDestinations is the article's A with n transparent destinations:
// 203.0.113.2 and n-1 addresses stride apart (benchAddr). With stride 1
// they are consecutive and aggregate into a few prefixes; with stride 2
// no two of them merge, the worst case.
func manyDestinations(n, stride int) Config {
	c := articleA(PeerRouteRule)
	for i := 1; i < n; i++ {
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, netip.PrefixFrom(benchAddr(i*stride), 32))
	}
	return c
}

// benchAddrs is the number of addresses in 198.18.0.0/15 (RFC 2544's
// benchmarking range), where benchAddr starts; it goes on in 100.64.0.0/10
// (RFC 6598's shared address space), so that 100000 destinations two
// apart fit. Both are used inside test namespaces only.
const benchAddrs = 1 << 17

// benchAddr returns the j-th address of 198.18.0.0/15 followed by
// 100.64.0.0/10.
func benchAddr(j int) netip.Addr {
	a := netip.MustParseAddr("198.18.0.0").As4()
	if j >= benchAddrs {
		a, j = netip.MustParseAddr("100.64.0.0").As4(), j-benchAddrs
	}
	a[1] += byte(j >> 16)
	a[2], a[3] = byte(j>>8), byte(j)
	return netip.AddrFrom4(a)
}

var benchSizes = []int{1, 10, 100, 1000, 10000}

func BenchmarkValidate(b *testing.B) {
	for _, n := range benchSizes {
		c := manyDestinations(n, 2)
		b.Run(fmt.Sprint("N=", n), func(b *testing.B) {
			for b.Loop() {
				if err := c.Validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlan measures the pure part of Up: the desired state and its
// diff against a kernel that already has all of it (a no-op Up) and one
// that has none of it (an Up from nothing).
func BenchmarkPlan(b *testing.B) {
	for _, n := range benchSizes {
		c := manyDestinations(n, 2).WithDefaults()
		want := desiredState(c)
		full := &observed{routes: want.routes, link: &linuxnet.Link{Name: c.Name, MTU: c.MTU, Up: true}}
		for _, r := range want.rules {
			full.rules = append(full.rules, ownedRule{spec: r, ok: true, raw: *r.netlink()})
		}
		b.Run(fmt.Sprint("noop/N=", n), func(b *testing.B) {
			for b.Loop() {
				planUp(c, full)
			}
		})
		b.Run(fmt.Sprint("fromNothing/N=", n), func(b *testing.B) {
			for b.Loop() {
				planUp(c, &observed{})
			}
		})
	}
}

// BenchmarkUp runs Up from nothing, a no-op Up, and Down with n
// transparent destinations on the embedded device, in a namespace of its
// own, and reports the kernel writes of each (writes/op): scattered
// destinations (none aggregate: one rule and one route each) and
// consecutive ones (a few rules and routes in all).
func BenchmarkUp(b *testing.B) {
	testns.RequireRoot(b)
	for _, layout := range []struct {
		name   string
		stride int
	}{{"scattered", 2}, {"consecutive", 1}} {
		for _, n := range benchSizes {
			benchmarkUp(b, fmt.Sprintf("%s/N=%d", layout.name, n), manyDestinations(n, layout.stride))
		}
	}
}

// tableSizes are the numbers of destinations of BenchmarkUpTable: Up in
// RulesTable mode is expected to grow about linearly from 1000 on.
var tableSizes = []int{1000, 10000, 100000}

// BenchmarkUpTable times Up from nothing (Down untimed) and a no-op Up in
// RulesTable mode with n scattered destinations: two rules per family and
// n routes, whatever n.
func BenchmarkUpTable(b *testing.B) {
	testns.RequireRoot(b)
	for _, n := range tableSizes {
		c := manyDestinations(n, 2)
		c.Rules = RulesTable
		benchmarkUpAlone(b, fmt.Sprintf("table/N=%d", n), c)
	}
}

// BenchmarkHub is the article's B as a hub with hubPeers peers, each with
// a tunnel address and a transparent public address of its own, in both
// rule modes and both exception modes: in port mode the hub has one
// exception rule per peer whatever the rule mode, in fwmark mode one per
// family.
func BenchmarkHub(b *testing.B) {
	testns.RequireRoot(b)
	for _, rules := range []RuleMode{RulesTable, RulesPerDestination} {
		for _, exc := range []ExceptionMode{ExceptionPort, ExceptionFwMark} {
			benchmarkUpAlone(b, fmt.Sprintf("%s/%s/peers=%d", rules, exc, hubPeers), hubConfig(b, hubPeers, rules, exc))
		}
	}
}

// hubPeers is the number of peers of BenchmarkHub.
const hubPeers = 1000

// hubConfig is the article's B with n peers: peer i has the tunnel
// address 10.1.0.0+i+1 and the public address benchAddr(2i+2), from which
// its WireGuard packets come (ExpectedEndpoint, port 51821).
func hubConfig(b *testing.B, n int, rules RuleMode, exc ExceptionMode) Config {
	c := Config{
		PrivateKey: testKey(3),
		ListenPort: 51822,
		Addresses:  []netip.Prefix{pfx("10.0.0.1/32")},
		Table:      123,
		Rules:      rules,
		Exception:  exc,
	}
	tunnel := netip.MustParseAddr("10.1.0.0").As4()
	for i := range n {
		k, err := wgtypes.GeneratePrivateKey()
		if err != nil {
			b.Fatal(err)
		}
		a, j := tunnel, i+1
		a[2], a[3] = byte(j>>8), byte(j)
		public := benchAddr(2*i + 2)
		c.Peers = append(c.Peers, Peer{
			PublicKey:        k.PublicKey(),
			ExpectedEndpoint: netip.AddrPortFrom(public, 51821),
			AllowedIPs:       []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(a), 32)},
			Transparent:      []netip.Prefix{netip.PrefixFrom(public, 32)},
		})
	}
	return c
}

// benchmarkUpAlone times Up from nothing, with the Down after it outside
// the timer, then a no-op Up, in a namespace of its own, and reports the
// kernel writes of each Up (writes/op) and, after the no-op Ups, the
// process's resident memory.
func benchmarkUpAlone(b *testing.B, name string, c Config, opts ...Option) {
	tun := benchTunnel(b, c, opts...)
	ctx := context.Background()
	b.Run("up/"+name, func(b *testing.B) {
		writes := 0
		for b.Loop() {
			if err := tun.Up(ctx); err != nil {
				b.Fatal(err)
			}
			writes += tun.writes
			b.StopTimer()
			if err := tun.Down(ctx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
	})
	benchmarkNoopUp(b, tun, name)
}

// benchTunnel is a Tunnel of c, named uniquely, in a namespace of its
// own; both are closed and deleted at cleanup.
func benchTunnel(b *testing.B, c Config, opts ...Option) *Tunnel {
	ns := testns.New(b, "bench")
	c.Name = "wgbench" + randomHex(b)
	tun, err := New(c, append([]Option{WithNetNS(ns.Path)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tun.Close() })
	return tun
}

// BenchmarkSNAT is BenchmarkUp with the article's SNAT rule on A for each
// of n scattered destinations, held by each firewall: nf_tables through
// netlink (FirewallAuto's choice), and iptables-nft and iptables-legacy
// through iptables-restore. It is how the library chose its default.
func BenchmarkSNAT(b *testing.B) {
	testns.RequireRoot(b)
	for _, fw := range []Firewall{FirewallNftables, FirewallIPTablesNFT, FirewallIPTablesLegacy} {
		for _, n := range benchSizes {
			c := manyDestinations(n, 2)
			c.SNAT, c.PublicAddresses = SNATOutbound, []netip.Addr{netip.MustParseAddr("198.51.100.1")}
			benchmarkUp(b, fmt.Sprintf("%s/N=%d", fw, n), c, WithFirewall(fw))
		}
	}
}

func benchmarkUp(b *testing.B, name string, c Config, opts ...Option) {
	tun := benchTunnel(b, c, opts...)
	ctx := context.Background()
	b.Run("up+down/"+name, func(b *testing.B) {
		writes := 0
		for b.Loop() {
			if err := tun.Up(ctx); err != nil {
				b.Fatal(err)
			}
			writes += tun.writes
			if err := tun.Down(ctx); err != nil {
				b.Fatal(err)
			}
			writes += tun.writes
		}
		b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
	})
	benchmarkNoopUp(b, tun, name)
}

// benchmarkNoopUp brings tun up, times Ups that find nothing to do, and
// reports their writes (0 is the target) and the process's memory, then
// brings tun down.
func benchmarkNoopUp(b *testing.B, tun *Tunnel, name string) {
	ctx := context.Background()
	if err := tun.Up(ctx); err != nil {
		b.Fatal(err)
	}
	defer tun.Down(ctx)
	b.Run("noopUp/"+name, func(b *testing.B) {
		writes := 0
		for b.Loop() {
			if err := tun.Up(ctx); err != nil {
				b.Fatal(err)
			}
			writes += tun.writes
		}
		b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
		b.ReportMetric(rssMiB(b), "MiB-RSS")
	})
}

// BenchmarkMemory brings up the embedded device with many scattered
// destinations, N=10000 per destination and N=100000 in RulesTable mode,
// and reports the process's resident memory (VmRSS, which includes the
// test binary itself: an upper bound for library + device). Each runs in
// a process of its own for a clean number: -bench
// 'BenchmarkMemory/table'.
func BenchmarkMemory(b *testing.B) {
	testns.RequireRoot(b)
	for _, m := range []struct {
		name  string
		n     int
		rules RuleMode
	}{{"destination/N=10000", 10000, RulesPerDestination}, {"table/N=100000", 100000, RulesTable}} {
		b.Run(m.name, func(b *testing.B) {
			ns := testns.New(b, "mem")
			c := manyDestinations(m.n, 2)
			c.Name, c.Rules = "wgmem"+randomHex(b), m.rules
			tun, err := New(c, WithNetNS(ns.Path))
			if err != nil {
				b.Fatal(err)
			}
			defer tun.Close()
			ctx := context.Background()
			for b.Loop() {
				if err := tun.Up(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(rssMiB(b), "MiB-RSS")
			if err := tun.Down(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// rssMiB returns the process's resident memory (VmRSS) in MiB.
func rssMiB(b *testing.B) float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// randomHex is a short random suffix for device names: the embedded
// devices' UAPI sockets in /var/run/wireguard are shared by all
// namespaces, and other benchmarks and tests may run at the same time.
func randomHex(b testing.TB) string {
	var x [2]byte
	if _, err := rand.Read(x[:]); err != nil {
		b.Fatal(err)
	}
	return hex.EncodeToString(x[:])
}
