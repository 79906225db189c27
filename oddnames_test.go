package transparent_test

import (
	"context"
	"testing"

	"github.com/wgtransparent/transparent"
)

// TestOddNames brings up, checks and brings down tunnels whose names use
// every character class Validate lets through ('_', '.', '-', digits
// first, the full 15 bytes), with SNAT in nf_tables and with
// iptables-nft, where the name becomes a table, a chain and a comment
// quoted for iptables-restore. B logs A's public address, and Down leaves
// the namespace as it was, the firewall included. The names Validate
// refuses are in rejectCases (TestValidateRejects,
// TestBadConfigsChangeNothing).
func TestOddNames(t *testing.T) {
	requireIPTables(t)
	for _, fw := range []struct {
		option transparent.Firewall
		where  string // as expectChainIn names it
	}{
		{transparent.FirewallNftables, "nftables"},
		{transparent.FirewallIPTablesNFT, "nft"},
	} {
		t.Run(fw.where, func(t *testing.T) {
			w := newArticle(t)
			cfgA, cfgB := ends{fams: []family{ipv4}, snatA: transparent.SNATOutbound}.configs(w)
			if err := newTunnel(t, cfgB, w.B).Up(context.Background()); err != nil {
				t.Fatalf("Up B: %v", err)
			}
			suffix := w.nameA[3:] // random, so that embedded devices' sockets do not collide
			for _, name := range []string{
				"_" + suffix + ".x-y_z",
				"9" + suffix + "..--",
				"A." + suffix + "-_Zz",
				"L" + suffix + "_abcdefghi", // 15 bytes
			} {
				cfg := cfgA
				cfg.Name = name
				before := fullDump(t, w.A)
				tun, err := transparent.New(cfg, transparent.WithNetNS(w.A.Path), transparent.WithFirewall(fw.option), transparent.WithBackend(testBackend()))
				if err != nil {
					t.Fatalf("New(%q): %v", name, err)
				}
				ctx := context.Background()
				if err := tun.Up(ctx); err != nil {
					t.Fatalf("Up %q: %v", name, err)
				}
				expectChainIn(t, w.A, name, fw.where)
				if err := tun.Check(ctx); err != nil {
					t.Errorf("Check %q: %v", name, err)
				}
				w.expectClient(t, w.A, ipv4.url(publicB), publicA)
				if err := tun.Down(ctx); err != nil {
					t.Fatalf("Down %q: %v", name, err)
				}
				expectChainIn(t, w.A, name, "")
				expectSame(t, "A after Down of "+name, before, fullDump(t, w.A))
				tun.Close()
			}
		})
	}
}
