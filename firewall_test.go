package transparent_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
	"golang.org/x/sys/unix"
)

// TestFirewallVariants: the SNAT chain lands in the firewall that is
// forced, or, with FirewallAuto, in nf_tables even when an iptables
// variant holds rules; Down removes it from there, and nothing is left in
// the others.
func TestFirewallVariants(t *testing.T) {
	for _, tc := range []struct {
		name     string
		option   transparent.Firewall
		existing string // iptables variant holding a rule before Up
		want     string // where the chain must be: an iptables variant or "nftables"
	}{
		{"forced nft", transparent.FirewallIPTablesNFT, "", "nft"},
		{"forced legacy", transparent.FirewallIPTablesLegacy, "", "legacy"},
		{"forced nftables", transparent.FirewallNftables, "", "nftables"},
		{"auto with legacy rules", transparent.FirewallAuto, "legacy", "nftables"},
		{"auto with nft rules", transparent.FirewallAuto, "nft", "nftables"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireIPTables(t)
			w := newArticle(t)
			if tc.existing != "" {
				if err := w.A.Do(func() error {
					return run("iptables-"+tc.existing, "-A", "INPUT", "-p", "icmp", "-j", "ACCEPT")
				}); err != nil {
					t.Fatal(err)
				}
			}
			cfg, _ := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
			tun, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithFirewall(tc.option), transparent.WithBackend(testBackend()))
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			ctx := context.Background()
			if err := tun.Up(ctx); err != nil {
				t.Fatalf("Up: %v", err)
			}
			expectChainIn(t, w.A, cfg.Name, tc.want)
			if err := tun.Down(ctx); err != nil {
				t.Fatalf("Down: %v", err)
			}
			expectChainIn(t, w.A, cfg.Name, "")
		})
	}
}

// TestFirewallSwitch: an Up with another firewall than the last Up's
// (from a fresh process, as after an upgrade) moves the SNAT chain there,
// and Down from yet another process removes it.
func TestFirewallSwitch(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	cfg, _ := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
	ctx := context.Background()
	for _, step := range []struct {
		fw   transparent.Firewall
		want string
	}{
		{transparent.FirewallIPTablesLegacy, "legacy"},
		{transparent.FirewallNftables, "nftables"},
		{transparent.FirewallIPTablesNFT, "nft"},
	} {
		tun, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithFirewall(step.fw), transparent.WithBackend(testBackend()))
		if err != nil {
			t.Fatal(err)
		}
		if err := tun.Up(ctx); err != nil {
			t.Fatalf("Up with %v: %v", step.fw, err)
		}
		expectChainIn(t, w.A, cfg.Name, step.want)
		if err := tun.Check(ctx); err != nil {
			t.Errorf("Check with %v: %v", step.fw, err)
		}
		tun.Close()
	}
	tun, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithFirewall(transparent.FirewallNftables), transparent.WithBackend(testBackend()))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	if err := tun.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	expectChainIn(t, w.A, cfg.Name, "")
}

// TestManySNATRules: thousands of SNAT rules (one per scattered
// destination, more than the default netlink buffers carry in one
// transaction, and in nftables a set of 5000 prefixes) go in with one Up
// in each firewall, B sees A's public address, an Up with 10% of the
// destinations changed replaces them, and Down leaves the namespace as it
// was.
func TestManySNATRules(t *testing.T) {
	for _, fw := range []transparent.Firewall{transparent.FirewallNftables, transparent.FirewallIPTablesNFT} {
		t.Run(fw.String(), func(t *testing.T) {
			requireIPTables(t)
			w := newArticle(t)
			before := fullDump(t, w.A)
			cfg, cfgB := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
			for i := 1; i < 5000; i++ { // 198.18.0.2, .4, ...: no two aggregate
				cfg.Peers[0].Transparent = append(cfg.Peers[0].Transparent,
					netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 7), byte(i << 1)}), 32))
			}
			tun, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithFirewall(fw), transparent.WithBackend(testBackend()))
			if err != nil {
				t.Fatal(err)
			}
			defer tun.Close()
			ctx := context.Background()
			if err := newTunnel(t, cfgB, w.B).Up(ctx); err != nil {
				t.Fatalf("Up B: %v", err)
			}
			if err := tun.Up(ctx); err != nil {
				t.Fatalf("Up: %v", err)
			}
			w.expectClient(t, w.A, ipv4.url(ipv4.pubB), ipv4.pubA)
			if err := tun.Check(ctx); err != nil {
				t.Errorf("Check after Up: %v", err)
			}
			changed := cfg
			changed.Peers = []transparent.Peer{cfg.Peers[0]}
			changed.Peers[0].Transparent = slices.Clone(cfg.Peers[0].Transparent)
			for i := 4500; i < 5000; i++ { // 198.19.x.y instead
				changed.Peers[0].Transparent[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 7), byte(i << 1)}), 32)
			}
			if err := tun.SetConfig(changed); err != nil {
				t.Fatal(err)
			}
			plan, err := tun.Plan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range plan {
				if strings.Contains(c.Step, "SNAT") && (c.Op != transparent.OpReplace || !strings.Contains(c.Step, "and 4997 more")) {
					t.Errorf("the chain's step is not a replace of 5000 rules listing 3: %v %.300s", c.Op, c.Step)
				}
			}
			if err := tun.Up(ctx); err != nil {
				t.Fatalf("Up with 10%% changed: %v", err)
			}
			if err := tun.Check(ctx); err != nil {
				t.Errorf("Check after the change: %v", err)
			}
			w.expectClient(t, w.A, ipv4.url(ipv4.pubB), ipv4.pubA)
			if err := tun.Down(ctx); err != nil {
				t.Fatalf("Down: %v", err)
			}
			expectSame(t, "after Down", before, fullDump(t, w.A))
		})
	}
}

