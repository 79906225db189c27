package transparent_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/wgtransparent/transparent"
	"github.com/wgtransparent/transparent/internal/testns"
)

// TestFirewallVariants: the SNAT chain lands in the iptables variant that
// is forced, or, with FirewallAuto, in the one that already holds rules;
// Down removes it from there.
func TestFirewallVariants(t *testing.T) {
	for _, tc := range []struct {
		name     string
		option   transparent.Firewall
		existing string // variant holding a rule before Up
		want     string // variant that must get the chain
	}{
		{"forced nft", transparent.FirewallNFT, "", "nft"},
		{"forced legacy", transparent.FirewallLegacy, "", "legacy"},
		{"auto follows legacy rules", transparent.FirewallAuto, "legacy", "legacy"},
		{"auto follows nft rules", transparent.FirewallAuto, "nft", "nft"},
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
			other := map[string]string{"nft": "legacy", "legacy": "nft"}[tc.want]
			chain := "WGT-" + cfg.Name
			want := `-A WGT-` + cfg.Name + ` -s 10.0.0.1/32 -d 203.0.113.2/32 -m comment --comment "wgtransparent ` + cfg.Name + `" -j SNAT --to-source 198.51.100.1`
			if got := natSave(t, w.A, tc.want); !strings.Contains(got, want) || !strings.Contains(got, "-A POSTROUTING -m comment --comment \"wgtransparent "+cfg.Name+"\" -j "+chain) {
				t.Errorf("iptables-%s-save -t nat:\n%s\nwant the rule %s and the jump to it", tc.want, got, want)
			}
			if got := natSave(t, w.A, other); strings.Contains(got, chain) {
				t.Errorf("iptables-%s-save -t nat has the chain too:\n%s", other, got)
			}
			if err := tun.Down(ctx); err != nil {
				t.Fatalf("Down: %v", err)
			}
			if got := natSave(t, w.A, tc.want); strings.Contains(got, chain) {
				t.Errorf("after Down, iptables-%s-save -t nat still has %s:\n%s", tc.want, chain, got)
			}
		})
	}
}

// TestFirewallMissing: without iptables, Up with SNAT fails with
// ErrFirewall naming the package to install, and changes nothing.
func TestFirewallMissing(t *testing.T) {
	requireIPTables(t)
	w := newArticle(t)
	before := dump(t, w.A)
	t.Setenv("PATH", t.TempDir()) // no iptables to be found
	cfg, _ := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
	tun := newTunnel(t, cfg, w.A)
	err := tun.Up(context.Background())
	if !errors.Is(err, transparent.ErrFirewall) || !strings.Contains(err.Error(), "apt-get install iptables") {
		t.Errorf("Up = %v, want ErrFirewall saying what to install", err)
	}
	expectSameDump(t, w.A, before, "after Up without iptables")
}

// natSave returns the nat table of one iptables variant in ns.
func natSave(t *testing.T, ns *testns.NS, variant string) string {
	t.Helper()
	var out []byte
	if err := ns.Do(func() (err error) {
		out, err = exec.Command("iptables-"+variant+"-save", "-t", "nat").Output()
		return err
	}); err != nil {
		t.Fatalf("iptables-%s-save: %v", variant, err)
	}
	return string(out)
}
