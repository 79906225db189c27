package transparent

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent/internal/testns"
)

// manyDestinations is the article's A with n transparent destinations:
// 203.0.113.2 and n-1 addresses from 198.18.0.0/15 (RFC 2544's
// benchmarking range; used inside test namespaces only), stride apart.
// With stride 1 they are consecutive and aggregate into a few prefixes;
// with stride 2 no two of them merge, the worst case.
func manyDestinations(n, stride int) Config {
	c := articleA(PeerRouteRule)
	base := netip.MustParseAddr("198.18.0.0").As4()
	for i := 1; i < n; i++ {
		a, j := base, i*stride
		a[1] += byte(j >> 16)
		a[2], a[3] = byte(j>>8), byte(j)
		c.Peers[0].Transparent = append(c.Peers[0].Transparent, netip.PrefixFrom(netip.AddrFrom4(a), 32))
	}
	return c
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
		full := &observed{routes: want.routes, link: &linkInfo{name: c.Name, mtu: c.MTU, up: true}}
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
	ns := testns.New(b, "bench")
	c.Name = "wgbench"
	tun, err := New(c, append([]Option{WithNetNS(ns.Path)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer tun.Close()
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
	})
}

// BenchmarkMemory brings up the embedded device with N=10000 scattered
// destinations and reports the process's resident memory (VmRSS, which
// includes the test binary itself: an upper bound for library + device).
func BenchmarkMemory(b *testing.B) {
	testns.RequireRoot(b)
	ns := testns.New(b, "mem")
	c := manyDestinations(10000, 2)
	c.Name = "wgmem"
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
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb)
			b.ReportMetric(kb/1024, "MiB-RSS")
		}
	}
	if err := tun.Down(ctx); err != nil {
		b.Fatal(err)
	}
}