// TestSNATSets: in both IP families, a SNAT rule with many destinations
// (outbound on A) or many sources (inbound on B: the peer's AllowedIPs)
// goes into nf_tables as a rule with a set, translates the request, reads
// back equal (Check) and goes away with Down.
func TestSNATSets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ends  ends
		extra func(a, b *transparent.Config) // adds prefixes to the set's side
	}{
		{"outbound destinations", ends{fams: []family{ipv4, ipv6}, snatA: transparent.SNATOutbound}, func(a, _ *transparent.Config) {
			for i := 1; i <= 50; i++ {
				a.Peers[0].Transparent = append(a.Peers[0].Transparent,
					netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(2 * i)}), 32),
					netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x18, 15: byte(2 * i)}), 128))
			}
		}},
		{"inbound sources", ends{fams: []family{ipv4, ipv6}, snatB: transparent.SNATInbound}, func(_, b *transparent.Config) {
			b.Peers[0].AllowedIPs = append(b.Peers[0].AllowedIPs, netip.MustParsePrefix("10.9.0.0/24"), netip.MustParsePrefix("2001:db8:9::/64"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireIPTables(t)
			w := newArticle(t)
			cfgA, cfgB := tc.ends.configs(w)
			tc.extra(&cfgA, &cfgB)
			beforeA, beforeB := fullDump(t, w.A), fullDump(t, w.B)
			ctx := context.Background()
			var tuns []*transparent.Tunnel
			for _, end := range []struct {
				cfg transparent.Config
				ns  *testns.NS
			}{{cfgB, w.B}, {cfgA, w.A}} {
				tun, err := transparent.New(end.cfg, transparent.WithNetNS(end.ns.Path), transparent.WithFirewall(transparent.FirewallNftables), transparent.WithBackend(testBackend()))
				if err != nil {
					t.Fatal(err)
				}
				defer tun.Close()
				if err := tun.Up(ctx); err != nil {
					t.Fatalf("Up %s: %v", end.cfg.Name, err)
				}
				tuns = append(tuns, tun)
			}
			for _, f := range tc.ends.fams {
				w.expectClient(t, w.A, f.url(f.pubB), f.pubA)
			}
			snatEnd := w.A
			if tc.ends.snatB != transparent.SNATOff {
				snatEnd = w.B
			}
			nft, err := testns.DumpNftables(snatEnd)
			if err != nil {
				t.Fatal(err)
			}
			for _, table := range []string{"nft table 2 wgtransparent-", "nft table 10 wgtransparent-"} {
				if !strings.Contains(nft, table) || !strings.Contains(nft, " set prefixes_0 flags true") {
					t.Errorf("no %s table with a set:\n%s", table, nft)
				}
			}
			for _, tun := range tuns {
				if err := tun.Check(ctx); err != nil {
					t.Errorf("Check: %v", err)
				}
			}
			for _, tun := range tuns {
				if err := tun.Down(ctx); err != nil {
					t.Fatalf("Down: %v", err)
				}
			}
			expectSame(t, "A after Down", beforeA, fullDump(t, w.A))
			expectSame(t, "B after Down", beforeB, fullDump(t, w.B))
		})
	}
}

// expectChainIn checks that the tunnel's SNAT chain is in firewall want
// (an iptables variant, "nftables", or "" for nowhere) and in no other.
func expectChainIn(t *testing.T, ns *testns.NS, name, want string) {
	t.Helper()
	for _, variant := range []string{"nft", "legacy"} {
		got := natSave(t, ns, "iptables-"+variant+"-save")
		has := strings.Contains(got, "-A WGT-"+name+" -s 10.0.0.1/32 -d 203.0.113.2/32") &&
			strings.Contains(got, `-A POSTROUTING -m comment --comment "wgtransparent `+name+`" -j WGT-`+name)
		if has != (variant == want) || !has && strings.Contains(got, "WGT-"+name) {
			t.Errorf("iptables-%s-save -t nat (want the chain in %q):\n%s", variant, want, got)
		}
	}
	nft, err := testns.DumpNftables(ns)
	if err != nil {
		t.Fatal(err)
	}
	has := strings.Contains(nft, "wgtransparent-"+name+" chain snat_rules rule 000") &&
		strings.Contains(nft, "wgtransparent-"+name+" chain postrouting rule 000 Verdict")
	if has != (want == "nftables") || !has && strings.Contains(nft, "wgtransparent-"+name) {
		t.Errorf("nf_tables (want the chain in %q):\n%s", want, nft)
	}
}

// TestFirewallMissing: with iptables chosen but not installed, Up with
// SNAT fails with ErrFirewall naming the package to install, and changes
// nothing.
func TestFirewallMissing(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	before := dump(t, w.A)
	t.Setenv("PATH", t.TempDir()) // no iptables to be found
	cfg, _ := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
	tun, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithFirewall(transparent.FirewallIPTablesNFT), transparent.WithBackend(testBackend()))
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	err = tun.Up(context.Background())
	if !errors.Is(err, transparent.ErrFirewall) || !strings.Contains(err.Error(), "apt-get install iptables") {
		t.Errorf("Up = %v, want ErrFirewall saying what to install", err)
	}
	expectSameDump(t, w.A, before, "after Up without iptables")
}

// natSave returns the nat table in ns as save (iptables-save,
// ip6tables-save, iptables-nft-save, ...) prints it.
func natSave(t *testing.T, ns *testns.NS, save string) string {
	t.Helper()
	var out []byte
	if err := ns.Do(func() (err error) {
		out, err = exec.Command(save, "-t", "nat").Output()
		return err
	}); err != nil {
		t.Fatalf("%s -t nat in %s: %v", save, ns.Name, err)
	}
	return string(out)
}

// testFirewall is the firewall of the tests' tunnels:
// WGTRANSPARENT_TEST_FIREWALL=iptables runs them with iptables-nft
// (test.sh runs the SNAT tests so a second time), anything else with
// FirewallAuto, which is nf_tables on a kernel that has it.
func testFirewall() transparent.Firewall {
	if usesIPTables() {
		return transparent.FirewallIPTablesNFT
	}
	return transparent.FirewallAuto
}

func usesIPTables() bool { return os.Getenv("WGTRANSPARENT_TEST_FIREWALL") == "iptables" }

// snatMarker is what fullDump shows while the tunnel has a SNAT chain in
// family f.
func snatMarker(f family) string {
	if usesIPTables() {
		return f.name + " -A WGT-"
	}
	return fmt.Sprintf("nft table %d wgtransparent-", map[string]int{"IPv4": unix.NFPROTO_IPV4, "IPv6": unix.NFPROTO_IPV6}[f.name])
}

// snatCommand and jumpCommand are Plan's commands for the article's SNAT
// rule on A, and the jump to it.
func snatCommand(name string) string {
	if usesIPTables() {
		return "iptables -t nat -A WGT-" + name + ` -s 10.0.0.1/32 -d 203.0.113.2/32 -m comment --comment "wgtransparent ` + name + `" -j SNAT --to-source 198.51.100.1`
	}
	return "add rule ip wgtransparent-" + name + " snat_rules ip saddr 10.0.0.1/32 ip daddr 203.0.113.2/32 snat to 198.51.100.1 comment \"wgtransparent " + name + "\""
}

func jumpCommand(name string) string {
	if usesIPTables() {
		return "iptables -t nat -I POSTROUTING 1 -m comment"
	}
	return "add chain ip wgtransparent-" + name + " postrouting { type nat hook postrouting priority 99; }; flush chain ip wgtransparent-" + name + " postrouting; add rule ip wgtransparent-" + name + " postrouting jump snat_rules"
}

// snatChain returns how Check names the tunnel's SNAT chain of IPv4, and
// functions that flush it and remove the jump to it, as someone else
// could.
func snatChain(t *testing.T, ns *testns.NS, name string) (where string, flush, unjump func() error) {
	if usesIPTables() {
		chain := "WGT-" + name
		return "IPv4 nat chain " + chain,
			func() error { return ns.Do(func() error { return run("iptables", "-t", "nat", "-F", chain) }) },
			func() error {
				return ns.Do(func() error {
					return run("iptables", "-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment", "wgtransparent "+name, "-j", chain)
				})
			}
	}
	table := &nftables.Table{Name: "wgtransparent-" + name, Family: nftables.TableFamilyIPv4}
	nft := func(f func(*nftables.Conn)) error {
		conn, err := nftables.New(nftables.WithNetNSFd(int(ns.Handle)))
		if err != nil {
			return err
		}
		f(conn)
		return conn.Flush()
	}
	return "nftables chain ip wgtransparent-" + name + " snat_rules",
		func() error {
			return nft(func(c *nftables.Conn) { c.FlushChain(&nftables.Chain{Name: "snat_rules", Table: table}) })
		},
		func() error {
			return nft(func(c *nftables.Conn) {
				base := &nftables.Chain{Name: "postrouting", Table: table}
				c.FlushChain(base)
				c.DelChain(base)
			})
		}
}
